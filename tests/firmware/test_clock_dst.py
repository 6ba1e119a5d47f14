"""The clock across changes of summer time: the terminal's zone is libc's for every form ``TZ`` takes and all
year round (firmware.sysclock.system_zone), and the runner moves the clock by the real difference.

Each test that sets ``TZ`` calls ``time.tzset()`` and puts both back afterwards (the ``tz`` fixture). The
system clock is never set: the runner's ``set_clock`` is a recorder, as in test_clock_runner.py.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from firmware.sysclock import system_zone

from .test_clock_runner import sign_on, terminal

UTC = timezone.utc


@pytest.fixture
def tz(monkeypatch):
    """``tz(value)``: this process's ``TZ`` is ``value`` (None: unset), as libc reads it, until the test ends."""

    def set_tz(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("TZ", raising=False)
        else:
            monkeypatch.setenv("TZ", value)
        time.tzset()

    yield set_tz
    monkeypatch.undo()
    time.tzset()


def around_the_changes() -> list[datetime]:
    """Every half hour (UTC) of days holding 2026's changes of summer time in Europe and the United States,
    and of a winter and a summer day."""
    days = [datetime(2026, 1, 15), datetime(2026, 3, 7), datetime(2026, 3, 8), datetime(2026, 3, 28),
            datetime(2026, 3, 29), datetime(2026, 7, 15), datetime(2026, 10, 24), datetime(2026, 10, 25),
            datetime(2026, 10, 31), datetime(2026, 11, 1), datetime(2026, 11, 2)]
    return [(day + timedelta(minutes=30 * n)).replace(tzinfo=UTC) for day in days for n in range(48)]


@pytest.mark.parametrize("value, reference", [
    ("Europe/London", "Europe/London"),
    (":Europe/Paris", "Europe/Paris"),
    ("CET-1CEST,M3.5.0,M10.5.0/3", "Europe/Berlin"),  # POSIX rules: what start-up froze before
    ("GMT0BST,M3.5.0/1,M10.5.0", "Europe/London"),
    ("EST5EDT,M3.2.0,M11.1.0", "America/New_York"),
    ("Asia/Tokyo", "Asia/Tokyo"),
    ("", "UTC"),  # set but empty: UTC, as libc has it
])
def test_the_system_zone_follows_libc_all_year_whatever_form_tz_takes(tz, value, reference):
    """Both ways, across both changes: an instant reads as the civil time (and pass of a repeated hour) the zone
    database gives, and each civil time, either pass, names the instant it gives."""
    tz(value)
    zone, ref = system_zone(), ZoneInfo(reference)
    for instant in around_the_changes():
        civil, expected = instant.astimezone(zone), instant.astimezone(ref)
        assert (civil.replace(tzinfo=None), civil.fold) == (expected.replace(tzinfo=None), expected.fold), instant
        for fold in (0, 1):
            when = expected.replace(tzinfo=None, fold=fold)
            assert when.replace(tzinfo=zone).astimezone(UTC) == when.replace(tzinfo=ref).astimezone(UTC), when
    assert datetime(2026, 1, 15, 12, tzinfo=zone).utcoffset() == datetime(2026, 1, 15, 12, tzinfo=ref).utcoffset()
    assert datetime(2026, 7, 15, 12, tzinfo=zone).utcoffset() == datetime(2026, 7, 15, 12, tzinfo=ref).utcoffset()


@pytest.mark.parametrize("value", [None, "Europe/London", "CET-1CEST,M3.5.0,M10.5.0/3"])
def test_the_system_zone_is_what_datetime_now_and_a_naive_timestamp_read(tz, value):
    """By construction, and with ``TZ`` unset too (``/etc/localtime``): the core's ``now`` is ``datetime.now()``,
    and a civil time in the system zone names the instant a naive ``timestamp()`` says."""
    tz(value)
    zone = system_zone()
    assert abs(datetime.now().replace(tzinfo=zone).timestamp() - time.time()) < 5
    for instant in around_the_changes()[::7]:
        for fold in (0, 1):
            civil = instant.astimezone(zone).replace(tzinfo=None, fold=fold)
            assert civil.replace(tzinfo=zone).timestamp() == civil.timestamp(), civil


@pytest.mark.parametrize("terminal_time, host_time", [
    (datetime(2026, 1, 15, 12, 0), datetime(2026, 1, 15, 19, 0)),  # CET: Beijing seven hours ahead
    (datetime(2026, 7, 15, 12, 0), datetime(2026, 7, 15, 18, 0)),  # CEST: six
])
def test_a_host_in_another_zone_is_on_time_all_year_under_a_posix_tz(tmp_path, tz, terminal_time, host_time):
    """A terminal whose TZ is a POSIX rule, a host in Beijing (host.time_zone): its time is right in winter and
    in summer alike, whenever the terminal started."""
    tz("CET-1CEST,M3.5.0,M10.5.0/3")
    runner = terminal(tmp_path, from_host=False, host_clock=lambda: host_time, host_zone="Asia/Shanghai")
    runner.clock = lambda: terminal_time
    try:
        alerts = sign_on(runner)
    finally:
        runner.close()
    assert [c for c, _ in alerts] == ["signon.ok"], alerts


def test_a_clock_in_its_own_repeated_hour_is_moved_by_the_real_difference(tmp_path, tz):
    """London, 25 October 2026, host.time_zone unset (the host keeps London's time too). The terminal's clock
    reads 01:10 on the second pass of the repeated hour (GMT, fold 1 as datetime.now() gives it); the host
    says 01:50, which is BST, twenty minutes before. The clock goes back twenty minutes: not forty on (the
    civil difference), nor to 01:50 read as a naive time (00:50 UTC: an hour out)."""
    tz("Europe/London")
    told: list[timedelta] = []
    runner = terminal(tmp_path, from_host=True, set_clock=told.append,
                      host_clock=lambda: datetime(2026, 10, 25, 1, 50))
    assert runner.core.settings.local_zone is system_zone()  # wired with no host.time_zone too
    runner.clock = lambda: datetime(2026, 10, 25, 1, 10, fold=1)
    try:
        alerts = sign_on(runner)
    finally:
        runner.close()
    assert alerts == [("signon.ok", "signed on: working keys installed"),
                      ("clock.set", "clock set to the host's time (-1200 s)")], alerts
    assert told == [timedelta(seconds=-1200)]  # the clock is moved by the real difference (sysclock reads and sets it)
