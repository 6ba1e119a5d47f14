"""The wall clock (firmware/core/clock.py): no transaction dated before one already made; the host's time
at sign-on sets the clock (the runner does it only when configured: tests/firmware/test_clock_runner.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from firmware.core import actions as A
from firmware.core.clock import CLOCK_EPOCH, CLOCK_SLACK, elapsed, host_offset, host_time
from firmware.core.events import HostAnswered, SignOnRequested
from firmware.core.model import BootState, Counters, NetworkKind, State
from firmware.core.settings import CoreSettings

from .helpers import NOW, SETTINGS, Driver, reply


def alerts(actions) -> list[str]:
    return [a.code for a in actions if isinstance(a, A.Alert)]


@pytest.mark.parametrize("date, time, now, expected", [
    ("1122", "101503", NOW, datetime(2026, 11, 22, 10, 15, 3)),
    ("0101", "000010", datetime(2026, 12, 31, 23, 59, 50), datetime(2027, 1, 1, 0, 0, 10)),  # past midnight, New Year
    ("1231", "235950", datetime(2027, 1, 1, 0, 0, 10), datetime(2026, 12, 31, 23, 59, 50)),
    ("0229", "120000", datetime(2028, 2, 29, 11, 0), datetime(2028, 2, 29, 12, 0)),  # a leap year
    ("1301", "120000", NOW, None), ("1122", "246000", NOW, None), ("11", "101503", NOW, None),
    (None, "101503", NOW, None), ("1122", None, NOW, None), ("11x2", "101503", NOW, None),
])
def test_host_time_takes_the_year_nearest_now_and_refuses_what_is_not_a_time(date, time, now, expected):
    assert host_time(date, time, now) == expected


def test_a_sale_dated_well_before_the_newest_journal_record_is_refused_before_anything_is_recorded():
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9), latest=NOW + timedelta(days=400)))
    out = d.keys("1")
    assert d.state is State.IDLE and alerts(out) == ["clock.behind"]
    assert any("CLOCK IS BEHIND" in a.lines for a in out if isinstance(a, A.Show))
    assert not d.all(A.OpenRequest)
    out = d.keys("F4")  # a void from the menu: refused the same way, before any password
    assert "clock.behind" in alerts(out) and d.state is State.IDLE


def test_a_small_step_back_passes_and_the_floor_follows_each_transaction():
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9), latest=NOW + CLOCK_SLACK / 2))
    d.keys("1")
    assert d.state is State.AMOUNT  # NTP stepping the clock back a little: not refused
    d.keys("X")
    d.now += timedelta(hours=3)  # a transaction starts three hours later ...
    d.keys("1")
    d.keys("X")
    d.now -= timedelta(hours=3)  # ... then the clock jumps back three hours
    assert alerts(d.keys("1")) == ["clock.behind"]


def test_a_clock_before_this_firmware_is_refused_even_with_no_journal_yet():
    d = Driver(boot=BootState(counters=Counters(), latest=None))
    d.now = datetime(1970, 1, 1, 0, 0, 5)  # a Pi without a clock, before its first sale
    assert alerts(d.keys("1")) == ["clock.behind"]
    d.now = CLOCK_EPOCH + timedelta(days=1)
    d.keys("1")
    assert d.state is State.AMOUNT


@pytest.mark.parametrize("behind", [timedelta(minutes=55), timedelta(hours=1, minutes=50)])
def test_what_a_right_clock_does_passes(behind):
    """fake-hwclock's hourly save after a power cut (up to an hour before the last sale), and that plus the end
    of summer time (02:59 back to 02:00)."""
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9), latest=NOW + behind))
    d.keys("1")
    assert d.state is State.AMOUNT


def test_a_pi_back_at_1970_is_mended_by_a_sign_on_whose_year_comes_from_the_journal():
    """The host sends MMDD and hhmmss, no year: a clock at 1970 says nothing of it, so the journal's does."""
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9), latest=NOW))
    d.now = datetime(1970, 1, 1, 0, 1, 0)
    assert alerts(d.keys("1")) == ["clock.behind"]
    real = NOW + timedelta(hours=2)
    out = sign_on(d, host_date=f"{real:%m%d}", host_time=f"{real:%H%M%S}")
    assert [a.offset for a in out if isinstance(a, A.SetClock)] == [real - d.now]


