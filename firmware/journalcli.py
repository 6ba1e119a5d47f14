"""``posterm journal``: the journal listed (PANs masked), and a stuck message given up by hand.

    posterm journal [--json] [--batch N] [--last N]         list the records (every one, streamed)
    posterm journal resolve --txn N --note "TICKET: WHY"    stop sending record N's reversal or advice
    posterm journal resolve --settlement --note "..."       the open batch takes transactions again

Where the terminal guards functions with the supervisor's password (``operators.required`` or
``operators.supervisor_for``), ``resolve`` asks for it too (getpass, or one line of stdin with
``--password-stdin``), and a wrong one counts towards 00's lock-out as on the terminal.

Why ``resolve`` exists: a reversal is closed only by an answer that says it was
applied (the profile's ``reversal_done_codes``), and a stored advice only by an
answer or an issuer's decline. A host that keeps answering a reversal with
something else (say 12, or 96 for days) leaves it queued for ever, and a queued
message blocks settlement (``settle.queue_pending``). That is right: the books
disagree until someone finds out what the acquirer did. Once the merchant has
settled it with the acquirer, ``resolve`` records that decision: the message is
no longer sent, the record becomes LOST ("reconcile by hand", as for a message no
key can open) with the note as its reason, and settlement can go on. Nothing is
deleted. It takes the run lock, so it never races a running terminal, and the
note is checked for anything shaped like a card number, since it goes to disk.

``resolve --settlement`` is the same for a batch: when one of its 0500s went
unanswered, the batch takes no transaction until a settlement is answered (the
host may have closed it unheard); a host that then refuses every 0500 would
keep it so for ever. Once the acquirer says the batch is still open, this lifts
the block; the note is kept beside it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from firmware.argtypes import whole
from firmware.errors import ConfigError, StorageError
from firmware.reportcli import batch_number

__all__ = ["add_journal_command", "check_note"]

NOTE_MAX = 80
RECORDS_MAX = 10**11 - 1  # the largest journal number or count --txn and --last take
# a PAN is 13 to 19 digits, often written in groups ("6222 0212 3456 ...", "6222  0212", "6222/0212", " - "): the
# judgement is crypto.secrets.CARD_LIKE, shared with the log redactor; a ticket or a 12-digit reference number
# (RRN) is shorter
_SHORTEST_PAN = 13


def check_note(text: str) -> str:
    """The supervisor's note, as it may be stored: printable ASCII, 3 to 80 characters, no run of 13 or more
    digits, even in groups (nothing that could be a card number reaches the journal)."""
    from crypto.secrets import looks_like_card_data  # not at import: building the CLI parser stays light

    note = text.strip()
    if not 3 <= len(note) <= NOTE_MAX or not note.isascii() or not note.isprintable():
        raise ConfigError(f"--note must be 3 to {NOTE_MAX} printable ASCII characters saying who decided and why",
                          code="journal.bad_note")
    if looks_like_card_data(note, shortest=_SHORTEST_PAN):
        raise ConfigError("--note holds 13 or more digits in a row (or in groups), or track text, which could be "
                          "card data: leave it out",
                          code="journal.note_digits")
    return note



def cmd_journal(args) -> int:
    if args.action == "resolve":
        return _resolve(args)
    if args.txn is not None or args.note is not None or args.settlement or args.password_stdin:
        raise ConfigError("--txn, --settlement, --note and --password-stdin go with: posterm journal resolve",
                          code="journal.usage")
    from storage.store import Store

    from firmware.cli import _config

    config = _config(args)  # the currency's exponent: the text gives amounts as the slips and report do
    data_dir = Path(args.data_dir) if args.data_dir else config.data_dir
    store = Store.open_read_only(data_dir)  # a listing changes nothing, beside a running terminal too
    try:
        _list(store, as_json=args.json, batch=args.batch, last=args.last,
              exponent=config.terminal.currency_exponent)
    finally:
        store.close()
    return 0


def _resolve(args) -> int:
    from firmware.runlock import run_lock

    if args.json or args.batch is not None or args.last is not None:
        raise ConfigError("--json, --batch and --last go with the listing: posterm journal [list]",
                          code="journal.usage")
    if (args.txn is None) == (not args.settlement) or args.note is None:
        raise ConfigError("posterm journal resolve needs --txn N (the journal number) or --settlement, and "
                          "--note TEXT", code="journal.usage")
    from storage.store import Store

    from firmware.cli import _config
    from firmware.operators import supervisor_approves

    note = check_note(args.note)
    config = _config(args)
    data_dir = Path(args.data_dir) if args.data_dir else config.data_dir
    with run_lock(data_dir, doing="resolve a record by hand"):  # before the database is opened (and migrated)
        store = Store.open(data_dir, create=False)
        try:
            # it gives up money owed one way or the other: the supervisor's decision where the terminal has one
            supervisor_approves(store.conn, config, purpose="resolve", from_stdin=args.password_stdin)
            if args.settlement:
                _resolve_settlement(store, note)
                return 0
            record = store.record(args.txn)  # storage.missing_record if there is none
            what = store.queued_for(args.txn)
            if what is None:
                raise StorageError(f"record {args.txn} ({record.kind.value}, {record.state.value}) has no reversal "
                                   "or advice waiting: nothing to resolve", code="journal.nothing_queued")
            store.mark_lost(args.txn, what, note=f"resolved by hand: {note}")
            from firmware.money import format_amount

            amount = format_amount(record.amount, config.terminal.currency_exponent)
            print(f"record {args.txn}: {record.kind.value} {amount} {record.masked_pan} trace "
                  f"{record.stan:06d}: its {what} will not be sent; the record is now LOST (reconcile by hand)")
        finally:
            store.close()
    return 0


def _resolve_settlement(store, note: str) -> None:
    """The open batch's 0500 went unanswered and the host has refused every one since, so the batch takes no
    transaction (``settle.interrupted``). Once the acquirer says the batch is still open, this lifts that."""
    batch = store.counters().batch
    if not store.settle_interrupted(batch):
        raise StorageError(f"batch {batch:06d} has no unanswered settlement: nothing to resolve",
                           code="journal.nothing_queued")
    store.settle_resolved(batch, f"resolved by hand: {note}")
    print(f"batch {batch:06d}: its unanswered settlement is resolved by hand; the batch takes transactions again "
          "and is settled as usual")


def _list(store, *, as_json: bool, batch: int | None = None, last: int | None = None, out=None,
          exponent: int = 2) -> None:
    """Write the listing as it is read (``Store.listing``: a cursor), row by row: memory stays flat however
    old the journal (a list of every record, then of every dict, then one JSON string took 700 MB at 100k rows).
    JSON is still one array, written element by element in the form ``json.dumps(..., indent=2)`` gives, so
    whatever read the listing before reads it unchanged; its amounts stay integers in minor units. The text gives
    them as the slips and the report do (``exponent``: the currency's digits after the point)."""
    import sys

    out = sys.stdout if out is None else out
    rows = store.listing(batch=batch, last=last)
    first = True
    if as_json:
        for listed in rows:
            item = textwrap.indent(json.dumps(_json_item(listed), default=str, indent=2), "  ")
            out.write(("[\n" if first else ",\n") + item)
            first = False
    else:
        for listed in rows:
            out.write(_text_line(listed, exponent) + "\n")
            first = False
    if first and batch is not None:
        _known_batch(store, batch)  # nothing listed: a batch with no records yet, or a number it never had
    if as_json:
        out.write("[]\n" if first else "\n]\n")


def _known_batch(store, batch: int) -> None:
    """``journal.no_batch`` for a batch number the terminal never had (neither settled nor the open one), as
    ``posterm report --batch`` refuses it, rather than an empty listing that reads as "no transactions"."""
    current = store.counters().batch
    if batch != current and store.settlement(batch) is None:
        raise StorageError(f"there is no batch {batch:06d}: the current batch is {current:06d}", code="journal.no_batch")


def _json_item(listed) -> dict:
    r = listed.record
    item = {k: (v.value if hasattr(v, "value") else v) for k, v in vars(r).items() if k not in ("original", "reference")}
    item["original_stan"] = r.original.stan if r.original is not None else None
    item["original_txn_no"] = r.original.txn_no if r.original is not None else None
    item["voided_by"] = listed.voided_by
    item["refunded"] = listed.refunded
    item["orig_auth"] = (r.reference.auth_code or None) if r.reference is not None else None
    item["completed_by"] = listed.completed_by
    item["earlier_batch"] = listed.earlier_batch  # None, or the number posterm report --batch takes
    # an offline approval's advice, once the host answered it: accepted (paid) or refused (not paid)
    item["advice"] = None if r.advice is None else {"code": r.advice.code, "accepted": r.advice.accepted}
    return item


def _text_line(listed, exponent: int = 2) -> str:
    from firmware.money import format_amount
    from storage.archive import batch_label

    r = listed.record
    note = ""
    by_auth = r.reference is not None and r.reference.auth_code
    if r.original is not None:
        note = f" of trace {r.original.stan:06d} (#{r.original.txn_no})"
    elif by_auth:
        note = f" of pre-auth AUTH {r.reference.auth_code} not in this journal"
    elif r.kind.value == "refund":
        note = " of a sale not in this journal"
    if listed.voided_by is not None:  # a pre-auth's is its cancel
        note += f" {'CANCELLED' if r.kind.value == 'preauth' else 'VOIDED'} by #{listed.voided_by}"
    if listed.completed_by is not None:
        note += f" COMPLETED by #{listed.completed_by}"
    if listed.refunded:
        note += f" REFUNDED {format_amount(listed.refunded, exponent)}"
    if r.account:  # a transfer: its destination, masked as stored
        note += f" to {r.account}"
    if listed.earlier_batch is not None:  # its batch's number was used again since: the earlier batch is kept apart
        note += f" batch {batch_label(listed.earlier_batch)} (report --batch {listed.earlier_batch})"
    if r.advice is not None:  # an offline approval the host has had: paid, or not
        note += " advice ACCEPTED" if r.advice.accepted else f" advice DECLINED {r.advice.code or '??'}: NOT PAID"
    if r.state.value == "lost" and r.reason:  # why: keys destroyed, or a supervisor's note
        note += f" ({r.reason})"
    return (f"{r.txn_no:>5} {r.when:%Y-%m-%d %H:%M:%S} {r.kind.value:<7} {r.state.value:<17} "
            f"{format_amount(r.amount, exponent):>10} {r.masked_pan} trace {r.stan:06d} rc {r.response_code or '--'}{note}")


def add_journal_command(sub, with_config) -> None:
    j = with_config(sub.add_parser(
        "journal", help="list the journal (PANs masked), or resolve a stuck reversal or advice by hand",
        description="posterm journal [--json] [--batch N] [--last N] lists the records, streamed as they are read (every one unless --batch or --last bounds it). posterm journal resolve --txn N --note TEXT stops "
        "sending record N's reversal or advice once the merchant has settled it with the acquirer: the record "
        "becomes LOST (reconcile by hand) with the note as its reason. Not beside a running terminal."))
    j.add_argument("action", nargs="?", choices=("list", "resolve"), default="list")
    j.add_argument("--json", action="store_true", help="list as JSON (one array, written as it is read)")
    j.add_argument("--batch", type=batch_number, default=None,
                   help="list only this batch's records (an earlier batch whose number was used again is kept "
                   "under N + 1000000 * k, as posterm report --batch takes it)")
    # (11 digits at most: 12 or more are card-shaped, and the usage error's redaction masked the bound)
    j.add_argument("--last", type=whole(1, RECORDS_MAX, "a count of records"), default=None,
                   help="list only the newest N records (of --batch, if given); default: every record, streamed")
    j.add_argument("--txn", type=whole(1, RECORDS_MAX, "a journal number"), default=None,
                   help="resolve: the record's journal number (the first column of the listing)")
    j.add_argument("--settlement", action="store_true",
                   help="resolve: the open batch's unanswered settlement, once the acquirer says the batch is open")
    j.add_argument("--note", default=None,
                   help=f"resolve: who decided and why, e.g. an acquirer's ticket (3 to {NOTE_MAX} characters)")
    j.add_argument("--password-stdin", action="store_true",
                   help="resolve: read the supervisor's (00) password as one line of stdin (asked when "
                   "operators.required or operators.supervisor_for is set)")
    j.set_defaults(func=cmd_journal)
