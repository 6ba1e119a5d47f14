"""The host simulator's refunds (by RRN and date, cumulative, posted once however often sent) and
balance inquiries (a deterministic balance per card, nothing posted)."""

from __future__ import annotations

import pytest

from firmware.host.messages import Original, TxnKind, as_repeat, build_request, build_resend
from firmware.hostsim.lab import LAB_PAN, lab_card, lab_txn
from firmware.hostsim.rules import Behaviour, Rule
from firmware.hostsim.txnset import lab_balance

DATE = "0506"  # lab_txn's local date, and the host's


@pytest.fixture
def host(make_host, cup):
    return make_host(cup)


def sale(host, term, stan=1, amount=1000):
    reply = term.read(host.respond(term.sale(amount=amount, stan=stan)).payload)
    assert reply.response_code == "00"
    return reply


def refund(term, *, rrn, stan, amount, date=DATE, repeat=False, resend=False, pin="1234"):
    txn = lab_txn(kind=TxnKind.REFUND, amount=amount, stan=stan, pin_entered=pin is not None,
                  original=Original(stan=0, batch=0, date=date, rrn=rrn))
    if resend or repeat:
        message = build_resend(term.profile, txn, lab_card(pin=None), tpdu=term.tpdu)
        message = as_repeat(term.profile, message) if repeat else message
    else:
        message = build_request(term.profile, txn, lab_card(pin=pin), tpdu=term.tpdu)
    return term.encode(message)


def refunds(host):
    return [(p["amount"], p["status"], p["response_code"]) for p in host.ledger.postings() if p["kind"] == "refund"]


def test_partial_refunds_up_to_the_sale_are_credits(host, cup_term):
    s = sale(host, cup_term)
    first = cup_term.read(host.respond(refund(cup_term, rrn=s.rrn, stan=2, amount=600)).payload)
    assert first.mti == "0230" and first.response_code == "00" and first.amount == 600 and first.auth_code
    second = cup_term.read(host.respond(refund(cup_term, rrn=s.rrn, stan=3, amount=400)).payload)
    assert second.response_code == "00"
    over = cup_term.read(host.respond(refund(cup_term, rrn=s.rrn, stan=4, amount=1)).payload)
    assert over.response_code == "64" and not over.approved
    assert refunds(host) == [(600, "approved", "00"), (400, "approved", "00"), (1, "declined", "64")]
    summary = host.ledger.summary()
    assert summary["net_amount"] == 0 and summary["approved_amount"] == 1000
    (sale_posting, *rest) = host.ledger.postings()
    assert sale_posting["status"] == "approved" and {p["original_id"] for p in rest[:2]} == {sale_posting["id"]}
    assert host.ledger.batch_totals("12345678", "000001") == (1, 1000, 2, 1000)


def test_a_sale_refunded_in_part_is_not_voided_whichever_terminal_asks(host, cup_term):
    """A void gives the whole amount back: on top of a refund, the sale would be paid back twice. The
    terminal that made the sale refuses it from its journal, but a refund made on another terminal is not
    in that journal: the host is the one place that sees both (AU5)."""
    s = sale(host, cup_term)
    assert cup_term.read(host.respond(refund(cup_term, rrn=s.rrn, stan=2, amount=1)).payload).approved
    original = Original(stan=1, batch=1, date=DATE, rrn=s.rrn, auth_code=s.auth_code, mti="0200",
                        transmitted="0506120000")
    void = cup_term.read(host.respond(cup_term.sale(kind=TxnKind.VOID, amount=1000, stan=3, original=original)).payload)
    assert void.response_code == "12" and not void.approved
    assert [(p["kind"], p["status"]) for p in host.ledger.postings()] == [
        ("sale", "approved"), ("refund", "approved"), ("void", "declined")]


