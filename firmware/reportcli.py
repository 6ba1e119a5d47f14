"""``posterm report [--batch N] [--json]``: a batch's totals and its transactions, for reconciliation.

Without ``--batch`` it reports the current batch, counted from the journal as
a settlement would count it (``Store.batch_totals``: the same query). A
settled batch's totals are those its settlement sent and recorded, with the
host's verdict and whether the batch was uploaded. Either way the listing
that follows is every journal record of the batch: trace, time, kind, masked
card number, amount, state, reference, authorisation code, and whether a sale
was voided (by which void) or which sale a void undid.

It only reads: the database is opened in SQLite's read-only mode
(``Store.open_read_only``), so the command takes no write lock and changes
nothing, and it is safe beside a running terminal. Card numbers are the
journal's masked ones (first 6 / last 4 at most); the sealed card data is
never opened. An unknown batch is one line with its code (``report.no_batch``).

A batch number the terminal used again (a host that renumbered named it at sign-on, or
the counter wrapped) leaves the earlier batch archived under N + 1000000 * k
(``storage.archive``): ``--batch 1000007`` reports it, headed "000007 (earlier)", and
the report of the live batch 7 names the numbers its earlier namesakes are kept under.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command imports what it needs when it runs
    from firmware.core.batch import Settlement, Totals
    from firmware.core.model import SaleRecord
    from firmware.core.settings import CoreSettings
    from storage.store import Store

__all__ = ["add_report_command", "cmd_report", "BatchReport", "batch_report", "report_text", "report_json",
           "batch_number"]

WIDTH = 48  # columns of the text report's head (the listing below it is one line per transaction)


@dataclass(frozen=True)
class BatchReport:
    """One batch for reconciliation. ``settlement`` None: not settled (its totals are counted from the journal)."""

    batch: int
    totals: Totals
    settlement: Settlement | None
    records: tuple[SaleRecord, ...]
    voided: dict[int, int]  # journal number of a voided record of the batch -> that of its approved void
    earlier: tuple[int, ...] = ()  # the stored numbers of archived batches that had this batch's number


def batch_report(store: Store, batch: int | None = None) -> BatchReport:
    """The report of ``batch`` (None: the current one); ``report.no_batch`` when the journal knows no such batch."""
    from firmware.errors import StorageError
    from storage.archive import is_earlier

    current = store.counters().batch
    number = current if batch is None else batch
    settlement = store.settlement(number)
    records = tuple(store.batch_records(number))
    if settlement is None and number != current and not records:
        raise StorageError(f"there is no batch {number:06d}: the current batch is {current:06d}",
                           code="report.no_batch")
    totals = settlement.totals if settlement is not None else store.batch_totals(number)
    earlier = () if is_earlier(number) else tuple(store.earlier_batches(number))
    return BatchReport(number, totals, settlement, records, store.voided(number), earlier)


def _in_totals(record: SaleRecord) -> bool:
    """The kind is one a settlement counts (``Flow.in_totals``): a pre-auth and its cancel only hold and release
    funds, a transfer and an inquiry are not the merchant's money. A record approved offline counts once the
    host accepted its advice, as the settlement counts it (``storage.settlements``): one the host refused is
    not paid (AU21 H1), one not yet uploaded not yet."""
    from firmware.core.flows import FLOWS

    flow = FLOWS.get(record.kind)
    if flow is not None and not flow.in_totals:
        return False
    return record.state.value != "offline_approved" or (record.advice is not None and record.advice.accepted)


def _advice_note(record: SaleRecord) -> str:
    """What became of a record approved offline: the host refused it (not paid), or it is not uploaded yet."""
    if record.state.value != "offline_approved":
        return ""
    if record.advice is None:
        return "NOT YET UPLOADED"
    return "" if record.advice.accepted else f"DECLINED BY HOST ({record.advice.code or '??'}) - NOT PAID"


def _note(report: BatchReport, record: SaleRecord) -> str:
    if record.state.value == "lost":  # its reversal or advice will never go: the merchant and acquirer settle it
        return f"RECONCILE BY HAND: {record.reason or 'lost'}"
    what = ""
    if record.original is not None:
        what = f"of trace {record.original.stan:06d}"
    elif record.txn_no in report.voided:
        by = next((r for r in report.records if r.txn_no == report.voided[record.txn_no]), None)
        what = f"VOIDED by trace {by.stan:06d}" if by is not None else "VOIDED"
    # a row the totals leave out says so, or the approved rows do not add up to the total (AU20 M1)
    return "; ".join(filter(None, (what, _advice_note(record), "" if _in_totals(record) else "NOT IN TOTALS")))


def report_text(report: BatchReport, settings: CoreSettings) -> str:
    """The report as text: a head laid out as the printed settlement report's, then one line per transaction."""
    from firmware.core.flows import FLOWS
    from firmware.core.receipt import KIND_TEXT
    from firmware.core.report import report_head, result_lines, total_lines
    from firmware.money import format_amount
    from hal.printer import Align, Line, Receipt
    from hal.printer.document import plain_text
    from storage.archive import batch_label

    s = report.settlement
    status = "OPEN (NOT SETTLED)" if s is None else f"SETTLED {s.when:%Y-%m-%d %H:%M:%S}"
    head = [
        *report_head(settings, "RECONCILIATION REPORT"),
        Line("BATCH NO:", right=batch_label(report.batch)),
        Line("STATUS:", right=status),
        Line(rule=True),
        *total_lines(report.totals, settings),
        Line(rule=True),
    ]
    if s is not None:
        head += result_lines(s)
    elif report.totals.unsent:
        head.append(Line(f"NOT YET SENT: {report.totals.unsent}", align=Align.CENTER))
    head += [Line(f"EARLIER BATCH {batch_label(b)}:", right=f"--batch {b}") for b in report.earlier]
    out = plain_text(Receipt(lines=tuple(head), title=f"REPORT BATCH {batch_label(report.batch)}"), WIDTH)
    # TYPE in the receipt's words (TRANS TYPE: AUTH COMPLETE, not PREAUTH_COMPLETE), so a merchant ties each
    # row to its slip; the column fits every kind's
    kinds = max(map(len, KIND_TEXT.values()))
    out += (f"{'TRACE':<6} {'OP':<3} {'DATE/TIME':<19} {'TYPE':<{kinds}} {'CARD':<19} {'AMOUNT':>13} {'STATE':<16} "
            f"{'REF NO':<12} AUTH\n")
    for r in report.records:
        flow = FLOWS.get(r.kind)
        amount = ("-" if flow is not None and flow.refund else "") + format_amount(r.amount, settings.exponent)
        line = (f"{r.stan:06d} {r.operator or '-':<3} {r.when:%Y-%m-%d %H:%M:%S} {KIND_TEXT[r.kind]:<{kinds}} {r.masked_pan:<19} "
                f"{amount:>13} {r.state.value:<16} {r.rrn or '-':<12} {r.auth_code or '-':<6} {_note(report, r)}")
        out += line.rstrip() + "\n"
    if not report.records:
        out += "(no transactions)\n"
    return out


