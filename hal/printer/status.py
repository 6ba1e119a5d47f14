"""ESC/POS real-time status (``DLE EOT n``), as data, sans-IO.

A printer on a serial line or a raw TCP port answers ``DLE EOT n`` (10 04 n)
with one status byte at once, even while offline or with a full buffer. The
bit meanings below are Epson's, from the ESC/POS command reference entry
"DLE EOT – Transmit real-time status" (e.g. TM-T88III reference Ver. 10.01
p. 304 for n=4; TM-L60II technical reference Ver. 4.0 p. 1217 for n=2); Star
(in ESC/POS mode), Bixolon/Samsung SRP, Citizen and the common Chinese 58/80 mm
printers use the same layout:

n=1 printer status
    bit 3: 0 online / 1 offline. Bit 2 is the drawer kick connector (unused).
n=2 offline cause
    bit 2: cover open; bit 3: paper being fed by the FEED button;
    bit 5: printing stopped by paper end; bit 6: an error occurred.
n=4 roll paper sensor
    bits 2,3: near-end sensor, 00 paper adequate / 11 near end;
    bits 5,6: end sensor, 00 paper present / 11 no paper.
every reply
    bit 0 = 0, bit 1 = 1, bit 4 = 1, bit 7 = 0 ("fixed"), which tells a status
    byte from anything else on the line (XON/XOFF, automatic status back).

Some printers set only one bit of a pair (Citizen reports two near-end
sensors separately), so either bit counts. The same table builds the replies
of the device simulators, so drivers and simulators agree by construction.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

__all__ = [
    "PrinterStatus",
    "StatusRequest",
    "STATUS_REQUESTS",
    "request_bytes",
    "is_status_byte",
    "decode_status",
    "DeviceState",
    "PaperLevel",
    "SensorFaults",
    "encode_status",
    "feed_paper",
]

DLE = 0x10
EOT = 0x04

_FIXED_MASK = 0b1001_0011  # bits 7, 4, 1, 0
_FIXED_VALUE = 0b0001_0010  # bit 4 and bit 1 on

# n=1
OFFLINE = 0x08
# n=2
COVER_OPEN = 0x04
FEED_BUTTON = 0x08
PAPER_END_STOP = 0x20
ERROR = 0x40
# n=4
NEAR_END = 0x0C
PAPER_END = 0x60


class PrinterStatus(enum.Enum):
    OK = "ok"
    PAPER_NEAR_END = "paper_near_end"  # prints; the operator should change the roll soon
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"

    @property
    def can_print(self) -> bool:
        return self in (PrinterStatus.OK, PrinterStatus.PAPER_NEAR_END)


class StatusRequest(enum.IntEnum):
    PRINTER = 1
    OFFLINE_CAUSE = 2
    ERROR_CAUSE = 3
    ROLL_PAPER = 4


# What a driver asks, in order, to build one PrinterStatus.
STATUS_REQUESTS = (StatusRequest.PRINTER, StatusRequest.OFFLINE_CAUSE, StatusRequest.ROLL_PAPER)


def request_bytes(n: StatusRequest | int) -> bytes:
    return bytes((DLE, EOT, int(n)))


def is_status_byte(value: int) -> bool:
    return value & _FIXED_MASK == _FIXED_VALUE


def decode_status(printer: int, offline_cause: int, roll_paper: int) -> PrinterStatus:
    """One PrinterStatus from the replies to DLE EOT 1, 2 and 4.

    The most urgent cause wins: an open cover (a printer may also report
    paper end while its cover is open), then paper end, then any other
    offline reason, then a near-end roll.
    """
    for value in (printer, offline_cause, roll_paper):
        if not is_status_byte(value):
            raise ValueError(f"0x{value:02X} is not an ESC/POS status byte")
    if offline_cause & COVER_OPEN:
        return PrinterStatus.COVER_OPEN
    if roll_paper & PAPER_END or offline_cause & PAPER_END_STOP:
        return PrinterStatus.PAPER_OUT
    if printer & OFFLINE or offline_cause & ERROR:
        return PrinterStatus.OFFLINE
    if roll_paper & NEAR_END:
        return PrinterStatus.PAPER_NEAR_END
    return PrinterStatus.OK


class PaperLevel(enum.Enum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"


@dataclass(frozen=True)
class DeviceState:
    """What a (simulated) printer's sensors say."""

    paper: PaperLevel = PaperLevel.OK
    cover_open: bool = False
    error: bool = False  # e.g. a cutter jam: offline until cleared
    roll_left: int | None = None  # print bytes the roll still takes; None: plenty (see ``feed_paper``)

    @property
    def online(self) -> bool:
        return not (self.cover_open or self.error or self.paper is PaperLevel.OUT)


