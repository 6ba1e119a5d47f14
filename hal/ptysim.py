"""What every device simulator on a real wire (a pseudo-terminal or a socket) shares.

A simulator is an instrument, as gpiozero's mock pins are: a test drives it
and reads what it recorded, and the real driver talks to it over a real file
descriptor. Two small pieces carry the plumbing, so each simulator writes only
its device:

``Instrument``  the records live behind one ``threading.Condition``;
                ``wait_until(predicate)`` re-checks each time the device's
                thread notifies, and fails naming what was seen so far;
                ``received`` is the bytes the device took from the wire
                (the modem simulator's only when a test asks: they are
                whole requests, card data included);
                ``record()`` declares another record, read under the lock.
``SimThread``   the device's own daemon thread: one ``select`` loop over the
                wire's files and a wake pipe, orders from the test's thread
                through that pipe (``_order`` returns once the thread has
                carried one out), and ``close()``, which stops the thread
                before it closes the files, so the thread never reads a file
                descriptor number that was closed and perhaps reused.

A simulator overrides ``_watched()`` (what to wait on), ``_serve(ready)``
(what to do when something is readable or ``_timeout()`` expired),
``_obey(order)`` and ``_release()``.

``PtySim`` is the common case of a ``SimThread``: a device on the master side
of one raw pseudo-terminal, whose thread reads what the driver writes, hands
it to ``handle(data)`` and writes back whatever that answers; ``_stalled``
stops the reading. ``raw_pty()`` opens such a pseudo-terminal.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Self, TypeVar

__all__ = ["Instrument", "PtySim", "SimThread", "raw_pty", "record"]

T = TypeVar("T")

QUIT = b"q"  # the one order every simulator knows


def raw_pty() -> tuple[int, int]:
    """``os.openpty()`` with the slave raw: no echo or CR/LF mangling before the driver sets its own modes.

    The simulator keeps the slave open too, so the master never reads EIO in
    the moments between a driver's close and its next open.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


class record(Generic[T]):  # lower case: it is used like ``property``
    """A read-only record: ``errors = record(list)`` reads ``self._errors`` under the lock, as a copy.

    The copy (``list``, ``bytes``; none for an immutable value) is a snapshot
    the device's thread cannot change while a test looks at it.
    """

    def __init__(self, copy: Callable[[Any], T] | None = None, doc: str = "") -> None:
        self._copy = copy
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._attr = "_" + name

    def __get__(self, obj: Instrument | None, owner: type) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        with obj._cond:
            value = getattr(obj, self._attr)
            return self._copy(value) if self._copy is not None else value


class Instrument:
    """Records behind one condition, and a bounded wait for them."""

    what: ClassVar[str] = "simulator"  # names the device in assertion messages

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()  # reentrant: a record's property may take it again
        self._received = bytearray()  # appended by the device under the lock

    received = record(bytes, "Every byte the device took from the wire, as its simulator counts them.")

    def _progress(self) -> str:  # hook
        """What a failed ``wait_until`` reports as seen so far (called under the lock)."""
        return ""

    def wait_until(self, predicate: Callable[[Self], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate(self)`` holds; AssertionError after ``timeout`` (a bound, not a speed test)."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                seen = self._progress()
                raise AssertionError(
                    f"{self.what}: condition not met within {timeout:g} s" + (f"; {seen}" if seen else "")
                )


class SimThread(Instrument):
    """A device's own thread, woken by a pipe. Subclasses open their files, then call ``_start(name)``."""

    def __init__(self) -> None:
        super().__init__()
        self._wake_r, self._wake_w = os.pipe()
        self._obeyed = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- what a simulator overrides ------------------------------------------------
    def _watched(self) -> list[Any]:  # hook
        """The files the thread waits on now, besides its wake pipe."""
        return []

    def _timeout(self) -> float | None:  # hook
        """Seconds until the device has something to do by itself; None: only when a file is ready."""
        return None

    def _serve(self, ready: list[Any]) -> bool:  # hook
        """Handle the ready files (none if the timeout expired). Return False to end the thread."""
        raise NotImplementedError

    def _obey(self, order: bytes) -> None:  # hook
        """Carry out one order sent by ``_wake``/``_order`` (other than quitting), in the thread."""

    def _release(self) -> None:  # hook
        """Close the wire's files; the thread has stopped."""

    # -- the thread --------------------------------------------------------------------
    def _start(self, name: str) -> None:
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            ready = select.select([self._wake_r, *self._watched()], [], [], self._timeout())[0]
            if self._wake_r in ready:
                order = os.read(self._wake_r, 1)
                if order == QUIT:
                    return
                self._obey(order)
                self._obeyed.set()
                continue  # the files may have changed: wait on the new ones
            if not self._serve(ready):
                return

    def _wake(self, order: bytes) -> None:
        """Send the thread a one-byte order; do not wait for it."""
        os.write(self._wake_w, order)

    def _order(self, order: bytes, doing: str, timeout: float = 5.0) -> None:
        """Send the thread an order and return once it has been carried out."""
        self._obeyed.clear()
        self._wake(order)
        if not self._obeyed.wait(timeout):
            raise AssertionError(f"{self.what} did not {doing}")

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the thread, then close the files: the device goes away. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._wake(QUIT)
        if self._thread is not None:
            self._thread.join()
        self._release()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PtySim(SimThread):
    """A device on the master side of a raw pty; ``port`` is the slave's path, for the driver to open."""

    def __init__(self) -> None:
        super().__init__()
        self._master: int | None  # None once the device is unplugged
        self._master, self._slave = raw_pty()
        self.port = os.ttyname(self._slave)
        self._stalled = False  # set under the lock; the thread stops reading

    def handle(self, data: bytes) -> bytes | None:  # hook
        """Take bytes from the driver; return the bytes to answer with, if any."""
        raise NotImplementedError

    def _take(self, data: bytes) -> bytes | None:
        """What the thread does with bytes read (``handle``; a simulator may wrap it)."""
        return self.handle(data)

    def _watched(self) -> list[int]:
        with self._cond:
            stalled = self._stalled
        return [] if stalled or self._master is None else [self._master]

    def _serve(self, ready: list[int]) -> bool:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return False
        if not data:
            return False
        reply = self._take(data)
        if reply:
            os.write(self._master, reply)
        return True

    def _unplug(self) -> None:
        """Close the master (in the thread): the driver's side of the pty is hung up, its writes fail."""
        if self._master is not None:
            os.close(self._master)
            self._master = None

    def _release(self) -> None:
        self._unplug()
        os.close(self._slave)