def sign_on(d: Driver, **changes):
    d.feed(SignOnRequested())
    job = d.last(A.SendNetwork).job
    assert job.kind is NetworkKind.SIGN_ON
    return d.feed(HostAnswered(reply(mti="0810", stan=job.stan, amount=None, mac_ok=None, **changes)))


def test_a_sign_on_whose_host_time_differs_by_more_than_a_minute_sets_the_clock():
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9), latest=NOW - timedelta(days=1)))
    host = d.now + timedelta(hours=2)
    out = sign_on(d, host_date=f"{host:%m%d}", host_time=f"{host:%H%M%S}")
    (set_clock,) = [a for a in out if isinstance(a, A.SetClock)]
    assert set_clock.offset == timedelta(hours=2)  # what the runner moves the system clock by
    assert A.SetClock in A.ADVISORY  # a clock that cannot be set never stops the sign-on


@pytest.mark.parametrize("seconds", [0, 59, -59])
def test_a_host_time_within_a_minute_leaves_the_clock_alone(seconds):
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9)))
    host = d.now + timedelta(seconds=seconds)
    assert not [a for a in sign_on(d, host_date=f"{host:%m%d}", host_time=f"{host:%H%M%S}")
                if isinstance(a, A.SetClock)]


def test_a_journal_dated_by_a_clock_that_ran_ahead_does_not_lock_the_terminal_out_after_a_sign_on():
    """The clock ran ten years ahead for a while and dated transactions then; NTP has put it right, so every
    sale is refused as behind. A sign-on whose host time agrees with the clock brings the floor down to it:
    the host's time is the reference, and the operator is told the journal is ahead."""
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9), latest=NOW.replace(year=2036)))
    assert alerts(d.keys("1")) == ["clock.behind"]
    out = sign_on(d, host_date=f"{d.now:%m%d}", host_time=f"{d.now:%H%M%S}")
    assert "clock.journal_ahead" in alerts(out) and not [a for a in out if isinstance(a, A.SetClock)]
    d.keys("1")
    assert d.state is State.AMOUNT


def test_a_clock_behind_with_clock_from_host_off_stays_refused_after_a_sign_on():
    """Behind the journal (fake-hwclock after a power cut) and behind the host: the sign-on asks for the clock to
    be set; until it is (the runner may not: terminal.clock_from_host), sales stay refused."""
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9), latest=NOW + timedelta(hours=3)))
    host = d.now + timedelta(hours=4)
    out = sign_on(d, host_date=f"{host:%m%d}", host_time=f"{host:%H%M%S}")
    assert [a for a in out if isinstance(a, A.SetClock)] and "clock.journal_ahead" not in alerts(out)
    assert alerts(d.keys("1")) == ["clock.behind"]  # the clock was not set: still three hours behind the journal
    d.now = host  # the runner set it
    d.keys("1")
    assert d.state is State.AMOUNT


def zoned(host: str, local: str) -> CoreSettings:
    return replace(SETTINGS, host_zone=ZoneInfo(host), local_zone=ZoneInfo(local))


@pytest.mark.parametrize("when, host, local, expected", [
    (datetime(2026, 11, 22, 18, 15), "Asia/Shanghai", "UTC", datetime(2026, 11, 22, 10, 15)),
    (datetime(2026, 1, 1, 2, 0), "Asia/Shanghai", "Europe/London", datetime(2025, 12, 31, 18, 0)),  # back a year
    (datetime(2026, 7, 1, 18, 0), "Asia/Shanghai", "Europe/London", datetime(2026, 7, 1, 11, 0)),  # London's summer
    (datetime(2026, 7, 1, 12, 0), "Europe/Berlin", "America/New_York", datetime(2026, 7, 1, 6, 0)),
    (datetime(2026, 7, 1, 12, 0), "Asia/Shanghai", "Asia/Shanghai", datetime(2026, 7, 1, 12, 0)),
])
def test_a_host_time_in_another_zone_is_read_as_the_terminal_s_civil_time(when, host, local, expected):
    assert host_offset(when, expected, ZoneInfo(host), ZoneInfo(local)) == (expected, timedelta(0))
    assert host_offset(when, when, None, ZoneInfo(local)) == (when, timedelta(0))  # unset: the host keeps ours


