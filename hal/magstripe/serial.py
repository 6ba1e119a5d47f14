"""``serial:///dev/ttyUSB0?baud=9600``: a magstripe reader that sends ASCII tracks on a serial line.

Readers of this kind (RS-232 and USB-serial models from MagTek, ID TECH,
Uniform, and most OEM heads) decode the stripe themselves and send each swipe
as text: ``%B...?;...?;...?`` then a terminator. What varies between models is
data here, chosen by URL options:

``terminator``  ``cr`` (default), ``lf``, ``crlf``, ``etx`` or ``none``
``prefix``      ``none`` (default) or ``stx``: bytes outside STX ... terminator
                are dropped (a block check after ETX)
``track1`` ``track2`` ``track3`` ``end``
                the sentinels, by name (``percent``, ``semicolon``, ``plus`` ...;
                see ``hal.magstripe.raw.SENTINEL_NAMES``)
``timeout``     seconds of silence that end a swipe with no terminator: a
                partial swipe, which the port then reports (``card.end_sentinel``)
``format``      ``ascii`` (default) or ``magtek`` for an encrypting MagneSafe
                reader (``hal.magstripe.sred``)
``baud``        the line speed the reader is set to

pyserial is imported when the port is opened. The port is opened
exclusively, non-blocking; ``fileno()`` lets the runner ``select()`` on it and
``next_deadline()`` tells it when a partial swipe times out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from firmware.errors import ConfigError, ReaderError
from hal.base import DeviceContext
from hal.magstripe import MagstripeReader
from hal.magstripe.assembler import PREFIXES, TERMINATORS, SwipeAssembler
from hal.magstripe.raw import (
    OutputFormat,
    Sentinels,
    sentinel_options,
    sentinels_from_options,
)
from hal.serialport import close_quietly, open_serial, reopen_option
from hal.url import DeviceUrl, Option

__all__ = ["SerialReader", "TextReader", "BAUD_RATES"]

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def text_reader_options() -> dict[str, Option]:
    """The options every text reader (serial, keyboard wedge) shares."""
    return {
        "timeout": Option(float, 0.5, "seconds of silence that end a swipe without a terminator (a partial swipe)"),
        "format": Option(str, "ascii", "what the reader sends", choices=tuple(f.value for f in OutputFormat)),
        **sentinel_options(),
    }


def checked_timeout(options: Mapping[str, Any], url: DeviceUrl) -> float:
    timeout = options["timeout"]
    if not 0 < timeout <= 10:
        raise ConfigError(f"option 'timeout' in {url.shown!r} expects seconds above 0 and at most 10", code="config.bad_option")
    return timeout


class TextReader(MagstripeReader):
    """What the readers that type or send tracks as text share: a device path, their
    sentinels, their output format and the silence that ends a partial swipe
    (``text_reader_options``). ``URL_EXAMPLE`` is shown when the URL names no device."""

    URL_EXAMPLE: ClassVar[str] = ""

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        if not self.url.path or self.url.host:
            raise ConfigError(
                f"card reader URL {self.url.shown!r} must name a device, e.g. {self.URL_EXAMPLE}", code="config.bad_url"
            )
        self._sentinels = sentinels_from_options(self.options, self.url.shown)
        self._format = OutputFormat(self.options["format"])
        self.gap = checked_timeout(self.options, self.url)

    @property
    def sentinels(self) -> Sentinels:
        return self._sentinels

    @property
    def output_format(self) -> OutputFormat:
        return self._format

    @property
    def device_path(self) -> str:
        return self.url.path


class SerialReader(TextReader):
    scheme: ClassVar[str] = "serial"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "baud": Option(int, 9600, "line speed the reader is set to", choices=BAUD_RATES),
        "terminator": Option(str, "cr", "what ends each swipe", choices=tuple(TERMINATORS)),
        "prefix": Option(str, "none", "what opens each swipe", choices=tuple(PREFIXES)),
        **text_reader_options(),
        **reopen_option(),
    }

    URL_EXAMPLE = "serial:///dev/ttyUSB0"

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        self._assembler = SwipeAssembler(
            terminator=TERMINATORS[self.options["terminator"]], prefix=PREFIXES[self.options["prefix"]], gap=self.gap
        )
        self._port: Any = None

    def _do_open(self) -> None:
        self._port = open_serial(
            self.device_path,
            self.options["baud"],
            error=ReaderError,
            what="card reader",
            code="reader.open_failed",
            reopen=self.options["reopen"],  # unplugged and plugged back: a later poll opens it again
        )

    def _do_close(self) -> None:
        self._assembler.clear()
        port, self._port = self._port, None
        close_quietly(port)

    def fileno(self) -> int | None:
        return self._port.fileno() if self._port is not None else None

    def next_deadline(self) -> float | None:
        return self._assembler.deadline()

    def _read_raw(self) -> list[bytearray]:
        import termios

        try:
            data = self._port.read(self._port.in_waiting or 1)  # timeout 0: never blocks; a gone device raises
        except (OSError, termios.error):  # the port closes itself and reopens at a later poll (``SerialLine``)
            self._assembler.clear()  # half a swipe from a reader that went away is no swipe, and no deadline
            raise ReaderError(f"the card reader on {self.device_path} stopped working", code="reader.io_failed") from None
        return self._assembler.feed(data, time.monotonic())
