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
Refunds count negative too. On cup a refund is a notification (0220), never
reversed but sent again until answered, so the host may see it more than once
(its repeats, 0221), yet must post it once; on iso87 it is a request (0200)
like a sale: never seen twice, reversed once when unanswered (then counted on
neither side). Which one a refund was is read from the messages the host got. A balance inquiry moves no money: the host posts nothing for it,
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
NOTIFICATIONS = ("0220", "0221")  # a refund sent as one of these is cup's notification; as a 0200, iso87's request


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
    notified = {int(m["stan"]) for m in messages if m["mti"] in NOTIFICATIONS and m["stan"]}

    def resent(p: dict) -> bool:  # a completion made without the host travels as an advice (0220, 0221)
        made = by_stan.get(int(p["stan"]))
        advice = p["kind"] == "preauth_complete" and made is not None and made.state is JournalState.OFFLINE_APPROVED
        if p["kind"] == "refund":  # cup's notification is sent again; iso87's request (0200) never is
            return int(p["stan"]) in notified
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
        if _kind(r) == "refund" and r.stan in reversed_stans and r.stan in notified:
            problems.append(f"refund STAN {r.stan:06d} was reversed (a notification is sent again, never reversed)")
        if r.state in APPROVED and r.stan not in host_approved:
            problems.append(f"terminal approved STAN {r.stan:06d} that the host does not count")

    # the paper (settlement reports are check_batches')
    for text in paper:
        if REPORT in text:
            continue
        m = re.search(r"TRACE NO:\s+(\d{6})", text)
        if not m:
            problems.append("a receipt without a trace number")
            continue
        record = by_stan.get(int(m.group(1)))
        if getattr(record, "advice_refused", False):
            continue  # printed as approved offline; the issuer's later refusal is told (advice.declined)
        if record is None or record.state not in APPROVED:
            problems.append(f"receipt for trace {m.group(1)} has no approved journal record")
        elif record.amount != _amount(text):
            problems.append(f"receipt for trace {m.group(1)} shows another amount")

    # what went back to a card stays within what it paid: a refund and a void of one sale agree on both
    # sides and still pay it back twice
    paid = {p["id"]: p for p in postings if p["kind"] in DEBIT_KINDS}
    back: dict[int, int] = {}
    for p in postings:
        if p["kind"] in ("void", "refund", "preauth_complete_void") and p["status"] in HOST_COUNTED and p.get("original_id") in paid:
            back[p["original_id"]] = back.get(p["original_id"], 0) + p["amount"]
    for posting_id, total in back.items():
        sale = paid[posting_id]
        if total > sale["amount"]:
            problems.append(f"{sale['kind']} STAN {sale['stan']} ({sale['amount']}) was paid back {total}")

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
        "receipts": sum(REPORT not in text for text in paper),
        "host_postings": len(postings),
        "approved_total": terminal_total,
    }


def _record(t: dict) -> SimpleNamespace:
    """A transaction of a scenario's JSON as the books count it. A stored advice (offline sale, completion)
    the issuer refused stays offline_approved in the journal, and its receipt was printed, but the host
    never took the funds and the settlement leaves it out (``storage.journal``'s advice verdict): declined
    for the books, its paper excused (the terminal told it: advice.declined)."""
    advice = t.get("advice")
    refused = advice is not None and not advice["accepted"]
    return SimpleNamespace(txn_no=t["txn_no"], stan=int(t["stan"]), amount=t["amount"], kind=t["kind"],
                           state=JournalState.DECLINED if refused else JournalState(t["outcome"]),
                           advice_refused=refused)


def books(result: dict) -> dict:
    """``check_books`` over a scenario's JSON result (``posterm sim --json``): its journal, its
    receipts, the host simulator's ledger and what is still owed."""
    journal = [_record(t) for t in result["transactions"]]
    paper = [text for t in result["transactions"] for text in t["receipts"]]
    ledger = result["host_ledger"]
    return check_books(journal, ledger["postings"], paper, owed=result["owed"], messages=ledger["messages"])


def mtis(result: dict) -> list[str]:
    """The MTIs the host simulator received, in order."""
    return [m["mti"] for m in result["host_ledger"]["messages"]]


