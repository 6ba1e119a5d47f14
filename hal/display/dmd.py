"""The ESC/POS customer display command set (Epson DM-D series and its many compatibles), as data.

Pole displays (2 x 20 VFDs on RS-232) take printable bytes as characters at
the cursor, and a few commands, written here once, in ``COMMANDS``, for both
sides of the wire: the driver builds its bytes with ``encode`` and
``encode_text``; the simulator reads them back with ``Decoder``, which turns
a byte stream (split anywhere) into ``Text``, ``Command`` and ``Rejected``
events, never ignoring a byte silently.

Cursor positions are 1-based on the wire (``US $ n m``: column ``n``, row
``m``). Characters are single bytes: 0x20-0x7E are ASCII on every display,
0x80-0xFF depend on the character table ``ESC t n`` selects
(``CHARACTER_TABLES``; PC437 after power-on and ``ESC @``). Anything else
below 0x20, and 0x7F, is a command or nothing, never text.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

__all__ = [
    "CHARACTER_TABLES",
    "COMMANDS",
    "MAX_COLS",
    "MAX_ROWS",
    "TABLE_CODECS",
    "Command",
    "Decoder",
    "Event",
    "Op",
    "Rejected",
    "Text",
    "encode",
    "encode_text",
    "is_char",
]

ESC, US = 0x1B, 0x1F
MAX_ROWS, MAX_COLS = 4, 40  # the largest displays of this family; a position is one byte on the wire
QUESTION_MARK = 0x3F

# ``ESC t n`` tables and the Python codec of each (the same numbering as Epson's printers).
TABLE_CODECS: dict[int, str] = {
    0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858",
}
# The driver's ``codec`` option: a codec and the table that shows it. ASCII needs no table:
# it is the same in all of them, so nothing is selected and bytes >= 0x80 are never sent.
CHARACTER_TABLES: dict[str, int | None] = {"ascii": None, **{codec: n for n, codec in TABLE_CODECS.items()}}


class Op(enum.Enum):
    """The commands the display understands, by what they do (value: Epson's name)."""

    INITIALISE = "ESC @"  # clear, cursor home, modes and table to their power-on values
    SELECT_TABLE = "ESC t"  # character table for bytes 0x80-0xFF
    CLEAR = "CLR"  # clear the screen, cursor home
    CLEAR_LINE = "CAN"  # clear the cursor's line, cursor to its left end
    HOME = "HOM"
    LEFT = "BS"
    RIGHT = "HT"
    DOWN = "LF"
    UP = "US LF"
    LINE_START = "CR"
    LINE_END = "US CR"
    BOTTOM = "US B"  # left end of the bottom line
    MOVE = "US $"  # to column n, row m (1-based)
    OVERWRITE = "US MD1"
    VERTICAL_SCROLL = "US MD2"
    HORIZONTAL_SCROLL = "US MD3"
    CURSOR = "US C"  # cursor shown (1 or 0x31) or hidden (0 or 0x30)
    BRIGHTNESS = "US X"  # 1-4: 20, 40, 60, 100 %
    BLINK = "US E"  # blink the screen every n x 50 ms; 0 stops


@dataclass(frozen=True)
class CommandSpec:
    op: Op
    prefix: bytes
    params: tuple[Collection[int], ...] = ()  # the values each parameter byte may take


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(Op.INITIALISE, b"\x1b@"),
    CommandSpec(Op.SELECT_TABLE, b"\x1bt", (tuple(TABLE_CODECS),)),
    CommandSpec(Op.CLEAR, b"\x0c"),
    CommandSpec(Op.CLEAR_LINE, b"\x18"),
    CommandSpec(Op.HOME, b"\x0b"),
    CommandSpec(Op.LEFT, b"\x08"),
    CommandSpec(Op.RIGHT, b"\x09"),
    CommandSpec(Op.DOWN, b"\x0a"),
    CommandSpec(Op.UP, b"\x1f\x0a"),
    CommandSpec(Op.LINE_START, b"\x0d"),
    CommandSpec(Op.LINE_END, b"\x1f\x0d"),
    CommandSpec(Op.BOTTOM, b"\x1fB"),
    CommandSpec(Op.MOVE, b"\x1f$", (range(1, MAX_COLS + 1), range(1, MAX_ROWS + 1))),
    CommandSpec(Op.OVERWRITE, b"\x1f\x01"),
    CommandSpec(Op.VERTICAL_SCROLL, b"\x1f\x02"),
    CommandSpec(Op.HORIZONTAL_SCROLL, b"\x1f\x03"),
    CommandSpec(Op.CURSOR, b"\x1fC", ((0, 1, 0x30, 0x31),)),
    CommandSpec(Op.BRIGHTNESS, b"\x1fX", (range(1, 5),)),
    CommandSpec(Op.BLINK, b"\x1fE", (range(256),)),
)
_BY_OP = {spec.op: spec for spec in COMMANDS}
_BY_PREFIX = {spec.prefix: spec for spec in COMMANDS}
assert len(_BY_OP) == len(_BY_PREFIX) == len(COMMANDS), "one prefix per command"