@pytest.mark.parametrize("case, code", [
    ("unknown rrn", "25"), ("other date", "25"), ("declined sale", "25"), ("reversed sale", "25"),
    ("voided sale", "12"), ("over", "64"), ("wrong pin", "55"), ("rule", "05"),
])
def test_refund_refused_with_the_spec_s_codes(host, cup_term, case, code):
    s = sale(host, cup_term)
    rrn, date, amount, pin = s.rrn, DATE, 500, "1234"
    if case == "unknown rrn":
        rrn = "000000000999"
    if case == "other date":
        date = "0505"
    if case == "declined sale":
        host.rules.push(Rule(Behaviour.DECLINE, code="51", times=1))
        rrn = cup_term.read(host.respond(cup_term.sale(amount=1000, stan=5)).payload).rrn
    if case == "reversed sale":
        host.respond(cup_term.reversal(amount=1000, stan=1))
    if case == "voided sale":
        o = Original(stan=1, batch=1, date=DATE, rrn=s.rrn, auth_code=s.auth_code)
        assert cup_term.read(host.respond(cup_term.sale(kind=TxnKind.VOID, amount=1000, stan=6, original=o)).payload).approved
    if case == "over":
        amount = 1001
    if case == "wrong pin":
        host.rules.push(Rule(Behaviour.APPROVE, pin="9999", times=1))
    if case == "rule":
        host.rules.push(Rule(Behaviour.DECLINE, code="05", kind=TxnKind.REFUND, times=1))
    reply = cup_term.read(host.respond(refund(cup_term, rrn=rrn, stan=9, amount=amount, date=date, pin=pin)).payload)
    assert reply.response_code == code and not reply.approved
    assert [r for r in refunds(host) if r[1] == "approved"] == []


def test_a_refund_sent_again_is_posted_once_and_answered_as_before(host, cup_term):
    s = sale(host, cup_term)
    host.rules.push(Rule(Behaviour.DROP, mti="0220", times=1))  # the host books it, the answer is lost
    assert host.respond(refund(cup_term, rrn=s.rrn, stan=2, amount=300)).payload is None
    again = cup_term.read(host.respond(refund(cup_term, rrn=s.rrn, stan=2, amount=300, repeat=True)).payload)
    assert again.response_code == "00" and again.mti == "0230"
    third = cup_term.read(host.respond(refund(cup_term, rrn=s.rrn, stan=2, amount=300, repeat=True)).payload)
    assert third.rrn == again.rrn and third.auth_code == again.auth_code
    (posting,) = [p for p in host.ledger.postings() if p["kind"] == "refund"]
    assert posting["duplicates"] == 2 and host.ledger.summary()["net_amount"] == 700
    assert [m["mti"] for m in host.ledger.messages()] == ["0200", "0220", "0221", "0221"]


def test_a_declined_refund_sent_again_stays_declined(host, cup_term):
    s = sale(host, cup_term)
    host.rules.push(Rule(Behaviour.DROP, mti="0220", times=1))
    host.respond(refund(cup_term, rrn=s.rrn, stan=2, amount=5000))
    again = cup_term.read(host.respond(refund(cup_term, rrn=s.rrn, stan=2, amount=5000, repeat=True)).payload)
    assert again.response_code == "64"


def test_a_repeat_seen_first_is_processed_as_the_refund(host, cup_term):
    s = sale(host, cup_term)
    reply = cup_term.read(host.respond(refund(cup_term, rrn=s.rrn, stan=2, amount=300, repeat=True)).payload)
    assert reply.response_code == "00" and refunds(host) == [(300, "approved", "00")]


def test_balance_inquiry_answers_the_card_s_balance_and_posts_nothing(host, cup_term):
    payload = cup_term.encode(build_request(cup_term.profile, lab_txn(kind=TxnKind.BALANCE, amount=0), lab_card(),
                                            tpdu=cup_term.tpdu))
    reply = cup_term.read(host.respond(payload).payload)
    assert reply.approved and reply.mti == "0210" and reply.amount is None
    assert reply.balance.amount == lab_balance(LAB_PAN) and reply.balance.currency == "156"
    assert host.ledger.postings() == []
    (message,) = host.ledger.messages()
    assert message["amount"] is None and str(reply.balance.amount) not in str(message)


def test_balance_inquiry_checks_the_pin(host, cup_term):
    host.rules.push(Rule(Behaviour.APPROVE, pin="9999", times=1))
    payload = cup_term.encode(build_request(cup_term.profile, lab_txn(kind=TxnKind.BALANCE, amount=0), lab_card(),
                                            tpdu=cup_term.tpdu))
    reply = cup_term.read(host.respond(payload).payload)
    assert reply.response_code == "55" and reply.balance is None


def test_iso87_balance_inquiry_too(make_host, iso87, iso87_term):
    host = make_host(iso87)
    payload = iso87_term.encode(build_request(iso87, lab_txn(kind=TxnKind.BALANCE, amount=0), lab_card(),
                                              tpdu=None))
    reply = iso87_term.read(host.respond(payload).payload)
    assert reply.mti == "0110" and reply.approved and reply.balance.amount == lab_balance(LAB_PAN)
