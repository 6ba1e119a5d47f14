"""The completion advice (预授权完成通知) through the sans-IO core: menu page 2 key 6, the automatic
fallback when an online completion cannot reach the host, what limits it (exact codes), its
forwarding as a stored advice (acknowledged, never an outcome, never reversed), and the
completion void that must wait until the host has it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    Booted,
    CardRead,
    HostAnswered,
    OriginalFound,
    OriginalUnknown,
    PinEntered,
)
from firmware.core.flows import FLOWS, STORED_ADVICE, Candidate
from firmware.core.model import BootState, Counters, JournalState, Kind, PendingAdvice, State
from firmware.core.preauth import PREAUTH_HOLD_DAYS, advice_refusal, hold_refusal, judge_preauth
from firmware.core.settings import OfflineLimits

from .helpers import CARD, DATE, NOW, SETTINGS, Driver, reply, to_idle, to_menu
from .test_preauth import AUTH, COMPLETION, PREAUTH

# A pre-auth whose hold lapsed (found by audit AU18): made a day more than PREAUTH_HOLD_DAYS before NOW.
LAPSED = replace(PREAUTH, when=NOW - timedelta(days=PREAUTH_HOLD_DAYS + 1))


def advice_walk(d: Driver, found=PREAUTH, amount: str = "11500") -> Driver:
    """Page 2, key 6: auth code, date, the runner's verdict, ENTER, the amount, the card (no PIN)."""
    d.keys("06" + AUTH + "#" + DATE + "#")
    assert d.state is State.LOOKUP and d.t.sale.advice and d.t.sale.kind is Kind.PREAUTH_COMPLETE
    d.feed(OriginalFound(found) if found is not None else OriginalUnknown())
    d.keys("#" + amount + "#")
    d.feed(CardRead(CARD))
    return d


def test_key_six_commits_the_completion_and_its_advice_without_the_host_and_prints():
    d = advice_walk(to_menu())
    outcome = d.last(A.RecordOutcome)
    record = outcome.record
    assert (record.kind, record.state, record.amount) == (Kind.PREAUTH_COMPLETE, JournalState.OFFLINE_APPROVED, 11500)
    assert outcome.advice and record.original == PREAUTH and record.reference.auth_code == AUTH
    assert not d.all(A.SendRequest) and not d.all(A.BeginPin)  # no PIN: an advice carries none
    assert d.t.advices == [PendingAdvice(record.txn_no, record.stan, 11500, record.when, kind=Kind.PREAUTH_COMPLETE)]
    assert not d.t.reversals and d.state is State.PRINTING
    assert d.t.link_up is not False  # nothing was tried: nothing learnt of the link
    lines = d.last(A.Print).receipt.lines
    assert any(line.right == "AUTH COMPLETE (OFFLINE)" for line in lines)
    said = [line.text for line in lines]  # two lines, each whole on a narrow printer (UX25)
    assert said[said.index("APPROVED OFFLINE") + 1] == "TO BE UPLOADED"


def test_key_six_keeps_the_tolerance():
    d = to_menu()
    d.keys("06" + AUTH + "#" + DATE + "#")
    d.feed(OriginalFound(PREAUTH))
    out = d.keys("#11501#")
    assert d.state is State.AMOUNT and [a.code for a in out if isinstance(a, A.Note)] == ["preauth.over_amount"]


@pytest.mark.parametrize("enabled, found, code", [
    (True, None, "preauth.advice_unheld"),  # a pre-auth this terminal does not hold: only the host can judge it
    (False, PREAUTH, "offline.disabled"),
])
def test_key_six_refused_before_anything_is_written(enabled, found, code):
    settings = replace(SETTINGS, offline=replace(SETTINGS.offline, enabled=enabled))
    d = to_idle(settings)
    d.keys("F")
    advice_walk(d, found)
    assert not d.all(A.OpenRequest) and not d.all(A.RecordOutcome) and not d.all(A.Print)
    assert d.last(A.Alert).code == code and d.state is State.IDLE and not d.t.advices
    assert "NO ADVICE" in d.last(A.Show).lines


def online_completion(settings=SETTINGS, found=PREAUTH, amount: str = "11500") -> Driver:
    d = to_idle(settings)
    d.keys("F03" + AUTH + "#" + DATE + "#")
    d.feed(OriginalFound(found) if found is not None else OriginalUnknown())
    d.keys("#" + amount + "#")
    d.feed(CardRead(CARD), PinEntered())
    assert d.state is State.AUTHORISING
    return d