def report_json(report: BatchReport, settings: CoreSettings) -> dict:
    """The report as plain data: amounts in minor units, card numbers masked."""
    from storage.archive import is_earlier, live_batch

    t, s = report.totals, report.settlement
    by_txn = {r.txn_no: r for r in report.records}
    return {
        "batch": report.batch,  # as stored: an archived (earlier) batch's is N + 1000000 * k
        "batch_no": live_batch(report.batch),  # the number the host knew
        "earlier": is_earlier(report.batch),
        "earlier_batches": list(report.earlier),
        "status": "open" if s is None else "settled",
        "merchant_id": settings.merchant_id,
        "terminal_id": settings.terminal_id,
        "currency": settings.currency,
        "totals": {"debit_count": t.debit_count, "debit_amount": t.debit_amount, "credit_count": t.credit_count,
                   "credit_amount": t.credit_amount, "net": t.net, "unsent": t.unsent},
        # the debit and credit by kind, as the report's lines (completions and their voids apart)
        "lines": {name: {"count": count, "amount": amount} for name, count, amount in (
            ("sale", t.sale_count, t.sale_amount), ("completion", t.completion_count, t.completion_amount),
            ("void", t.void_count, t.void_amount), ("refund", t.refund_count, t.refund_amount),
            ("completion_void", t.completion_void_count, t.completion_void_amount))},
        "settlement": None if s is None else {
            "result": s.result.name.lower(), "uploaded": s.uploaded, "upload_owed": s.upload_owed,
            "no_upload": s.no_upload,
            "settled_at": s.when.isoformat(timespec="seconds"), "trace": s.stan, "operator": s.operator,
        },
        "transactions": [
            {
                "txn_no": r.txn_no, "trace": r.stan, "time": r.when.isoformat(timespec="seconds"),
                "kind": r.kind.value, "masked_pan": r.masked_pan, "amount": r.amount, "state": r.state.value,
                "response_code": r.response_code, "rrn": r.rrn, "auth_code": r.auth_code, "reason": r.reason,
                "voided": r.txn_no in report.voided,
                "operator": r.operator,  # who made it (the slip's OPERATOR), not who is signed in now
                # False: a hold, its release, a transfer, an inquiry; an offline approval the host refused or
                # has not had yet (advice: its answer, once it came)
                "in_totals": _in_totals(r),
                "advice": None if r.advice is None else {"code": r.advice.code, "accepted": r.advice.accepted},
                "voided_by_trace": by_txn[report.voided[r.txn_no]].stan
                if r.txn_no in report.voided and report.voided[r.txn_no] in by_txn else None,
                "original_trace": r.original.stan if r.original is not None else None,
            }
            for r in report.records
        ],
    }


def cmd_report(args) -> int:
    from firmware.cli import _config
    from firmware.core.settings import CoreSettings
    from storage.store import Store

    config = _config(args)
    settings = CoreSettings.from_config(config)
    store = Store.open_read_only(Path(args.data_dir) if args.data_dir else config.data_dir)
    try:
        report = batch_report(store, args.batch)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report_json(report, settings), indent=2))
    else:
        print(report_text(report, settings), end="")
    return 0


def batch_number(text: str) -> int:
    """``--batch``: a live batch number (1 to 999999), or an earlier batch's stored one (N + 1000000 * k,
    ``storage.archive``); anything else is a usage error naming both."""
    import argparse

    from storage.archive import EARLIER

    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or not 1 <= value < EARLIER ** 2 or value % EARLIER == 0:
        raise argparse.ArgumentTypeError(f"a batch number is a whole number from 1 to {EARLIER - 1} (an earlier "
                                         f"batch whose number was used again: N + {EARLIER} * k), not {text[:24]!r}")
    return value


batch_number.__name__ = "a batch number"  # argparse names the type in some messages


def add_report_command(sub, with_config) -> None:
    """``posterm report``: registered by ``firmware.cli``; ``with_config`` adds --config and --data-dir."""
    r = with_config(sub.add_parser(
        "report", help="a batch's totals and transactions for reconciliation (read-only, PANs masked)"))
    r.add_argument("--batch", type=batch_number, default=None,
                   help="a batch number (default: the current batch); an earlier batch whose number was used "
                   "again is kept under N + 1000000 * k (its report is headed '(earlier)')")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.set_defaults(func=cmd_report)
