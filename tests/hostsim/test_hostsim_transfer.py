"""The host simulator's transfers: deterministic refusals of the destination (30, 14, 12), a rule's decline and a
wrong PIN as for a sale, duplicates answered 94, a reversal undoing it, and never in the batch totals."""

from __future__ import annotations

import pytest

from crypto.secrets import Pan
from firmware.host.messages import TxnKind, build_request, build_reversal
from firmware.hostsim.lab import LAB_PAN, lab_card, lab_txn
from firmware.hostsim.rules import Behaviour, Rule

TO = "6228480402564890018"


def transfer(term, *, to=TO, stan=1, amount=5000, pin="1234", reversal=False):
    card = lab_card(pin=None if reversal else pin)
    card.account = Pan(to) if to else None
    txn = lab_txn(kind=TxnKind.TRANSFER, amount=amount, stan=stan, pin_entered=pin is not None and not reversal)
    if reversal:
        return term.encode(build_reversal(term.profile, txn, card, tpdu=term.tpdu))
    message = build_request(term.profile, txn, card, tpdu=term.tpdu)
    return term.encode(message)


def answer(host, term, payload):
    return term.read(host.respond(payload).payload)


def without(term, payload_field: int, payload):
    """The same request with one field removed (what a broken terminal might send)."""
    message = term.decode(payload)
    del message.fields[payload_field]
    del message.fields[max(message.fields)]  # the MAC: encode sets it again
    return term.encode(message)


def test_approved_and_posted_as_a_transfer_not_in_the_totals(host, term):
    reply = answer(host, term, transfer(term))
    assert reply.response_code == "00" and reply.auth_code and reply.rrn
    (posting,) = host.ledger.postings()
    assert (posting["kind"], posting["amount"], posting["status"]) == ("transfer", 5000, "approved")
    messages = host.ledger.messages()
    assert TO not in str(messages) and "622848*********0018" in messages[-1]["action"]
    summary = host.ledger.summary()  # not the merchant's money: the settlement and the summary agree (AU20 M2)
    assert (summary["approved"], summary["approved_amount"], summary["net_amount"]) == (1, 0, 0)


@pytest.mark.parametrize("to, code", [
    ("6228480402564890019", "14"),  # card-shaped, Luhn wrong
    (LAB_PAN, "12"),  # to the card itself
])
def test_destination_refusals_are_deterministic_and_post_nothing(host, term, to, code):
    assert answer(host, term, transfer(term, to=to)).response_code == code
    assert host.ledger.postings() == []


def test_a_transfer_without_its_destination_is_a_format_error(host, term):
    field = term.profile.transactions[TxnKind.TRANSFER].account_field
    assert answer(host, term, without(term, field, transfer(term))).response_code == "30"
    assert host.ledger.postings() == []


def test_a_rule_declines_and_a_wrong_pin_is_55(host, term, rules):
    rules.push(Rule(Behaviour.DECLINE, code="61", times=1, kind=TxnKind.TRANSFER))
    assert answer(host, term, transfer(term, stan=1)).response_code == "61"
    rules.push(Rule(Behaviour.APPROVE, pin="9999", times=1))
    assert answer(host, term, transfer(term, stan=2)).response_code == "55"
    assert [p["status"] for p in host.ledger.postings()] == ["declined", "declined"]


def test_duplicate_answered_94_and_reversal_undoes_it_once(host, term):
    assert answer(host, term, transfer(term, stan=7)).response_code == "00"
    assert answer(host, term, transfer(term, stan=7)).response_code == "94"
    for _ in range(2):  # a reversal and its repeat: applied once
        assert answer(host, term, transfer(term, stan=7, reversal=True)).response_code == "00"
    (posting,) = host.ledger.postings()
    assert (posting["status"], posting["duplicates"], posting["reversals"]) == ("reversed", 1, 2)
