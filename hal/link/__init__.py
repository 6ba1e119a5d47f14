"""The host link port: whole host messages over a byte stream.

``Link`` does what every link driver shares: framing each payload with its
2-byte length (``hal.framing``), reassembling whole payloads from whatever
pieces arrive, and turning every failure into a ``LinkError`` with a stable
code. A driver overrides four hooks:

``_connect(timeout)``
    open the connection; raise ``LinkError`` ``link.down`` or
    ``link.connect_timeout``.
``_write(data)``
    send all of ``data``; raise ``LinkError``/``OSError`` on failure.
``_read_nowait()``
    the bytes waiting now, ``b""`` if none; raise ``LinkError``
    ``link.closed`` (or any ``OSError``) when the peer has gone.
``_disconnect()``
    close the connection; must not raise.

Error codes: ``link.down`` (cannot connect), ``link.connect_timeout``,
``link.send_failed``, ``link.not_connected`` (send before connect or after
the connection dropped), ``link.closed`` (the peer closed: ``poll()`` first
returns any whole frames that arrived before the close, and raises on the
next call, once), ``link.bad_frame`` (the peer's framing is out of step: the
base disconnects; whole frames that came before the bad length are returned
first and the error raised on the next call, once), ``link.not_open``. ``send`` of an empty or oversized
payload raises ``ProtocolError`` (``link.empty_frame``/``link.frame_too_big``)
from ``hal.framing``; a timeout of 0 or less is ``ConfigError``
``link.bad_timeout``. Payload bytes are never logged or put in an error.
"""

from __future__ import annotations

import logging
import time

from firmware.errors import ConfigError, LinkError, ProtocolError
from hal.base import Device, DeviceContext
from hal.framing import FrameBuffer, frame
from hal.url import DeviceUrl, Option

__all__ = ["Link", "closed_error"]

log = logging.getLogger(__name__)


def closed_error() -> LinkError:
    return LinkError("the host closed the connection", code="link.closed")


class Link(Device):
    """Port for host links. Drivers override the four hooks above."""

    kind = "link"
    OPTIONS = {
        "connect_timeout": Option(float, 10.0, "seconds to wait for the host to accept"),
        "idle_hangup": Option(float, 0.0, "seconds without traffic after which an idle terminal hangs up; 0 keeps the line"),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        if not self.options["connect_timeout"] > 0:
            raise ConfigError(
                f"option 'connect_timeout' in {self.url.shown!r} expects a number of seconds above 0, "
                f"got {self.options['connect_timeout']}",
                code="config.bad_option",
            )
        if self.options["idle_hangup"] < 0:
            raise ConfigError(
                f"option 'idle_hangup' in {self.url.shown!r} expects 0 or a number of seconds, "
                f"got {self.options['idle_hangup']}",
                code="config.bad_option",
            )
        self._connected = False
        self._frames = FrameBuffer()
        self._pending: LinkError | None = None  # a close or bad framing found after frames poll() returned
        self._last_traffic = 0.0  # time.monotonic() of the last connect, send or received frame

    # -- what drivers override ----------------------------------------------
    def _connect(self, timeout: float) -> None:  # hook
        raise NotImplementedError

    def _write(self, data: bytes) -> None:  # hook
        raise NotImplementedError

    def _read_nowait(self) -> bytes:  # hook
        raise NotImplementedError

    def _disconnect(self) -> None:  # hook
        raise NotImplementedError

    # -- the port -------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self, timeout: float | None = None) -> None:
        """Connect to the host (a no-op when already connected).

        ``timeout`` defaults to the ``connect_timeout`` option. Blocks for at
        most that long: dialling is the one wait a link cannot avoid.
        """
        if not self.is_open:
            raise LinkError("host link is not open", code="link.not_open")
        if self._connected:
            return
        wait = self.options["connect_timeout"] if timeout is None else timeout
        if not wait > 0:
            raise ConfigError(f"a connect timeout must be above 0 seconds, not {wait}", code="link.bad_timeout")
        self._frames.clear()
        self._pending = None
        self._connect(wait)
        self._connected = True
        self._last_traffic = time.monotonic()
        log.debug("%s connected", self)

    def hangup_deadline(self) -> float | None:
        """When an idle line should be hung up (``idle_hangup``), in ``time.monotonic()`` terms.

        A dial-up line costs money while it is up, so a modem hangs up soon after
        the last exchange; a TCP link keeps its connection (0). The runner hangs up
        only while the terminal itself is idle.
        """
        hangup = self.options["idle_hangup"]
        return self._last_traffic + hangup if self._connected and hangup > 0 else None

    def send(self, payload: bytes) -> None:
        """Send one whole host message (framed here)."""
        data = frame(payload)  # ProtocolError link.empty_frame / link.frame_too_big
        if not self._connected:
            raise LinkError("not connected to the host", code="link.not_connected")
        try:
            self._write(data)
        except OSError as exc:
            self._drop_connection()
            if isinstance(exc, LinkError) and exc.code == "link.send_failed":
                raise
            raise LinkError("could not send to the host", code="link.send_failed") from None
        self._last_traffic = time.monotonic()
        log.debug("%s sent %d bytes", self, len(payload))

    def poll(self) -> list[bytes]:
        """Every whole message received since the last poll. Never blocks."""
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        if not self._connected:
            return []
        closed = bad = False
        payloads: list[bytes] = []
        while True:
            try:
                data = self._read_nowait()
            except OSError:  # LinkError link.closed, or a reset the driver passed on
                closed = True
                break
            if not data:
                break
            try:
                payloads += self._frames.feed(data)
            except ProtocolError:
                bad = True
            bad = bad or self._frames.broken  # the whole frames before a bad length are still delivered
            if bad:
                break
        if bad or closed:
            if closed:
                log.debug("%s: host closed the connection", self)
            self._drop_connection()
            error = (LinkError("the host's framing is out of step; disconnected", code="link.bad_frame") if bad
                     else closed_error())
            if not payloads:
                raise error
            self._pending = error
        if payloads:
            self._last_traffic = time.monotonic()
        return payloads

    def disconnect(self) -> None:
        """Close the connection; anything half-received is dropped. Safe to call twice."""
        self._pending = None
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._connected:
            self._connected = False
            self._disconnect()
            log.debug("%s disconnected", self)
        self._frames.clear()

    def _do_close(self) -> None:
        self.disconnect()
