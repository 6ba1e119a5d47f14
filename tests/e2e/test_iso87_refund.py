"""Refunds on the generic ISO 8583:1987 profile end to end (``host.profile = "iso87"``): the real TCP link,
the host simulator on the same profile, its ledger, a tap on the wire.

iso87 sends a refund as a 0200 request (processing code 200000) naming its sale by RRN (37) and original
data elements (90), not as cup's 0220 notification: left unanswered it is reversed as a sale is (a 0400
committed before it is sent; no answer, a bad MAC, a power cut), never sent again, and the reversed refund
counts nowhere and leaves the sale refundable again. Before, the terminal refused every iso87 refund
(``host.unsupported``: it could not seal a 0220 repeat of a 0200)."""

from __future__ import annotations

import pytest

from firmware.host.profiles import get_profile
from firmware.reportcli import batch_report
from storage.store import Store

from .consistency import books, mtis
from .wiretap import run_tapped

ISO87 = get_profile("iso87")
CONFIG = {"host": {"profile": "iso87", "response_timeout": 0.4, "connect_timeout": 0.4}}
SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
RRN1 = "000000000001"  # the host simulator's first RRN: the first sale's


def refund(amount: int, rrn: str = RRN1) -> list[dict]:
    return [{"refund": {"rrn": rrn, "amount": amount}}] + CARD


def host(behaviour: str, **kw) -> dict:
    return {"host": {"behaviour": behaviour, "mti": "0200", "kind": "refund", "times": 1, **kw}}


def run(steps, tmp_path):
    return run_tapped("iso87 refund", CONFIG, steps, tmp_path, ISO87)


def refunds(result) -> list[tuple[int, str]]:
    return [(p["amount"], p["status"]) for p in result["host_ledger"]["postings"] if p["kind"] == "refund"]


def test_an_approved_refund_is_a_0200_naming_its_sale_and_a_credit_everywhere(tmp_path):
    r, paper, tap = run(SALE + refund(500) + [{"settle": True}, {"expect": {"printed": "REFUND        1"}}],
                        tmp_path)
    sale, back = r["transactions"]
    assert (back["kind"], back["outcome"], back["amount"], back["original_stan"]) == ("refund", "approved", 500,
                                                                                      "000001")
    assert sale["refunded"] == 500 and mtis(r) == ["0200", "0200", "0500"]  # no 0220, no 0400

    (request,) = [m for m in tap.messages("0200") if m.fields[3] == "200000"]
    assert request.fields[37] == RRN1 and request.fields[90] == "0200" "000001" + tap.messages("0200")[0].fields[7] \
        + "0" * 22
    merchant, cardholder = back["receipts"]
    assert "REFUND" in merchant and "-CNY 5.00" in merchant and f"ORIG REF NO:        {RRN1}" in merchant
    assert "CARDHOLDER COPY" in cardholder and "QUEUED" not in paper

    (settlement,) = tap.messages("0500")  # credits in 74 and 86, the net in 97
    f = settlement.fields
    assert (f[74], f[86], f[76], f[88], f[97]) == ("0000000001", "0000000000000500", "0000000001",
                                                   "0000000000001250", "D0000000000000750")
    assert r["settlements"][0]["result"] == "balanced" and "TOTALS BALANCED" in paper
    assert refunds(r) == [(500, "approved")]
    (posting,) = [p for p in r["host_ledger"]["postings"] if p["kind"] == "refund"]
    assert posting["original_id"] == r["host_ledger"]["postings"][0]["id"] and posting["rrn"] == back["rrn"]
    assert books(r)["approved_total"] == 750

    store = Store.open_read_only(tmp_path / "data")  # what `posterm report --batch 1` says
    try:
        report = batch_report(store, 1)
    finally:
        store.close()
    t = report.totals
    assert (t.refund_count, t.refund_amount, t.credit_count, t.credit_amount) == (1, 500, 1, 500)


def test_a_declined_refund_prints_nothing_and_takes_nothing_back(tmp_path):
    r, _paper, _tap = run(SALE + [host("decline", code="05")] + refund(500)
                          + [{"expect": {"outcome": "declined", "response_code": "05", "display": "REFUND DECLINED"}}],
                          tmp_path)
    assert r["transactions"][-1]["receipts"] == [] and r["transactions"][0]["refunded"] == 0
    assert refunds(r) == [(500, "declined")] and "0400" not in mtis(r)
    assert books(r)["approved_total"] == 1250


