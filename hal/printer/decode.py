"""Read an ESC/POS byte stream the way a printer does, sans-IO.

``EscPosDecoder().feed(chunk)`` takes bytes in any split and returns events:
``Text`` (printable characters), ``LineFeed`` (LF: the row is printed),
``Command`` (an ESC/GS/FS/DLE sequence with its parameters, or a control
byte that prints nothing), and ``StatusRequestEvent`` (a real-time
``DLE EOT n``, which a printer answers at once). Every event keeps its bytes
in ``data``, so the events of a stream joined give the stream back. The device simulators use it to answer status requests and to show
what reached the paper; ``SimPrinter`` uses it to count the rows a
half-sent receipt got onto paper.

The command table covers what python-escpos emits for text receipts and the
usual commands around them. An unknown ``ESC x``/``GS x`` is reported as a
``Command`` of two bytes, and decoding goes on with the next byte.

``FS &`` selects the Chinese (Kanji) character mode and ``FS .`` (or
``ESC @``) cancels it. In it, text is GB18030 (``kanji_codec``): a byte from
0x81 starts a two- or four-byte character, which is held back until it is
whole, so a character split across two reads decodes as itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["KANJI_ON", "KANJI_OFF", "Text", "LineFeed", "Command", "StatusRequestEvent", "EscPosDecoder", "decode_lines"]

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
LF, CR = 0x0A, 0x0D
KANJI_ON, KANJI_OFF = b"\x1c&", b"\x1c."  # FS &: select Chinese (Kanji) character mode; FS .: cancel it

# Parameter bytes after each two-byte command (data, one entry per command).
_PARAMS: dict[bytes, int] = {
    # ESC
    b"\x1b@": 0,  # initialise
    b"\x1b!": 1,  # print mode (size, bold)
    b"\x1bE": 1,  # bold
    b"\x1bG": 1,  # double strike
    b"\x1b-": 1,  # underline
    b"\x1ba": 1,  # justification
    b"\x1bt": 1,  # code page
    b"\x1bd": 1,  # print and feed n lines
    b"\x1bJ": 1,  # print and feed n dots
    b"\x1bM": 1,  # font
    b"\x1b{": 1,  # upside down
    b"\x1bR": 1,  # international character set
    b"\x1b2": 0,  # default line spacing
    b"\x1b3": 1,  # line spacing
    b"\x1b=": 1,  # select peripheral
    b"\x1bp": 3,  # drawer kick
    b"\x1bc": 2,  # panel buttons / paper sensors (ESC c 3 n, ESC c 4 n, ESC c 5 n)
    b"\x1bD": -1,  # tab positions, NUL-terminated
    # GS
    b"\x1d!": 1,  # character size
    b"\x1dB": 1,  # reverse
    b"\x1db": 1,  # smoothing
    b"\x1dV": -2,  # cut: m, and n when m is 65/66/97/98/103/104
    b"\x1dL": 2,  # left margin
    b"\x1dW": 2,  # print area width
    b"\x1dh": 1,
    b"\x1dw": 1,
    b"\x1dH": 1,
    b"\x1df": 1,
    b"\x1da": 1,  # automatic status back
    b"\x1dr": 1,  # transmit status
    # FS (Chinese/Kanji mode)
    b"\x1c&": 0,  # select Chinese mode
    b"\x1c.": 0,  # cancel it
    b"\x1c!": 1,
    b"\x1c-": 1,
    b"\x1cC": 1,
    b"\x1cW": 1,
    # DLE real-time commands
    b"\x10\x04": 1,  # DLE EOT n: transmit real-time status
    b"\x10\x05": 1,  # DLE ENQ n: real-time request
    b"\x10\x14": 3,  # DLE DC4 fn a b
}
_CUT_WITH_FEED = {65, 66, 97, 98, 103, 104}
_LENGTH_PREFIXED = {b"\x1d(", b"\x1b("}  # GS ( fn pL pH data / ESC ( fn pL pH data


@dataclass(frozen=True)
class Text:
    text: str
    data: bytes  # the bytes as received, in the code page of the moment


@dataclass(frozen=True)
class LineFeed:
    data: bytes = b"\n"


@dataclass(frozen=True)
class Command:
    data: bytes  # the whole sequence with its parameters (or one control byte that prints nothing)


@dataclass(frozen=True)
class StatusRequestEvent:
    n: int

    @property
    def data(self) -> bytes:
        return bytes((DLE, 0x04, self.n))


Event = Text | LineFeed | Command | StatusRequestEvent


class EscPosDecoder:
    """Incremental ESC/POS decoder. ``codecs`` maps ``ESC t n`` to a Python codec for bytes >= 0x80;
    ``kanji_codec`` is the text's between ``FS &`` and ``FS .``."""

    def __init__(
        self, codecs: Mapping[int, str] | None = None, default_codec: str = "cp437", kanji_codec: str = "gb18030"
    ) -> None:
        self._codecs = dict(codecs or {})
        self._codec = default_codec
        self._default = default_codec
        self._kanji_codec = kanji_codec
        self._kanji = False
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        text = bytearray()

        def flush_text() -> None:
            if text:
                codec = self._kanji_codec if self._kanji else self._codec
                events.append(Text(text.decode(codec, errors="replace"), bytes(text)))
                text.clear()

        buf = self._buf
        i = 0
        while i < len(buf):
            b = buf[i]
            if b in (ESC, GS, FS, DLE):
                length = self._command_length(buf, i)
                if length is None:  # incomplete: wait for more bytes
                    break
                flush_text()
                cmd = bytes(buf[i : i + length])
                i += length
                if cmd[:2] == b"\x10\x04":
                    events.append(StatusRequestEvent(cmd[2]))
                else:
                    if cmd[:2] == b"\x1bt":
                        self._codec = self._codecs.get(cmd[2], self._default)
                    elif cmd == b"\x1b@":
                        self._codec, self._kanji = self._default, False
                    elif cmd in (KANJI_ON, KANJI_OFF):
                        self._kanji = cmd == KANJI_ON
                    events.append(Command(cmd))
            elif b == LF:
                flush_text()
                events.append(LineFeed())
                i += 1
            elif b < 0x20 or b == 0x7F:  # CR, HT and other controls print nothing
                flush_text()
                events.append(Command(bytes((b,))))
                i += 1
            elif self._kanji and 0x81 <= b <= 0xFE:  # a GB18030 lead byte: the character whole, or wait
                length = _kanji_length(buf, i)
                if length is None:
                    break
                text += buf[i : i + length]
                i += length
            else:
                text.append(b)
                i += 1
        flush_text()
        del buf[:i]
        return events

    @staticmethod
    def _command_length(buf: bytearray, i: int) -> int | None:
        """Bytes in the command starting at ``buf[i]``, or None if it is not all here yet."""
        if i + 1 >= len(buf):
            return None
        head = bytes(buf[i : i + 2])
        if head in _LENGTH_PREFIXED:
            if i + 5 > len(buf):
                return None
            length = 5 + buf[i + 3] + 256 * buf[i + 4]
        else:
            params = _PARAMS.get(head)
            if params is None:
                if buf[i] == DLE:  # a lone DLE is not a command; print nothing for it
                    return 1
                return 2
            if params == -1:  # NUL-terminated list
                end = buf.find(b"\x00", i + 2)
                return None if end < 0 else end + 1 - i
            if params == -2:  # GS V m [n]
                if i + 2 >= len(buf):
                    return None
                length = 4 if buf[i + 2] in _CUT_WITH_FEED else 3
            else:
                length = 2 + params
        return None if i + length > len(buf) else length


def _kanji_length(buf: bytearray, i: int) -> int | None:
    """Bytes in the GB18030 character whose lead byte is ``buf[i]``: two, or four when a digit follows
    it; one when what follows cannot continue it (so a command after a stray lead byte stays a command);
    None if they are not all here yet."""
    if i + 1 >= len(buf):
        return None
    second = buf[i + 1]
    if 0x40 <= second <= 0xFE and second != 0x7F:
        return 2
    if not 0x30 <= second <= 0x39:
        return 1
    if i + 3 >= len(buf):
        return None
    return 4 if 0x81 <= buf[i + 2] <= 0xFE and 0x30 <= buf[i + 3] <= 0x39 else 1


def decode_lines(data: bytes, codecs: Mapping[int, str] | None = None) -> tuple[list[str], str]:
    """The rows whose LF arrived, and the text still waiting in the line buffer."""
    lines: list[str] = []
    current: list[str] = []
    for event in EscPosDecoder(codecs).feed(data):
        if isinstance(event, Text):
            current.append(event.text)
        elif isinstance(event, LineFeed):
            lines.append("".join(current))
            current = []
    return lines, "".join(current)
