"""The core when the key ring changed under the running terminal (``keys.ring_changed``, audit AU9 H2).

Its sign-on (or sign-off) wrote nothing: another program's ring is on disk and the keys held
here may be the ones it replaced. The terminal locks with that reason until a restart, and keeps
what is queued (the journal has it; the next start sends it).
"""

from __future__ import annotations

from firmware.core import actions as A
from firmware.core.events import ActionFailed, HostAnswered, SignOffRequested
from firmware.core.model import BootState, Counters, KeyState, PendingReversal, State

from .helpers import Driver, reply, to_idle

CHANGED = ("keys.ring_changed", "key ring was changed by another program since this one read it")


def test_a_sign_on_whose_ring_changed_on_disk_locks_the_terminal_and_keeps_the_queue():
    boot = BootState(counters=Counters(stan=50, txn_no=9), reversals=(PendingReversal(8, 49, 300),),
                     keys=KeyState.NEED_SIGN_ON)
    d = Driver(boot=boot)
    job = d.last(A.SendNetwork).job
    d.feed(HostAnswered(reply(mti="0810", stan=job.stan, amount=None, mac_ok=None)))
    d.feed(ActionFailed(d.last(A.InstallWorkingKeys), *CHANGED))
    assert d.state is State.LOCKED and d.t.keys is KeyState.LOCKED
    assert "RESTART" in " ".join(d.last(A.Show).lines)
    assert [r.txn_no for r in d.t.reversals] == [8]  # still owed: sent after the restart
    d.keys("1250#")
    assert d.state is State.LOCKED and d.t.sale is None


def test_a_sign_off_whose_ring_changed_on_disk_locks_the_terminal():
    d = to_idle()
    d.feed(SignOffRequested())
    d.feed(HostAnswered(reply(mti="0830", stan=d.last(A.SendNetwork).job.stan, amount=None, mac_ok=None)))
    d.feed(ActionFailed(d.last(A.RemoveWorkingKeys), *CHANGED))
    assert d.state is State.LOCKED and d.t.lock_reason == "key ring changed on disk; restart"
