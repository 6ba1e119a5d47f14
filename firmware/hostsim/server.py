"""The host simulator behind a real TCP socket, one thread per connection.

Frames are the link's 2-byte length + payload (``hal.framing``), so the
terminal's TCP link talks to this exactly as to an acquirer. Each
``Answer`` is honoured: ``delay`` sleeps in the connection's own thread (other
connections carry on), ``payload=None`` sends nothing and keeps the
connection, ``close`` closes it. The processor and its ledger are used under
one lock.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from firmware.errors import ProtocolError, TerminalError
from hal.framing import FrameBuffer, frame

__all__ = ["HostSimServer"]

log = logging.getLogger(__name__)


class HostSimServer:
    def __init__(self, processor: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.processor = processor
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()

    @property
    def address(self) -> tuple[str, int]:
        if self._sock is None:
            raise RuntimeError("the host simulator is not started")
        host, port = self._sock.getsockname()[:2]
        return host, port

    def start(self) -> tuple[str, int]:
        """Listen and serve in background threads; the bound ``(host, port)``."""
        if self._sock is not None:
            return self.address
        self._stopping.clear()
        self._sock = socket.create_server((self.host, self.port))
        self._accept_thread = threading.Thread(target=self._accept_loop, name="host-sim-accept", daemon=True)
        self._accept_thread.start()
        return self.address

    def stop(self) -> None:
        """Stop listening, close every connection and wait for the threads."""
        if self._sock is None:
            return
        self._stopping.set()
        sock, self._sock = self._sock, None
        _shutdown(sock)
        sock.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        with self._conns_lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            _shutdown(conn)
        for _, thread in conns:
            thread.join(timeout=5)

    def __enter__(self) -> HostSimServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- threads ---------------------------------------------------------------
    def _accept_loop(self) -> None:
        sock = self._sock
        while sock is not None and not self._stopping.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                break
            thread = threading.Thread(target=self._serve, args=(conn,), name="host-sim-conn", daemon=True)
            with self._conns_lock:
                self._conns[conn] = thread
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = FrameBuffer()
        try:
            while not self._stopping.is_set():
                data = conn.recv(4096)
                if not data:
                    return
                try:
                    payloads = buffer.feed(data)
                except ProtocolError as exc:
                    log.warning("host-sim: dropping a connection (%s)", exc.code)
                    return
                for payload in payloads:
                    if not self._answer(conn, payload):
                        return
        except OSError:
            return
        finally:
            with self._conns_lock:
                self._conns.pop(conn, None)
            conn.close()

    def _answer(self, conn: socket.socket, payload: bytes) -> bool:
        """Carry out the processor's answer; False when the connection must end."""
        failure = None
        with self._lock:
            try:
                answer = self.processor.respond(payload)
            except TerminalError as exc:
                failure = exc.code
        if failure is not None:
            log.error("host-sim: could not answer, dropping the connection (%s)", failure)
            return False
        if answer.delay and self._stopping.wait(answer.delay):
            return False
        if answer.payload is not None:
            conn.sendall(frame(answer.payload))
        return not answer.close

    def __repr__(self) -> str:
        state = f"{self.address[0]}:{self.address[1]}" if self._sock is not None else "stopped"
        return f"<HostSimServer {state}>"


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