def test_host_silent_the_refund_is_reversed_once_and_the_sale_is_refundable_again(tmp_path):
    steps = SALE + [host("drop")] + refund(500) + [{"expect": {"outcome": "reversed"}}] + refund(1250)
    steps += [{"expect": {"outcome": "approved"}}]
    r, paper, tap = run(steps, tmp_path)
    sale, reversed_, whole = r["transactions"]
    assert (reversed_["outcome"], reversed_["reason"], reversed_["receipts"]) == ("reversed", "98", [])
    assert mtis(r) == ["0200", "0200", "0400", "0200"]  # exactly one 0400; never a 0220 or 0221
    (reversal,) = tap.messages("0400")
    unanswered = tap.messages("0200")[1]
    assert reversal.fields[11] == unanswered.fields[11] == "000002" and reversal.fields[3] == "200000"
    assert reversal.fields[90] == "0200" "000002" + unanswered.fields[7] + "0" * 22  # it names the refund
    assert refunds(r) == [(500, "reversed"), (1250, "approved")]  # the whole sale, once the 5.00 was undone
    assert whole["outcome"] == "approved" and sale["refunded"] == 1250
    assert "REFUND QUEUED" not in paper and r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    assert books(r)["approved_total"] == 0


@pytest.mark.parametrize("point", ["after:open_request", "before:send_request", "after:send_request"])
def test_a_power_cut_after_the_refund_is_committed_reverses_it_at_recovery(tmp_path, point):
    steps = SALE + [{"power_cut": point}] + refund(500) + [{"restart": True}, {"expect": {"outcome": "reversed"}}]
    r, _paper, _tap = run(steps, tmp_path)
    assert r["power_cuts"] == [point]
    (alert,) = [t for c, t in r["alerts"] if c == "recovery.interrupted"]
    assert alert == "1 transaction(s) interrupted by a power cut will be reversed"  # iso87 sends nothing again
    assert mtis(r).count("0400") == 1 and not {"0220", "0221"} & set(mtis(r))
    assert r["transactions"][-1]["receipts"] == [] and r["transactions"][0]["refunded"] == 0
    assert refunds(r) in ([], [(500, "reversed")])  # the cut may come before it left the terminal
    assert books(r)["approved_total"] == 1250


def test_a_bad_mac_on_the_answer_reverses_the_refund(tmp_path):
    r, _paper, tap = run(SALE + [host("bad_mac")] + refund(500) + [{"expect": {"outcome": "reversed"}}], tmp_path)
    back = r["transactions"][-1]
    assert (back["reason"], back["receipts"]) == ("A0", [])  # the journal keeps the terminal's reason
    (reversal,) = tap.messages("0400")
    assert reversal.fields[39] == "20" and reversal.fields[11] == "000002"  # ISO 8583:1987: invalid response
    assert refunds(r) == [(500, "reversed")] and books(r)["approved_total"] == 1250


def test_a_partial_refund_then_the_rest_then_over_it_refused_before_sending(tmp_path):
    steps = SALE + refund(500) + refund(750) + [
        {"refund": {"rrn": RRN1, "amount": 1}},
        {"expect": {"notes": "refund.fully_refunded", "display": "ALREADY REFUNDED"}},
        {"refund": {"rrn": "000000000002", "amount": 300}},  # the first refund's own reference: not a sale
        {"expect": {"notes": "refund.is_refund", "display": "CANNOT REFUND A"}},  # was cut: REFU
    ]
    r, _paper, _tap = run(steps, tmp_path)
    sale, first, second = r["transactions"]
    assert (first["outcome"], second["outcome"], sale["refunded"]) == ("approved", "approved", 1250)
    assert mtis(r) == ["0200"] * 3 and refunds(r) == [(500, "approved"), (750, "approved")]
    assert books(r)["approved_total"] == 0


def test_a_refund_over_what_is_left_is_refused_when_keyed(tmp_path):
    steps = SALE + refund(1000) + [{"refund": {"rrn": RRN1, "amount": 251}},
                                   {"expect": {"notes": "refund.over_amount", "display": "OVER REFUNDABLE"}},
                                   {"key": "X"}]
    r, _paper, _tap = run(steps, tmp_path)
    assert mtis(r) == ["0200", "0200"] and r["transactions"][0]["refunded"] == 1000
