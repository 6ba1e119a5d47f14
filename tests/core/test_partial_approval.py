"""A partial approval (10): the host approved part of the amount and holds those funds; the terminal cannot
complete a partial sale. A reversible request is reversed at once, reason 06 ("other"), its reversal committed
with the outcome before anything is sent and then sent, retried and alerted as any other; a request that cannot
be reversed (cup's refund, a 0220) is declined and the operator told to reconcile it."""

from __future__ import annotations

from firmware.core import actions as A
from firmware.core.events import HostAnswered, TimerExpired
from firmware.core.model import JournalState, State, Timer

from .helpers import request_stan, reply, to_authorising
from .test_recoveries import iso87_refund, texts
from .test_refund import to_refund_authorising


def partial(d, **kw) -> list[A.Action]:
    record = d.last(A.OpenRequest).record
    return d.feed(HostAnswered(reply(stan=record.stan, amount=record.amount, response_code="10", approved=False,
                                     **kw)))


def test_a_sale_approved_in_part_is_reversed_at_once_its_reversal_committed_first():
    d = to_authorising()
    stan = request_stan(d)
    out = partial(d)
    committed = d.last(A.RecordOutcome)
    assert (committed.record.state, committed.record.response_code, committed.reversal_reason) == (
        JournalState.REVERSING, "10", "06")
    kinds = [type(a) for a in out]
    assert kinds.index(A.RecordOutcome) < kinds.index(A.SendReversal)  # durable before it leaves
    assert [(r.stan, r.reason) for r in d.t.reversals] == [(stan, "06")]
    assert d.last(A.SendReversal).reversal.stan == stan
    assert not d.all(A.Print) and "PARTIAL APPROVAL" in texts(out) and "- REVERSED" in texts(out)
    d.feed(TimerExpired(Timer.RESPONSE))  # unanswered: it goes again, as any reversal
    assert d.last(A.SendReversal).repeat and d.t.reversals[0].reason == "06"


def test_a_partial_approval_without_a_mac_is_reversed_all_the_same():
    """Reversing what was not approved costs nothing (the host answers 25); keeping what was costs money."""
    d = to_authorising()
    partial(d, mac_ok=None)
    assert [r.reason for r in d.t.reversals] == ["06"]


def test_an_iso87_refund_approved_in_part_is_reversed():
    d = iso87_refund()
    partial(d)
    assert d.last(A.RecordOutcome).reversal_reason == "06" and [r.reason for r in d.t.reversals] == ["06"]


def test_a_cup_refund_approved_in_part_is_declined_and_the_operator_told():
    """A 0220 is never reversed, and sending it again brings the same answer: declined, with an alert."""
    d = to_refund_authorising()
    out = partial(d, mti="0230")
    assert d.last(A.RecordOutcome).record.state is JournalState.DECLINED
    assert not d.t.reversals and not d.t.advices and not d.all(A.SendReversal)
    assert [a.code for a in out if isinstance(a, A.Alert)] == ["host.partial_approval"]
    assert d.state is State.IDLE and "10 PARTIAL APPROVAL" in texts(out)
