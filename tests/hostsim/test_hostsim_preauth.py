"""The host simulator's pre-auth family against its ledger: holds, releases, completions (debits),
completion voids (credits), the codes only the host can give, and reversals that undo each."""

from __future__ import annotations

import pytest

from firmware.host.messages import Original, TxnKind
from firmware.hostsim.rules import Behaviour, Rule

DATE = "0506"  # lab_txn's local date, and the host's
TID = "12345678"


@pytest.fixture
def host(make_host, cup):
    return make_host(cup)


def send(host, term, kind, *, stan, amount, original=None, **kw):
    return term.read(host.respond(term.sale(kind=kind, stan=stan, amount=amount, original=original, **kw)).payload)


def preauth(host, term, stan=1, amount=10000):
    reply = send(host, term, TxnKind.PREAUTH, stan=stan, amount=amount)
    assert reply.mti == "0110" and reply.response_code == "00" and reply.auth_code
    return reply


def by_auth(auth, date=DATE):
    return Original(stan=0, batch=0, date=date, auth_code=auth)


def status(host, kind):
    return [p["status"] for p in host.ledger.postings() if p["kind"] == kind]


def test_a_preauth_holds_and_counts_in_no_total(host, cup_term):
    preauth(host, cup_term)
    assert [p["kind"] for p in host.ledger.holds()] == ["preauth"]
    assert host.ledger.batch_totals(TID, "000001") == (0, 0, 0, 0)
    summary = host.ledger.summary()
    assert summary["net_amount"] == 0 and summary["approved_amount"] == 0


def test_completion_is_a_debit_and_completes_the_hold(host, cup_term):
    pa = preauth(host, cup_term)
    done = send(host, cup_term, TxnKind.PREAUTH_COMPLETE, stan=2, amount=11500, original=by_auth(pa.auth_code))
    assert done.mti == "0210" and done.response_code == "00" and done.auth_code
    assert status(host, "preauth") == ["approved"] and not host.ledger.holds()  # completed: a completion names it
    assert host.ledger.batch_totals(TID, "000001") == (1, 11500, 0, 0)
    again = send(host, cup_term, TxnKind.PREAUTH_COMPLETE, stan=3, amount=100, original=by_auth(pa.auth_code))
    assert again.response_code == "12"
    cancel = send(host, cup_term, TxnKind.PREAUTH_VOID, stan=4, amount=10000, original=by_auth(pa.auth_code))
    assert cancel.response_code == "12"


def test_cancel_releases_the_hold_and_nothing_completes_it_then(host, cup_term):
    pa = preauth(host, cup_term)
    cancel = send(host, cup_term, TxnKind.PREAUTH_VOID, stan=2, amount=10000, original=by_auth(pa.auth_code))
    assert cancel.mti == "0110" and cancel.response_code == "00"
    assert status(host, "preauth") == ["voided"] and not host.ledger.holds()
    late = send(host, cup_term, TxnKind.PREAUTH_COMPLETE, stan=3, amount=100, original=by_auth(pa.auth_code))
    assert late.response_code == "12"
    assert host.ledger.batch_totals(TID, "000001") == (0, 0, 0, 0)


@pytest.mark.parametrize(("case", "code"), [
    ("unknown auth code", "25"), ("other date", "25"), ("over the tolerance", "64"), ("cancel another amount", "64"),
    ("declined preauth", "25"), ("reversed preauth", "25"), ("rule", "05"), ("wrong pin", "55"),
])
def test_what_only_the_host_can_refuse(host, cup_term, rules, case, code):
    if case == "declined preauth":
        rules.push(Rule(Behaviour.DECLINE, code="51", times=1))
        pa = send(host, cup_term, TxnKind.PREAUTH, stan=1, amount=10000)
        assert pa.response_code == "51"
        auth = "000001"
    else:
        auth = preauth(host, cup_term).auth_code
    if case == "reversed preauth":
        host.respond(cup_term.reversal(kind=TxnKind.PREAUTH, stan=1, amount=10000))
    kind, amount, original, kw = TxnKind.PREAUTH_COMPLETE, 10000, by_auth(auth), {}
    if case == "unknown auth code":
        original = by_auth("999999")
    elif case == "other date":
        original = by_auth(auth, "0507")
    elif case == "over the tolerance":
        amount = 11501
    elif case == "cancel another amount":
        kind, amount = TxnKind.PREAUTH_VOID, 9999
    elif case == "rule":
        rules.push(Rule(Behaviour.DECLINE, code="05", times=1))
    elif case == "wrong pin":  # the host expects 9999, the terminal sends 1234
        rules.push(Rule(Behaviour.APPROVE, pin="9999", times=1))
    reply = send(host, cup_term, kind, stan=2, amount=amount, original=original, **kw)
    assert reply.response_code == code and not reply.approved
    assert host.ledger.batch_totals(TID, "000001") == (0, 0, 0, 0)