def test_an_online_completion_that_cannot_reach_the_host_becomes_its_advice_whatever_the_sale_limits():
    tight = OfflineLimits(enabled=True, floor_limit=100, max_count=1, max_amount=100)
    queued = (PendingAdvice(90, 90, 100, NOW),)  # an offline sale already fills the sales' limits
    d = Driver(replace(SETTINGS, offline=tight), BootState(counters=Counters(txn_no=100, stan=100), advices=queued))
    while d.state is State.UPLINK:
        d.feed(ActionFailed(d.last(A.SendAdvice), "link.down", "refused", sent=False))
    d.keys("F03" + AUTH + "#" + DATE + "#")
    d.feed(OriginalFound(PREAUTH))
    d.keys("#11500#")
    d.feed(CardRead(CARD), PinEntered())
    d.feed(ActionFailed(d.last(A.SendRequest), "link.down", "connection refused", sent=False))
    outcome = d.last(A.RecordOutcome)
    assert outcome.record.state is JournalState.OFFLINE_APPROVED and outcome.advice
    assert [a.kind for a in d.t.advices] == [Kind.SALE, Kind.PREAUTH_COMPLETE] and not d.t.reversals
    assert d.state is State.PRINTING


@pytest.mark.parametrize("keys", ["F03", "F06"], ids=["online", "advice"])
def test_a_completion_of_a_lapsed_preauth_is_refused_at_the_look_up_before_the_card(keys):
    """AU18 H1 and L1: the hold of a pre-auth made more than PREAUTH_HOLD_DAYS ago was released, so the host can
    only decline its completion and the terminal cannot vouch for it either: refused as soon as the journal's
    pre-auth is found, online (nothing sent) or as an advice (nothing written), with preauth.expired."""
    d = to_idle()
    out = d.keys(keys + AUTH + "#" + DATE + "#")
    assert d.state is State.LOOKUP
    out = d.feed(OriginalFound(LAPSED))
    assert d.state is State.IDLE and [a.code for a in out if isinstance(a, A.Note)] == ["preauth.expired"]
    assert "PREAUTH EXPIRED" in d.last(A.Show).lines and d.t.sale is None
    assert not d.all(A.EnableReader) and not d.all(A.OpenRequest) and not d.all(A.SendRequest) and not d.t.advices


def test_a_completion_of_a_preauth_on_the_last_day_of_its_hold_goes_on():
    d = to_idle()
    d.keys("F03" + AUTH + "#" + DATE + "#")
    d.feed(OriginalFound(replace(PREAUTH, when=NOW - timedelta(days=PREAUTH_HOLD_DAYS))))
    assert d.state is State.CONFIRM


def test_a_cancel_of_a_lapsed_preauth_is_left_to_the_host():
    """Only a completion claims the held funds: a cancel of a lapsed hold releases nothing and is sent as it was."""
    d = to_idle()
    d.keys("F02" + AUTH + "#" + DATE + "#")
    d.feed(OriginalFound(LAPSED))
    assert d.state is State.CONFIRM


def test_an_online_completion_the_terminal_cannot_vouch_for_is_declined_when_the_host_is_unreachable():
    """Held elsewhere: only the host can judge it (a lapsed hold never gets this far: refused at the look-up)."""
    found, reason = None, "preauth.advice_unheld"
    d = online_completion(found=found)
    d.feed(ActionFailed(d.last(A.SendRequest), "link.down", "connection refused", sent=False))
    outcome = d.last(A.RecordOutcome)
    assert (outcome.record.state, outcome.record.reason) == (JournalState.DECLINED, reason)
    assert not outcome.advice and not d.t.advices and not d.all(A.Print)


def test_an_online_completion_that_may_have_left_is_still_reversed():
    d = online_completion()
    d.feed(ActionFailed(d.last(A.SendRequest), "link.dropped", "hung up", sent=True))
    assert [r.stan for r in d.t.reversals] == [d.last(A.OpenRequest).record.stan] and not d.t.advices


def test_advice_rules_and_rows():
    assert STORED_ADVICE == {Kind.SALE, Kind.PREAUTH_COMPLETE}
    assert FLOWS[Kind.PREAUTH_COMPLETE].advice and not FLOWS[Kind.PREAUTH_COMPLETE].offline
    assert not any(f.advice for k, f in FLOWS.items() if k is not Kind.PREAUTH_COMPLETE)
    assert advice_refusal(True, PREAUTH, NOW) is None
    assert advice_refusal(True, None, NOW)[0] == "preauth.advice_unheld"
    assert advice_refusal(False, PREAUTH, NOW)[0] == "offline.disabled"
    last_day = PREAUTH.when + timedelta(days=PREAUTH_HOLD_DAYS)
    assert advice_refusal(True, PREAUTH, last_day) is None
    assert advice_refusal(True, PREAUTH, last_day + timedelta(minutes=1)) == ("preauth.expired", "PREAUTH EXPIRED")


