"""The host simulator and completions on both profiles: the completion advice (预授权完成通知) posted once
whatever the repeats, judged as the online completion is, and the iso87 completion and its void."""

from __future__ import annotations

import pytest

from firmware.host.messages import Original, TxnKind
from firmware.hostsim.rules import Behaviour, Rule

DATE = "0506"  # lab_txn's local date, and the host's
TID = "12345678"


@pytest.fixture
def host(make_host, profile):
    return make_host(profile)


def by_auth(auth, stan=1, date=DATE):
    # cup reads the date from 61.3; iso87 from 90's transmission date (the pre-auth's field 7)
    return Original(stan=stan, batch=1, date=date, auth_code=auth, mti="0100", transmitted=date + "123456")


def preauth(host, term, stan=1, amount=10000):
    reply = term.read(host.respond(term.sale(kind=TxnKind.PREAUTH, stan=stan, amount=amount)).payload)
    assert reply.response_code == "00" and reply.auth_code
    return reply


def advise(host, term, *, stan, amount, original, repeat=False):
    return term.read(host.respond(term.advice(kind=TxnKind.PREAUTH_COMPLETE, stan=stan, amount=amount,
                                              original=original, repeat=repeat)).payload)


def completions(host):
    return [(p["stan"], p["amount"], p["status"]) for p in host.ledger.postings() if p["kind"] == "preauth_complete"]


def test_a_completion_advice_completes_the_hold_once_whatever_the_repeats(host, term):
    pa = preauth(host, term)
    first = advise(host, term, stan=2, amount=11500, original=by_auth(pa.auth_code))
    assert first.mti == "0230" and first.response_code == "00"
    for _ in range(2):  # 0221, as often as the terminal lost the answer
        again = advise(host, term, stan=2, amount=11500, original=by_auth(pa.auth_code), repeat=True)
        assert (again.mti, again.response_code, again.rrn) == ("0230", "00", first.rrn)
    assert completions(host) == [("000002", 11500, "approved")] and not host.ledger.holds()
    late = term.read(host.respond(term.sale(kind=TxnKind.PREAUTH_COMPLETE, stan=3, amount=100,
                                            original=by_auth(pa.auth_code))).payload)
    assert late.response_code == "12"  # already completed, by the advice


@pytest.mark.parametrize("case, code", [
    ("unknown auth code", "25"), ("over the tolerance", "64"), ("completed", "12"), ("rule", "05"),
])
def test_a_completion_advice_the_host_refuses_is_posted_declined_and_answered_alike_on_a_repeat(
        host, term, rules, case, code):
    pa = preauth(host, term)
    auth, amount = pa.auth_code, 11000
    if case == "unknown auth code":
        auth = "999999"
    elif case == "over the tolerance":
        amount = 11501
    elif case == "completed":
        advise(host, term, stan=5, amount=10000, original=by_auth(auth))
    else:
        rules.push(Rule(Behaviour.DECLINE, code="05", times=1))
    first = advise(host, term, stan=2, amount=amount, original=by_auth(auth))
    again = advise(host, term, stan=2, amount=amount, original=by_auth(auth), repeat=True)
    assert first.response_code == again.response_code == code
    assert ("000002", amount, "declined") in completions(host)


@pytest.mark.parametrize("code", ["96", "91", "68"])
def test_a_completion_advice_answered_with_a_try_again_code_is_not_posted_and_its_repeat_is_processed(
        host, term, rules, code):
    """audit AU22: a 96 says the host did not process the advice, and the terminal sends it again (0221);
    the simulator posted it declined and answered every repeat 96 "already posted", so the advice stayed
    queued for ever and the hold was never completed."""
    pa = preauth(host, term)
    rules.push(Rule(Behaviour.DECLINE, code=code, times=1))
    first = advise(host, term, stan=2, amount=9000, original=by_auth(pa.auth_code))
    assert first.response_code == code and completions(host) == []
    again = advise(host, term, stan=2, amount=9000, original=by_auth(pa.auth_code), repeat=True)
    assert again.response_code == "00"
    assert completions(host) == [("000002", 9000, "approved")] and not host.ledger.holds()


def test_a_completion_advice_can_be_voided_once_posted(host, term):
    pa = preauth(host, term)
    done = advise(host, term, stan=2, amount=11500, original=by_auth(pa.auth_code))
    named = Original(stan=2, batch=1, date=DATE, rrn=done.rrn, auth_code="000000", mti="0200",
                     transmitted=DATE + "123456")
    void = term.read(host.respond(term.sale(kind=TxnKind.PREAUTH_COMPLETE_VOID, stan=3, amount=11500,
                                            original=named)).payload)
    assert void.response_code == "00"
    assert completions(host) == [("000002", 11500, "voided")] and [h["stan"] for h in host.ledger.holds()] == ["000001"]


def test_iso87_online_completion_its_void_and_their_reversals(make_host, iso87, iso87_term):
    host, term = make_host(iso87), iso87_term
    pa = preauth(host, term)
    done = term.read(host.respond(term.sale(kind=TxnKind.PREAUTH_COMPLETE, stan=2, amount=11500,
                                            original=by_auth(pa.auth_code))).payload)
    assert (done.mti, done.response_code) == ("0210", "00") and not host.ledger.holds()
    named = Original(stan=2, batch=1, date=DATE, rrn=done.rrn, auth_code=done.auth_code, mti="0200",
                     transmitted=DATE + "123456")
    void = term.read(host.respond(term.sale(kind=TxnKind.PREAUTH_COMPLETE_VOID, stan=3, amount=11500,
                                            original=named)).payload)
    assert void.response_code == "00" and completions(host) == [("000002", 11500, "voided")]
    # the void reversed: the completion stands again; the completion reversed: the pre-auth holds again
    term.read(host.respond(term.reversal(kind=TxnKind.PREAUTH_COMPLETE_VOID, stan=3, amount=11500,
                                         original=named)).payload)
    assert completions(host) == [("000002", 11500, "approved")]
    term.read(host.respond(term.reversal(kind=TxnKind.PREAUTH_COMPLETE, stan=2, amount=11500,
                                         original=by_auth(pa.auth_code))).payload)
    assert completions(host) == [("000002", 11500, "reversed")] and len(host.ledger.holds()) == 1


@pytest.mark.parametrize("gmt_date", ["0505", "0507"])
def test_iso87_finds_a_preauth_made_near_midnight_by_its_gmt_date_in_90(make_host, iso87, iso87_term, gmt_date):
    """90 carries the pre-auth's transmission time in GMT: the day before or after its local date."""
    host, term = make_host(iso87), iso87_term
    pa = preauth(host, term)
    done = term.read(host.respond(term.sale(kind=TxnKind.PREAUTH_COMPLETE, stan=2, amount=9000,
                                            original=by_auth(pa.auth_code, date=gmt_date))).payload)
    assert done.response_code == "00" and completions(host) == [("000002", 9000, "approved")]
    far = term.read(host.respond(term.sale(kind=TxnKind.PREAUTH_COMPLETE, stan=3, amount=100,
                                           original=by_auth(pa.auth_code, date="0509"))).payload)
    assert far.response_code == "25"  # two days off is another pre-auth, not this one


def test_cup_names_the_local_date_and_gets_no_such_leeway(make_host, cup, cup_term):
    host, term = make_host(cup), cup_term
    pa = preauth(host, term)
    done = term.read(host.respond(term.sale(kind=TxnKind.PREAUTH_COMPLETE, stan=2, amount=9000,
                                            original=by_auth(pa.auth_code, date="0507"))).payload)
    assert done.response_code == "25"
