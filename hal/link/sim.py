"""A simulated host link: talks to an in-process host, no sockets, no threads.

Each whole request sent is given to ``context.host.respond(payload)``. Its
answer says what the "network" does next:

* ``payload`` bytes: they arrive ``delay`` seconds later (at a
  ``time.monotonic()`` deadline that ``next_deadline()`` reports);
* ``payload`` ``None``: the host stays silent (the terminal times out);
* ``close``: the host closes the connection ``delay`` seconds later, after
  the payload if there is one; ``poll()`` then raises ``link.closed``.

Instrument: ``go_down()``/``go_up()`` (connecting fails with ``link.down``
while down; going down also drops a live connection, so the next ``poll()``
raises ``link.closed`` and a send fails), ``drop_next(n)`` (the host receives
and answers the next ``n`` requests, but the answers are lost on the way:
the reversal case), ``sent`` (the ``RequestFacts`` of every request sent, in
order: length and MTI, never a field), ``keep_frames()`` then ``frames`` (the
whole requests, the last 64: a test's explicit choice, since a request holds
the PAN, track 2 and PIN block and ``posterm screen`` lives long), ``connects``
(successful connects).

The host is checked when the link is opened and when it connects, not when
it is made: the runner supplies it in the ``DeviceContext`` at run time.
"""

from __future__ import annotations

import time
from typing import Any

from firmware.errors import ConfigError, LinkError
from hal.base import InProcessHost
from hal.link import Link, closed_error
from hal.link.hostend import FRAMES_KEPT, Heard, HostEnd, RequestFacts

__all__ = ["SimLink"]


class SimLink(Link):
    """``sim://`` link to ``context.host``."""

    scheme = "sim"

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        self._down = False
        self._answers_to_drop = 0
        self._host_side = HostEnd()  # the host end of the stream: reassembles what we send, holds its answers
        self._rx = bytearray()
        self._peer_closed = False
        self._heard = Heard()
        self.connects = 0

    def _host(self) -> InProcessHost:
        host = self.context.host
        if host is None:
            raise ConfigError("the sim:// link has no in-process host to talk to", code="config.no_host")
        return host

    # -- hooks --------------------------------------------------------------
    def _do_open(self) -> None:
        self._host()

    def _connect(self, timeout: float) -> None:
        self._host()
        if self._down:
            raise LinkError("cannot connect to the host (simulated link is down)", code="link.down")
        self._reset_stream()
        self.connects += 1

    def _write(self, data: bytes) -> None:
        if self._down or self._peer_closed:
            raise LinkError("could not send to the host (simulated link is down)", code="link.send_failed")
        self._host_side.feed(data, self._host(), heard=self._heard, lose=self._lose_answer)

    def _lose_answer(self) -> bool:
        if self._answers_to_drop:
            self._answers_to_drop -= 1
            return True
        return False

    def _read_nowait(self) -> bytes:
        for arrival in self._host_side.due(time.monotonic()):
            self._rx += arrival.data
            self._peer_closed = self._peer_closed or arrival.close
        if self._rx:
            data = bytes(self._rx)
            self._rx.clear()
            return data
        if self._peer_closed:
            raise closed_error()
        return b""

    def _disconnect(self) -> None:
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._host_side.clear()
        self._rx.clear()
        self._peer_closed = False

    def next_deadline(self) -> float | None:
        """When the next answer (or close) arrives; now if one already has."""
        if not self.connected:
            return None
        if self._rx or self._peer_closed:
            return time.monotonic()
        return self._host_side.next_due()

    # -- the instrument -----------------------------------------------------
    def go_down(self) -> None:
        """The network fails: connects fail, and a live connection is dropped."""
        self._down = True
        if self.connected:
            self._host_side.drop_arrivals()
            self._rx.clear()
            self._peer_closed = True

    def go_up(self) -> None:
        self._down = False

    def drop_next(self, n: int = 1) -> None:
        """Lose the answers to the next ``n`` requests (the host still sees the requests)."""
        self._answers_to_drop += n

    @property
    def sent(self) -> list[RequestFacts]:
        """Every request sent, in order, as its facts (length, MTI): no card data; the last ``FACTS_KEPT``."""
        return list(self._heard.facts)

    def keep_frames(self, limit: int = FRAMES_KEPT) -> None:
        """Keep the whole requests sent from now on (the last ``limit``), for a test that compares bytes."""
        self._heard.keep_frames(limit)

    @property
    def frames(self) -> list[bytes]:
        """The whole requests sent since ``keep_frames()``; asking without having called it is a test's mistake."""
        if self._heard.frames is None:
            raise AssertionError("this sim:// link keeps no whole requests: call keep_frames() before sending")
        return list(self._heard.frames)

    @property
    def down(self) -> bool:
        return self._down
