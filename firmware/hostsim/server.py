"""The host simulator behind a real TCP socket: per connection, a thread that reads and one that answers.

Frames are the link's 2-byte length + payload (``hal.framing``), so the
terminal's TCP link talks to this exactly as to an acquirer. Requests are
served pipelined, as a real host serves a terminal that keeps several messages
in flight: the reading thread processes each frame as it arrives (the
processor and its ledger are used under one lock) and hands its ``Answer`` to
the connection's answering thread, which sends each answer when its own
``delay`` has passed. So an answer held back by a ``delay`` rule does not hold
back the frames behind it, and quicker answers overtake it. ``payload=None``
sends nothing and keeps the connection; ``close`` closes it once the answers
due before it have gone, and nothing more is read or sent on it. Other
connections carry on meanwhile.
"""

from __future__ import annotations

import heapq
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from firmware.errors import ProtocolError, TerminalError
from hal.framing import FrameBuffer, frame

__all__ = ["HostSimServer"]

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Due:
    at: float  # time.monotonic() when it goes
    seq: int  # arrival order, among answers due at the same moment
    payload: bytes | None = field(compare=False)
    close: bool = field(compare=False)
    also: tuple[bytes, ...] = field(default=(), compare=False)  # more frames, in the same write


class _Outbox:
    """One connection's answers waiting out their delays; its thread sends each when it is due."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self._cond = threading.Condition()
        self._due: list[_Due] = []
        self._seq = 0
        self._finished = False  # no more answers will come: send those owed, then stop
        self._dead = False  # closed: nothing more is sent
        self.thread = threading.Thread(target=self._run, name="host-sim-answers", daemon=True)

    def put(self, payload: bytes | None, delay: float, close: bool, also: tuple[bytes, ...] = ()) -> None:
        with self._cond:
            heapq.heappush(self._due, _Due(time.monotonic() + max(0.0, delay), self._seq, payload, close, also))
            self._seq += 1
            self._cond.notify()

    def finish(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify()

    def kill(self) -> None:
        with self._cond:
            self._dead = True
            self._due.clear()
            self._cond.notify()

    def _next(self) -> _Due | None:
        with self._cond:
            while not self._dead:
                if not self._due:
                    if self._finished:
                        return None
                    self._cond.wait()
                    continue
                wait = self._due[0].at - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._due)
                self._cond.wait(wait)
            return None

    def _run(self) -> None:
        while (due := self._next()) is not None:
            if due.payload is not None:
                try:  # an answer and the frames scripted to follow it (``Answer.also``) in one write
                    self.conn.sendall(b"".join(frame(p) for p in (due.payload, *due.also)))
                except OSError:  # the terminal has gone: the rest cannot be delivered either
                    self.kill()
                    return
            if due.close:
                self.kill()
                _shutdown(self.conn)
                return


class HostSimServer:
    def __init__(self, processor: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.processor = processor
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: dict[socket.socket, tuple[threading.Thread, _Outbox | None]] = {}
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
        for conn, (_, outbox) in conns:
            if outbox is not None:
                outbox.kill()  # answers still waiting out a delay are not sent
            _shutdown(conn)
        for _, (thread, _) in conns:
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
                self._conns[conn] = (thread, None)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        """Read and process frames as they come; the outbox sends each answer when its delay ends."""
        buffer = FrameBuffer()
        outbox = _Outbox(conn)
        with self._conns_lock:
            self._conns[conn] = (threading.current_thread(), outbox)
        outbox.thread.start()
        try:
            while not self._stopping.is_set():
                data = conn.recv(4096)
                if not data:
                    return
                try:
                    payloads = buffer.feed(data)
                except ProtocolError as exc:
                    log.warning("host-sim: dropping a connection (%s)", exc.code)
                    outbox.kill()
                    return
                for payload in payloads:
                    if not self._answer(outbox, payload):
                        return
                if buffer.broken:  # a bad length after whole requests: they are answered, then the connection goes
                    log.warning("host-sim: dropping a connection (link.bad_frame_length)")
                    return
        except OSError:
            return
        finally:
            outbox.finish()  # answers owed still go (the peer may have closed its sending side only)
            outbox.thread.join()  # bounded by their delays; stop() ends it at once
            with self._conns_lock:
                self._conns.pop(conn, None)
            conn.close()

    def _answer(self, outbox: _Outbox, payload: bytes) -> bool:
        """Hand the processor's answer to the outbox; False when nothing more is to be read."""
        failure = None
        with self._lock:
            try:
                answer = self.processor.respond(payload)
            except TerminalError as exc:
                failure = exc.code
        if failure is not None:
            log.error("host-sim: could not answer, dropping the connection (%s)", failure)
            outbox.kill()
            return False
        if answer.payload is not None or answer.close:
            outbox.put(answer.payload, answer.delay, answer.close, tuple(getattr(answer, "also", ())))
        return not answer.close  # a host that closes reads nothing more

    def __repr__(self) -> str:
        state = f"{self.address[0]}:{self.address[1]}" if self._sock is not None else "stopped"
        return f"<HostSimServer {state}>"


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
