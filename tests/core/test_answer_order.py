"""Answers that come late or twice, at the level of the core (FX8): the rules the e2e tests in
``tests/e2e/test_answer_order.py`` meet over a real socket, pinned event by event."""

from __future__ import annotations

from firmware.core import actions as A
from firmware.core.events import HostAnswered, TimerExpired
from firmware.core.model import BootState, KeyState, NetworkKind, State, Timer

from .helpers import Driver, reply


def signon_answer(stan: int) -> HostAnswered:
    return HostAnswered(reply(mti="0810", stan=stan, amount=None, mac_ok=None))


def test_a_sign_on_answered_after_a_retry_is_followed_by_one_more_sign_on_whose_answer_alone_is_final():
    """The 0800 went twice under one STAN: its answer may be the first transmission's, whose keys the host
    replaced when it processed the repeat. The keys are installed, then one more sign-on (a new STAN) goes;
    a late answer to the old STAN is unmatched, the new one's answer ends it, with no third sign-on."""
    d = Driver(boot=BootState(keys=KeyState.NEED_SIGN_ON))
    d.feed(TimerExpired(Timer.RESPONSE))
    first = [a.job for a in d.all(A.SendNetwork)]
    assert len(first) == 2 and first[0].stan == first[1].stan
    out = d.feed(signon_answer(first[0].stan))
    assert [a.name for a in out].index("install_working_keys") < [a.name for a in out].index("send_network")
    again = d.last(A.SendNetwork).job
    assert again.kind is NetworkKind.SIGN_ON and again.stan != first[0].stan and d.state is State.UPLINK
    assert any(a.code == "signon.again" for a in out if isinstance(a, A.Note))
    late = d.feed(signon_answer(first[0].stan))  # the repeat's answer, come after
    assert [a.code for a in late if isinstance(a, A.Note)] == ["host.unmatched"]
    assert len(d.all(A.InstallWorkingKeys)) == 1
    d.feed(TimerExpired(Timer.RESPONSE))  # the check itself is retried once: its answer is taken as final
    d.feed(signon_answer(again.stan))
    assert len(d.all(A.InstallWorkingKeys)) == 2 and len(d.all(A.SendNetwork)) == 4
    assert d.state is State.IDLE and d.t.keys is KeyState.READY and d.t.network is None


def test_a_sign_on_answered_at_its_first_transmission_is_not_checked():
    d = Driver(boot=BootState(keys=KeyState.NEED_SIGN_ON))
    d.feed(signon_answer(d.last(A.SendNetwork).job.stan))
    assert len(d.all(A.SendNetwork)) == 1 and d.state is State.IDLE
