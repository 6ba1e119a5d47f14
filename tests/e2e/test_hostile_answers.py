"""Answers a broken or hostile host may send, MACed correctly (audit AU11, ``hostile.py``), through the real
runner: what the terminal makes of an answer without its response code (39), of an approval without its
retrieval reference (37) or authorisation code (38), of an unknown code, and of a partial approval (10).

An answer that cannot say what the host did is no answer: its request takes the unanswered path (a sale is
reversed, cup's refund sent again). A partial approval moved money the terminal cannot honour: reversed at
once, reason 06, where the request can be reversed.
"""

from __future__ import annotations

import pytest

from .consistency import books, mtis
from .hostile import SALE, run, setting, without

RRN1 = "000000000001"
REFUND = [{"refund": {"rrn": RRN1, "amount": 500}}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]


def alerts(result) -> list[str]:
    return [code for code, _text in result["alerts"]]


def notes(result) -> list[str]:
    return [code for code, _text in result["notes"]]


@pytest.mark.parametrize("profile", ["cup", "iso87"])
def test_a_sale_answered_without_field_39_is_reversed_as_unanswered(profile):
    """Before: filed DECLINED with no code and nothing reversed, though the host may have approved."""
    r = run([{"key": "X"}] + SALE, without(39), profile=profile)
    (sale,) = r["transactions"]
    assert (sale["outcome"], sale["reason"]) == ("reversed", "98"), (sale, r["notes"])
    assert "host.malformed" in notes(r)
    assert mtis(r) == ["0200", "0400"] and r["host_ledger"]["postings"][0]["status"] == "reversed"


def test_a_refund_answered_without_field_39_is_sent_again_not_dropped():
    """cup's refund is a notification (0220): an answer without 39 is none, so it goes again as 0221 and the
    host's answer to the repeat is its outcome. Before: the refund was filed declined and never sent again."""
    r = run(SALE + REFUND, without(39), mti="0230")
    sale, refund = r["transactions"]
    assert refund["outcome"] == "approved" and sale["refunded"] == 500, (refund, r["notes"])
    assert mtis(r) == ["0200", "0220", "0221"]
    assert books(r)["approved_total"] == 1250 - 500


@pytest.mark.parametrize("profile", ["cup", "iso87"])
def test_an_approval_without_a_retrieval_reference_is_reversed(profile):
    """Its void or refund would go without 37, which a real host refuses: the approval is malformed."""
    r = run([{"key": "X"}] + SALE, without(37), profile=profile)
    (sale,) = r["transactions"]
    assert sale["outcome"] == "reversed" and not sale["receipts"], (sale, r["notes"])
    assert "host.malformed" in notes(r)


def test_an_approval_without_an_auth_code_prints_and_reprints_sanely():
    """38 stays optional (an issuer may omit it): approved, and the receipt has no empty or 'None' code."""
    r = run([{"key": "X"}] + SALE + [{"key": "F08#"}], without(38))
    (sale,) = r["transactions"]
    assert sale["outcome"] == "approved" and sale["auth_code"] is None and sale["rrn"] == RRN1
    merchant, cardholder, reprint = sale["receipts"]
    assert "*** REPRINT ***" in reprint
    for paper in (merchant, cardholder, reprint):
        assert "None" not in paper and f"REF NO:             {RRN1}" in paper and "AUTH NO:                       -" in paper


def test_an_unknown_response_code_declines():
    r = run([{"key": "X"}] + SALE, setting(f39="ZZ"))
    (sale,) = r["transactions"]
    assert (sale["outcome"], sale["response_code"]) == ("declined", "ZZ")
    assert mtis(r) == ["0200"]


@pytest.mark.parametrize("profile", ["cup", "iso87"])
def test_a_partial_approval_is_reversed_at_once_with_reason_06(profile):
    """Code 10 (approved for part of the amount): the host holds funds the terminal cannot use. Before: a plain
    decline, nothing reversed, the cardholder charged for a sale the terminal called declined."""
    sent = []
    r = run([{"key": "X"}] + SALE, setting(f39="10"), profile=profile, sent=sent)
    (sale,) = r["transactions"]
    assert (sale["outcome"], sale["response_code"], sale["reason"]) == ("reversed", "10", "06"), (sale, r["notes"])
    assert not sale["receipts"]
    reversal = next(m for m in sent if m.mti == "0400")
    assert reversal.fields[39] == "06"  # the reversal's reason, in both profiles
    assert r["host_ledger"]["postings"][0]["status"] == "reversed"


def test_a_partial_approval_of_a_refund_is_declined_and_the_operator_told():
    """cup's refund (a 0220) is never reversed: the terminal cannot undo it, nor complete a partial one, so it
    is declined and the operator alerted to reconcile it with the host."""
    r = run(SALE + REFUND, setting(f39="10"), mti="0230")
    sale, refund = r["transactions"]
    assert (refund["outcome"], refund["response_code"]) == ("declined", "10") and sale["refunded"] == 0
    assert "host.partial_approval" in alerts(r)
    assert mtis(r) == ["0200", "0220"]