def is_char(byte: int) -> bool:
    """Whether the display shows ``byte`` as a character (rather than taking it as a command)."""
    return 0x20 <= byte <= 0x7E or byte >= 0x80


def encode(op: Op, *params: int) -> bytes:
    """The bytes of one command. A parameter the display would refuse is a programming error here."""
    spec = _BY_OP[op]
    if len(params) != len(spec.params) or any(p not in allowed for p, allowed in zip(params, spec.params)):
        raise ValueError(f"{op.value} takes {len(spec.params)} parameter(s) in range, got {params}")
    return spec.prefix + bytes(params)


def encode_text(text: str, codec: str) -> bytes:
    """``text`` in the display's character table: one byte a character, ``?`` for one the table lacks.

    The port has already replaced control characters; a byte that would still
    be a command (a codec mapping a symbol below 0x20) becomes ``?`` too, so
    text can never move the cursor.
    """
    raw = text.encode(codec, "replace")
    return bytes(b if is_char(b) else QUESTION_MARK for b in raw)


# -- reading the stream back (the simulator's side) ----------------------------------------------
@dataclass(frozen=True)
class Text:
    data: bytes
    at: int  # offset of the first byte in the stream


@dataclass(frozen=True)
class Command:
    op: Op
    params: tuple[int, ...]
    at: int


@dataclass(frozen=True)
class Rejected:
    """Bytes a display would not take: an unknown command, or a parameter out of range."""

    data: bytes
    at: int
    why: str

    def __str__(self) -> str:
        return f"byte {self.at}: {self.why} ({self.data.hex(' ')})"


Event = Text | Command | Rejected


class Decoder:
    """Bytes in, events out; a command split across ``feed`` calls waits for its last byte."""

    def __init__(self) -> None:
        self._pending = b""
        self._offset = 0  # stream offset of ``_pending[0]``

    def feed(self, data: bytes) -> list[Event]:
        buf, i, events = self._pending + data, 0, []
        while i < len(buf):
            at = self._offset + i
            if is_char(buf[i]):
                j = i + 1
                while j < len(buf) and is_char(buf[j]):
                    j += 1
                events.append(Text(buf[i:j], at))
                i = j
                continue
            size = 2 if buf[i] in (ESC, US) else 1
            if i + size > len(buf):
                break
            spec = _BY_PREFIX.get(buf[i : i + size])
            if spec is None:
                events.append(Rejected(buf[i : i + size], at, "unknown command"))
                i += size
                continue
            end = i + size + len(spec.params)
            if end > len(buf):
                break
            params = tuple(buf[i + size : end])
            if all(p in allowed for p, allowed in zip(params, spec.params)):
                events.append(Command(spec.op, params, at))
            else:
                events.append(Rejected(buf[i:end], at, f"{spec.op.value} parameter out of range"))
            i = end
        self._pending, self._offset = buf[i:], self._offset + i
        return events
