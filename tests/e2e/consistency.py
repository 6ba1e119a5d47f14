"""Do the terminal's books, the host's books and the printed paper agree?

Used after crash tests, once a final recovery has run with the link up:

* no approved sale is lost: every posting the host still counts as approved
  is an approved (or offline-approved) record in the terminal's journal, for
  the same amount;
* the host has no duplicate: it never saw the same financial request twice,
  and it posted each offline advice once; an advice sent again after a lost
  acknowledgement went out with the repeat MTI, never as a second original;
* every request left without an answer was reversed exactly once: no record
  is still open, no reversal is still owed, and whatever the host booked for
  such a record it now counts as reversed (a reversal applied once, however
  many times it was transmitted);
* every printed receipt has its journal record, approved, same trace and amount;
* and the money agrees: the host's approved total equals the terminal's.

Voids count against their sale: a voided sale stays approved in the terminal's
journal (voided is derived from its approved void) and is ``voided`` at the
host; a void's amount counts negative on both sides, so the pair nets to 0.
Refunds count negative too; a refund is never reversed but sent again until
answered, so the host may see it more than once (its repeats, 0221), yet must
post it once. A balance inquiry moves no money: the host posts nothing for it,
and it must never be left open or reversed. A pre-auth and its cancel hold and
release funds and count 0; a completion counts as a sale, its void as a void.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import SimpleNamespace

from firmware.core.model import JournalState, SaleRecord

APPROVED = (JournalState.APPROVED, JournalState.OFFLINE_APPROVED)
HOST_COUNTED = ("approved", "voided")  # a voided sale still counts, against its approved void


CREDITS = ("void", "refund", "preauth_complete_void")
HOLDS = ("preauth", "preauth_void")  # hold and release funds: no money moves, they count 0
RESENT = ("offline_sale", "refund")  # sent again (repeat MTI) until answered: seen more than once, posted once


def _kind(record) -> str:
    return getattr(getattr(record, "kind", "sale"), "value", getattr(record, "kind", "sale"))


def _sign(kind) -> int:
    kind = getattr(kind, "value", kind)
    return 0 if kind in HOLDS else -1 if kind in CREDITS else 1


def _amount(text: str) -> int:
    m = re.search(r"AMOUNT:\s+\S+\s+(\d+)\.(\d\d)", text)
    assert m, f"no amount on receipt:\n{text}"
    return int(m.group(1)) * 100 + int(m.group(2))


def check_books(
    journal: Iterable[SaleRecord], postings: list[dict], paper: list[str], *, owed: dict, messages: list[dict] = ()
) -> dict:
    journal = list(journal)
    by_stan = {r.stan: r for r in journal}
    assert len(by_stan) == len(journal), "two journal records share a STAN"
    problems: list[str] = []

    # nothing left open
    still_open = [r.txn_no for r in journal if r.state in (JournalState.REQUESTED, JournalState.REVERSING)]
    if still_open:
        problems.append(f"records still open after recovery: {still_open}")
    if owed.get("reversals") or owed.get("advices") or owed.get("receipts"):
        problems.append(f"still owed after recovery: {owed}")

    # the host side
    def resent(p: dict) -> bool:  # a completion made without the host travels as an advice (0220, 0221)
        made = by_stan.get(int(p["stan"]))
        advice = p["kind"] == "preauth_complete" and made is not None and made.state is JournalState.OFFLINE_APPROVED
        return p["kind"] in RESENT or advice

    for p in postings:
        if p["duplicates"] and not resent(p):
            problems.append(f"host saw the {p['kind']} request STAN {p['stan']} {p['duplicates'] + 1} times")
    originals: dict[tuple[str, str], int] = {}
    for m in messages:
        if m["mti"] in ("0200", "0220"):
            key = (m["mti"], m["stan"])
            originals[key] = originals.get(key, 0) + 1
    for (mti, stan), n in originals.items():
        if n > 1:
            problems.append(f"{mti} STAN {stan} was sent {n} times as an original (retries must use the repeat MTI)")
    for p in postings:  # each posting against the journal (this loop once sat inside the one above)
        record = by_stan.get(int(p["stan"]))
        if p["status"] in HOST_COUNTED:
            if record is None or record.state not in APPROVED:
                problems.append(
                    f"host approved STAN {p['stan']} ({p['amount']}) but the terminal has "
                    f"{record.state.value if record else 'no record'}"
                )
            elif record.amount != p["amount"]:
                problems.append(f"STAN {p['stan']}: host {p['amount']} vs terminal {record.amount}")
        elif p["status"] == "reversed" and record is not None and record.state in APPROVED:
            problems.append(f"host reversed STAN {p['stan']} that the terminal counts as approved")

    # the terminal side
    host_approved = {int(p["stan"]) for p in postings if p["status"] in HOST_COUNTED}
    reversed_stans = {int(m["stan"]) for m in messages if m["mti"] in ("0400", "0401") and m["stan"]}
    for r in journal:
        if _kind(r) == "balance":  # an inquiry: nothing posted, never reversed
            if r.stan in reversed_stans:
                problems.append(f"balance inquiry STAN {r.stan:06d} was reversed")
            continue
        if _kind(r) == "refund" and r.stan in reversed_stans:
            problems.append(f"refund STAN {r.stan:06d} was reversed (a refund is sent again, never reversed)")
        if r.state in APPROVED and r.stan not in host_approved:
            problems.append(f"terminal approved STAN {r.stan:06d} that the host does not count")

    # the paper
    for text in paper:
        m = re.search(r"TRACE NO:\s+(\d{6})", text)
        if not m:
            problems.append("a receipt without a trace number")
            continue
        record = by_stan.get(int(m.group(1)))
        if record is None or record.state not in APPROVED:
            problems.append(f"receipt for trace {m.group(1)} has no approved journal record")
        elif record.amount != _amount(text):
            problems.append(f"receipt for trace {m.group(1)} shows another amount")

    terminal_total = sum(_sign(_kind(r)) * r.amount for r in journal if r.state in APPROVED)
    host_total = sum(_sign(p["kind"]) * p["amount"] for p in postings if p["status"] in HOST_COUNTED)
    if terminal_total != host_total:
        problems.append(f"money disagrees: terminal {terminal_total}, host {host_total}")
    assert not problems, "\n".join(problems)
    return {
        "records": len(journal),
        "approved": sum(r.state in APPROVED for r in journal),
        "reversed": sum(r.state is JournalState.REVERSED for r in journal),
        "declined": sum(r.state is JournalState.DECLINED for r in journal),
        "receipts": len(paper),
        "host_postings": len(postings),
        "approved_total": terminal_total,
    }


def books(result: dict) -> dict:
    """``check_books`` over a scenario's JSON result (``posterm sim --json``): its journal, its
    receipts, the host simulator's ledger and what is still owed."""
    journal = [SimpleNamespace(txn_no=t["txn_no"], stan=int(t["stan"]), amount=t["amount"], kind=t["kind"],
                               state=JournalState(t["outcome"])) for t in result["transactions"]]
    paper = [text for t in result["transactions"] for text in t["receipts"]]
    ledger = result["host_ledger"]
    return check_books(journal, ledger["postings"], paper, owed=result["owed"], messages=ledger["messages"])


def mtis(result: dict) -> list[str]:
    """The MTIs the host simulator received, in order."""
    return [m["mti"] for m in result["host_ledger"]["messages"]]
