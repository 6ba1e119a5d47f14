"""Talking to systemd: readiness, the watchdog and stopping, by the sd_notify protocol.

Under a ``Type=notify`` unit systemd sets ``NOTIFY_SOCKET`` (a datagram socket,
``@`` for the abstract namespace) and, with ``WatchdogSec=``, ``WATCHDOG_USEC``
(and ``WATCHDOG_PID``). The terminal says ``READY=1`` once its devices are open
and recovery is done, ``WATCHDOG=1`` from its main loop at least twice per
watchdog interval, and ``STOPPING=1`` on the way out. The pings come from the
loop itself, so a loop stuck in a device or a disk stops them and systemd
restarts the service.

A few device calls block by design for a bounded time longer than the
watchdog allows: dialling a modem (up to a minute), a TCP connect, a modem's
hang-up. The runner wraps them in ``bounded(seconds)``; while one runs, a
helper thread pings instead of the loop, until the bound. A call that
overruns its bound stops the pings like a stuck loop does.

Before ``READY=1`` systemd gives the start ``TimeoutStartSec=`` (90 s by
default). A schema migration after an update reads and copies the whole
database (its snapshot and digests: about 13 s at 300,000 records here, minutes
on a Pi Zero), so a terminal with a long journal would be killed mid-migration
at every start until boot-check rolled the update back. While a migration runs
(``extending``) a helper thread sends ``EXTEND_TIMEOUT_USEC`` every ``step``
seconds, up to a bound, so a migration that really hangs still times out.

Outside systemd every call does nothing. No dependency: the protocol is one
datagram of ``KEY=value`` lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping

__all__ = ["Notifier"]

log = logging.getLogger(__name__)


class Notifier:
    """``sd_notify`` for one process; a no-op when ``NOTIFY_SOCKET`` is not set."""

    def __init__(self, address: str | None, watchdog_usec: int | None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.address = address
        self.interval = watchdog_usec / 1e6 if watchdog_usec else None  # seconds, as systemd counts them
        self._monotonic = monotonic
        self._last_ping = float("-inf")
        self._warned = False
        self._lock = threading.Lock()
        self._busy_until = float("-inf")  # the loop is inside a bounded blocking call until then
        self._pinger: threading.Thread | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog = int(usec) if usec.isdigit() and int(usec) > 0 else None
        if pid and pid != str(os.getpid()):  # the watchdog is someone else's (a parent)
            watchdog = None
        return cls(address, watchdog)

    @property
    def active(self) -> bool:
        return self.address is not None

    @property
    def max_wait(self) -> float | None:
        """The longest the main loop may sleep between pings (half the watchdog interval)."""
        return self.interval / 2 if self.interval else None

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))
        self._last_ping = self._monotonic()

    def watchdog(self) -> None:
        """Ping, at most four times per interval (the loop may call it at every turn)."""
        if self.interval is None:
            return
        with self._lock:
            now = self._monotonic()
            if now - self._last_ping < self.interval / 4:
                return
            self._last_ping = now
        self._send("WATCHDOG=1")

    @contextlib.contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """The loop blocks in one call for at most ``seconds``: keep the watchdog fed until then."""
        if self.interval is None:
            yield
            return
        with self._lock:
            self._busy_until = self._monotonic() + seconds
            if self._pinger is None:
                self._pinger = threading.Thread(target=self._ping_while_busy, name="watchdog", daemon=True)
                self._pinger.start()
        try:
            yield
        finally:
            with self._lock:
                self._busy_until = float("-inf")
            self.watchdog()

    def _ping_while_busy(self) -> None:
        while True:
            time.sleep(self.interval / 4)
            with self._lock:
                busy = self._monotonic() < self._busy_until
            if busy:
                self.watchdog()

    @contextlib.contextmanager
    def extending(self, status: str, *, step: float = 30.0, limit: float = 1800.0) -> Iterator[None]:
        """A long step before ready (a schema migration): ask systemd for ``2 * step`` more seconds of start-up
        now and every ``step`` seconds while the block runs, for at most ``limit`` seconds in all."""
        if self.address is None:
            yield
            return
        done = threading.Event()
        message = f"EXTEND_TIMEOUT_USEC={int(2 * step * 1_000_000)}\nSTATUS={status}"

        def extend() -> None:
            deadline = self._monotonic() + limit
            while not done.wait(step) and self._monotonic() < deadline:
                self._send(message)

        self._send(message)
        helper = threading.Thread(target=extend, name="start-timeout", daemon=True)
        helper.start()
        try:
            yield
        finally:
            done.set()
            helper.join()

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def _send(self, message: str) -> None:
        if self.address is None:
            return
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), address)
        except OSError as e:  # systemd gone or the socket wrong: not worth stopping sales for
            if not self._warned:
                self._warned = True
                log.warning("cannot notify systemd at %s (%s)", self.address, e.strerror or type(e).__name__)

    def __repr__(self) -> str:
        return f"<Notifier {self.address or 'off'} watchdog={self.interval}>"
