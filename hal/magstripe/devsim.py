"""Reader *device* simulators, for testing the real drivers over a real wire.

Each plays the hardware's side of one driver, with the same swipes as the
``sim://`` reader (``hal.magstripe.sim``: test cards, damage, reversal):

``PtyReaderSim``       a serial reader: writes ASCII swipes into the master of a
                       real pseudo-terminal; ``SerialReader`` opens ``sim.port``.
``KeyboardWedgeSim``   a keyboard-wedge reader: writes ``struct input_event``
                       records, typed for a layout, into a FIFO that ``HidReader``
                       opens (with ``grab=false``: a FIFO is not an input device).
``UinputKeyboardSim``  the same through ``/dev/uinput``: a real input device the
                       kernel creates, which ``HidReader`` opens and grabs. Only
                       where ``/dev/uinput`` is usable (``uinput_usable()``).
``TtlHeadSim``         a TTL head: drives card present, strobe and data lines on
                       ``hal.gpio.sim.SimPins`` for ``GpioReader``.

Every one can send a swipe in pieces (``pieces(data, n)`` then ``send``/``write``,
or ``clock`` per track) so tests can poll the driver in between, and stop
half-way (a partial swipe). They
write at once from the caller's thread; the kernel's buffers hold the bytes
until the driver reads them.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
import tty
from collections.abc import Mapping
from pathlib import Path

from hal.gpio.sim import SimPins
from hal.magstripe.hid import EV_KEY, EV_SYN, INPUT_EVENT
from hal.magstripe.keymaps import LAYOUTS, keystrokes
from hal.magstripe.raw import ISO_SENTINELS, Sentinels
from hal.magstripe.sim import Damage, TestCard, find_card, swipe_text, swipe_track_bits

__all__ = ["PtyReaderSim", "KeyboardWedgeSim", "UinputKeyboardSim", "TtlHeadSim", "uinput_usable", "pieces"]


def pieces(data: bytes | bytearray, n: int) -> list[bytes]:
    """``data`` cut into ``n`` nearly equal pieces (a swipe split across reads)."""
    data = bytes(data)
    size = max(1, -(-len(data) // n))
    return [data[i : i + size] for i in range(0, len(data), size)]


def _card(card: str | TestCard) -> TestCard:
    return find_card(card) if isinstance(card, str) else card


class PtyReaderSim:
    """A serial magstripe reader on the master side of a real pseudo-terminal."""

    def __init__(self, *, sentinels: Sentinels = ISO_SENTINELS, terminator: bytes = b"\r", prefix: bytes = b"") -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self.sentinels = sentinels
        self.terminator = terminator
        self.prefix = prefix

    def swipe_text(self, card: str | TestCard, *, damage: Damage | None = None) -> bytes:
        """What this reader sends for ``card``."""
        return self.prefix + bytes(swipe_text(_card(card), self.sentinels, damage=damage, terminator=self.terminator))

    def swipe_card(self, card: str | TestCard, *, damage: Damage | None = None) -> TestCard:
        c = _card(card)
        self.send(self.swipe_text(c, damage=damage))
        return c

    def send(self, data: bytes | bytearray) -> None:
        view = memoryview(bytes(data))
        while view:
            view = view[os.write(self.master, view) :]

    def close(self) -> None:
        """The reader goes away (the cable is pulled)."""
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


def _records(events: list[tuple[int, int]]) -> bytes:
    """Key events as the kernel reports them: each followed by a SYN_REPORT."""
    out = bytearray()
    now = time.time()
    sec, usec = int(now), int((now % 1) * 1_000_000)
    for code, value in events:
        out += INPUT_EVENT.pack(sec, usec, EV_KEY, code, value)
        out += INPUT_EVENT.pack(sec, usec, EV_SYN, 0, 0)
    return bytes(out)


class _Keyboard:
    layout_name = "us"
    sentinels = ISO_SENTINELS

    def _write(self, data: bytes) -> None:  # hook
        raise NotImplementedError

    def events_for(self, text: bytes | str) -> bytes:
        """The input events that type ``text`` on this reader's layout."""
        text = text.decode("ascii") if isinstance(text, (bytes, bytearray)) else text
        return _records(keystrokes(text, LAYOUTS[self.layout_name]))

    def type(self, text: bytes | str) -> None:
        """Type ``text`` at once (CR is Enter)."""
        self._write(self.events_for(text))

    def write(self, records: bytes) -> None:
        """Write raw event records (``pieces(events_for(...), n)`` splits a swipe across reads)."""
        self._write(records)

    def swipe_card(self, card: str | TestCard, *, damage: Damage | None = None) -> TestCard:
        c = _card(card)
        self.type(bytes(swipe_text(c, self.sentinels, damage=damage)))
        return c


