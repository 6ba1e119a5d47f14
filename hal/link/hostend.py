"""The far end of a simulated connection to an in-process host, shared by ``sim://`` and the modem simulator.

Both simulators stand between the terminal and an ``InProcessHost``: they
reassemble the terminal's length-prefixed frames, hand each whole request to
``host.respond``, and hold each answer until its ``delay`` has passed, a quicker
answer overtaking a slower one as on a real network. An answer may also close
the connection (after its payload, if any). What differs is the carrier: the
``sim://`` link hands the bytes back from ``poll()``, the modem simulator writes
them to its pty. This is the part they share, with the record both keep of
what they heard (``Heard``): the facts of each request by default, never its
fields, since a request carries the PAN, track 2 and the PIN block and a
``sim://`` link lives as long as ``posterm screen`` or a bench ``posterm run``.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hal.base import InProcessHost
from hal.framing import FrameBuffer, frame

__all__ = ["Arrival", "Heard", "HostEnd", "RequestFacts"]


_TPDU_ID = 0x60  # a TPDU's first byte (cup): 5 bytes of TPDU and 6 of header come before its BCD MTI
_MTI_AFTER_TPDU = slice(11, 13)
FRAMES_KEPT = 64  # the most whole requests an instrument keeps when a test asks for them
FACTS_KEPT = 4096  # the most requests' facts kept: a long-lived ``posterm screen`` does not grow for ever


@dataclass(frozen=True)
class RequestFacts:
    """What a simulator keeps of a request it heard, without a byte of its fields: its size and, where the
    layout shows it plainly, its message type (ASCII MTI first, or BCD MTI after a TPDU and 6-byte header)."""

    length: int
    mti: str | None = None

    @classmethod
    def of(cls, payload: bytes) -> RequestFacts:
        return cls(len(payload), _mti(payload))


def _mti(payload: bytes) -> str | None:
    head = payload[:4]
    if len(head) == 4 and head.isdigit():
        return head.decode("ascii")
    if len(payload) > _MTI_AFTER_TPDU.stop and payload[0] == _TPDU_ID:
        text = payload[_MTI_AFTER_TPDU].hex()
        return text if text.isdigit() else None
    return None


class Heard:
    """An instrument's record of the requests it heard: ``facts`` (``RequestFacts``) always; the whole requests
    in ``frames`` only once a test has asked with ``keep_frames()``, and then the last ``limit`` of them. A
    simulator in a long-lived process (``posterm screen``) so keeps no card data from the sales it carried."""

    def __init__(self) -> None:
        self.facts: deque[RequestFacts] = deque(maxlen=FACTS_KEPT)
        self.frames: deque[bytes] | None = None

    def __call__(self, payload: bytes) -> None:
        self.facts.append(RequestFacts.of(payload))
        if self.frames is not None:
            self.frames.append(bytes(payload))

    def keep_frames(self, limit: int = FRAMES_KEPT) -> None:
        """From now on keep whole requests too (a test's explicit choice), the last ``limit`` of them."""
        if self.frames is None or self.frames.maxlen != limit:
            self.frames = deque(self.frames or (), maxlen=limit)


@dataclass
class Arrival:
    due: float  # time.monotonic() when it reaches the terminal
    data: bytes  # framed; b"" for a close without an answer
    close: bool  # the host closes the connection once this has arrived


class HostEnd:
    """Frames in, answers out when due. ``feed`` raises ``ProtocolError`` for a stream that cannot be framed."""

    def __init__(self) -> None:
        self._frames = FrameBuffer()
        self._arrivals: list[Arrival] = []

    def feed(self, data: bytes, host: InProcessHost, *, heard: Callable[[bytes], object] = lambda p: None,
             lose: Callable[[], bool] = lambda: False) -> None:
        """The terminal's bytes: each whole request is ``heard`` (the instrument's record), answered by ``host``,
        and its answer held until due, unless ``lose()`` says the network loses it (the host still acted on it)."""
        for payload in self._frames.feed(data):
            heard(payload)
            answer = host.respond(payload)
            if lose() or (answer.payload is None and not answer.close):
                continue  # lost on the way, or the host stays silent
            arrival = Arrival(time.monotonic() + max(0.0, answer.delay),
                              frame(answer.payload) if answer.payload else b"", answer.close)
            bisect.insort(self._arrivals, arrival, key=lambda a: a.due)
        self._frames.check()  # a bad length after whole requests: they are answered, then it raises

    def due(self, now: float) -> Iterator[Arrival]:
        """The answers due by ``now``, in order; after one that closes, nothing more arrives."""
        while self._arrivals and self._arrivals[0].due <= now:
            arrival = self._arrivals.pop(0)
            if arrival.close:
                self._arrivals.clear()
            yield arrival

    def next_due(self) -> float | None:
        return self._arrivals[0].due if self._arrivals else None

    def clear(self) -> None:
        """A new connection (or none): half a frame and answers in flight are gone."""
        self._frames.clear()
        self._arrivals.clear()

    def drop_arrivals(self) -> None:
        """The line failed: answers in flight never arrive (a half-received frame stays, as on the wire)."""
        self._arrivals.clear()
