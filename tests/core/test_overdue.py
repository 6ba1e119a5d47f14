"""Money left waiting too long (``firmware/core/overdue.py``, audit AU18 M1 and M2): an open batch nobody
settled (``settle.overdue``) and stored offline sales past ``offline.max_age_hours`` (``offline.overdue``),
told by the sans-IO core from its own ``now``; neither refuses a sale."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from firmware.core import actions as A
from firmware.core.events import ActionFailed, CardRead, HostAnswered, PinEntered, TimerExpired
from firmware.core.model import BatchHeld, BootState, Counters, Kind, PendingAdvice, State, Timer
from firmware.core.overdue import age_text

from .helpers import CARD, NOW, SETTINGS, Driver, printed_all, reply, request_stan, to_idle

HELD = BatchHeld(debit_count=1, debit_amount=1000)


def overdue(actions, code: str = "settle.overdue") -> list[A.Alert]:
    return [a for a in actions if isinstance(a, A.Alert) and a.code == code]


def booted(opened, held=HELD, settings=SETTINGS) -> Driver:
    return Driver(settings, BootState(counters=Counters(txn_no=5, stan=5), batch_held=held, opened=opened))


# -- the open batch ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opened, held, told", [
    (NOW - timedelta(hours=25), HELD, True),
    (NOW - timedelta(hours=24), HELD, False),  # exactly the limit: not yet
    (NOW - timedelta(days=40), BatchHeld(), False),  # an empty batch is never overdue
    (None, HELD, False),
])
def test_settle_overdue_at_boot(opened, held, told):
    d = booted(opened, held)
    assert bool(overdue(d.batches[0])) is told and d.state is State.IDLE


def test_the_alert_says_the_batch_its_age_and_the_settle_key():
    d = booted(NOW - timedelta(days=40))
    (alert,) = overdue(d.batches[0])
    assert alert.text.startswith("batch 000001 open 40 days; settle: F then 5")
    assert "settle.max_age_hours 24" in alert.text and "1 transaction(s)" in alert.text


def test_told_again_at_the_first_sale_of_the_next_day_and_the_sale_goes_on():
    d = booted(NOW - timedelta(days=40))
    assert not overdue(d.keys("1"))  # the same day as the boot's alert
    d.keys("X")
    d.now += timedelta(days=1)
    out = d.keys("1")
    assert [a.text.split(";")[0] for a in overdue(out)] == ["batch 000001 open 41 days"]
    assert d.state is State.AMOUNT  # not refused
    d.keys("X")
    assert not overdue(d.keys("2"))  # once that day


def test_told_at_the_start_of_a_menu_transaction_the_batch_takes_not_of_an_inquiry():
    d = booted(NOW - timedelta(days=2))
    d.now += timedelta(days=1)
    assert not overdue(d.keys("F7"))  # a balance inquiry: the batch takes nothing
    d.keys("X")
    assert overdue(d.keys("F4"))  # a void


def test_the_batch_ages_from_the_first_record_the_core_makes_and_forgets_it_when_that_is_declined():
    d = to_idle()
    assert d.t.batch_opened is None
    d.keys("1250#")
    d.feed(CardRead(CARD), PinEntered())
    assert d.t.batch_opened == d.last(A.OpenRequest).record.when == NOW
    d.feed(HostAnswered(reply(stan=request_stan(d), response_code="51", approved=False)))
    assert d.t.batch_opened is None and not d.t.batch_held.count


def test_a_day_after_the_first_sale_made_here_the_next_sale_is_told():
    d = to_idle()
    d.keys("1250#")
    d.feed(CardRead(CARD), PinEntered())
    d.feed(HostAnswered(reply(stan=request_stan(d))))
    printed_all(d)
    assert not overdue([a for batch in d.batches for a in batch])
    d.now += timedelta(hours=25)
    assert overdue(d.keys("1"))


def test_settle_max_age_none_never_tells():
    d = booted(NOW - timedelta(days=40), settings=replace(SETTINGS, settle_max_age=None))
    d.now += timedelta(days=1)
    assert not overdue(d.batches[0]) and not overdue(d.keys("1"))


# -- stored offline sales ------------------------------------------------------------------------------------------
def stored(age: timedelta, kind: Kind = Kind.SALE, txn_no: int = 1) -> PendingAdvice:
    return PendingAdvice(txn_no, txn_no, 1000, NOW - age, kind=kind)


def boot_with(*advices: PendingAdvice) -> Driver:
    """Booted with the advices queued, the boot's forward failing (the link is down)."""
    d = Driver(SETTINGS, BootState(counters=Counters(txn_no=9, stan=9), advices=advices))
    while d.state is State.UPLINK:
        d.feed(ActionFailed(d.last(A.SendAdvice), "link.down", "refused", sent=False))
    return d


def test_offline_overdue_at_boot_once_though_the_boots_forward_fails():
    d = boot_with(stored(timedelta(days=30)), stored(timedelta(hours=2), txn_no=2))
    every = [a for batch in d.batches for a in batch]
    (alert,) = overdue(every, "offline.overdue")
    assert alert.text.startswith("2 offline sale(s) unsent 30 days; the oldest was made")
    assert overdue(every, "advice.pending") and d.state is State.IDLE


def test_offline_overdue_again_at_each_failed_forward():
    d = boot_with(stored(timedelta(days=30)))
    for _ in range(2):
        out = d.feed(TimerExpired(Timer.UPLOAD))
        while d.state is State.UPLINK:
            out += d.feed(ActionFailed(d.last(A.SendAdvice), "link.down", "refused", sent=False))
        assert len(overdue(out, "offline.overdue")) == 1


@pytest.mark.parametrize("advice", [
    stored(timedelta(hours=72)),  # exactly offline.max_age_hours: not yet
    stored(timedelta(days=30), kind=Kind.REFUND),  # a refund waiting to be sent again is no stored sale
])
def test_not_offline_overdue(advice):
    d = boot_with(advice)
    assert not overdue([a for batch in d.batches for a in batch], "offline.overdue")


def test_a_completion_advice_counts_as_a_stored_sale():
    d = boot_with(stored(timedelta(days=4), kind=Kind.PREAUTH_COMPLETE))
    assert overdue(d.batches[0], "offline.overdue")


@pytest.mark.parametrize("age, text", [
    (timedelta(hours=1, minutes=59), "1 hour"),
    (timedelta(hours=47), "47 hours"),
    (timedelta(days=2), "2 days"),
    (timedelta(days=40, hours=23), "40 days"),
])
def test_age_text(age, text):
    assert age_text(age) == text
