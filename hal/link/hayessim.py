"""The AT command interpreter of the simulated Hayes modem (``hal.link.modemsim``).

Sans-IO: command-mode bytes in, the modem's answer out. It keeps what a modem
keeps in command mode (the ``E V Q X L M &C &D`` settings, the S registers,
S12 the escape guard time, the line being typed) and formats result codes as
``V`` and ``Q`` ask. Dialling and hanging up belong to the modem, not to its
command interpreter: ``ATD`` is parsed into a ``Dial`` and handed to the
``dial`` callback, whose result code (None: the dial has not ended) is the
answer; ``ATH0`` calls ``hang_up``.

Commands: ``AT``, ``ATZ``, ``ATE``, ``ATV``, ``ATQ``, ``ATX``, ``AT&C``,
``AT&D``, ``AT&F``, ``ATL``, ``ATM``, ``ATI``, ``ATH0``, ``ATS<n>=<v>``,
``ATS<n>?``, ``ATDT``/``ATDP``; anything else, or a value out of range, is
``ERROR``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["CommandMode", "Dial", "DialMode"]

_RANGES = {"E": 2, "V": 2, "Q": 2, "X": 5, "Z": 1, "H": 1, "L": 4, "M": 4, "I": 10, "&C": 2, "&D": 4, "&F": 1}
_DEFAULTS = {"E": 1, "V": 1, "Q": 0, "X": 4, "L": 1, "M": 1, "&C": 1, "&D": 2}
_NUMERIC = {
    "OK": "0", "CONNECT": "1", "NO CARRIER": "3", "ERROR": "4", "NO DIALTONE": "6", "BUSY": "7", "NO ANSWER": "8",
}
_LINE_LIMIT = 80  # characters a command line holds; the rest of a longer line is dropped, as a modem does
_BS, _DEL, _LF, _CR = 0x08, 0x7F, 0x0A, 0x0D


class DialMode(enum.Enum):
    TONE = "T"
    PULSE = "P"


@dataclass(frozen=True)
class Dial:
    number: str
    mode: DialMode


class CommandMode:
    """One modem's command-mode state and interpreter."""

    def __init__(self, guard_time: float, *, dial: Callable[[Dial], str | None], hang_up: Callable[[], None]) -> None:
        self.settings = dict(_DEFAULTS)
        self.sregs: dict[int, int] = {}
        self.guard = guard_time  # S12, in seconds
        self._line = bytearray()
        self._dial = dial
        self._hang_up = hang_up

    @property
    def echo(self) -> bool:
        return bool(self.settings["E"])

    def lines(self, data: bytes) -> Iterator[tuple[str, bytes]]:
        """Each command line ``data`` completes (a CR ends it; BS and DEL edit it), with the bytes after it.

        Stop iterating when a line leaves command mode: the bytes after it are then not the
        interpreter's.
        """
        for i, byte in enumerate(data):
            if byte == _CR:
                line, self._line = bytes(self._line), bytearray()
                yield line.decode("ascii", "replace"), data[i + 1 :]
            elif byte in (_BS, _DEL):
                del self._line[-1:]
            elif byte != _LF and len(self._line) < _LINE_LIMIT:
                self._line.append(byte)

    def result(self, text: str) -> bytes:
        """A result code as the modem sends it: verbose (``V1``), numeric (``V0``), or nothing (``Q1``)."""
        if self.settings["Q"]:
            return b""
        if self.settings["V"]:
            return b"\r\n" + text.encode("ascii") + b"\r\n"
        return _NUMERIC.get(text.split(" ")[0] if text.startswith("CONNECT") else text, "4").encode() + b"\r"

    def execute(self, body: str) -> bytes:
        """Run the commands after ``AT`` in ``body``; return the answer (empty while a dial goes on)."""
        out = bytearray()
        pos, upper = 0, body.upper()
        while pos < len(body):
            name = upper[pos]
            pos += 1
            if name == " ":
                continue
            if name == "D":
                code = self._dial(_parse_dial(body[pos:]))
                return bytes(out) + (self.result(code) if code is not None else b"")
            if name == "&":
                name, pos = "&" + upper[pos : pos + 1], pos + 1
            if name == "S":
                match = re.match(r"(\d+)(=(\d*)|\?)", upper[pos:])
                if match is None:
                    return bytes(out) + self.result("ERROR")
                pos += match.end()
                out += self._register(int(match.group(1)), match.group(3) if match.group(2) != "?" else None)
                continue
            digits = re.match(r"\d*", upper[pos:]).group()
            pos += len(digits)
            value = int(digits or 0)
            if value >= _RANGES.get(name, 0):
                return bytes(out) + self.result("ERROR")
            if name in ("Z", "&F"):
                self.settings = dict(_DEFAULTS)
            elif name == "H":
                self._hang_up()
            elif name != "I":
                self.settings[name] = value
        return bytes(out) + self.result("OK")

    def _register(self, reg: int, value: str | None) -> bytes:
        """``S<reg>?`` (value None) answers the register; ``S<reg>=<value>`` sets it."""
        if value is None:
            shown = round(self.guard * 50) if reg == 12 else self.sregs.get(reg, 0)
            return f"\r\n{shown:03d}\r\n".encode()
        if reg == 12:
            self.guard = int(value or 0) / 50  # S12 counts fiftieths of a second
        else:
            self.sregs[reg] = int(value or 0)
        return b""


def _parse_dial(rest: str) -> Dial:
    rest = rest.strip()
    mode = DialMode.TONE
    if rest[:1].upper() in ("T", "P"):
        mode, rest = DialMode(rest[0].upper()), rest[1:].strip()
    return Dial(rest, mode)
