"""Printer *device* simulators for testing the real drivers over a real wire.

``PtyPrinterSim`` sits on the master side of a pseudo-terminal; the real
``SerialPrinter`` (real pyserial) opens ``sim.port``, the slave. Its twin
``TcpPrinterSim`` listens on a real local TCP port for ``NetworkPrinter``.
Each runs a thread that reads what the driver sends, answers ``DLE EOT n``
with status bytes built from its state (``hal.printer.status``), and records:

``received``      every byte, status requests included
``print_data``    the print bytes (status requests left out) that reached paper
``printed_text``  the text that reached paper (ESC/GS/FS sequences stripped; text
                  between ``FS &`` and ``FS .`` decoded as GB18030, as a printer
                  with a Chinese font prints it)
``status_requests``, ``cuts``

Faults: ``paper_out()``, ``paper_out_after(n)`` (the roll ends part-way
through a receipt: the printer keeps reading, the bytes after the ``n``-th
are lost, and the status says paper end), ``paper_low()``, ``load_paper()``,
``open_cover()``, ``close_cover()``, ``go_offline()``, ``go_online()``,
``mute()`` (stop answering; ``mute(after_next_status=True)`` answers one more
status check first), ``unmute()``, ``close()`` (the device goes away); the pty one
also ``hold_line()``/``release_line()`` (XOFF/XON) and ``stall()``/``unstall()``
(stops reading, as with CTS low); the TCP one ``drop_connection()`` (the
printer closes an idle connection).

A simulator answers in its own thread, so after the driver writes, a test
waits with ``wait_until(...)`` (or simply asks for status: the answer comes
after everything sent before it was read).
"""

from __future__ import annotations

import dataclasses
import os
import select
import socket
import time
from collections.abc import Mapping

from hal.printer.decode import (
    Command,
    EscPosDecoder,
    LineFeed,
    StatusRequestEvent,
    Text,
)
from hal.printer.status import DeviceState, SensorFaults, StatusRequest, encode_status, feed_paper
from hal.ptysim import Instrument, PtySim, SimThread, record

__all__ = ["PrinterDevice", "PtyPrinterSim", "TcpPrinterSim"]

_CUT = (b"\x1dV", b"\x1bi", b"\x1bm")
_KNOWN_REQUESTS = frozenset(int(n) for n in StatusRequest)
XON, XOFF = b"\x11", b"\x13"


class PrinterDevice(SensorFaults, Instrument):
    """The printer's side of the wire, without the wire: state, records, replies."""

    what = "printer simulator"

    def __init__(self, codecs: Mapping[int, str] | None = None) -> None:
        super().__init__()
        self._state = DeviceState()
        self._answering = True
        self._mute_after_status = False
        self._codecs = codecs
        self._decoder = EscPosDecoder(codecs)  # the wire: finds the real-time status requests
        self._paper = EscPosDecoder(codecs)  # what reaches paper
        self._print_data = bytearray()
        self._text: list[str] = []
        self._status_requests: list[int] = []
        self._cuts = 0

    def handle(self, data: bytes) -> bytes:
        """Take bytes from the wire; return the bytes to answer with."""
        reply = bytearray()
        with self._cond:
            self._received += data
            for event in self._decoder.feed(data):
                if isinstance(event, StatusRequestEvent):
                    self._status_requests.append(event.n)
                    if self._answering and event.n in _KNOWN_REQUESTS:
                        reply.append(encode_status(self._state, event.n))
                        if self._mute_after_status and event.n == StatusRequest.ROLL_PAPER:
                            self._answering = self._mute_after_status = False
                    continue
                self._state, printed = feed_paper(self._state, event.data)
                self._print(printed)
            self._cond.notify_all()
        return bytes(reply)

    def _print(self, data: bytes) -> None:
        """Put print bytes on paper (under the lock); a command cut short by the roll's end never completes."""
        self._print_data += data
        for event in self._paper.feed(data):
            if isinstance(event, Text):
                self._text.append(event.text)
            elif isinstance(event, LineFeed):
                self._text.append("\n")
            elif isinstance(event, Command) and event.data[:2] in _CUT:
                self._cuts += 1

    # -- records --------------------------------------------------------------
    print_data = record(bytes)

    @property
    def printed_text(self) -> str:
        with self._cond:
            return "".join(self._text)

    status_requests = record(list)
    cuts = record()

    def _progress(self) -> str:
        return f"received {len(self._received)} bytes"

    # -- faults ---------------------------------------------------------------
    def _set(self, **changes: object) -> None:
        with self._cond:
            self._state = dataclasses.replace(self._state, **changes)

    def mute(self, *, after_next_status: bool = False) -> None:
        """Stop answering status requests (still reads what is sent), now or right after answering
        the next ``DLE EOT 4`` (the last of a status check): a printer switched off mid-receipt."""
        with self._cond:
            if after_next_status:
                self._mute_after_status = True
            else:
                self._answering = False

    def load_paper(self) -> None:
        """A new roll: what was cut short by the old one's end is gone, the next receipt starts clean."""
        with self._cond:
            super().load_paper()
            self._paper = EscPosDecoder(self._codecs)

    def unmute(self) -> None:
        with self._cond:
            self._answering = True
            self._mute_after_status = False


