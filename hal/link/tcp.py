"""A host link over TCP (``tcp://host:port?connect_timeout=10``).

Connecting blocks for at most the connect timeout. Once connected the
socket is read without blocking (``select`` with a zero timeout), and
``fileno()`` is the socket, so the runner can wait on it. A send waits at
most the connect timeout for room in the socket buffer; host messages are
small, so in practice it never waits.
"""

from __future__ import annotations

import select
import socket
from typing import Any

from firmware.errors import ConfigError, LinkError
from hal.link import Link, closed_error

__all__ = ["TcpLink"]

READ_SIZE = 4096


class TcpLink(Link):
    """``tcp://`` link to an acquirer host or a host simulator."""

    scheme = "tcp"

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        if not self.url.host or not self.url.port:
            raise ConfigError(
                f"link URL {self.url.shown!r} needs a host and port, as tcp://host:port", code="config.bad_url"
            )
        self._sock: socket.socket | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self.url.port is not None
        return self.url.host, self.url.port

    def fileno(self) -> int | None:
        return self._sock.fileno() if self._sock is not None else None

    def _connect(self, timeout: float) -> None:
        host, port = self.address
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError:
            raise LinkError(
                f"host {host}:{port} did not answer within {timeout:g} s", code="link.connect_timeout"
            ) from None
        except OSError as exc:  # refused, unreachable, no such host
            reason = exc.strerror or type(exc).__name__
            raise LinkError(f"cannot connect to host {host}:{port} ({reason})", code="link.down") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)  # bounds sendall; reads below never wait
        self._sock = sock

    def _write(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError:
            raise LinkError("could not send to the host", code="link.send_failed") from None

    def _read_nowait(self) -> bytes:
        sock = self._sock
        if sock is None:
            raise closed_error()
        if not select.select([sock], [], [], 0)[0]:
            return b""
        data = sock.recv(READ_SIZE)  # readable, so this does not wait; a reset raises OSError
        if not data:
            raise closed_error()
        return data

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
