"""The system clock: the zone its local time is kept in, and setting it to the host's time
(``terminal.clock_from_host``; see ``firmware.core.clock``).

A separate, tiny module because it is the one place posterm changes something
outside its data directory, and the one step that needs a capability
(CAP_SYS_TIME, granted by ``deploy/posterm.service``) rather than a file mode.
Without it the kernel says EPERM, which is reported as such, never ignored.

The zone is libc's, asked afresh for each date (``LocalZone``), not a zone
database entry picked by name: the core's ``now`` is ``datetime.now()``, which
is libc's local time, so the zone it is compared in must be libc's too, for
every form ``TZ`` takes (a name, ``:name``, a POSIX rule such as
``CET-1CEST,M3.5.0,M10.5.0/3``, empty) and all year round. It needs no
``zoneinfo`` import either.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, tzinfo

from firmware.errors import DeviceError

__all__ = ["LocalZone", "set_system_clock", "system_zone"]

_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)


class LocalZone(tzinfo):
    """Local time as libc keeps it (``TZ``, else ``/etc/localtime``, else UTC), with its summer time: the
    ``LocalTimezone`` of Python's datetime documentation, asking ``mktime``/``localtime`` for each date, made
    exact by PEP 495's ``fold`` (CPython's naive ``timestamp()`` honours it and ``fromtimestamp()`` sets it).
    So a civil time in the hour the end of summer time repeats reads as its first pass with fold 0 and its
    second with fold 1, as ``zoneinfo`` reads it. A date libc cannot hold (past 2038 with a 32-bit
    ``time_t``) takes the offset now rather than failing a sign-on: a time that far out is wrong by years,
    and an hour either way changes nothing of what is done about it."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        civil = dt.replace(tzinfo=None, microsecond=0)
        try:
            return civil - (_EPOCH + civil.timestamp() * _SECOND)  # naive timestamp(): libc's mktime, with fold
        except (OverflowError, OSError, ValueError):
            return timedelta(seconds=time.localtime().tm_gmtoff)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None  # libc says whether summer time is in force, not by how much: unknown, as tzinfo allows

    def tzname(self, dt: datetime | None) -> str | None:
        if dt is None:
            return None
        try:
            return time.localtime(dt.replace(tzinfo=None).timestamp()).tm_zone
        except (OverflowError, OSError, ValueError):
            return None

    def fromutc(self, dt: datetime) -> datetime:
        if not isinstance(dt, datetime) or dt.tzinfo is not self:
            raise ValueError("fromutc: dt.tzinfo is not self")
        utc = dt.replace(tzinfo=None)
        try:  # fromtimestamp() sets fold=1 on the second pass of a repeated hour
            civil = datetime.fromtimestamp((utc - _EPOCH) // _SECOND)
        except (OverflowError, OSError, ValueError):
            civil = utc + timedelta(seconds=time.localtime().tm_gmtoff)
        return civil.replace(microsecond=dt.microsecond, tzinfo=self)

    def __repr__(self) -> str:
        return f"LocalZone({'/'.join(time.tzname)})"


_LOCAL = LocalZone()


def system_zone() -> tzinfo:
    """The zone the system clock's local time is kept in, as libc reads it, whatever form ``TZ`` takes (one
    object: aware datetimes in it compare by their civil fields, so convert to UTC before subtracting).
    A change of ``TZ`` in this process takes effect at ``time.tzset()``, as for ``datetime.now()``."""
    return _LOCAL


def set_system_clock(offset: timedelta) -> None:
    """Move CLOCK_REALTIME by ``offset`` (``SetClock``: the host's time less ours, as instants). The clock is
    read and set here, in epoch seconds (UTC), an instant, never a civil time, which in the hour the end of
    summer time repeats would name two; the runner reads no clock of its own for it, so a runner given another
    clock (a test's, the scenario runner's) hands the move to whatever it was given to set."""
    try:
        time.clock_settime(time.CLOCK_REALTIME, time.time() + offset.total_seconds())
    except PermissionError:
        raise DeviceError("cannot set the clock: posterm lacks CAP_SYS_TIME (see deploy/posterm.service)",
                          code="clock.not_permitted") from None
    except OSError as e:
        raise DeviceError(f"cannot set the clock: {e.strerror}", code="clock.not_set") from None