class PtyPrinterSim(PrinterDevice, PtySim):
    """A printer on the master side of ``os.openpty()``; ``port`` is the slave path for ``serial://``.

    Two ways a printer stops taking bytes, as it does when its buffer is full
    or it runs out of paper: ``hold_line()`` sends XOFF (the driver must use
    ``flow=xonxoff``), ``release_line()`` XON; ``stall()`` stops reading, as a
    printer deasserting CTS does, so the pty fills up, and ``unstall()`` reads
    again.
    """

    def __init__(self, codecs: Mapping[int, str] | None = None) -> None:
        super().__init__(codecs)
        self._stall_after_status = False
        self._start("pty-printer-sim")

    @property
    def url(self) -> str:
        return f"serial://{self.port}"

    def hold_line(self) -> None:
        """Send XOFF; returns once the tty has stopped taking bytes from the driver."""
        os.write(self._master, XOFF)
        self._wait_writable(False)

    def release_line(self) -> None:
        os.write(self._master, XON)
        self._wait_writable(True)

    def _wait_writable(self, writable: bool, limit: float = 5.0) -> None:
        deadline = time.monotonic() + limit
        while bool(select.select([], [self._slave], [], 0)[1]) != writable:
            if time.monotonic() > deadline:
                raise AssertionError("printer simulator: the tty did not follow XON/XOFF (is flow=xonxoff set?)")
            time.sleep(0.001)

    def stall(self, *, after_next_status: bool = False) -> None:
        """Stop reading now (returns once the thread has stopped), or right after answering the next
        ``DLE EOT 4`` (the last of a status check)."""
        with self._cond:
            if after_next_status:
                self._stall_after_status = True
            else:
                self._stalled = True
        self._order(b"s", "stop reading")

    def unstall(self) -> None:
        with self._cond:
            self._stalled = self._stall_after_status = False
        self._wake(b"r")

    def _take(self, data: bytes) -> bytes:
        with self._cond:
            asked_before = len(self._status_requests)
        reply = self.handle(data)
        with self._cond:
            if self._stall_after_status and StatusRequest.ROLL_PAPER in self._status_requests[asked_before:]:
                self._stall_after_status, self._stalled = False, True
        return reply


class TcpPrinterSim(PrinterDevice, SimThread):
    """A printer on a local TCP port, one connection at a time like a real raw-9100 port."""

    def __init__(self, host: str = "127.0.0.1", codecs: Mapping[int, str] | None = None) -> None:
        super().__init__(codecs)
        self._listener = socket.create_server((host, 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._client: socket.socket | None = None
        self._connections = 0
        self._start("tcp-printer-sim")

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        """How many connections were accepted so far."""
        with self._cond:
            return self._connections

    def drop_connection(self) -> None:
        """Close the current connection from the printer's side (an idle timeout); returns once it is closed."""
        self._order(b"d", "drop the connection")

    def _watched(self) -> list[socket.socket]:
        return [self._client if self._client is not None else self._listener]

    def _obey(self, order: bytes) -> None:
        self._drop()

    def _serve(self, ready: list[socket.socket]) -> bool:
        if self._client is None:
            self._client, _ = self._listener.accept()
            with self._cond:
                self._connections += 1
            return True
        try:
            data = self._client.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._drop()
            return True
        reply = self.handle(data)
        if reply:
            try:
                self._client.sendall(reply)
            except OSError:
                self._drop()
        return True

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _release(self) -> None:
        self._drop()
        self._listener.close()