# What a batch's settlement counts, as the host simulator's ledger books it (``Ledger.batch_totals``) and the
# terminal's journal does (``storage.settlements``): debits and credits by kind; holds, inquiries and transfers
# count in neither. A voided sale stays in the debits, its approved void is a credit.
DEBIT_KINDS = ("sale", "offline_sale", "preauth_complete")
CREDIT_KINDS = CREDITS
REPORT = "SETTLEMENT REPORT"  # a settlement report's heading, on the paper among the receipts
FINANCIAL_MTIS = ("0100", "0200", "0220", "0221")  # a posting's own request (not a reversal, not a settlement)


def _batch_no(value) -> int | None:
    return int(value) if value not in (None, "") else None


def _report(text: str) -> tuple[int, int, int, bool]:
    """A settlement report's batch, its TOTAL line (count, net amount), and whether it says BATCH UPLOADED."""
    batch = re.search(r"BATCH NO:\s+(\d+)", text)
    total = re.search(r"TOTAL\s+(\d+)\s+(-?)[A-Z]{3}\s+(-?)(\d+)\.(\d\d)", text)  # CNY 7.99, CNY -7.51
    assert batch and total, f"a settlement report without its batch or total:\n{text}"
    net = int(total.group(4)) * 100 + int(total.group(5))
    negative = total.group(2) or total.group(3)
    return int(batch.group(1)), int(total.group(1)), -net if negative else net, "BATCH UPLOADED" in text