@pytest.mark.parametrize("made, completed, lapsed", [
    # 10:00 BST on 25 September to 09:30 GMT on 25 October: 30 days 30 minutes of real time, 29 d 23.5 h civil
    (datetime(2026, 9, 25, 10, 0), datetime(2026, 10, 25, 9, 30), True),
    # 10:00 GMT on 28 February to 10:30 BST on 30 March: 29 days 23.5 hours of real time, 30 d 0.5 h civil
    (datetime(2026, 2, 28, 10, 0), datetime(2026, 3, 30, 10, 30), False),
])
def test_the_hold_counts_real_days_across_a_change_of_summer_time(made, completed, lapsed):
    """Audit AU19 L2: the 30 days of a pre-auth's hold are real days, as every other age limit (core.clock.elapsed)."""
    refusal = hold_refusal(replace(PREAUTH, when=made), completed, ZoneInfo("Europe/London"))
    assert (refusal is not None) is lapsed
    assert (hold_refusal(replace(PREAUTH, when=made), completed) is not None) is not lapsed  # civil time, no zone


# -- forwarding ----------------------------------------------------------------------------
def queued(amount: int = 11500) -> tuple[Driver, PendingAdvice]:
    item = PendingAdvice(7, 7, amount, NOW, kind=Kind.PREAUTH_COMPLETE)
    d = Driver(SETTINGS)
    d.feed(Booted(BootState(counters=Counters(stan=50, txn_no=50), advices=(item,))))
    assert d.state is State.UPLINK and d.last(A.SendAdvice).advice.kind is Kind.PREAUTH_COMPLETE
    assert "SENDING COMPL ADVICE" in d.batches[-1][0].lines
    return d, item


def test_a_forwarded_completion_advice_is_acknowledged_not_taken_as_an_outcome():
    d, item = queued()
    out = d.feed(HostAnswered(reply(mti="0230", stan=7, amount=11500)))
    assert A.AdviceDone(7, "00", True, "000000000001", "123456", "1122") in out  # with the host's reference
    assert not d.all(A.AdviceOutcome) and not d.t.advices
    assert not d.all(A.SendReversal)


def test_a_declined_completion_advice_is_told_to_the_operator():
    d, item = queued()
    answer = reply(mti="0230", stan=7, amount=11500, response_code="25", approved=False)
    out = d.feed(HostAnswered(answer))
    # the refusal's RRN is kept too, as a declined sale's is (a refund keyed with it is refused locally)
    assert A.AdviceDone(7, "25", False, answer.rrn) in out
    alert = next(a for a in out if isinstance(a, A.Alert))
    assert alert.code == "advice.declined" and alert.text.startswith("compl advice trace 000007 declined")


def test_a_completion_advice_unanswered_goes_again_as_a_repeat():
    d, item = queued()
    from firmware.core.events import TimerExpired
    from firmware.core.model import Timer

    out = d.feed(TimerExpired(Timer.RESPONSE))
    assert A.SendAdvice(replace(item, sent_before=True), repeat=True) in out and not d.t.reversals


# -- the completion void waits for the host to have it ----------------------------------
@pytest.mark.parametrize("forwarded, declined, expected", [
    (False, False, "preauth.not_uploaded"),
    (False, True, "preauth.advice_declined"),  # uploaded, and the host said no: not "not yet uploaded" (AU14)
    (True, False, None),
])
def test_a_completion_advice_is_voided_only_once_the_host_has_it(forwarded, declined, expected):
    found = Candidate(COMPLETION, JournalState.OFFLINE_APPROVED, forwarded=forwarded, declined=declined)
    verdict = judge_preauth(FLOWS[Kind.PREAUTH_COMPLETE_VOID], found)
    assert (verdict.code if expected else None) == expected
    if not expected:
        assert verdict == COMPLETION


def test_a_preauth_completed_by_advice_is_completed():
    found = Candidate(PREAUTH, JournalState.APPROVED, completions=(JournalState.OFFLINE_APPROVED,))
    assert judge_preauth(FLOWS[Kind.PREAUTH_COMPLETE], found).code == "preauth.completed"
