"""Hayes result codes, parsed sans-IO: the modem's command-mode output in, result codes out.

``ResultReader`` knows nothing of ports or time. ``hal.link.modem`` feeds it
what the port gives while dialling and stops at ``CONNECT``; the bytes after
that line are the host's, in ``rest``. Verbose (``V1``) and numeric (``V0``)
codes are both understood, so an ``AT`` sent before the init string's ``V1``
is answered either way.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["DIAL_FAILURES", "MAX_LINE", "Result", "ResultCode", "ResultReader"]

MAX_LINE = 256  # a result code or an ATI line is far shorter: a longer line is noise
_EOL = re.compile(rb"[\r\n]")


class Result(enum.Enum):
    """The Hayes result codes the driver understands (verbose form)."""

    OK = "OK"
    CONNECT = "CONNECT"
    RING = "RING"
    NO_CARRIER = "NO CARRIER"
    ERROR = "ERROR"
    NO_DIALTONE = "NO DIALTONE"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"


# The basic numeric codes (V0), so that an ``AT`` sent before the init's V1 is understood.
_NUMERIC = {"0": Result.OK, "1": Result.CONNECT, "2": Result.RING, "3": Result.NO_CARRIER, "4": Result.ERROR,
            "6": Result.NO_DIALTONE, "7": Result.BUSY, "8": Result.NO_ANSWER}
_VERBOSE = {r.value: r for r in Result} | {"NO DIAL TONE": Result.NO_DIALTONE}
DIAL_FAILURES = (Result.BUSY, Result.NO_DIALTONE, Result.NO_CARRIER, Result.NO_ANSWER)


@dataclass(frozen=True)
class ResultCode:
    result: Result
    detail: str = ""  # what follows CONNECT: "33600", "2400/ARQ"

    @property
    def final(self) -> bool:
        """Every code but RING ends the command it answers."""
        return self.result is not Result.RING


class ResultReader:
    """Sans-IO: the modem's command-mode output in, result codes out.

    Lines end at CR or LF. Lines that are not result codes (the echo of our
    own command, ``ATI`` text, line noise) are skipped. After a ``CONNECT``
    the reader stops: the bytes after its line are the host's data, found in
    ``rest``. A verbose ``CONNECT`` line ends in CR LF; when a read ends
    between the two, the reader waits for the next byte before reporting it,
    so that the LF is not taken for data.

    A line longer than ``MAX_LINE`` is noise (a modem or a line gone wrong):
    it is dropped up to its end, so a modem that talks without end costs
    bounded memory and each read is scanned once.
    """

    __slots__ = ("_buf", "_noise", "connected", "rest")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._noise = False  # the line being received passed MAX_LINE: dropped up to its end
        self.rest = b""
        self.connected = False

    @property
    def pending(self) -> int:
        """Bytes held for a line not yet ended."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[ResultCode]:
        if self.connected:
            self.rest += data
            return []
        self._buf += data
        out: list[ResultCode] = []
        while True:
            match = _EOL.search(self._buf)
            if match is None:
                if len(self._buf) > MAX_LINE:
                    self._buf.clear()
                    self._noise = True
                return out
            end = match.start()
            if self._noise:
                del self._buf[: end + 1]
                self._noise = False
                continue
            line = self._buf[:end].decode("ascii", "replace").strip()
            code = _parse(line)
            if code is not None and code.result is Result.CONNECT and not line.isdigit():
                if end + 1 == len(self._buf) and self._buf[end] == 0x0D:
                    return out  # CR seen, LF not yet: decide on the next read
                skip = end + 2 if self._buf[end : end + 2] == b"\r\n" else end + 1
                self.rest, self.connected = bytes(self._buf[skip:]), True
                self._buf.clear()
                return [*out, code]
            del self._buf[: end + 1]
            if code is not None:
                out.append(code)
                if code.result is Result.CONNECT:  # numeric: no LF follows
                    self.rest, self.connected = bytes(self._buf), True
                    self._buf.clear()
                    return out

    def clear(self) -> None:
        self._buf.clear()
        self._noise = False
        self.rest = b""
        self.connected = False


def _parse(line: str) -> ResultCode | None:
    if line in _NUMERIC:
        return ResultCode(_NUMERIC[line])
    upper = line.upper()
    if upper in _VERBOSE:
        return ResultCode(_VERBOSE[upper])
    if upper.startswith("CONNECT "):
        return ResultCode(Result.CONNECT, line[8:].strip())
    return None