def completion(host, term):
    pa = preauth(host, term)
    done = send(host, term, TxnKind.PREAUTH_COMPLETE, stan=2, amount=10500, original=by_auth(pa.auth_code))
    assert done.response_code == "00"
    return done


def void_of_completion(host, term, done, *, stan=3, amount=10500):
    original = Original(stan=2, batch=1, date="", rrn=done.rrn, auth_code=done.auth_code)
    return send(host, term, TxnKind.PREAUTH_COMPLETE_VOID, stan=stan, amount=amount, original=original)


def test_completion_void_is_a_credit_and_the_preauth_holds_again(host, cup_term):
    done = completion(host, cup_term)
    void = void_of_completion(host, cup_term, done)
    assert void.mti == "0210" and void.response_code == "00"
    assert status(host, "preauth_complete") == ["voided"] and len(host.ledger.holds()) == 1
    assert host.ledger.batch_totals(TID, "000001") == (1, 10500, 1, 10500)
    assert host.ledger.summary()["net_amount"] == 0
    assert void_of_completion(host, cup_term, done, stan=4).response_code == "94"


def test_a_completion_is_refunded_as_a_sale_is_and_once_refunded_it_is_not_voided(host, cup_term):
    """UnionPay refunds a sale or a completion by its RRN and date. The refunds stay within what the
    completion took (64 beyond), and its void on top of one would pay it back twice: refused (12) whichever
    terminal refunded it, since only the host sees a refund made on another."""
    from tests.hostsim.test_hostsim_refund import refund

    done = completion(host, cup_term)
    first = cup_term.read(host.respond(refund(cup_term, rrn=done.rrn, stan=3, amount=500)).payload)
    assert first.mti == "0230" and first.response_code == "00"
    over = cup_term.read(host.respond(refund(cup_term, rrn=done.rrn, stan=4, amount=10001)).payload)
    assert over.response_code == "64"
    assert void_of_completion(host, cup_term, done, stan=5).response_code == "12"
    completion_posting = next(p for p in host.ledger.postings() if p["kind"] == "preauth_complete")
    assert completion_posting["status"] == "approved"
    assert [(p["status"], p["original_id"]) for p in host.ledger.postings() if p["kind"] == "refund"] == [
        ("approved", completion_posting["id"]), ("declined", None)]
    assert host.ledger.batch_totals(TID, "000001") == (1, 10500, 1, 500)


@pytest.mark.parametrize(("case", "code"), [("another amount", "64"), ("unknown trace", "25")])
def test_completion_void_refusals(host, cup_term, case, code):
    done = completion(host, cup_term)
    if case == "another amount":
        reply = void_of_completion(host, cup_term, done, amount=10499)
    else:
        original = Original(stan=77, batch=1, date="", rrn=done.rrn, auth_code=done.auth_code)
        reply = send(host, cup_term, TxnKind.PREAUTH_COMPLETE_VOID, stan=3, amount=10500, original=original)
    assert reply.response_code == code


def test_reversals_undo_each_step(host, cup_term):
    pa = preauth(host, cup_term)
    send(host, cup_term, TxnKind.PREAUTH_COMPLETE, stan=2, amount=10500, original=by_auth(pa.auth_code))
    ack = cup_term.read(host.respond(cup_term.reversal(kind=TxnKind.PREAUTH_COMPLETE, stan=2, amount=10500,
                                                       original=by_auth(pa.auth_code))).payload)
    assert ack.mti == "0410" and ack.response_code == "00"
    assert status(host, "preauth_complete") == ["reversed"] and len(host.ledger.holds()) == 1
    done = send(host, cup_term, TxnKind.PREAUTH_COMPLETE, stan=3, amount=10500, original=by_auth(pa.auth_code))
    assert done.response_code == "00"  # held again: it may be completed
    original = Original(stan=3, batch=1, date="", rrn=done.rrn, auth_code=done.auth_code)
    send(host, cup_term, TxnKind.PREAUTH_COMPLETE_VOID, stan=4, amount=10500, original=original)
    host.respond(cup_term.reversal(kind=TxnKind.PREAUTH_COMPLETE_VOID, stan=4, amount=10500, original=original))
    assert status(host, "preauth_complete") == ["reversed", "approved"] and not host.ledger.holds()
    assert host.ledger.batch_totals(TID, "000001") == (1, 10500, 0, 0)


def test_a_cancel_reversed_holds_again_and_a_duplicate_posts_nothing(host, cup_term):
    pa = preauth(host, cup_term)
    send(host, cup_term, TxnKind.PREAUTH_VOID, stan=2, amount=10000, original=by_auth(pa.auth_code))
    dup = send(host, cup_term, TxnKind.PREAUTH_VOID, stan=2, amount=10000, original=by_auth(pa.auth_code))
    assert dup.response_code == "94" and len(host.ledger.postings()) == 2
    host.respond(cup_term.reversal(kind=TxnKind.PREAUTH_VOID, stan=2, amount=10000, original=by_auth(pa.auth_code)))
    assert status(host, "preauth") == ["approved"] and len(host.ledger.holds()) == 1
