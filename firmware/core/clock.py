"""The terminal's wall clock: refuse to date a transaction by a clock that went back; take the host's time.

Why the core cares: a transaction's date and time go into its request (fields 12
and 13), its journal row, its receipt and the host's duplicate check (terminal,
STAN and date). A Raspberry Pi has no battery-backed clock: after a power cut it
starts from the time ``fake-hwclock`` saved last (up to an hour behind) or from
1970, and a terminal on a dial-up line has no NTP to put it right. Two rules:

* **Never date a transaction well before one already made.** The newest time
  the journal holds (``BootState.latest``; never before ``CLOCK_EPOCH``), then
  each transaction's own start, is a floor; a transaction started more than
  ``CLOCK_SLACK`` (two hours) before it is refused (``clock.behind``) before
  anything is recorded. The slack lets through what a right clock does
  (fake-hwclock's hourly save after a power cut, the end of summer time).
* **The host's time at sign-on.** Every 0810 carries the host's date and time
  (fields 13 and 12, MMDD and hhmmss, the year implied). When it differs from
  the terminal's by more than ``CLOCK_TOLERANCE`` the core asks the runner to
  set the clock (``SetClock``); the runner does so only if configured to
  (``terminal.clock_from_host``: it needs CAP_SYS_TIME), else it raises an
  alert that says by how much they differ. A clock refused as behind is thus
  mended by a sign-on (menu F 2) where no NTP reaches. The host's time also
  caps the floor: a journal dated after it was dated by a clock that ran ahead
  (``clock.journal_ahead``), and must not lock the terminal out once the clock
  is right again.

UnionPay's fields 12/13 are the host's local time. An acquirer and its
terminals mostly keep the same civil time; where they do not
(``host.time_zone``), the host's time is converted to the terminal's zone,
summer time on either side included, before it is compared or set.

Civil times are not instants. The runner gives the core the terminal's zone
(``CoreSettings.local_zone``: libc's, ``firmware.sysclock.system_zone``)
whether or not the host keeps another, so the two times are compared as the
instants they name: a clock right across a change of summer time is left
alone. In the hour the end of summer time repeats a civil time names two
instants: the terminal's ``now`` says which by its ``fold`` (``datetime.now()``
sets it, PEP 495), and of the host's two readings the one nearest the
terminal's instant is taken (a host minutes off is far likelier than one an
hour off). ``SetClock`` then carries the real difference of the two instants,
which the runner adds to the system clock's epoch seconds: no civil time is
read again. A core given no zone (``local_zone`` None) compares civil times,
which is the real difference except across a change of summer time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from firmware.core.actions import Action, Alert, SetClock

if TYPE_CHECKING:
    from firmware.core.settings import CoreSettings

__all__ = ["CLOCK_EPOCH", "CLOCK_SLACK", "CLOCK_TOLERANCE", "ClockMixin", "clock_floor", "elapsed", "host_offset", "host_time"]

# How far back of the floor a transaction may still be dated: fake-hwclock saves the time hourly, so after a
# power cut the clock may read up to an hour before the last transaction, and the end of summer time turns
# it back one more hour. What it must catch is a clock that is plainly wrong: 1970, or years off.
CLOCK_SLACK = timedelta(hours=2)
CLOCK_TOLERANCE = timedelta(seconds=60)  # a host time further off than this sets the clock
CLOCK_EPOCH = datetime(2026, 1, 1)  # no right clock reads earlier than this firmware: the floor of a new journal


def clock_floor(latest: datetime | None) -> datetime:
    """The floor at start-up: the newest journal record's time, and never before ``CLOCK_EPOCH``."""
    return max(latest, CLOCK_EPOCH) if latest is not None else CLOCK_EPOCH


def host_time(date: str | None, time: str | None, now: datetime, *,
              not_before: datetime | None = None) -> datetime | None:
    """The host's MMDD + hhmmss as a datetime, in the year that puts it nearest ``now`` (an answer across
    New Year's night); None when either is missing or not a real date and time.

    ``not_before``: a clock back at 1970 says nothing of the year, so the caller gives the floor instead,
    and the year is the first that does not put the host's time before it: time has not run back from
    the last transaction (the nearest year to a floor of 1 January would be the year before)."""
    if not (date and time and len(date) == 4 and len(time) == 6 and date.isdigit() and time.isdigit()):
        return None
    year0 = (not_before or now).year
    candidates = []
    for year in (year0 - 1, year0, year0 + 1, year0 + 2):
        try:
            candidates.append(datetime(year, int(date[:2]), int(date[2:]), int(time[:2]), int(time[2:4]),
                                       int(time[4:])))
        except ValueError:  # 0230, 2460 ..., or 29 February out of a leap year
            continue
    if not_before is not None:
        return next((when for when in candidates if when >= not_before), None)
    return min(candidates, key=lambda when: abs(when - now), default=None)