def test_a_host_keeping_another_zone_sets_the_clock_only_by_what_truly_differs():
    """A host in Beijing, a terminal in London in summer: the host's civil time is seven hours ahead of ours and
    that is no error; an hour more is."""
    d = Driver(zoned("Asia/Shanghai", "Europe/London"), boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9)))
    d.now = datetime(2026, 7, 1, 23, 30)  # the host's 06:30 on 2 July
    beijing = d.now + timedelta(hours=7)
    assert not [a for a in sign_on(d, host_date=f"{beijing:%m%d}", host_time=f"{beijing:%H%M%S}")
                if isinstance(a, A.SetClock) or isinstance(a, A.Alert) and a.code.startswith("clock.")]
    ahead = beijing + timedelta(hours=1)
    (set_clock,) = [a for a in sign_on(d, host_date=f"{ahead:%m%d}", host_time=f"{ahead:%H%M%S}")
                    if isinstance(a, A.SetClock)]
    assert set_clock.offset == timedelta(hours=1)  # what truly differs, across the host's date line


def test_a_clock_back_at_1970_takes_the_first_year_not_before_the_floor():
    """A new terminal (floor 1 January 2026) signing on on 22 November 2026 with its clock at 1970: the year
    nearest the floor is 2025, which would date its sales a year early and, after a restart, refuse them all
    (AU6). Time has not run back from the floor: the first year not before it."""
    d = Driver(boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9), latest=None))
    d.now = datetime(1970, 1, 1, 0, 0, 30)
    out = sign_on(d, host_date="1122", host_time="101500")
    assert [a.offset for a in out if isinstance(a, A.SetClock)] == [datetime(2026, 11, 22, 10, 15) - d.now]


# -- summer time: civil times are compared as the instants they name ------------------------------------------

def clock_actions(out) -> list:
    return [a for a in out if isinstance(a, A.SetClock) or isinstance(a, A.Alert) and a.code.startswith("clock.")]


@pytest.mark.parametrize("now", [datetime(2026, 10, 25, 0, 30), datetime(2026, 10, 25, 1, 30)])
def test_a_right_clock_is_left_alone_in_the_hour_the_host_s_summer_time_repeats(now):
    """London's clocks go from 02:00 BST back to 01:00 GMT on 25 October 2026: the host's 01:30 is 00:30 UTC on
    the first pass and 01:30 UTC on the second. A terminal in UTC whose clock is right must not be set an hour
    back on the second pass: of the two readings, the one nearest its clock is the host's."""
    d = Driver(zoned("Europe/London", "UTC"), boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9)))
    d.now = now
    assert clock_actions(sign_on(d, host_date="1025", host_time="013000")) == []
    d.now = now - timedelta(minutes=10)  # ten minutes slow: moved ten minutes on, not fifty back
    (set_clock,) = [a for a in sign_on(d, host_date="1025", host_time="013000") if isinstance(a, A.SetClock)]
    assert set_clock.offset == timedelta(minutes=10)


def test_of_the_host_s_two_readings_of_a_repeated_hour_the_one_nearest_the_terminal_s_time_is_taken():
    london, utc, when = ZoneInfo("Europe/London"), ZoneInfo("UTC"), datetime(2026, 10, 25, 1, 30)
    assert host_offset(when, datetime(2026, 10, 25, 0, 40), london, utc) == (datetime(2026, 10, 25, 0, 30),
                                                                            timedelta(minutes=-10))
    assert host_offset(when, datetime(2026, 10, 25, 1, 20), london, utc) == (datetime(2026, 10, 25, 1, 30),
                                                                            timedelta(minutes=10))


LONDON = replace(SETTINGS, local_zone=ZoneInfo("Europe/London"))  # no host.time_zone: the host keeps ours


