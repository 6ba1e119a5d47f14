"""``tcp://10.0.0.9:9100?timeout=2``: an ESC/POS printer on a raw TCP port (9100 unless given).

The printer answers ``DLE EOT n`` on the same connection. One connection is
kept open. Print servers close a connection that stays idle (JetDirect-style
idle timeouts), so before each status request the driver checks whether the
printer closed it and, if so, connects again (within the request's timeout).
A connection that fails while a receipt is being sent is not retried: part
of the receipt may be on paper, and the port reports the cause. A receipt's
write returns once the printer has acknowledged every byte (the socket's
unacknowledged count, ``SIOCOUTQ``, is 0; Linux, as on the terminal), within
``timeout``.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
import termios
import time
from typing import ClassVar

from firmware.errors import ConfigError, PrinterError
from hal.base import DeviceContext
from hal.printer.stream import StreamPrinter
from hal.url import DeviceUrl

__all__ = ["NetworkPrinter", "DEFAULT_PORT"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 9100
SIOCOUTQ = termios.TIOCOUTQ  # Linux: the same request gives a TCP socket's bytes not yet acknowledged
_DRAIN_POLL = 0.005  # seconds between two looks at the send queue


class NetworkPrinter(StreamPrinter):
    scheme: ClassVar[str] = "tcp"

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        if not self.url.host or self.url.path not in ("", "/"):
            raise ConfigError(
                f"network printer URL {self.url.shown!r} must be tcp://host[:port]", code="config.bad_url"
            )
        self._sock: socket.socket | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.url.host, self.url.port or DEFAULT_PORT

    def _connect(self, code: str, timeout: float | None = None) -> socket.socket:
        host, port = self.address
        try:
            sock = socket.create_connection((host, port), timeout=self.timeout if timeout is None else timeout)
        except OSError:
            raise PrinterError(f"could not connect to the printer at {host}:{port}", code=code) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a status request must not wait for Nagle
        return sock

    def _do_open(self) -> None:
        self._sock = self._connect("printer.open_failed")

    def _do_close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def fileno(self) -> int | None:
        return self._sock.fileno() if self._sock is not None else None

    # -- transport -----------------------------------------------------------
    def _socket(self, timeout: float | None = None) -> socket.socket:
        """The connection, made again (within ``timeout``, None: the option's) if the printer closed it."""
        if self._sock is None:
            self._sock = self._connect("printer.disconnected", timeout)
        return self._sock

    def _send(self, data: bytes, timeout: float) -> None:
        sock = self._socket(timeout)
        sock.settimeout(timeout)
        sock.sendall(data)  # socket.timeout is TimeoutError

    def _drain(self, deadline: float) -> None:
        sock = self._socket()
        while struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0\0\0\0"))[0]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the printer did not acknowledge the receipt")
            time.sleep(min(left, _DRAIN_POLL))

    def _recv(self, timeout: float) -> bytes:
        sock = self._socket()
        sock.settimeout(timeout)
        try:
            data = sock.recv(256)
        except TimeoutError:
            return b""
        if not data:
            raise ConnectionResetError("the printer closed the connection")
        return data

    def _discard_input(self) -> None:
        sock = self._sock
        if sock is None:  # the send after this connects, within its own timeout
            return
        closed = False
        sock.setblocking(False)
        try:
            while sock.recv(4096):
                pass
            closed = True  # recv returned b"": the printer closed its end
        except BlockingIOError:
            pass
        except OSError:  # reset by the printer
            closed = True
        if closed:  # connected again by the status request's send, within its timeout
            log.info("printer %s:%d closed the connection; connecting again", *self.address)
            sock.close()
            self._sock = None
