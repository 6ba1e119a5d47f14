"""``serial:///dev/ttyUSB1?baud=9600&rows=2&cols=20``: an ESC/POS customer display on a serial line.

A pole display (Epson DM-D and compatibles, usually 2 x 20 VFD) speaks the
command set in ``hal.display.dmd``. Opening initialises it (``ESC @``),
selects the character table for ``codec``, overwrite mode, cursor off, the
``brightness`` if one is given, and clears it. Closing clears it (best
effort) so no amount stays up on a terminal that is not running, unless the
screen is a final one (``Display.show_final``: OUT OF SERVICE).

Only the rows that changed since the last screen are written, each as an
absolute cursor position (``US $``) and the row's text: at 9600 baud a byte
takes about 1 ms, so a row of 20 takes about 25 ms and a whole 2 x 20 screen
about 50 ms; rewriting only the amount line halves that and does not flicker
the line that stays.

Characters the display's table cannot show become ``?`` (``codec=ascii``,
the default, shows ASCII only and works on every display; ``cp437``,
``cp858``, ``cp1252`` ... select the table of that name with ``ESC t``). The
port has already cut the lines and replaced control characters, so nothing
but display commands and printable bytes is ever sent.

A write the display does not take within ``write_timeout`` (plus the line
time of the bytes) or that fails (the display unplugged) is
``display.write_failed``; the port keeps the last screen shown successfully.
What the display shows after a failure is unknown, so the next screen starts
with the whole initialisation again (its final ``CLR`` also wipes whatever a
half-received command left) and writes every row. pyserial is imported when
the port is opened, and the port is opened exclusively.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

from firmware.errors import ConfigError, DisplayError
from hal.base import DeviceContext
from hal.display import Display, Screen, fit_screen
from hal.display.dmd import (
    CHARACTER_TABLES,
    MAX_COLS,
    MAX_ROWS,
    Op,
    encode,
    encode_text,
)
from hal.serialport import close_quietly, open_serial, reopen_option
from hal.url import DeviceUrl, Option

__all__ = ["SerialDisplay"]

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
CLOSE_TIMEOUT = 0.5  # seconds the goodbye ``CLR`` may take; closing never waits longer


class SerialDisplay(Display):
    scheme: ClassVar[str] = "serial"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        **Display.OPTIONS,
        "rows": Option(int, 2, f"text lines on the display (1-{MAX_ROWS})"),
        "cols": Option(int, 20, f"characters per line (1-{MAX_COLS})"),
        "baud": Option(int, 9600, "line speed the display is set to", choices=BAUD_RATES),
        "brightness": Option(int, None, "1-4 (20, 40, 60, 100 %); unset keeps the display's own", choices=(1, 2, 3, 4)),
        "codec": Option(str, "ascii", "the display's character table", choices=tuple(CHARACTER_TABLES)),
        # its character tables are single-byte code pages: a Chinese character would show as "?"
        "cjk": Option(bool, False, "false: a DM-D display shows no Chinese characters", choices=(False,)),
        "write_timeout": Option(float, 1.0, "seconds a screen may take beyond its line time"),
        **reopen_option(),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        if not self.url.path or self.url.host:
            raise ConfigError(
                f"serial display URL {self.url.shown!r} must name a device: serial:///dev/ttyUSB1", code="config.bad_url"
            )
        for name, most in (("rows", MAX_ROWS), ("cols", MAX_COLS)):
            if self.options[name] > most:
                raise ConfigError(
                    f"option {name!r} in {self.url.shown!r} expects at most {most} for a customer display, "
                    f"got {self.options[name]}",
                    code="config.bad_option",
                )
        if not self.options["write_timeout"] > 0:
            raise ConfigError(
                f"option 'write_timeout' in {self.url.shown!r} expects a number of seconds above 0",
                code="config.bad_option",
            )
        self._port: Any = None
        self._drawn: Screen | None = None  # what the display shows; None: unknown, initialise first

    @property
    def device_path(self) -> str:
        return self.url.path

    # -- lifecycle ---------------------------------------------------------------------
    def _do_open(self) -> None:
        self._port = open_serial(
            self.device_path,
            self.options["baud"],
            write_timeout=self.options["write_timeout"],
            error=DisplayError,
            what="customer display",
            code="display.open_failed",
            reopen=self.options["reopen"],  # unplugged and plugged back: the next screen opens it again
        )
        try:
            self._write(self._setup())
        except DisplayError:
            self._release()
            raise
        self._drawn = fit_screen((), self.rows, self.cols)

    def _do_close(self) -> None:
        if self._port is None:
            return
        if not self.final:  # a final screen (show_final: OUT OF SERVICE) stays up
            with contextlib.suppress(DisplayError):
                self._write(encode(Op.CLEAR), timeout=CLOSE_TIMEOUT)  # best effort: the display may be gone
        self._release()

    def _release(self) -> None:
        port, self._port, self._drawn = self._port, None, None
        close_quietly(port)

    # -- the screen ----------------------------------------------------------------------
    def _setup(self) -> bytes:
        table = CHARACTER_TABLES[self.options["codec"]]
        brightness = self.options["brightness"]
        return b"".join((
            encode(Op.INITIALISE),
            encode(Op.SELECT_TABLE, table) if table is not None else b"",
            encode(Op.OVERWRITE),
            encode(Op.CURSOR, 0),
            encode(Op.BRIGHTNESS, brightness) if brightness is not None else b"",
            encode(Op.CLEAR),
        ))

    def _show(self, lines: Screen) -> None:
        drawn, codec = self._drawn, self.options["codec"]
        changed = [i for i, line in enumerate(lines) if drawn is None or drawn[i] != line]
        if not changed:
            return
        data = b"".join(encode(Op.MOVE, 1, i + 1) + encode_text(lines[i], codec) for i in changed)
        self._drawn = None  # unknown until the write succeeds
        self._write(data if drawn is not None else self._setup() + data)
        self._drawn = lines

    def _write(self, data: bytes, timeout: float | None = None) -> None:
        import termios

        import serial

        limit = (self.options["write_timeout"] if timeout is None else timeout) + len(data) * 10 / self.options["baud"]
        port = self._port
        try:
            if port.write_timeout != limit:
                port.write_timeout = limit  # pyserial sets the tty again: termios.error if it is gone
            port.write(data)
        except serial.SerialTimeoutException:
            raise DisplayError(
                f"the customer display on {self.device_path} took nothing for {limit:.2g} s", code="display.write_failed"
            ) from None
        except (OSError, termios.error):  # SerialException is an OSError
            raise DisplayError(
                f"cannot write to the customer display on {self.device_path} (unplugged?)", code="display.write_failed"
            ) from None
