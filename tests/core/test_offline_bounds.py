"""The offline limits at their boundaries: exactly at a limit is approved offline, one past it is declined.

Each limit is pinned from both sides (``firmware/core/sale.py`` ``offline_refusal``), so a ``>`` that
became ``>=`` (or the reverse) fails a test: the floor limit (the sale's amount), the count and the
total of the offline sales queued with this one, and the age of the oldest queued sale.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from firmware.core import actions as A
from firmware.core.events import ActionFailed, CardRead, PinEntered
from firmware.core.model import BootState, Counters, JournalState, PendingAdvice, State
from firmware.core.settings import OfflineLimits

from .helpers import CARD, NOW, SETTINGS, Driver

AGE = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def sale_with_the_host_down(limits: OfflineLimits, queued: tuple[tuple[int, timedelta], ...], amount: int):
    """A sale of ``amount`` whose request cannot reach the host, with offline sales of (amount, age) queued."""
    queue = tuple(PendingAdvice(n, n, a, NOW - age) for n, (a, age) in enumerate(queued, start=1))
    d = Driver(replace(SETTINGS, offline=limits), BootState(counters=Counters(txn_no=100, stan=100), advices=queue))
    while d.state is State.UPLINK:  # the queued advices cannot go either: the link is down
        d.feed(ActionFailed(d.last(A.SendAdvice), "link.down", "refused", sent=False))
    assert d.state is State.IDLE
    d.keys(f"{amount}#")
    d.feed(CardRead(CARD))
    d.feed(PinEntered())
    d.feed(ActionFailed(d.last(A.SendRequest), "link.down", "refused", sent=False))
    assert d.now == NOW  # the core judged the age at NOW: no time passed in the driver
    return d, d.last(A.RecordOutcome)


# (limits, queued offline sales (amount, age), the sale's amount, the code when one past the limit,
#  the same case one past it)
CASES = {
    "floor_limit": (OfflineLimits(floor_limit=1000), (), 1000, "offline.floor_limit",
                    (OfflineLimits(floor_limit=1000), (), 1001)),
    "max_count": (OfflineLimits(max_count=3), ((100, SECOND),) * 2, 100, "offline.max_count",
                  (OfflineLimits(max_count=3), ((100, SECOND),) * 3, 100)),
    "max_amount": (OfflineLimits(max_amount=2000), ((700, SECOND), (800, SECOND)), 500, "offline.max_amount",
                   (OfflineLimits(max_amount=2000), ((700, SECOND), (800, SECOND)), 501)),
    "max_age": (OfflineLimits(max_age=AGE), ((100, AGE), (100, SECOND)), 100, "offline.too_old",
                (OfflineLimits(max_age=AGE), ((100, AGE + SECOND), (100, SECOND)), 100)),
}


@pytest.mark.parametrize("limit", CASES)
def test_exactly_at_the_limit_is_approved_offline(limit):
    limits, queued, amount, _code, _past = CASES[limit]
    d, outcome = sale_with_the_host_down(limits, queued, amount)
    assert outcome.record.state is JournalState.OFFLINE_APPROVED and outcome.advice
    assert outcome.record.amount == amount
    assert len(d.t.advices) == len(queued) + 1  # queued beside the others
    assert not any(a.code.startswith("offline.") for a in d.all(A.Alert))


@pytest.mark.parametrize("limit", CASES)
def test_one_past_the_limit_is_declined_with_its_code(limit):
    _limits, _queued, _amount, code, (limits, queued, amount) = CASES[limit]
    d, outcome = sale_with_the_host_down(limits, queued, amount)
    assert outcome.record.state is JournalState.DECLINED and outcome.record.reason == code
    assert not outcome.advice and not d.all(A.Print)
    assert d.last(A.Alert).code == code
    assert len(d.t.advices) == len(queued)  # nothing added to the queue
    assert d.state is State.IDLE
