"""The void, driven through the sans-IO core: menu, trace, lookup, confirm, then the sale's path."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    CardRead,
    HostAnswered,
    KeyPressed,
    LinkDropped,
    OriginalFound,
    OriginalRefused,
    PinCancelled,
    PinEntered,
    TimerExpired,
)
from firmware.core.flows import FLOWS, Candidate, Refusal, judge
from firmware.core.model import JournalState, Kind, PendingReversal, State, Timer
from firmware.core.receipt import build_receipt
from firmware.core.table import TABLE
from firmware.errors import StateError

from .helpers import CARD, ORIGINAL, SETTINGS, Driver, printed_all, reply, to_confirm, to_lookup, to_trace

VOID = FLOWS[Kind.VOID]


def to_void_authorising() -> Driver:
    d = to_confirm()
    d.keys("#")
    d.feed(CardRead(CARD), PinEntered())
    return d


def texts(actions) -> str:
    return " | ".join(" / ".join(a.lines) for a in actions if isinstance(a, A.Show))


# -- the walk ------------------------------------------------------------------------
def test_whole_void_walk_approved():
    d = to_trace()
    assert "ORIGINAL TRACE NO:" in texts(d.batches[-1])
    out = d.keys("7#")
    find = d.last(A.FindOriginal)
    assert (find.kind, find.stan, find.batch, d.state) == (Kind.VOID, 7, 1, State.LOOKUP)
    assert not [a for a in out if isinstance(a, (A.OpenRequest, A.SendRequest))]
    out = d.feed(OriginalFound(ORIGINAL))
    assert d.state is State.CONFIRM and "CNY 12.50" in texts(out) and CARD.masked_pan in texts(out)
    out = d.keys("#")
    assert d.state is State.CARD and any(isinstance(a, A.EnableReader) for a in out)
    assert "VOID CNY 12.50" in texts(out)
    d.feed(CardRead(CARD))
    pin = d.last(A.BeginPin)
    assert d.state is State.PIN and pin.allow_bypass is False  # pin_required: the sale's rule exactly
    out = d.feed(PinEntered())
    names = [type(a) for a in out if isinstance(a, (A.OpenRequest, A.SendRequest))]
    assert names == [A.OpenRequest, A.SendRequest]  # committed before sent, as a sale
    record = d.last(A.OpenRequest).record
    assert (record.kind, record.amount, record.original) == (Kind.VOID, ORIGINAL.amount, ORIGINAL)
    out = d.feed(HostAnswered(reply(stan=record.stan)))
    outcome = d.last(A.RecordOutcome)
    assert outcome.record.state is JournalState.APPROVED and outcome.reversal_reason is None
    kinds = [type(a) for a in out]
    assert kinds.index(A.RecordOutcome) < kinds.index(A.Print)  # committed before printing
    assert "VOID APPROVED" in texts(out) and "-CNY 12.50" in texts(out)
    text = build_receipt(d.last(A.Print).job, SETTINGS)
    lines = [f"{line.text} {line.right or ''}" for line in text.lines]
    assert any("VOID" in s and "TRANS TYPE" in s for s in lines)
    assert any("ORIG TRACE NO:" in s and "000007" in s for s in lines)
    assert any("-CNY 12.50" in s for s in lines)
    printed_all(d)
    assert d.state is State.IDLE


def test_pin_may_be_skipped_on_a_void_only_where_a_sale_may():
    from firmware.core.model import BootState

    d = Driver(replace(SETTINGS, pin_required=False), BootState())
    d.keys("F4")
    d.keys("7#")
    d.feed(OriginalFound(ORIGINAL))
    d.keys("#")
    d.feed(CardRead(replace(CARD, pin_required=False)))
    assert d.last(A.BeginPin).allow_bypass is True
    d2 = to_confirm()
    d2.keys("#")
    d2.feed(CardRead(CARD))
    assert d2.last(A.BeginPin).allow_bypass is False


def test_trace_keys_clear_limit_and_empty_enter():
    d = to_trace()
    d.keys("1234567")  # six digits at most
    assert d.t.sale.trace == "123456"
    d.keys("*")
    assert d.t.sale.trace == "12345"
    d = to_trace()
    out = d.keys("#")
    assert d.state is State.TRACE and "ENTER THE TRACE NO" in texts(out)
    out = d.keys("0#")
    assert d.state is State.TRACE


@pytest.mark.parametrize(
    "code, text",
    [
        ("void.not_found", "TRACE NOT FOUND"),
        ("void.not_approved", "ORIGINAL DECLINED"),
        ("void.already_voided", "ALREADY VOIDED"),
        ("void.is_void", "CANNOT VOID A VOID"),
    ],
)
def test_refusal_goes_back_to_idle_with_its_code_before_anything_is_built(code, text):
    d = to_lookup()
    out = d.feed(OriginalRefused(code, text))
    assert d.state is State.IDLE
    assert any(isinstance(a, A.Note) and a.code == code for a in out)
    assert text in texts(out) and "NOT VOIDED" in texts(out)
    assert not d.all(A.OpenRequest) and not d.all(A.SendRequest) and not d.all(A.EnableReader)


@pytest.mark.parametrize("reach, key", [(to_trace, "X"), (to_confirm, "X")])
def test_cancel_at_trace_and_confirm(reach, key):
    d = reach()
    out = d.keys(key)
    assert d.state is State.IDLE and "CANCELLED" in texts(out)
    assert not d.all(A.OpenRequest)


def test_cancel_at_card_and_pin():
    d = to_confirm()
    d.keys("#")
    out = d.keys("X")
    assert d.state is State.IDLE and any(isinstance(a, A.DisableReader) for a in out)
    d = to_confirm()
    d.keys("#")
    d.feed(CardRead(CARD))
    out = d.feed(PinCancelled())
    assert d.state is State.IDLE and any(isinstance(a, A.WipeCard) for a in out)
    assert not d.all(A.OpenRequest)


@pytest.mark.parametrize("reach", [to_trace, to_confirm])
def test_input_timeout_in_the_new_states(reach):
    d = reach()
    d.feed(TimerExpired(Timer.MESSAGE))
    assert d.state is reach().state
    out = d.feed(TimerExpired(Timer.INPUT))
    assert d.state is State.IDLE and "TIMED OUT" in texts(out)


def test_a_timer_during_lookup_changes_nothing():
    d = to_lookup()
    assert d.feed(TimerExpired(Timer.INPUT)) == [] and d.state is State.LOOKUP


@pytest.mark.parametrize("state", [State.TRACE, State.LOOKUP, State.CONFIRM])
def test_illegal_events_in_the_new_states(state):
    from .helpers import REACH

    d = REACH[state]()
    for event in (CardRead(CARD), PinEntered(), HostAnswered(reply()), LinkDropped("link.closed", "x")):
        assert type(event) not in TABLE[state]
        with pytest.raises(StateError) as err:
            d.feed(event)
        assert err.value.code == "state.illegal_event" and state.name in err.value.text
        assert d.state is state
    if state is State.LOOKUP:
        with pytest.raises(StateError):
            d.feed(KeyPressed("#"))


def test_void_menu_needs_working_keys():
    from .helpers import to_signed_off

    d = to_signed_off()
    d.keys("F4")
    assert d.state is State.MENU and "SIGN ON FIRST" in texts(d.batches[-1])


# -- online outcomes -------------------------------------------------------------------
def test_void_declined_by_the_host_shows_the_text():
    d = to_void_authorising()
    record = d.last(A.OpenRequest).record
    out = d.feed(HostAnswered(reply(stan=record.stan, response_code="51", approved=False, auth_code=None)))
    assert d.last(A.RecordOutcome).record.state is JournalState.DECLINED
    assert d.state is State.IDLE and "VOID DECLINED" in texts(out) and "51 INSUFFICIENT / FUNDS" in texts(out)
    assert not d.all(A.Print)


@pytest.mark.parametrize("event", [TimerExpired(Timer.RESPONSE), LinkDropped("link.closed", "peer closed")])
def test_void_without_an_answer_reverses_the_void(event):
    d = to_void_authorising()
    record = d.last(A.OpenRequest).record
    d.feed(event)
    assert d.state is State.UPLINK
    sent = d.last(A.SendReversal)
    assert sent.reversal == PendingReversal(record.txn_no, record.stan, record.amount, "98", sent_before=True,
                                            kind=Kind.VOID, counted_in=record.batch)  # a void counts as a credit
    assert not sent.repeat and d.last(A.ReversalSending) == A.ReversalSending(record.txn_no, "98")


def test_host_unreachable_declines_the_void_never_offline():
    d = to_void_authorising()
    send = d.last(A.SendRequest)
    out = d.feed(ActionFailed(send, "link.refused", "connection refused", sent=False))
    outcome = d.last(A.RecordOutcome)
    assert outcome.record.state is JournalState.DECLINED and outcome.advice is False
    assert outcome.record.reason == "void.online_only"
    assert "HOST UNAVAILABLE" in texts(out) and "NOT VOIDED" in texts(out)
    assert d.state is State.IDLE and not d.all(A.Print) and not d.t.advices


def test_a_queued_reversal_goes_before_the_void_and_a_dead_host_declines_it():
    from firmware.core.model import BootState

    boot = BootState(reversals=(PendingReversal(1, 1, 100, "98"),))
    d = Driver(SETTINGS, boot)
    for _ in range(3):
        d.feed(TimerExpired(Timer.RESPONSE))
    d.keys("F4")
    d.keys("7#")
    d.feed(OriginalFound(ORIGINAL))
    d.keys("#")
    d.feed(CardRead(CARD))
    d.feed(PinEntered())
    assert d.state is State.UPLINK and d.last(A.SendReversal).reversal.txn_no == 1
    out = d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert d.state is State.IDLE and "NOT VOIDED" in texts(out)
    assert not [a for a in d.all(A.OpenRequest) if a.record.kind is Kind.VOID]


def test_journal_failure_during_lookup_goes_back_to_idle():
    d = to_lookup()
    out = d.feed(ActionFailed(d.last(A.FindOriginal), "storage.io", "disk error"))
    assert d.state is State.IDLE and "JOURNAL ERROR" in texts(out)


# -- the judge -------------------------------------------------------------------------
def cand(**kw) -> Candidate:
    base = dict(facts=ORIGINAL, state=JournalState.APPROVED, claims=(), forwarded=False)
    base.update(kw)
    return Candidate(**base)


@pytest.mark.parametrize(
    "found, code",
    [
        (None, "void.not_found"),
        (cand(state=JournalState.DECLINED), "void.not_approved"),
        (cand(state=JournalState.REVERSED), "void.not_approved"),
        (cand(state=JournalState.REVERSING), "void.not_approved"),
        (cand(state=JournalState.REQUESTED), "void.not_approved"),
        (cand(state=JournalState.LOST), "void.not_approved"),
        (cand(state=JournalState.OFFLINE_APPROVED), "void.not_uploaded"),
        (cand(state=JournalState.OFFLINE_APPROVED, declined=True), "void.advice_declined"),
        (cand(claims=(JournalState.APPROVED,)), "void.already_voided"),
        (cand(claims=(JournalState.DECLINED, JournalState.REQUESTED)), "void.unresolved"),
        (cand(claims=(JournalState.REVERSING,)), "void.unresolved"),
        (cand(claims=(JournalState.LOST,)), "void.unresolved"),
        (cand(facts=replace(ORIGINAL, kind=Kind.VOID)), "void.is_void"),
        (cand(facts=replace(ORIGINAL, kind=Kind.REFUND)), "void.wrong_kind"),
    ],
)
def test_judge_refuses_with_a_stable_code(found, code):
    verdict = judge(VOID, found)
    assert isinstance(verdict, Refusal) and verdict.code == code and len(verdict.text) <= 20


@pytest.mark.parametrize(
    "found",
    [
        cand(),
        cand(claims=(JournalState.DECLINED, JournalState.REVERSED)),
        cand(state=JournalState.OFFLINE_APPROVED, forwarded=True),
    ],
)
def test_judge_accepts(found):
    assert judge(VOID, found) == ORIGINAL
