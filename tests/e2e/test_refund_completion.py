"""Refunds of pre-auth completions (退货 of 预授权完成): UnionPay refunds "a sale or a pre-auth completion"
already debited, by its reference number and date, as it refunds a sale. Before, the terminal refused one
locally (NOT A SALE) and the host simulator answered 25 for one made elsewhere: the money a hotel took by
a completion could not be given back on the terminal at all.

What holds for a sale holds for a completion, on both sides: the refunds together stay within what it
took, a voided completion is not refunded, and a refunded one is not voided (that would pay it back
twice). One approved offline (a completion advice) has no reference number to be named by until the host
has accepted its advice, which gives it one.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from storage.journal import JournalState

from .consistency import books, check_books, mtis
from .test_completion_advice import advice
from .test_preauth import complete, postings, preauth
from .test_refund import CARD, OtherTerminals, refund, run

RRN2 = "000000000002"  # the host simulator's second RRN: the completion's (the pre-auth has the first)


def refund_of(result) -> dict:
    (posted,) = postings(result, "refund")
    return posted


def test_an_online_completion_is_refunded_in_part_linked_and_its_void_is_then_refused():
    r = run(preauth(10000) + complete(9000) + refund(4000, rrn=RRN2) + refund(5000, rrn=RRN2)
            + [{"refund": {"rrn": RRN2, "amount": 1}},
               {"expect": {"notes": "refund.fully_refunded", "display": "ALREADY REFUNDED"}}, {"key": "X"},
               {"preauth_complete_void": 2}, {"expect": {"notes": "preauth.refunded", "display": "COMPLETION REFUNDED"}},
               {"settle": True}])
    assert r["ok"], r["failures"]
    _, done, first, second = r["transactions"]
    assert (done["kind"], done["rrn"]) == ("preauth_complete", RRN2)
    assert [(t["kind"], t["outcome"], t["original_stan"]) for t in (first, second)] == [
        ("refund", "approved", done["stan"])] * 2
    completion = postings(r, "preauth_complete")[0]
    assert [(p["status"], p["original_id"]) for p in postings(r, "refund")] == [("approved", completion["id"])] * 2
    assert mtis(r) == ["0100", "0200", "0220", "0220", "0500"]  # the void never left
    (settlement,) = r["settlements"]
    assert settlement["result"] == "balanced"
    assert (settlement["debit_amount"], settlement["credit_amount"]) == (9000, 9000)
    assert books(r)["approved_total"] == 0


def test_a_forwarded_completion_advice_is_refunded_by_the_host_s_reference():
    steps = preauth(10000) + [{"link": "down"}] + advice(11500) + [{"link": "up"}, {"upload": True}]
    r = run(steps + refund(11500, rrn=RRN2) + [{"expect": {"outcome": "approved"}}])
    assert r["ok"], r["failures"]
    _, done, back = r["transactions"]
    assert (done["outcome"], done["rrn"]) == ("offline_approved", RRN2)  # the advice's answer gave it its RRN
    assert back["original_stan"] == done["stan"]
    assert refund_of(r)["original_id"] == postings(r, "preauth_complete")[0]["id"]
    books(r)


def test_a_voided_completion_is_not_refunded():
    r = run(preauth(10000) + complete(9000) + [{"preauth_complete_void": 2}] + CARD
            + [{"refund": {"rrn": RRN2, "amount": 100}},
               {"expect": {"notes": "refund.voided", "display": "COMPLETION VOIDED"}}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100", "0200", "0200"]


def test_a_completion_made_elsewhere_is_refunded_by_the_host_within_its_amount():
    """The host's side of its void after such a refund: tests/hostsim/test_hostsim_preauth.py."""
    r = run(refund(1500, rrn="000000009999") + [{"expect": {"outcome": "approved"}}]
            + refund(600, rrn="000000009999") + [{"expect": {"outcome": "declined", "response_code": "64"}}],
            runner=OtherTerminals("preauth_complete"))
    assert r["ok"], r["failures"]
    assert [p["status"] for p in postings(r, "refund")] == ["approved", "declined"]


def test_the_books_check_counts_a_completion_s_void_as_money_back():
    journal = [SimpleNamespace(txn_no=n, stan=n, amount=500, kind=kind, state=JournalState.APPROVED)
               for n, kind in ((1, "preauth_complete"), (2, "refund"), (3, "preauth_complete_void"))]
    posted = [dict(id=n, stan=f"{n:06d}", amount=500, kind=kind, status=status, duplicates=0,
                   original_id=None if n == 1 else 1)
              for n, kind, status in ((1, "preauth_complete", "voided"), (2, "refund", "approved"),
                                      (3, "preauth_complete_void", "approved"))]
    with pytest.raises(AssertionError, match=r"preauth_complete STAN 000001 \(500\) was paid back 1000"):
        check_books(journal, posted, [], owed={})