def check_batches(journal: Iterable[SaleRecord], settlements: list, postings: list[dict], messages: list[dict],
                  host_batches: list[dict], *, open_batch: int, paper: list[str] = (), uploads: list[dict] = (),
                  upload_ends: list[dict] = (), owed_upload=None, owed_report=None) -> dict:
    """After a final recovery that settled the open batch: do the batches both sides closed agree?

    * the same batches are closed on both sides (the host closed none the terminal still holds open), and
      no upload or report is still owed;
    * every batch the terminal settled carries the totals (debit and credit counts and amounts, as the
      profile's 0500 carries them) that the host's ledger now books for that batch, and that the
      terminal's own journal counts for it; the host's last verdict on it is the one the terminal recorded;
    * each transaction the totals count is in one batch, the same on both sides, and a closed one: none
      counted twice, none lost between batches (nothing counted is left in the open batch);
    * the host never booked a transaction into a batch after it had closed that batch (each counted
      posting's first request came before the batch's first 0500);
    * a batch uploaded: the host holds each transaction its totals count, every one matching its ledger,
      and the upload's end declared that many; no transaction went up in another batch than its own;
    * each settled batch's report is on the paper with its totals (a copy printed again after a power cut
      aside), saying BATCH UPLOADED where an upload ran, and no report of a batch not settled.
    """
    journal = list(journal)
    problems: list[str] = []
    settled = {s.batch: s for s in settlements}
    host_closed = {int(b["batch"]): b for b in host_batches if b["batch"]}
    if set(host_closed) != set(settled):
        problems.append(f"closed batches differ: host {sorted(host_closed)}, terminal {sorted(settled)}")
    if open_batch in settled or open_batch in host_closed:
        problems.append(f"the terminal's open batch {open_batch:06d} is already closed")
    if owed_upload is not None or owed_report is not None:
        problems.append(f"still owed after the final settlement: upload {owed_upload}, report {owed_report}")

    by_stan = {r.stan: r for r in journal}
    host_counted = {int(p["stan"]): p for p in postings
                    if p["status"] in HOST_COUNTED and p["kind"] in (*DEBIT_KINDS, *CREDIT_KINDS)}

    def totals(items) -> tuple[int, int, int, int]:
        debit = [a for kind, a in items if kind in DEBIT_KINDS]
        credit = [a for kind, a in items if kind in CREDIT_KINDS]
        return len(debit), sum(debit), len(credit), sum(credit)

    host_by_batch: dict[int | None, list] = {}
    for p in host_counted.values():
        host_by_batch.setdefault(_batch_no(p["batch"]), []).append((p["kind"], p["amount"]))
    term_by_batch: dict[int, list] = {}
    for r in journal:
        kind = _kind(r)
        counted = (r.state is JournalState.APPROVED
                   or (r.state is JournalState.OFFLINE_APPROVED and r.stan in host_counted))  # an accepted advice
        if counted and kind in ("sale", "preauth_complete", *CREDIT_KINDS):
            term_by_batch.setdefault(r.batch, []).append((kind, r.amount))
        p = host_counted.get(r.stan)
        if counted and p is not None and _batch_no(p["batch"]) != r.batch:
            problems.append(f"STAN {r.stan:06d} ({kind}) is in batch {r.batch:06d} at the terminal, "
                            f"{p['batch']} at the host")
    for batch, s in sorted(settled.items()):
        t = s.totals
        sent = (t.debit_count, t.debit_amount, t.credit_count, t.credit_amount)
        host = totals(host_by_batch.get(batch, []))
        mine = totals(term_by_batch.get(batch, []))
        if sent != host:
            problems.append(f"batch {batch:06d} settled with {sent} (debits n, amount; credits n, amount) "
                            f"but the host books {host}")
        if sent != mine:
            problems.append(f"batch {batch:06d} settled with {sent} but its journal counts {mine}")
        verdict = host_closed.get(batch, {}).get("result")
        if verdict is not None and verdict != s.result.value:
            problems.append(f"batch {batch:06d}: the host's verdict {verdict}, the terminal recorded {s.result.value}")
        if s.result.value != "1" and not s.no_upload and not s.uploaded:
            problems.append(f"batch {batch:06d} was not balanced and its upload never completed")
    for batch, items in sorted(host_by_batch.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        if batch not in settled:
            problems.append(f"the host counts {len(items)} transaction(s) in batch {batch} that the terminal "
                            "never settled (lost between batches)")
    for batch, items in term_by_batch.items():
        if batch not in settled:
            problems.append(f"the terminal counts {len(items)} transaction(s) in batch {batch:06d}, never settled")

    # the batch uploads
    held: dict[int, list[dict]] = {}
    for u in uploads:
        held.setdefault(int(u["batch"]), []).append(u)
    ends = {int(e["batch"]): e for e in upload_ends}
    for u in uploads:  # an uploaded transaction is its own batch's, never another's
        record = by_stan.get(int(u["stan"]))
        if record is None or record.batch != int(u["batch"]):
            problems.append(f"trace {u['stan']} uploaded in batch {u['batch']} but the terminal has it in "
                            f"{f'batch {record.batch:06d}' if record else 'no record'}")
    for batch, s in sorted(settled.items()):
        if not s.uploaded:
            continue
        t, lines, end = s.totals, held.get(batch, []), ends.get(batch)
        unmatched = [u["stan"] for u in lines if not u["matched"]]
        if unmatched:
            problems.append(f"batch {batch:06d}'s upload: traces {unmatched} do not match the host's ledger")
        if len(lines) != t.debit_count + t.credit_count or end is None or end["count"] != len(lines):
            problems.append(f"batch {batch:06d}'s upload: {len(lines)} held, end {end}, totals count "
                            f"{t.debit_count + t.credit_count}")

    # the reports
    reports: dict[int, list] = {}
    for text in paper:
        if REPORT in text:
            batch, count, net, uploaded = _report(text)
            reports.setdefault(batch, []).append((count, net, uploaded))
    for batch, s in sorted(settled.items()):
        t = s.totals
        want = (t.debit_count + t.credit_count, t.debit_amount - t.credit_amount, bool(s.uploaded))
        printed = reports.pop(batch, [])
        if not printed:
            problems.append(f"batch {batch:06d} was settled but its report never printed")
        elif any(r != want for r in printed):
            problems.append(f"batch {batch:06d}'s report shows {printed}, its settlement {want}")
    if reports:
        problems.append(f"reports printed for batches never settled: {sorted(reports)}")

    # the host never books into a batch it has closed
    first_close: dict[int, int] = {}
    for m in messages:
        match = re.match(r"settlement batch (\d+):", m["action"] or "")
        if m["mti"] == "0500" and match:
            first_close.setdefault(int(match.group(1)), m["id"])
    first_request: dict[int, int] = {}
    for m in messages:
        if m["mti"] in FINANCIAL_MTIS and m["stan"]:
            first_request.setdefault(int(m["stan"]), m["id"])
    for stan, p in sorted(host_counted.items()):
        batch, asked = _batch_no(p["batch"]), first_request.get(stan)
        if batch in first_close and asked is not None and asked > first_close[batch]:
            problems.append(f"the host booked STAN {stan:06d} ({p['kind']}) into batch {batch:06d} after it "
                            f"closed that batch (message {asked} after the 0500 {first_close[batch]})")
    assert not problems, "\n".join(problems)
    return {"batches": len(settled), "unbalanced": sum(s.result.value != "1" for s in settled.values()),
            "uploaded": sum(bool(s.uploaded) for s in settled.values())}