class SensorFaults:
    """The fault instrument every printer simulator offers, over its ``DeviceState``.

    A simulator holds ``_state`` and implements ``_set(**changes)`` (under
    whatever lock it needs); these are the sensors a test can flip.
    """

    def _set(self, **changes: object) -> None:  # pragma: no cover - each simulator provides it
        raise NotImplementedError

    def paper_out(self) -> None:
        self._set(paper=PaperLevel.OUT)

    def paper_low(self) -> None:
        """The near-end sensor trips: printing goes on, status says PAPER_NEAR_END."""
        self._set(paper=PaperLevel.NEAR_END)

    def paper_out_after(self, n: int) -> None:
        """The roll ends once ``n`` more print bytes have reached it, part-way through a receipt.

        As on a printer without flow control: the bytes after that point are
        taken from the wire and lost, the write that carried them succeeds, and
        the status says paper end from then on (``feed_paper``).
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        self._set(roll_left=n)

    def load_paper(self) -> None:
        self._set(paper=PaperLevel.OK, roll_left=None)

    def open_cover(self) -> None:
        self._set(cover_open=True)

    def close_cover(self) -> None:
        self._set(cover_open=False)

    def go_offline(self) -> None:
        """An error (say a cutter jam) takes the printer offline."""
        self._set(error=True)

    def go_online(self) -> None:
        self._set(error=False)


def encode_status(state: DeviceState, n: StatusRequest | int) -> int:
    """The byte a printer in ``state`` answers to DLE EOT ``n``."""
    value = _FIXED_VALUE
    n = StatusRequest(n)
    if n is StatusRequest.PRINTER:
        value |= 0 if state.online else OFFLINE
    elif n is StatusRequest.OFFLINE_CAUSE:
        value |= COVER_OPEN if state.cover_open else 0
        value |= PAPER_END_STOP if state.paper is PaperLevel.OUT else 0
        value |= ERROR if state.error else 0
    elif n is StatusRequest.ROLL_PAPER:
        value |= NEAR_END if state.paper is not PaperLevel.OK else 0  # an empty roll is past near-end too
        value |= PAPER_END if state.paper is PaperLevel.OUT else 0
    # ERROR_CAUSE: no cutter, unrecoverable or auto-recoverable error to report
    return value


def feed_paper(state: DeviceState, data: bytes) -> tuple[DeviceState, bytes]:
    """The part of the print bytes ``data`` that reaches paper in ``state``, and the state after.

    A printer out of paper prints nothing. With ``roll_left`` set, the roll
    takes that many more bytes; the byte that uses it up (the last of a
    receipt included: the printer cannot tell that the roll ended just after
    it) turns the paper sensor to OUT, and the bytes after it are lost.
    """
    if state.paper is PaperLevel.OUT:
        return state, b""
    left = state.roll_left
    if left is None:
        return state, data
    if len(data) < left:
        return dataclasses.replace(state, roll_left=left - len(data)), data
    return dataclasses.replace(state, paper=PaperLevel.OUT, roll_left=None), data[:left]
