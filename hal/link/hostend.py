"""The far end of a simulated connection to an in-process host, shared by ``sim://`` and the modem simulator.

Both simulators stand between the terminal and an ``InProcessHost``: they
reassemble the terminal's length-prefixed frames, hand each whole request to
``host.respond``, and hold each answer until its ``delay`` has passed, a quicker
answer overtaking a slower one as on a real network. An answer may also close
the connection (after its payload, if any). What differs is the carrier: the
``sim://`` link hands the bytes back from ``poll()``, the modem simulator writes
them to its pty. This is the part they share.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hal.base import InProcessHost
from hal.framing import FrameBuffer, frame

__all__ = ["Arrival", "HostEnd"]


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
