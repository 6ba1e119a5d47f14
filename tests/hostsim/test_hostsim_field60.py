"""The host simulator reads cup field 60 in both forms: to 60.5 (13 digits, what financial messages carry now)
and to 60.3 (11 digits: a reversal or advice sealed before 60.4/60.5 were sent is replayed as it was sealed).
Any other form is a format error (30), not posted."""

from __future__ import annotations

import pytest

from firmware.host.messages import build_request, build_reversal
from firmware.hostsim.lab import lab_card, lab_txn


def _with_60(term, message, value: str) -> bytes:
    fields = dict(message.fields)
    fields[60] = value
    return term.encode(message.copy(fields=fields))


def test_a_sale_and_its_old_form_reversal_are_both_taken(cup_host, cup_term, ledger):
    sale = build_request(cup_term.profile, lab_txn(stan=5), lab_card(), tpdu=cup_term.tpdu)
    assert sale.fields[60] == "2200000100020"
    assert cup_term.read(cup_host.respond(cup_term.encode(sale)).payload).approved
    sealed_before = build_reversal(cup_term.profile, lab_txn(stan=5), lab_card(), tpdu=cup_term.tpdu)
    answer = cup_term.read(cup_host.respond(_with_60(cup_term, sealed_before, "22000001000")).payload)
    assert answer.reversal_done and answer.response_code == "00"
    [posting] = ledger.postings()
    assert posting["status"] == "reversed"


def test_an_old_form_sale_is_posted(cup_host, cup_term, ledger):
    request = build_request(cup_term.profile, lab_txn(stan=6), lab_card(), tpdu=cup_term.tpdu)
    assert cup_term.read(cup_host.respond(_with_60(cup_term, request, "22000001000")).payload).approved
    assert ledger.postings()[0]["batch"] == "000001"


@pytest.mark.parametrize("value", ["220000010002", "22000001000200"])
def test_another_form_is_a_format_error(cup_host, cup_term, ledger, value):
    request = build_request(cup_term.profile, lab_txn(stan=7), lab_card(), tpdu=cup_term.tpdu)
    reply = cup_term.read(cup_host.respond(_with_60(cup_term, request, value)).payload)
    assert reply.response_code == "30" and ledger.postings() == []