class KeyboardWedgeSim(_Keyboard):
    """A keyboard-wedge reader's input events on a FIFO at ``path`` (``hid://`` + path, ``grab=false``)."""

    def __init__(self, directory: Path, *, layout: str = "us", sentinels: Sentinels = ISO_SENTINELS) -> None:
        self.path = Path(directory) / "event-kbd"
        os.mkfifo(self.path, 0o600)
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)  # O_RDWR: open without waiting for the reader
        self.layout_name = layout
        self.sentinels = sentinels

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        os.close(self._fd)


# <linux/uinput.h>
_UI_SET_EVBIT, _UI_SET_KEYBIT = 0x40045564, 0x40045565  # _IOW('U', 100/101, int)
_UI_DEV_CREATE, _UI_DEV_DESTROY = 0x5501, 0x5502  # _IO('U', 1/2)
_USER_DEV = struct.Struct("80sHHHHi" + "64i" * 4)  # struct uinput_user_dev


def _ui_get_sysname(length: int) -> int:
    return (2 << 30) | (length << 16) | (ord("U") << 8) | 44  # _IOC(_IOC_READ, 'U', 44, len)


def uinput_usable() -> bool:
    """Whether this machine lets us create input devices (a kernel with uinput, and the rights to it)."""
    return os.access("/dev/uinput", os.W_OK)


class UinputKeyboardSim(_Keyboard):
    """A keyboard-wedge reader the kernel creates through ``/dev/uinput``; ``path`` is its event node."""

    def __init__(self, *, layout: str = "us", sentinels: Sentinels = ISO_SENTINELS, name: str = "posterm test card reader") -> None:
        self.layout_name = layout
        self.sentinels = sentinels
        self._fd = os.open("/dev/uinput", os.O_WRONLY | os.O_NONBLOCK)
        try:
            fcntl.ioctl(self._fd, _UI_SET_EVBIT, EV_KEY)
            for code in range(1, 128):
                fcntl.ioctl(self._fd, _UI_SET_KEYBIT, code)
            os.write(self._fd, _USER_DEV.pack(name.encode()[:79], 0x03, 0x0801, 0x0001, 1, 0, *([0] * 256)))
            fcntl.ioctl(self._fd, _UI_DEV_CREATE)
            sysname = bytearray(64)
            fcntl.ioctl(self._fd, _ui_get_sysname(len(sysname)), sysname)
            node = Path("/sys/devices/virtual/input") / sysname.split(b"\0", 1)[0].decode()
            self.path = self._event_node(node)
        except OSError:
            os.close(self._fd)
            raise

    @staticmethod
    def _event_node(node: Path, wait: float = 2.0) -> Path:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:  # udev makes the node shortly after the device appears
            events = sorted(node.glob("event*"))
            if events and (Path("/dev/input") / events[0].name).exists():
                return Path("/dev/input") / events[0].name
            time.sleep(0.01)
        raise OSError("uinput device has no event node")

    def _write(self, data: bytes) -> None:
        os.write(self._fd, data)

    def close(self) -> None:
        try:
            fcntl.ioctl(self._fd, _UI_DEV_DESTROY)
        finally:
            os.close(self._fd)


class TtlHeadSim:
    """A TTL head's wires on ``SimPins``: card present, and a strobe and a data line per track (all active low)."""

    def __init__(self, pins: SimPins, *, present: int, tracks: Mapping[int, tuple[int, int]]) -> None:
        self.pins = pins
        self.present = present
        self.tracks = dict(tracks)  # track -> (strobe pin, data pin)

    @classmethod
    def for_reader(cls, reader) -> TtlHeadSim:
        """The head wired as ``reader`` (a ``GpioReader``, opened on a ``SimPins`` source) expects."""
        o = reader.options
        tracks = {n: (o[f"strobe{n}"], o[f"data{n}"]) for n in (1, 2, 3) if o[f"strobe{n}"] >= 0}
        return cls(reader.pins, present=o["present"], tracks=tracks)

    def insert(self) -> None:
        if self.present >= 0:
            self.pins.drive_low(self.present)

    def remove(self) -> None:
        if self.present >= 0:
            self.pins.drive_high(self.present)

    def clock(self, track: int, bits: bytes | bytearray) -> None:
        """Clock ``bits`` out on ``track``: data low for a 1, then a strobe pulse."""
        strobe, data = self.tracks[track]
        for bit in bits:
            self.pins.drive(data, 0 if bit else 1)
            self.pins.pulse_low(strobe)
        self.pins.drive_high(data)

    def swipe_bits(self, bits: Mapping[int, bytes | bytearray], *, remove: bool = True) -> None:
        """Insert, clock every wired track's bits (tracks not wired are not read), and remove the card."""
        self.insert()
        for track, b in sorted(bits.items()):
            if track in self.tracks:
                self.clock(track, b)
        if remove:
            self.remove()

    def swipe_card(self, card: str | TestCard, *, reverse: bool = False, damage: Damage | None = None) -> TestCard:
        c = _card(card)
        self.swipe_bits(swipe_track_bits(c, reverse=reverse, damage=damage))
        return c
