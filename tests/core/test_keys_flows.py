"""Sign-on, sign-off, the function menu and tamper, at the level of the core."""

from __future__ import annotations

from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    CardRead,
    HostAnswered,
    KeyPressed,
    PinEntered,
    SignOffRequested,
    SignOnRequested,
    Tampered,
    TimerExpired,
)
from firmware.core.model import BootState, Counters, KeyState, NetworkKind, PendingAdvice, PendingReversal, State, Timer

from .helpers import CARD, NOW, Driver, reply, to_idle, to_pin


def names(actions):
    return [a.name for a in actions]


def signon_answer(d: Driver, **kw):
    job = d.last(A.SendNetwork).job
    return HostAnswered(reply(mti="0810", stan=job.stan, amount=None, mac_ok=None, **kw))


def test_without_working_keys_the_terminal_signs_on_by_itself_before_anything_else():
    boot = BootState(counters=Counters(stan=50, txn_no=9), reversals=(PendingReversal(8, 49, 300),), keys=KeyState.NEED_SIGN_ON)
    d = Driver(boot=boot)
    first = d.batches[-1]
    assert d.state is State.UPLINK
    assert names(first).index("save_counters") < names(first).index("send_network")
    job = d.last(A.SendNetwork).job
    assert job.kind is NetworkKind.SIGN_ON and job.stan == 50
    assert d.last(A.SaveCounters).counters.stan == 51  # the STAN is durable before the 0800 goes
    assert not d.all(A.SendReversal)  # a reversal cannot be MACed without a key
    out = d.feed(signon_answer(d, batch=7))
    assert names(out).index("install_working_keys") < names(out).index("send_reversal")
    assert d.last(A.InstallWorkingKeys).counters.batch == 7  # the host assigns the batch
    assert d.t.keys is KeyState.READY


def test_a_refused_sign_on_leaves_sales_refused():
    d = Driver(boot=BootState(keys=KeyState.NEED_SIGN_ON))
    d.feed(signon_answer(d, response_code="97", approved=False))
    assert d.state is State.SIGNED_OFF and d.last(A.Alert).code == "signon.refused"
    assert not d.all(A.InstallWorkingKeys)
    d.keys("1250#")
    assert d.state is State.SIGNED_OFF and d.t.sale is None


def test_a_wrong_check_value_fails_the_sign_on_and_installs_nothing():
    d = Driver(boot=BootState(keys=KeyState.NEED_SIGN_ON))
    d.feed(signon_answer(d))
    d.feed(ActionFailed(d.last(A.InstallWorkingKeys), "signon.check_value", "the MAC key fails its check value"))
    assert d.state is State.SIGNED_OFF and d.t.keys is KeyState.NEED_SIGN_ON
    assert "SIGN-ON FAILED" in d.last(A.Show).lines[0]


def test_an_unanswered_sign_on_is_retried_then_given_up():
    d = Driver(boot=BootState(keys=KeyState.NEED_SIGN_ON))
    d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert len(d.all(A.SendNetwork)) == 3
    assert len({a.job.stan for a in d.all(A.SendNetwork)}) == 1  # retries are the same message
    assert d.state is State.SIGNED_OFF and d.last(A.Alert).code == "signon.failed"


def test_menu_sign_on_goes_before_queued_reversals():
    """A sign-on moves no money, and a reversal MACed under keys the host no longer holds (a
    sign-on whose answer was lost) can never be acknowledged: the operator's sign-on goes first."""
    boot = BootState(counters=Counters(stan=5, txn_no=5), reversals=(PendingReversal(4, 4, 100),))
    d = Driver(boot=boot)
    d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert d.state is State.IDLE  # the reversal stays queued
    sent_before = len(d.all(A.SendReversal))
    d.keys("F")
    assert d.state is State.MENU
    d.keys("2")
    assert d.last(A.SendNetwork).job.kind is NetworkKind.SIGN_ON
    assert len(d.all(A.SendReversal)) == sent_before  # not yet
    out = d.feed(signon_answer(d))
    assert names(out).index("install_working_keys") < names(out).index("send_reversal")
    d.feed(HostAnswered(reply(mti="0410", stan=4, amount=100)))
    assert d.state is State.IDLE and not d.t.reversals


def test_sign_off_removes_the_working_keys_and_refuses_sales():
    d = to_idle()
    d.feed(SignOffRequested())
    assert d.last(A.SendNetwork).job.kind is NetworkKind.SIGN_OFF
    d.feed(HostAnswered(reply(mti="0830", stan=d.last(A.SendNetwork).job.stan, amount=None, mac_ok=None)))
    assert d.state is State.SIGNED_OFF and d.last(A.RemoveWorkingKeys)
    d.keys("1")
    assert d.state is State.SIGNED_OFF
    d.feed(SignOnRequested())
    assert d.state is State.UPLINK and d.last(A.SendNetwork).job.kind is NetworkKind.SIGN_ON


def test_sign_off_waits_for_the_queue():
    d = to_idle(boot=BootState(advices=(PendingAdvice(1, 1, 100, NOW),)))
    while d.state is State.UPLINK:  # the advice cannot go now
        d.feed(TimerExpired(Timer.RESPONSE))
    d.keys("F3")
    assert d.state is State.IDLE and "UPLOAD FIRST" in d.last(A.Show).lines
    assert not d.all(A.SendNetwork)


def test_tamper_during_pin_entry_destroys_keys_and_locks_everything():
    d = to_pin()
    out = d.feed(Tampered("gpio", "case opened"))
    assert d.state is State.LOCKED
    assert names(out).index("cancel_pin") < names(out).index("zeroize")
    assert "wipe_card" in names(out)
    assert d.last(A.Zeroize).source == "gpio"
    for event in (KeyPressed("1"), KeyPressed("F"), TimerExpired(Timer.UPLOAD)):
        d.feed(event)
        assert d.state is State.LOCKED
    assert not any(isinstance(a, (A.SendRequest, A.SendReversal, A.SendAdvice, A.SendNetwork)) for a in out)
    assert "TERMINAL LOCKED" in d.last(A.Show).lines[0]


def test_a_locked_boot_says_why():
    d = Driver(boot=BootState(keys=KeyState.LOCKED, lock_reason="keys destroyed (gpio: case opened)"))
    assert d.state is State.LOCKED
    assert "KEYS DESTROYED" in "".join(d.last(A.Show).lines)


def test_menu_exits_and_times_out():
    d = to_idle()
    d.keys("F")
    assert "6 REFUND" in " ".join(d.last(A.Show).lines)
    d.keys("0")  # the other page: every key 1-9 is a function, so 0 is the only digit that stays
    assert d.state is State.MENU and "5 TRANSFER 6 ADVICE" in d.last(A.Show).lines
    d.keys("0")
    assert d.state is State.MENU and "6 REFUND" in " ".join(d.last(A.Show).lines)
    d.keys("X")
    assert d.state is State.IDLE
    d.keys("F")
    d.feed(TimerExpired(Timer.INPUT))
    assert d.state is State.IDLE


def test_no_sale_can_reach_the_host_without_keys():
    d = Driver(boot=BootState(keys=KeyState.NEED_SIGN_ON))
    d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert d.state is State.SIGNED_OFF
    # a whole sale's worth of input: none of it may start a sale or reach the host
    for event in (*(KeyPressed(k) for k in "1250#"), CardRead(CARD), PinEntered()):
        if d.t.accepts(event):
            d.feed(event)
    assert d.state is State.SIGNED_OFF and d.t.sale is None
    assert not d.all(A.EnableReader) and not d.all(A.OpenRequest)
