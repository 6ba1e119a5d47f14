"""What becomes of a request the host left unanswered comes from the host profile, decided in one place
(``HostBridge.recoveries``) and read by the core through ``CoreSettings.recovery``: cup's refund (a 0220
notification) is sent again, iso87's (a 0200 request) reversed as a sale is; an inquiry is neither."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.bridge import HostBridge
from firmware.core import actions as A
from firmware.core.events import ActionFailed, CardRead, HostAnswered, LinkDropped, OriginalFound, PinEntered, TimerExpired
from firmware.core.flows import FLOWS, Recovery
from firmware.core.model import BatchHeld, JournalState, Kind, State, Timer
from firmware.core.settings import CoreSettings, default_recoveries
from firmware.host.profiles import get_profile

from .helpers import CARD, DATE, ORIGINAL, RRN, SETTINGS, Driver, reply, to_idle

ISO87 = HostBridge(get_profile("iso87"), None)
ISO87_SETTINGS = replace(SETTINGS, mtis=ISO87.mtis, recoveries=ISO87.recoveries)


def texts(actions) -> str:
    return " | ".join(" / ".join(a.lines) for a in actions if isinstance(a, A.Show))


@pytest.mark.parametrize("name", ["cup", "iso87", "iso87-aes"])
def test_the_profile_decides_each_kind_s_recovery(name):
    recoveries = HostBridge(get_profile(name), None).recoveries
    assert set(recoveries) == set(FLOWS)
    refund = Recovery.ADVICE if name == "cup" else Recovery.REVERSAL
    assert recoveries == default_recoveries() | {Kind.REFUND: refund}
    assert recoveries[Kind.BALANCE] is Recovery.NONE and recoveries[Kind.SALE] is Recovery.REVERSAL


def test_cup_s_recoveries_are_the_core_s_defaults():
    assert HostBridge(get_profile("cup"), None).recoveries == default_recoveries() == CoreSettings().recoveries
    assert CoreSettings().recovery(Kind.REFUND) is Recovery.ADVICE
    assert ISO87_SETTINGS.recovery(Kind.REFUND) is Recovery.REVERSAL


def iso87_refund() -> Driver:
    d = to_idle(ISO87_SETTINGS)
    d.keys("F6")
    d.keys(RRN + "#")
    d.keys(DATE + "#")
    d.feed(OriginalFound(ORIGINAL))
    d.keys("#")
    d.keys("500#")
    d.feed(CardRead(CARD), PinEntered())
    assert d.state is State.AUTHORISING and d.last(A.OpenRequest).record.kind is Kind.REFUND
    return d


@pytest.mark.parametrize("silence", [TimerExpired(Timer.RESPONSE), LinkDropped("link.closed", "peer closed")])
def test_an_iso87_refund_left_unanswered_is_reversed_not_queued(silence):
    d = iso87_refund()
    record = d.last(A.OpenRequest).record
    out = d.feed(silence)
    assert [r.txn_no for r in d.t.reversals] == [record.txn_no] and d.t.reversals[0].reason == "98"
    assert not d.t.advices and not d.all(A.SendAdvice)
    assert d.last(A.SendReversal).reversal.txn_no == record.txn_no
    assert "REVERSING..." in texts(out) and "REFUND QUEUED" not in texts(out)


def test_an_iso87_refund_answered_with_a_bad_mac_is_reversed():
    d = iso87_refund()
    record = d.last(A.OpenRequest).record
    out = d.feed(HostAnswered(reply(mti="0210", stan=record.stan, amount=500, mac_ok=False)))
    committed = d.last(A.RecordOutcome)
    assert (committed.record.state, committed.reversal_reason) == (JournalState.REVERSING, "A0")
    assert [r.reason for r in d.t.reversals] == ["A0"] and not d.t.advices
    assert "HOST MAC ERROR" in texts(out) and "REVERSING..." in texts(out)


def test_an_iso87_refund_approved_is_answered_by_its_0210():
    d = iso87_refund()
    record = d.last(A.OpenRequest).record
    d.feed(HostAnswered(reply(mti="0210", stan=record.stan, amount=500)))
    assert d.last(A.RecordOutcome).record.state is JournalState.APPROVED and d.state is State.PRINTING


def test_a_request_that_cannot_be_built_gives_its_place_in_the_batch_back():
    """What an iso87 refund did before: its repeat could not be sealed (host.unsupported), nothing was
    written or sent, yet its place and amount stayed counted in the open batch until a restart."""
    d = iso87_refund()
    assert d.t.batch_held == BatchHeld(credit_count=1, credit_amount=500)  # a refund: a credit
    out = d.feed(ActionFailed(d.last(A.OpenRequest), "host.unsupported", "profile cannot send it"))
    assert d.state is State.IDLE and "CANNOT SEND REFUND" in texts(out)
    assert d.t.batch_held == BatchHeld()
