"""Setting the system clock to the host's time (``terminal.clock_from_host``; see ``firmware.core.clock``).

A separate, tiny module because it is the one place posterm changes something
outside its data directory, and the one step that needs a capability
(CAP_SYS_TIME, granted by ``deploy/posterm.service``) rather than a file mode.
Without it the kernel says EPERM, which is reported as such, never ignored.
"""

from __future__ import annotations

import time
from datetime import datetime

from firmware.errors import DeviceError

__all__ = ["set_system_clock"]


def set_system_clock(when: datetime) -> None:
    """Set CLOCK_REALTIME to ``when`` (naive: local time, as the host's fields 12/13 are)."""
    try:
        time.clock_settime(time.CLOCK_REALTIME, when.timestamp())
    except PermissionError:
        raise DeviceError("cannot set the clock: posterm lacks CAP_SYS_TIME (see deploy/posterm.service)",
                          code="clock.not_permitted") from None
    except OSError as e:
        raise DeviceError(f"cannot set the clock: {e.strerror}", code="clock.not_set") from None
