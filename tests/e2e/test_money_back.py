"""What goes back to a card never exceeds what it paid (audit AU5, session 9).

Each test failed on the code before its fix. A sale approved offline and forwarded had no RRN in
the journal: a refund keyed by the host's RRN was taken for a sale of another terminal (no link,
no checks), and the void of the same sale then passed too: 10.00 back for a 5.00 sale, with both
sides' books agreeing. The host simulator's side (a void of a refunded sale, whichever terminal
refunded it) is tests/hostsim/test_hostsim_refund.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from firmware.scenario import ScenarioRunner, parse_scenario
from storage.journal import JournalState
from tests.e2e.consistency import books, check_books

FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}
CARD = [{"swipe": "unionpay_credit"}, {"pin": "1234"}]
OFFLINE_SALE = [{"link": "down"}, {"key": "500#"}, *CARD, {"expect": {"outcome": "offline_approved"}},
                {"link": "up"}, {"upload": True}]


def run(steps):
    return run_with(FAST, steps)


def run_with(config, steps):
    return ScenarioRunner().run(parse_scenario({"name": "money back", "config": config, "step": steps}))


def test_a_forwarded_offline_sale_keeps_the_host_s_reference():
    r = run(OFFLINE_SALE)
    (posted,) = r["host_ledger"]["postings"]
    sale = r["transactions"][0]
    assert posted["kind"] == "offline_sale" and posted["rrn"]
    assert (sale["rrn"], sale["auth_code"]) == (posted["rrn"], posted["auth_code"])


def test_a_forwarded_offline_sale_refunded_by_its_rrn_is_not_voided_too():
    r = run([*OFFLINE_SALE, {"refund": {"rrn": "000000000001", "amount": 200}}, *CARD,
             {"expect": {"outcome": "approved"}},
             {"void": 1}, {"expect": {"notes": "void.refunded"}}])
    assert r["ok"], r["failures"]
    refund = r["transactions"][1]
    assert refund["original_stan"] == r["transactions"][0]["stan"]  # linked to the sale it refunds
    assert [(p["kind"], p["status"]) for p in r["host_ledger"]["postings"]] == [
        ("offline_sale", "approved"), ("refund", "approved")]
    books(r)


def test_the_books_check_finds_a_sale_paid_back_twice():
    """The crash test's books check once compared only the two sides, which agree on a double payback."""
    journal = [SimpleNamespace(txn_no=n, stan=n, amount=500, kind=kind, state=JournalState.APPROVED)
               for n, kind in ((1, "sale"), (2, "refund"), (3, "void"))]
    postings = [dict(id=n, stan=f"{n:06d}", amount=500, kind=kind, status=status, duplicates=0,
                     original_id=None if n == 1 else 1)
                for n, kind, status in ((1, "sale", "voided"), (2, "refund", "approved"), (3, "void", "approved"))]
    with pytest.raises(AssertionError, match=r"sale STAN 000001 \(500\) was paid back 1000"):
        check_books(journal, postings, [], owed={})


def test_a_batch_never_takes_a_sale_its_settlement_cannot_carry():
    """At sale.max_amount 999999999999 two sales of 6,000,000,000.00 were approved into one batch whose
    0500 could not carry their total (cup's n12): no settlement ever left and the batch never closed.
    Now the batch is full after one such sale, settles, and the next sale goes into the next batch."""
    big = [{"key": "600000000000#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
    r = run_with({**FAST, "sale": {"max_amount": 999999999999}}, [
        *big, {"expect": {"outcome": "approved"}},
        {"key": "6"}, {"expect": {"alerts": "batch.full", "display": "BATCH FULL"}},
        {"settle": True}, *big, {"expect": {"outcome": "approved"}}])
    assert r["ok"], r["failures"]
    assert [s["result"] for s in r["settlements"]] == ["balanced"]
    assert [t["batch"] for t in r["transactions"]] == ["000001", "000002"]


@pytest.mark.parametrize("restart", [False, True], ids=["running", "after a restart"])
def test_a_reprint_says_what_the_host_made_of_a_stored_sale(restart):
    """F 0 8 reprinted a stored sale the host had refused as "APPROVED OFFLINE - TO BE UPLOADED": fresh
    paper saying approved for money the bank refused. Now a refused one says so, and an accepted one
    says uploaded, with the host's reference; the same after a restart (the record read back)."""
    again = [{"restart": True}] if restart else []
    declined = run([{"link": "down"}, {"key": "500#"}, *CARD, {"link": "up"},
                    {"host": {"behaviour": "decline", "code": "51", "mti": "0220"}}, {"upload": True},
                    {"expect": {"alerts": "advice.declined"}}, *again, {"key": "F08#"}])
    assert declined["ok"], declined["failures"]
    assert declined["host_ledger"]["postings"] == []  # the bank has no record of it
    reprint = declined["transactions"][0]["receipts"][-1]
    assert "*** REPRINT ***" in reprint and "DECLINED BY HOST (51)" in reprint
    assert "APPROVED" not in reprint, reprint
    accepted = run([*OFFLINE_SALE, *again, {"key": "F08#"}])
    assert accepted["ok"], accepted["failures"]
    reprint = accepted["transactions"][0]["receipts"][-1]
    said = [line.strip() for line in reprint.splitlines()]
    assert "*** REPRINT ***" in reprint and said[said.index("APPROVED OFFLINE") + 1] == "UPLOADED"
    assert "REF NO:" in reprint and accepted["host_ledger"]["postings"][0]["rrn"] in reprint
