"""Opening and closing a serial port, once for every pyserial driver.

The readers, printers, modems, customer displays and PIN pads on RS-232 all
open their port the same way: exclusively (a second process on the same port
would steal bytes), non-blocking unless the driver says otherwise, and a port
that cannot be opened is the driver's own error with a code the operator can
look up, naming the port and never the cause's raw text. pyserial is imported
only when a port is opened.

A USB-serial device that is unplugged and plugged back comes back at the same
path (udev's symlink), but the descriptor the driver holds is dead for ever.
So ``open_serial`` hands out a ``SerialLine``: the first read or write that
fails with EOF/EIO closes the port, and the next use after ``reopen`` seconds
opens the same path again with the same settings and runs the driver's own
set-up (``on_reopen``) before going on. Until then every use fails at once
with ``PortGone`` (an ``OSError``, which each driver already turns into its
own code), so a device that stays away costs one ``open()`` a ``reopen``
period, never a busy loop. A write that times out (a printer holding the line)
is a slow device, not a gone one: it does not close the port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from firmware.errors import DeviceError
from hal.url import Option

__all__ = ["open_serial", "close_quietly", "SerialLine", "PortGone", "REOPEN_EVERY", "reopen_option"]

log = logging.getLogger(__name__)

REOPEN_EVERY = 1.0  # seconds between attempts to open again a port whose device went away


def reopen_option() -> dict[str, Option]:
    """The URL option of the drivers that declare it (``reopen=0.2`` in tests)."""
    return {"reopen": Option(float, REOPEN_EVERY, "seconds between attempts to reopen a port whose device went away")}


class PortGone(OSError):
    """The port failed (unplugged) and has not been opened again yet."""


def open_serial(
    path: str,
    baud: int,
    *,
    error: type[DeviceError],
    what: str,
    code: str,
    reopen: float | None = REOPEN_EVERY,
    on_reopen: Callable[[], None] | None = None,
    **settings: Any,
) -> Any:
    """The port on ``path``; ``settings`` are pyserial's (``timeout`` defaults to 0: never block).

    A ``SerialLine`` that reopens itself every ``reopen`` seconds after its device went away (then calls
    ``on_reopen``), or with ``reopen=None`` the bare ``serial.Serial`` (a driver that reopens on its own terms,
    the modem at its next dial). Raises ``error(..., code=code)`` naming ``what`` ("card reader", "modem", ...)
    and the port.
    """
    import serial  # pyserial

    try:
        port = serial.Serial(port=path, baudrate=baud, exclusive=True, **{"timeout": 0, **settings})
    except (OSError, ValueError) as e:  # SerialException is an OSError; a bad setting is a ValueError
        # why, for the engineer: missing, no permission, or held by another process (pyserial's exclusive lock)
        why = getattr(e, "strerror", None) or ("a bad port setting" if isinstance(e, ValueError) else "")
        raise error(f"could not open the {what} port {path}" + (f" ({why})" if why else ""), code=code) from None
    return port if reopen is None else SerialLine(port, reopen=reopen, on_reopen=on_reopen)


class SerialLine:
    """A pyserial port that outlives its cable: the part of ``serial.Serial`` the drivers use.

    ``gone`` says whether the port is closed after a failure; ``attempts`` counts the opens tried since,
    ``reopens`` the times it came back.
    """

    def __init__(self, port: Any, *, reopen: float, on_reopen: Callable[[], None] | None = None) -> None:
        self._port = port  # keeps its path and settings while closed, so ``open()`` restores them all
        self._every = reopen
        self._on_reopen = on_reopen
        self._retry_at: float | None = None  # set while gone: the next attempt to open
        self._closed = False
        self.attempts = 0
        self.reopens = 0

    @property
    def path(self) -> str:
        return self._port.port

    @property
    def gone(self) -> bool:
        return self._retry_at is not None

    def __repr__(self) -> str:
        return f"<SerialLine {self.path}{' gone' if self.gone else ''}>"

    # -- the failure and the return ---------------------------------------------------
    def _lose(self) -> None:
        if self._retry_at is None:
            log.info("serial port %s failed; it is opened again when it comes back", self.path)
        self._retry_at = time.monotonic() + self._every
        close_quietly(self._port)

    def _live(self) -> Any:
        """The open pyserial port, opened again first if it is gone and an attempt is due."""
        if self._retry_at is None:
            return self._port
        now = time.monotonic()
        if self._closed or now < self._retry_at:
            raise PortGone(f"the serial port {self.path} is gone")
        import termios

        self.attempts += 1
        try:
            self._port.open()
        except (OSError, ValueError, termios.error):
            self._retry_at = now + self._every
            raise PortGone(f"the serial port {self.path} is still gone") from None
        self._retry_at = None
        self.reopens += 1
        log.info("serial port %s is back", self.path)
        if self._on_reopen is not None:
            timeouts = self._port.timeout, self._port.write_timeout
            try:
                self._on_reopen()  # the device's own set-up, through this line
            except BaseException:
                self._lose()
                raise
            self._set("timeout", timeouts[0])  # as the caller set them: the set-up set its own
            self._set("write_timeout", timeouts[1])
        return self._port

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        import termios

        import serial

        port = self._live()
        try:
            return fn(port)
        except serial.SerialTimeoutException:
            raise  # a device that is slow (flow control), not gone
        except (OSError, termios.error):
            self._lose()
            raise

    # -- what the drivers use -------------------------------------------------------------
    def read(self, size: int = 1) -> bytes:
        return self._call(lambda p: p.read(size))

    def write(self, data: bytes | bytearray) -> int | None:
        return self._call(lambda p: p.write(data))

    def reset_input_buffer(self) -> None:
        self._call(lambda p: p.reset_input_buffer())

    @property
    def in_waiting(self) -> int:
        return self._call(lambda p: p.in_waiting)

    @property
    def out_waiting(self) -> int:
        return self._call(lambda p: p.out_waiting)

    @property
    def cd(self) -> bool:
        return self._call(lambda p: p.cd)

    @property
    def timeout(self) -> float | None:
        return self._port.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._set("timeout", value)

    @property
    def write_timeout(self) -> float | None:
        return self._port.write_timeout

    @write_timeout.setter
    def write_timeout(self, value: float | None) -> None:
        self._set("write_timeout", value)

    def _set(self, name: str, value: float | None) -> None:
        if self.gone:  # kept for the reopen; a closed pyserial port takes settings without touching a tty
            setattr(self._port, name, value)
        else:  # an open one sets the tty again: that fails when the device is gone
            self._call(lambda p: setattr(p, name, value))

    def fileno(self) -> int | None:
        """The descriptor to ``select()`` on; None while the port is gone."""
        return None if self.gone or self._closed else self._port.fileno()

    def close(self) -> None:
        self._closed = True
        close_quietly(self._port)


def close_quietly(port: Any) -> None:
    """Close ``port`` if there is one; a port that is already gone is not an error while closing."""
    import termios  # a port whose line is gone may fail its last ioctl

    if port is not None:
        try:
            port.close()
        except (OSError, termios.error):
            pass
