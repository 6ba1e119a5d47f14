"""Setting the system clock to the host's time (``terminal.clock_from_host``; see ``firmware.core.clock``).

A separate, tiny module because it is the one place posterm changes something
outside its data directory, and the one step that needs a capability
(CAP_SYS_TIME, granted by ``deploy/posterm.service``) rather than a file mode.
Without it the kernel says EPERM, which is reported as such, never ignored.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone, tzinfo

from firmware.errors import DeviceError

__all__ = ["set_system_clock", "system_zone"]


def system_zone() -> tzinfo:
    """The zone the system clock's local time is kept in, as libc reads it: ``TZ``, else ``/etc/localtime``,
    else UTC. A ``TZ`` that is a POSIX rule rather than a zone name gives its offset now."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # lazy: read only when the host keeps another zone

    name = os.environ.get("TZ")
    if name is not None:
        if not name:
            return timezone.utc  # libc: TZ set but empty is UTC
        try:
            return ZoneInfo(name.removeprefix(":"))
        except (ZoneInfoNotFoundError, ValueError):
            return datetime.now().astimezone().tzinfo
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return timezone.utc


def set_system_clock(when: datetime) -> None:
    """Set CLOCK_REALTIME to ``when`` (naive: local time, as the host's fields 12/13 are)."""
    try:
        time.clock_settime(time.CLOCK_REALTIME, when.timestamp())
    except PermissionError:
        raise DeviceError("cannot set the clock: posterm lacks CAP_SYS_TIME (see deploy/posterm.service)",
                          code="clock.not_permitted") from None
    except OSError as e:
        raise DeviceError(f"cannot set the clock: {e.strerror}", code="clock.not_set") from None
