"""The overdue reminders reach the display (audit AU19 M2): while an open batch is overdue, or a stored offline
sale is past ``offline.max_age_hours``, the idle status line says so ("SETTLE DUE 40D", "OFFLINE 30D OLD"), on
the 4-row screen and the 2-row form, in at most 16 characters; it yields to PRINTER FAULT and pending
reversals, and goes once the batch is settled or the old sale forwarded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from firmware.core import actions as A
from firmware.core import screens
from firmware.core.events import HostAnswered, PrinterFault, TimerExpired
from firmware.core.model import BatchHeld, BootState, Counters, State, Timer
from firmware.core.overdue import status_age
from hal.display import fit_screen

from .helpers import NOW, SETTINGS, Driver, reply
from .test_overdue import boot_with, stored

HELD = BatchHeld(debit_count=1, debit_amount=1000)


def booted(age: timedelta) -> Driver:
    return Driver(SETTINGS, BootState(counters=Counters(txn_no=5, stan=5), batch_held=HELD, opened=NOW - age))


def _idle_says(d: Driver, text: str) -> None:
    lines = d.last(A.Show).lines
    assert lines[3] == text, tuple(lines)  # the 4-row idle screen's status row
    assert fit_screen(lines, 2, 20)[1].rstrip() == text  # and the 2-row form (READY / status)
    assert fit_screen(lines, 2, 16)[1].rstrip() == text  # whole on 16 columns too


def test_an_open_batch_40_days_old_is_on_the_idle_screen_after_boot():
    d = booted(timedelta(days=40))
    _idle_says(d, "SETTLE DUE 40D")


def test_a_batch_within_its_age_says_nothing():
    d = booted(timedelta(hours=23))
    assert d.last(A.Show).lines[3] == ""


def test_stored_sales_30_days_old_are_on_the_idle_screen_instead_of_offline_queued():
    d = boot_with(stored(timedelta(days=30)), stored(timedelta(hours=2), txn_no=2))
    _idle_says(d, "OFFLINE 30D OLD")


def test_the_old_sale_forwarded_takes_the_line_away():
    d = boot_with(stored(timedelta(days=30)))
    d.feed(TimerExpired(Timer.UPLOAD))
    d.feed(HostAnswered(reply(mti="0230", stan=d.last(A.SendAdvice).advice.stan, amount=1000)))
    assert d.state is State.IDLE and not d.t.advices
    assert d.last(A.Show).lines[3] == ""


def test_a_settlement_takes_the_line_away():
    d = booted(timedelta(days=40))
    d.t.batch_held = BatchHeld()  # as a settlement leaves it
    d.t._batch_emptied()
    assert screens.status(d.t) == ""


def test_a_printer_fault_comes_first():
    d = booted(timedelta(days=40))
    d.feed(PrinterFault("printer.paper_out", "the printer is out of paper"))
    assert screens.status(d.t) == "PRINTER FAULT"


@pytest.mark.parametrize(("age", "text"), [
    (timedelta(hours=30), "30H"), (timedelta(days=2), "2D"), (timedelta(days=999, hours=23), "999D"),
])
def test_the_status_age_is_short(age, text):
    assert status_age(age) == text
    assert len(f"OFFLINE {text} OLD") <= 16 and len(f"SETTLE DUE {text}") <= 16