def _instant(when: datetime, zone: tzinfo, near: datetime | None = None) -> datetime:
    """``when``, a civil time in ``zone``, as an instant (aware, UTC; compare and subtract only such: aware
    times sharing a tzinfo compare by their civil fields). In the hour the end of summer time repeats it has
    two readings (fold 0, the first pass, and fold 1): the one nearest ``near`` (an instant) is taken;
    without ``near``, ``when``'s own fold says which."""
    if near is None:
        return when.replace(tzinfo=zone).astimezone(timezone.utc)
    readings = [when.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc) for fold in (0, 1)]
    return min(readings, key=lambda reading: abs(reading - near))


def instant(when: datetime, zone: tzinfo | None) -> datetime:
    """``when``, a civil time of the terminal's clock in ``zone``, as what ``elapsed`` subtracts: an instant
    (``_instant``), or with no zone the civil time itself."""
    return when if zone is None else _instant(when, zone)


def elapsed(earlier: datetime, later: datetime, zone: tzinfo | None) -> timedelta:
    """Real time from ``earlier`` to ``later``, two civil times of the terminal's clock in ``zone`` (each one's
    fold says which pass of a repeated hour it is): across a change of summer time the civil difference is an
    hour out. With no zone (a core given none) the civil difference. The limits on an age (offline sales,
    an open batch) are counted with it."""
    return instant(later, zone) - instant(earlier, zone)


def host_offset(host: datetime, now: datetime, host_zone: tzinfo | None,
                local_zone: tzinfo | None) -> tuple[datetime, timedelta]:
    """The host's civil time ``host`` (in ``host_zone``; None: the terminal's own) against the terminal's
    ``now`` (in ``local_zone``): the host's time as the terminal's civil time, and how far the host's
    instant is ahead of the terminal's (what ``SetClock`` moves the clock by). ``now``'s fold says which
    pass of a repeated hour the terminal's clock is in; of the host's two readings in one, the one nearest
    ``now``'s instant is taken. With no ``local_zone`` (a core given none) civil times are compared: the
    host's time unchanged and the difference of the two, an hour out across a change of summer time."""
    if local_zone is None:
        return host, host - now
    terminal = _instant(now, local_zone)
    instant = _instant(host, host_zone or local_zone, near=terminal)
    return instant.astimezone(local_zone).replace(tzinfo=None), instant - terminal


class ClockMixin:
    """Clock rules of ``Terminal`` (``machine.py``); ``clock_floor`` lives on the terminal."""

    clock_floor: datetime | None
    settings: CoreSettings

    def _clock_behind(self, now: datetime) -> Alert | None:
        """The refusal of a transaction dated before the floor; None, and the floor moves up to ``now``, if not."""
        floor = self.clock_floor
        if floor is not None and now < floor - CLOCK_SLACK:
            return Alert("clock.behind", f"the clock reads {now:%Y-%m-%d %H:%M}, before the last transaction "
                         f"({floor:%Y-%m-%d %H:%M}): set the clock, or sign on (F 2) to take the host's time")
        self.clock_floor = now if floor is None else max(floor, now)
        return None

    def _clock_from_host(self, reply, now: datetime) -> list[Action]:
        """A sign-on's answer: the host's time is the reference. When it differs from ours by more than the
        tolerance, move the clock by the difference (``SetClock``). And the floor comes down to it at most: a
        journal dated after the host's time was dated by a clock that ran ahead, and must not lock the terminal
        out for good once the clock is right again (the operator is told)."""
        floor = self.clock_floor
        # the host sends no year: take it from our clock, unless that is plainly unset (1970), then from the floor
        unset = now < CLOCK_EPOCH and floor is not None
        host = host_time(reply.host_date, reply.host_time, now, not_before=floor - CLOCK_SLACK if unset else None)
        if host is None:
            return []
        host, offset = host_offset(host, now, self.settings.host_zone, self.settings.local_zone)
        actions: list[Action] = []
        if floor is not None and host < floor - CLOCK_SLACK:
            actions.append(Alert("clock.journal_ahead", f"the journal holds a transaction dated {floor:%Y-%m-%d %H:%M}"
                                 f", after the host's time ({host:%Y-%m-%d %H:%M}): it was dated by a clock that "
                                 "ran ahead; the host's time is taken"))
        if floor is not None:
            self.clock_floor = min(floor, host)
        if abs(offset) > CLOCK_TOLERANCE:
            actions.append(SetClock(offset))
        return actions
