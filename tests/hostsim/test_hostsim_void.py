"""The host simulator understands voids: finds the original, checks it, nets the pair to 0."""

from __future__ import annotations

import pytest

from firmware.host.codec import decode
from firmware.host.messages import Original, TxnKind, read_original
from firmware.hostsim.rules import Behaviour, Rule

def approve_sale(host, term, stan=1, amount=100):
    reply = term.read(host.respond(term.sale(amount=amount, stan=stan)).payload)
    assert reply.response_code == "00"
    return reply


def void(term, *, of, stan, amount=100, **orig):
    # mti and transmitted: iso87 names the original in field 90 (what the bridge fills from the journal)
    o = Original(stan=orig.pop("orig_stan", 1), batch=1, date="0506", rrn=of.rrn, auth_code=of.auth_code,
                 mti="0200", transmitted="0506120000")
    return term.sale(kind=TxnKind.VOID, amount=amount, stan=stan, original=o, **orig)


def statuses(host):
    return [(p["kind"], p["status"]) for p in host.ledger.postings()]


def test_void_approved_marks_the_sale_voided_and_nets_to_zero(host, term):
    sale = approve_sale(host, term)
    reply = term.read(host.respond(void(term, of=sale, stan=2)).payload)
    assert reply.response_code == "00" and reply.auth_code
    assert statuses(host) == [("sale", "voided"), ("void", "approved")]
    assert host.ledger.summary()["net_amount"] == 0 and host.ledger.summary()["approved_amount"] == 0


def test_the_void_carries_its_original_as_the_profile_says(host, term):
    sale = approve_sale(host, term)
    message = decode(term.profile, void(term, of=sale, stan=2))
    original = read_original(term.profile, message)
    assert (original.stan, original.rrn, original.auth_code) == (1, sale.rrn, sale.auth_code)
    assert message.fields[37] == sale.rrn and message.fields[38] == sale.auth_code
    if term.profile.name == "cup":
        assert original.batch == 1 and message.fields[61] == "000001000001"  # 61.1 batch, 61.2 POS trace
        assert message.fields[3] == "200000" and message.fields[60][:2] == "23"
    else:  # 90: original MTI, STAN, transmission date and time, acquirer and forwarder (none: zeros)
        assert message.fields[90] == "0200" "000001" "0506120000" + "0" * 22 and 61 not in message.fields


@pytest.mark.parametrize(
    "case, code",
    [("unknown", "25"), ("declined", "25"), ("reversed", "25"), ("amount", "64"), ("twice", "94")],
)
def test_void_declined_with_the_right_code(host, term, case, code):
    sale = approve_sale(host, term)
    if case == "declined":
        host.rules.push(Rule(Behaviour.DECLINE, code="51", times=1))
        sale = term.read(host.respond(term.sale(amount=100, stan=5)).payload)
    if case == "reversed":
        host.respond(term.reversal(amount=100, stan=1))
    if case == "twice":
        assert term.read(host.respond(void(term, of=sale, stan=2)).payload).response_code == "00"
    kw = {"orig_stan": 9} if case == "unknown" else {"orig_stan": 5} if case == "declined" else {}
    reply = term.read(host.respond(void(term, of=sale, stan=3, amount=99 if case == "amount" else 100, **kw)).payload)
    assert reply.response_code == code and not reply.approved
    assert host.ledger.summary()["voided"] == (1 if case == "twice" else 0)


def test_reversal_of_a_void_restores_the_sale(host, term):
    sale = approve_sale(host, term)
    host.respond(void(term, of=sale, stan=2))
    o = Original(stan=1, batch=1, date="0506", rrn=sale.rrn, auth_code=sale.auth_code)
    assert term.read(host.respond(term.reversal(kind=TxnKind.VOID, amount=100, stan=2, original=o)).payload).approved
    assert statuses(host) == [("sale", "approved"), ("void", "reversed")]
    assert host.ledger.summary()["net_amount"] == 100
    # and it may be voided again
    assert term.read(host.respond(void(term, of=sale, stan=3)).payload).response_code == "00"


def test_a_repeated_void_is_a_duplicate_not_a_second_void(host, term):
    sale = approve_sale(host, term)
    payload = void(term, of=sale, stan=2)
    host.respond(payload)
    assert term.read(host.respond(payload).payload).response_code == "94"
    (dup,) = [p for p in host.ledger.postings() if p["kind"] == "void"]
    assert dup["duplicates"] == 1 and host.ledger.summary()["net_amount"] == 0
