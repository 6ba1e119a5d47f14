"""The balance inquiry through the sans-IO core: card, PIN, one request; the balance goes to the display only."""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.events import ActionFailed, CardRead, HostAnswered, LinkDropped, PinEntered, TimerExpired
from firmware.core.flows import FLOWS, Recovery
from firmware.core.model import JournalState, Kind, State, Timer
from firmware.host.balance import Balance

from .helpers import CARD, Driver, to_idle, reply

BALANCE = Balance(9876503, "156")  # 98,765.03: digits no record may hold


def texts(actions) -> str:
    return " | ".join(" / ".join(a.lines) for a in actions if isinstance(a, A.Show))


def to_inquiry_authorising() -> Driver:
    d = to_idle()
    d.keys("F7")
    d.feed(CardRead(CARD), PinEntered())
    return d


def answer(d: Driver, **changes):
    record = d.last(A.OpenRequest).record
    base = dict(mti="0210", stan=record.stan, amount=None, balance=BALANCE)
    base.update(changes)
    return d.feed(HostAnswered(reply(**base)))


def test_balance_row_moves_no_money_and_recovers_nothing():
    flow = FLOWS[Kind.BALANCE]
    assert flow.recovery is Recovery.NONE and not flow.moves_money and not flow.offline and not flow.original


def test_whole_inquiry_shows_the_balance_and_keeps_it_nowhere():
    d = to_idle()
    out = d.keys("F7")
    assert d.state is State.CARD and any(isinstance(a, A.EnableReader) for a in out)
    assert texts(d.batches[-1]).startswith("BALANCE / SWIPE CARD")  # no amount on an inquiry
    d.feed(CardRead(CARD))
    assert d.state is State.PIN and d.last(A.BeginPin).allow_bypass is False
    out = d.feed(PinEntered())
    assert [type(a) for a in out if isinstance(a, (A.OpenRequest, A.SendRequest))] == [A.OpenRequest, A.SendRequest]
    record = d.last(A.OpenRequest).record
    assert (record.kind, record.amount) == (Kind.BALANCE, 0)
    assert (d.t.expect.mti, d.t.expect.amount) == ("0210", None)  # its answer carries no amount
    out = answer(d)
    outcome = d.last(A.RecordOutcome)
    assert outcome.record.state is JournalState.APPROVED and outcome.copies == () and outcome.reversal_reason is None
    kinds = [type(a) for a in out]
    assert kinds.index(A.RecordOutcome) < kinds.index(A.Show) and A.WipeCard in kinds
    assert "CNY 98765.03" in texts(out) and "CARD **** 0004" in texts(out)
    assert not d.all(A.Print) and d.state is State.IDLE
    # the balance reaches the display and nothing else the runner carries out
    for action in d.all(A.Action):
        if not isinstance(action, A.Show):
            assert "9876503" not in repr(action) and "98765.03" not in repr(action), action
    assert "9876503" not in repr(reply(balance=BALANCE))


@pytest.mark.parametrize("value, shown", [
    (Balance(-2500, "156"), "-CNY 25.00"),
    (Balance(100, "840"), "840 1.00"),
    (None, "NOT GIVEN BY HOST"),
])
def test_balance_shown_signed_and_in_its_currency(value, shown):
    d = to_inquiry_authorising()
    out = answer(d, balance=value)
    assert shown in texts(out)


def test_declined_inquiry_shows_the_code():
    d = to_inquiry_authorising()
    out = answer(d, response_code="55", approved=False, balance=None)
    outcome = d.last(A.RecordOutcome)
    assert (outcome.record.state, outcome.record.reason) == (JournalState.DECLINED, "55")
    assert "BALANCE DECLINED" in texts(out) and "55" in texts(out)


@pytest.mark.parametrize("silence, reason", [
    (TimerExpired(Timer.RESPONSE), "98"),
    (LinkDropped("link.closed", "peer closed"), "98"),
])
def test_unanswered_inquiry_is_neither_reversed_nor_sent_again(silence, reason):
    d = to_inquiry_authorising()
    out = d.feed(silence)
    outcome = d.last(A.RecordOutcome)
    assert (outcome.record.state, outcome.record.reason) == (JournalState.DECLINED, reason)
    assert not d.all(A.SendReversal) and not d.all(A.SendAdvice) and not d.t.reversals and not d.t.advices
    assert d.state is State.IDLE and "NO BALANCE" in texts(out)


def test_answer_with_a_bad_mac_shows_no_balance():
    d = to_inquiry_authorising()
    out = answer(d, mac_ok=False)
    outcome = d.last(A.RecordOutcome)
    assert (outcome.record.state, outcome.record.reason) == (JournalState.DECLINED, "A0")
    assert "98765.03" not in texts(out) and not d.all(A.SendReversal)


def test_inquiry_is_online_only():
    d = to_inquiry_authorising()
    d.feed(ActionFailed(d.last(A.SendRequest), "link.refused", "refused", sent=False))
    outcome = d.last(A.RecordOutcome)
    assert (outcome.record.state, outcome.record.reason) == (JournalState.DECLINED, "balance.online_only")
    assert not d.t.advices


def test_inquiry_outcome_not_committed_suspends_without_a_reversal():
    d = to_inquiry_authorising()
    out = answer(d)
    assert "98765.03" in texts(out)
    out = d.feed(ActionFailed(d.last(A.RecordOutcome), "storage.full", "storage is full"))
    assert d.state is State.SUSPENDED and not d.t.reversals and not d.t.advices