@pytest.mark.parametrize("now, host, offset", [
    # a right clock across the change is left alone: 00:59:30 GMT and 02:00:10 BST are 40 s apart ...
    (datetime(2026, 3, 29, 0, 59, 30), "020010", None),
    # ... and 01:59:50 BST and the 01:00:10 that follows it (GMT) are 20 s apart
    (datetime(2026, 10, 25, 1, 59, 50), "010010", None),
    # twenty minutes slow across the change: moved twenty minutes on, not eighty, nor forty back
    (datetime(2026, 3, 29, 0, 50), "021000", timedelta(minutes=20)),
    (datetime(2026, 10, 25, 1, 50), "011000", timedelta(minutes=20)),
    # the terminal's clock on the second pass of its repeated hour (datetime.now() marks it fold=1, 01:10 GMT)
    (datetime(2026, 10, 25, 1, 10, fold=1), "015000", timedelta(minutes=-20)),  # 01:50 BST, just before it
    (datetime(2026, 10, 25, 1, 10, fold=1), "005000", timedelta(minutes=-80)),  # 00:50 BST: 80 minutes before it
    (datetime(2026, 10, 25, 1, 10, fold=0), "015000", timedelta(minutes=40)),  # its first pass: 01:50 BST
    # summer time on neither side of the difference: as civil times say
    (datetime(2026, 7, 1, 12, 0), "140000", timedelta(hours=2)),
])
def test_the_clock_is_moved_by_the_real_difference_across_the_terminal_s_summer_time_changes(now, host, offset):
    """The host keeps the terminal's civil time (host.time_zone unset), which the runner names all the same
    (CoreSettings.local_zone, libc's): the two times are compared as instants, so the difference SetClock
    carries is the real one, and the runner moves the clock by it without reading a civil time again."""
    d = Driver(LONDON, boot=BootState(counters=Counters(stan=9, batch=1, txn_no=9)))
    d.feed(SignOnRequested())
    job = d.last(A.SendNetwork).job
    answer = reply(mti="0810", stan=job.stan, amount=None, mac_ok=None, host_date=f"{now:%m%d}", host_time=host)
    out = d.t.handle(HostAnswered(answer), now)  # as the runner does: its clock's now, fold and all
    assert [a.offset for a in out if isinstance(a, A.SetClock)] == ([] if offset is None else [offset])


def test_a_core_given_no_zone_compares_civil_times():
    """The edge of a core given no zone (CoreSettings.local_zone None; the app always gives libc's): the
    difference of civil times, which is the real one except across a change of summer time."""
    host, now = datetime(2026, 3, 29, 2, 0, 10), datetime(2026, 3, 29, 0, 59, 30)
    assert host_offset(host, now, None, None) == (host, timedelta(hours=1, seconds=40))
    assert host_offset(host, now, None, ZoneInfo("Europe/London")) == (host, timedelta(seconds=40))
    summer = datetime(2026, 7, 1, 12, 0)
    assert host_offset(summer, summer, None, None) == host_offset(summer, summer, None, ZoneInfo("Europe/London"))


@pytest.mark.parametrize("earlier, later, real", [
    # the end of summer time: 02:30 BST on 22 October to 01:45 GMT (second pass) on 25 October is 72 h 15 min
    (datetime(2026, 10, 22, 2, 30), datetime(2026, 10, 25, 1, 45, fold=1), timedelta(hours=72, minutes=15)),
    (datetime(2026, 10, 22, 2, 30), datetime(2026, 10, 25, 1, 45), timedelta(hours=71, minutes=15)),  # first pass
    # its start: 00:30 GMT on 29 March to 03:30 BST is two real hours, not three
    (datetime(2026, 3, 29, 0, 30), datetime(2026, 3, 29, 3, 30), timedelta(hours=2)),
])
def test_elapsed_counts_real_time_across_a_change_of_summer_time(earlier, later, real):
    assert elapsed(earlier, later, ZoneInfo("Europe/London")) == real
    assert elapsed(earlier, later, None) == later - earlier  # a core given no zone: civil times, as before
