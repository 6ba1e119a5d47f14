"""Opening and closing a serial port, once for every pyserial driver.

The readers, printers, modems, customer displays and PIN pads on RS-232 all
open their port the same way: exclusively (a second process on the same port
would steal bytes), non-blocking unless the driver says otherwise, and a port
that cannot be opened is the driver's own error with a code the operator can
look up, naming the port and never the cause's raw text. pyserial is imported
only when a port is opened.
"""

from __future__ import annotations

from typing import Any

from firmware.errors import DeviceError

__all__ = ["open_serial", "close_quietly"]


def open_serial(path: str, baud: int, *, error: type[DeviceError], what: str, code: str, **settings: Any) -> Any:
    """``serial.Serial`` on ``path``; ``settings`` are pyserial's (``timeout`` defaults to 0: never block).

    Raises ``error(..., code=code)`` naming ``what`` ("card reader", "modem", ...) and the port.
    """
    import serial  # pyserial

    try:
        return serial.Serial(port=path, baudrate=baud, exclusive=True, **{"timeout": 0, **settings})
    except (OSError, ValueError):  # SerialException is an OSError; a bad setting is a ValueError
        raise error(f"could not open the {what} port {path}", code=code) from None


def close_quietly(port: Any) -> None:
    """Close ``port`` if there is one; a port that is already gone is not an error while closing."""
    import termios  # a port whose line is gone may fail its last ioctl

    if port is not None:
        try:
            port.close()
        except (OSError, termios.error):
            pass
