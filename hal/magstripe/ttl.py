"""``gpio://?present=17&strobe2=27&data2=22``: a TTL magstripe reader wired to GPIO pins.

A TTL reader head (MagTek, Panasonic and the many OEM heads with the same
interface) has, per track, a *strobe* (clock) line and a *data* line, and
one *card present* line for the whole head; all are active low with pull-ups:

* card present goes low when a card enters the slot and high when it leaves;
* each strobe falls once per bit, when that track's data line is valid;
* the data line is low for a 1 bit and high for a 0 bit.

On every strobe's falling edge the driver samples the data line and appends
the bit to the track's buffer. When card present rises, the buffers are one
swipe: a ``BitSwipe`` that the port decodes (``hal.magstripe.f2f``: sentinels
found after the leading zeros, either swipe direction, parity and LRC). A
swipe may arrive over several polls; nothing is delivered until the card has
left. A swipe whose strobes stop for ``timeout`` seconds while card present
stays low (or a head with no card-present wire, ``present=-1``) is delivered
as it is, partial or not, and the decoder says what is wrong with it. So is
a track that clocks in more than ``MAX_BITS`` bits (a noisy strobe line, a
card held against a vibrating head): memory stays bounded and the noise is
reported as a bad read, not collected until the card leaves.

Pins are BCM numbers; ``-1`` means not wired. At least one track needs its
strobe and data pins. ``pins`` picks the pin source (``hal.gpio``):
``rpigpio`` on a Pi, ``sim`` for a simulated head (``reader.pins`` is then the
instrument; ``hal.magstripe.devsim.TtlHeadSim`` swipes cards through it). A
test may also hand a ``PinSource`` to the constructor. Edge callbacks may run
in another thread (RPi.GPIO's), so the buffers are guarded by a lock and a
self-pipe makes ``fileno()`` readable when a swipe is complete.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from firmware.errors import ConfigError, DeviceError, ReaderError
from hal.base import DeviceContext
from hal.gpio import PIN_SOURCES, Edge, PinSource, make_pin_source
from hal.magstripe import MagstripeReader
from hal.magstripe.f2f import BitSwipe
from hal.url import DeviceUrl, Option

__all__ = ["GpioReader"]

MAX_BITS = 2048  # a card is 3.37 inches: at 210 bits an inch a whole track is about 710 bits

_TRACK_PINS = ("strobe1", "data1", "strobe2", "data2", "strobe3", "data3")


class GpioReader(MagstripeReader):
    scheme: ClassVar[str] = "gpio"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "pins": Option(str, "rpigpio", "pin source", choices=tuple(PIN_SOURCES)),
        "present": Option(int, 17, "card present pin (BCM), -1 if not wired"),
        "strobe1": Option(int, -1, "track 1 strobe pin"),
        "data1": Option(int, -1, "track 1 data pin"),
        "strobe2": Option(int, 27, "track 2 strobe pin"),
        "data2": Option(int, 22, "track 2 data pin"),
        "strobe3": Option(int, -1, "track 3 strobe pin"),
        "data3": Option(int, -1, "track 3 data pin"),
        "timeout": Option(float, 0.5, "seconds without a strobe that end a swipe"),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None, *, pins: PinSource | None = None) -> None:
        super().__init__(url, context)
        o = self.options
        self._tracks: dict[int, tuple[int, int]] = {}
        for n in (1, 2, 3):
            strobe, data = o[f"strobe{n}"], o[f"data{n}"]
            if (strobe < 0) != (data < 0):
                raise self._bad(f"track {n} needs both its strobe and its data pin, or neither")
            if strobe >= 0:
                self._tracks[n] = (strobe, data)
        if not self._tracks:
            raise self._bad("no track is wired: give strobe2 and data2 (or another track's pins)")
        used = [o[name] for name in ("present", *_TRACK_PINS) if o[name] >= 0]
        if len(used) != len(set(used)) or any(p > 53 for p in used):
            raise self._bad("each pin must be a different BCM number from 0 to 53")
        if not 0 < o["timeout"] <= 10:
            raise self._bad("timeout must be above 0 and at most 10 seconds")
        self._given_pins = pins
        self.pins: PinSource | None = None
        self._lock = threading.Lock()
        self._bits: dict[int, bytearray] | None = None  # the swipe being clocked in
        self._last_edge: float | None = None
        self._done: list[BitSwipe] = []
        self._wake_r = self._wake_w = -1

    def _bad(self, what: str) -> ConfigError:
        return ConfigError(f"gpio reader URL {self.url.shown!r}: {what}", code="config.bad_option")

    # -- lifecycle -------------------------------------------------------------
    def _do_open(self) -> None:
        try:
            pins = self._given_pins or make_pin_source(self.options["pins"])
        except DeviceError as exc:
            raise ReaderError(f"card reader pins unavailable: {exc.text}", code="reader.open_failed") from None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        present = self.options["present"]
        try:
            if present >= 0:
                pins.setup_input(present, pull_up=True)
                pins.watch(present, Edge.BOTH, self._on_present)
            for n, (strobe, data) in self._tracks.items():
                pins.setup_input(data, pull_up=True)
                pins.setup_input(strobe, pull_up=True)
                pins.watch(strobe, Edge.FALLING, lambda _pin, _level, n=n: self._on_strobe(n))
        except DeviceError as exc:
            pins.close()
            self._close_pipe()
            raise ReaderError(f"card reader pins could not be set up: {exc.text}", code="reader.open_failed") from None
        self.pins = pins

    def _do_close(self) -> None:
        pins, self.pins = self.pins, None
        if pins is not None:
            pins.close()
        with self._lock:
            for swipe in self._done:
                swipe.wipe()
            self._done.clear()
            self._discard_capture()
        self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def fileno(self) -> int | None:
        return self._wake_r if self._wake_r >= 0 else None

    def next_deadline(self) -> float | None:
        with self._lock:
            return self._last_edge + self.options["timeout"] if self._bits is not None and self._last_edge else None

    # -- edges (possibly in the pin source's thread) ------------------------------
    def _on_present(self, _pin: int, level: int) -> None:
        with self._lock:
            if level == 0:  # card in: a new swipe
                self._discard_capture()
                self._start_capture()
            elif self._bits is not None:  # card out: the swipe is complete
                self._finish_capture()
        self._wake()

    def _on_strobe(self, track: int) -> None:
        pins = self.pins or self._given_pins
        if pins is None:
            return
        bit = 1 - pins.read(self._tracks[track][1])  # data low is a 1
        with self._lock:
            if self._bits is None:
                if self.options["present"] >= 0 and pins.read(self.options["present"]) == 1:
                    return  # clocking with no card in the slot: noise
                self._start_capture()
            bits = self._bits[track]  # type: ignore[index]
            bits.append(bit)
            self._last_edge = time.monotonic()
            full = len(bits) >= MAX_BITS
            if full:
                self._finish_capture()  # more than a card holds: noise, delivered as a bad read
        if full:
            self._wake()

    def _start_capture(self) -> None:
        self._bits = {n: bytearray() for n in self._tracks}
        self._last_edge = time.monotonic()

    def _finish_capture(self) -> None:
        bits, self._bits = self._bits, None
        self._last_edge = None
        if bits and any(bits.values()):
            self._done.append(BitSwipe(bits))
        for buf in (bits or {}).values():
            buf[:] = bytes(len(buf))

    def _discard_capture(self) -> None:
        for buf in (self._bits or {}).values():
            buf[:] = bytes(len(buf))
        self._bits = None
        self._last_edge = None

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\0")
            except BlockingIOError:
                pass  # already readable

    # -- the port's hook ------------------------------------------------------------
    def _read_raw(self) -> list[Any]:
        try:
            while os.read(self._wake_r, 64):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            if self._bits is not None and self._last_edge is not None:
                if time.monotonic() - self._last_edge >= self.options["timeout"]:
                    self._finish_capture()  # strobes stopped with the card still in, or no card-present wire
            done, self._done = self._done, []
        return done
