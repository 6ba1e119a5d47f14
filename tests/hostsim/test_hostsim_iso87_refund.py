"""The host simulator's refunds on iso87: a 0200 request with processing code 200000 naming its sale by RRN
(37) and original data elements (90), judged as cup's 0220 is (within what is left of the sale, 25 for an
unknown one, 12 for a voided one), but a request like a sale: one seen twice is a duplicate (94, posted
once), and its 0400 reversal undoes it, so what it paid back may be refunded again."""

from __future__ import annotations

import pytest

from firmware.host.messages import Original, TxnKind, build_request, build_reversal, read_original
from firmware.hostsim.lab import lab_card, lab_txn

DATE = "0506"  # lab_txn's local date, and the host's


@pytest.fixture
def host(make_host, iso87):
    return make_host(iso87)


def sale(host, term, stan=1, amount=1000):
    reply = term.read(host.respond(term.sale(amount=amount, stan=stan)).payload)
    assert reply.response_code == "00"
    return reply


def refund_txn(*, rrn, stan, amount, date=DATE, of_stan=0):
    return lab_txn(kind=TxnKind.REFUND, amount=amount, stan=stan,
                   original=Original(stan=of_stan, batch=0, date=date, rrn=rrn, mti="0200",
                                     transmitted=f"{date}000000"))


def refund(term, **kw):
    return term.encode(build_request(term.profile, refund_txn(**kw), lab_card(pin="1234"), tpdu=None))


def reversal(term, **kw):
    return term.encode(build_reversal(term.profile, refund_txn(**kw), lab_card(), tpdu=None))


def code(term, host, payload) -> str:
    return term.read(host.respond(payload).payload).response_code


def refunds(host):
    return [(p["amount"], p["status"], p["response_code"]) for p in host.ledger.postings() if p["kind"] == "refund"]


def test_the_refund_names_its_sale_in_37_and_90_and_travels_as_a_0200(iso87_term):
    message = iso87_term.decode(refund(iso87_term, rrn="000000000042", stan=2, amount=600, of_stan=1))
    assert (message.mti, message.fields[3]) == ("0200", "200000")
    assert message.fields[37] == "000000000042" and message.fields[90] == "0200" "000001" "0506000000" + "0" * 22
    found = read_original(iso87_term.profile, message)
    assert (found.rrn, found.date, found.stan) == ("000000000042", DATE, 1)


def test_partial_refunds_up_to_the_sale_then_over_it_refused(host, iso87_term):
    s = sale(host, iso87_term)
    first = iso87_term.read(host.respond(refund(iso87_term, rrn=s.rrn, stan=2, amount=600)).payload)
    assert (first.mti, first.response_code, first.amount) == ("0210", "00", 600) and first.auth_code
    assert code(iso87_term, host, refund(iso87_term, rrn=s.rrn, stan=3, amount=400)) == "00"
    assert code(iso87_term, host, refund(iso87_term, rrn=s.rrn, stan=4, amount=1)) == "64"
    assert refunds(host) == [(600, "approved", "00"), (400, "approved", "00"), (1, "declined", "64")]
    assert host.ledger.summary()["net_amount"] == 0


@pytest.mark.parametrize("rrn, date, expected", [
    ("000000000777", DATE, "25"),  # no such sale
    (None, "0507", "25"),  # the sale's RRN on another date
])
def test_an_unknown_original_is_answered_25(host, iso87_term, rrn, date, expected):
    s = sale(host, iso87_term)
    assert code(iso87_term, host, refund(iso87_term, rrn=rrn or s.rrn, date=date, stan=2, amount=100)) == expected
    assert code(iso87_term, host, refund(iso87_term, rrn=s.rrn, stan=3, amount=100)) == "00"  # the sale's own
    assert refunds(host) == [(100, "declined", expected), (100, "approved", "00")]


def test_the_same_refund_twice_is_a_duplicate_posted_once(host, iso87_term):
    s = sale(host, iso87_term)
    payload = refund(iso87_term, rrn=s.rrn, stan=2, amount=600)
    assert code(iso87_term, host, payload) == "00"
    assert code(iso87_term, host, payload) == "94"  # a request, not a notification: not answered "as before"
    assert refunds(host) == [(600, "approved", "00")]
    assert [p["duplicates"] for p in host.ledger.postings()] == [0, 1]


def test_its_reversal_undoes_it_and_the_sale_is_refundable_again(host, iso87_term):
    s = sale(host, iso87_term)
    assert code(iso87_term, host, refund(iso87_term, rrn=s.rrn, stan=2, amount=1000)) == "00"
    assert code(iso87_term, host, refund(iso87_term, rrn=s.rrn, stan=3, amount=1)) == "64"
    assert code(iso87_term, host, reversal(iso87_term, rrn=s.rrn, stan=2, amount=1000)) == "00"
    assert [p["status"] for p in host.ledger.postings()][:2] == ["approved", "reversed"]
    assert host.ledger.messages()[-1]["action"] == "reversed"
    assert code(iso87_term, host, refund(iso87_term, rrn=s.rrn, stan=4, amount=1000)) == "00"
    assert host.ledger.summary()["net_amount"] == 0


def test_a_reversal_that_overtook_its_refund_undoes_it_when_it_arrives(host, iso87_term):
    s = sale(host, iso87_term)
    assert code(iso87_term, host, reversal(iso87_term, rrn=s.rrn, stan=2, amount=500)) == "00"
    assert code(iso87_term, host, refund(iso87_term, rrn=s.rrn, stan=2, amount=500)) == "00"
    assert refunds(host) == [(500, "reversed", "00")]
