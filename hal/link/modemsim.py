"""A Hayes modem on a pseudo-terminal, for testing ``ModemLink`` over a real wire.

``PtyModemSim`` sits on the master side of ``os.openpty()``; the real
``ModemLink`` (real pyserial) opens ``sim.port``, the slave. A thread answers
AT commands with the right result codes (the interpreter, and the commands it
knows, are in ``hal.link.hayessim``); this module is the line and the call.
Once a dial connects it carries the terminal's bytes to a host and the host's
bytes back:

* ``host=``: an in-process host (``hal.base.InProcessHost``, e.g.
  ``firmware.hostsim.processor.HostProcessor``). Requests are reassembled
  with ``hal.framing`` and each ``Answer`` is honoured as the ``sim://`` link
  does: its ``payload`` arrives ``delay`` s later, ``None`` is silence, and
  ``close`` makes the far end hang up after the payload has been read;
* ``remote="host:port"``: a TCP host (``posterm host-sim``), connected when
  the dial connects and closed at the hang-up; its close is a hang-up too.

Records: ``commands`` (every AT command line), ``dials`` / ``dialled``,
``requests`` (the ``RequestFacts`` of each payload given to the in-process
host: length and MTI, never a field), ``frames`` (those payloads whole, the
last 64) and ``received`` (the data-mode bytes from the terminal, the last
64 KiB), both only with ``keep_frames=True``: a test's explicit choice, since
they hold every request whole (PAN, track 2, PIN block), ``connects``, ``hangups`` (calls the
terminal ended with ``ATH0``), ``drops`` (calls the line ended), ``aborts``
(dials stopped by a keystroke). Helpers: ``wait_until``, ``assert_hung_up``.

Faults for the next dial: ``busy()``, ``no_dialtone()``, ``no_answer()``,
``no_carrier()``, ``no_result()`` (the dial never ends until the terminal
types a character, as a modem training forever). ``silent()`` (answers
nothing, not even an echo) and ``speak()``. ``drop_carrier()`` mid-call.

Carrier loss on a pty. A pty has no DCD line, so the simulator signals a
lost carrier the only way a pty can: it hangs up. It writes ``NO CARRIER``
as a real modem does, returns to command mode, then closes its master and
opens a fresh pty. The driver's open file of the old slave then reads EOF
(``read`` returns nothing; ``ioctl`` fails with EIO), and the kernel discards
whatever it had not read (usually the ``NO CARRIER`` itself). ``port`` is a
symlink the simulator re-points at the new slave, so the driver reopens the
same path at its next connect, as it would reopen a real ``/dev/ttyUSB0``.

A pty has no DTR either: the driver hangs up with the escape sequence
(``+++`` between two silences of ``guard_time``, then ``ATH0``), which this
simulator detects. Its guard time is short (0.05 s; a real modem's is 1 s,
S12=50) so tests stay quick; ``url()`` gives the driver a guard above it.
"""

from __future__ import annotations

import enum
import fcntl
import os
import shutil
import socket
import struct
import tempfile
import termios
import time

from firmware.errors import ProtocolError
from hal.base import InProcessHost
from hal.link.hayessim import CommandMode, Dial, DialMode
from hal.link.hostend import Heard, HostEnd, RequestFacts
from hal.ptysim import SimThread, raw_pty

__all__ = ["Dial", "DialMode", "PtyModemSim"]  # Dial and DialMode live in hal.link.hayessim

RECEIVED_KEPT = 64 * 1024  # the most data-mode bytes kept (the newest), with keep_frames=True
_DRAIN_LIMIT = 2.0  # longest the far end waits for the terminal to read an answer before it hangs up
# The kernel hands bytes written to a pty master to the slave asynchronously, so "nothing unread"
# means "all read" only some time after the last write.
_SETTLE = 0.02


class _Fault(enum.Enum):
    BUSY = "BUSY"
    NO_DIALTONE = "NO DIALTONE"
    NO_ANSWER = "NO ANSWER"
    NO_CARRIER = "NO CARRIER"
    NO_RESULT = "no result"


class _Mode(enum.Enum):
    COMMAND = "command"
    DIALLING = "dialling"
    DATA = "data"


class PtyModemSim(SimThread):
    """A Hayes modem on a pty; ``port`` is the path for ``modem://``."""

    what = "modem simulator"

    def __init__(self, host: InProcessHost | None = None, *, remote: str | None = None,
                 speed: int = 33600, guard_time: float = 0.05, keep_frames: bool = False) -> None:
        self.host = host
        self.remote = _address(remote) if remote else None
        self.speed = speed
        self.guard_time = guard_time
        super().__init__()
        # records (read by tests under the lock)
        self.commands: list[str] = []
        self.dials: list[Dial] = []
        self._heard = Heard()
        self._keep_received = keep_frames  # the raw bytes too: they are the requests whole
        if keep_frames:
            self._heard.keep_frames()
        self.connects = self.hangups = self.drops = self.aborts = 0
        # faults (set by tests under the lock)
        self._faults: list[_Fault] = []
        self._silent = False
        # modem state (the thread's own)
        self._at = CommandMode(guard_time, dial=self._dial, hang_up=self._hang_up)
        self._mode = _Mode.COMMAND
        self._call_up = False
        self._last_end = ""
        self._host_end = HostEnd()  # with an in-process host: the far end of the call (hal.link.hostend)
        self._sock: socket.socket | None = None
        self._plus = 0
        self._escape_at: float | None = None
        self._closing_at: float | None = None
        self._last_rx = self._last_tx = 0.0
        # the wire
        self._dir = tempfile.mkdtemp(prefix="modemsim-")
        self.port = os.path.join(self._dir, "modem")
        self._master, self._slave = self._new_pty()
        self._start("pty-modem-sim")

    def url(self, number: str = "95516", **options: object) -> str:
        """A ``modem://`` URL for this port: no DCD on a pty, and a guard time above the simulator's."""
        opts = {"number": number, "carrier": "none", "guard_time": 2 * self.guard_time, "command_timeout": 1, **options}
        return f"modem://{self.port}?" + "&".join(f"{k}={v}" for k, v in opts.items())

    # -- records ----------------------------------------------------------------
    @property
    def dialled(self) -> list[str]:
        with self._cond:
            return [d.number for d in self.dials]

    @property
    def requests(self) -> list[RequestFacts]:
        """Each request given to the in-process host, as its facts (length, MTI): no card data."""
        with self._cond:
            return list(self._heard.facts)

    @property
    def frames(self) -> list[bytes]:
        """The whole requests, kept only with ``keep_frames=True``."""
        with self._cond:
            if self._heard.frames is None:
                raise AssertionError("this modem simulator keeps no whole requests: make it with keep_frames=True")
            return list(self._heard.frames)

    @property
    def received(self) -> bytes:  # type: ignore[override]
        """The data-mode bytes from the terminal (the last ``RECEIVED_KEPT``), kept only with ``keep_frames=True``."""
        with self._cond:
            if not self._keep_received:
                raise AssertionError("this modem simulator keeps no received bytes: make it with keep_frames=True")
            return bytes(self._received)

    @property
    def online(self) -> bool:
        with self._cond:
            return self._call_up

    def _progress(self) -> str:
        return f"commands {self.commands}"

    def assert_hung_up(self) -> None:
        """The last call was ended by the terminal (``ATH0``), and no call is up."""
        self.wait_until(lambda s: not s._call_up and s._last_end == "hangup", 2.0)

    # -- faults -----------------------------------------------------------------
    def busy(self) -> None:
        self._fault(_Fault.BUSY)

    def no_dialtone(self) -> None:
        self._fault(_Fault.NO_DIALTONE)

    def no_answer(self) -> None:
        self._fault(_Fault.NO_ANSWER)

    def no_carrier(self) -> None:
        self._fault(_Fault.NO_CARRIER)

    def no_result(self) -> None:
        self._fault(_Fault.NO_RESULT)

    def _fault(self, fault: _Fault) -> None:
        with self._cond:
            self._faults.append(fault)

    def silent(self) -> None:
        with self._cond:
            self._silent = True

    def speak(self) -> None:
        with self._cond:
            self._silent = False

    def drop_carrier(self) -> None:
        """The line fails mid-call; returns once the pty has hung up."""
        self._order(b"d", "drop the carrier")

    # -- the thread ---------------------------------------------------------------
    def _watched(self) -> list[int | socket.socket]:
        return [self._master] + ([self._sock] if self._sock is not None else [])

    def _serve(self, ready: list[int | socket.socket]) -> bool:
        master, sock = self._master, self._sock
        if master in ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                data = b""
            if data:
                self._from_terminal(data)
        if sock is not None and sock in ready and sock is self._sock:
            self._from_remote()
        self._tick()
        return True

    def _obey(self, order: bytes) -> None:
        self._lose_carrier()  # the one order besides quitting: drop_carrier()

    def _timeout(self) -> float | None:
        dues = [t for t in (self._escape_at, self._host_end.next_due()) if t is not None]
        if self._closing_at is not None:
            dues.append(time.monotonic() + 0.005)  # watch the terminal drain the answer
        return max(0.0, min(dues) - time.monotonic()) if dues else None

    def _write(self, data: bytes) -> None:
        if not data:
            return
        self._last_tx = time.monotonic()
        try:
            os.write(self._master, data)
        except OSError:
            pass

    def _result(self, text: str) -> None:
        self._write(self._at.result(text))

    def _from_terminal(self, data: bytes) -> None:
        now = time.monotonic()
        while data:
            if self._mode is _Mode.DATA:
                self._data_from_terminal(data, now)
                return
            if self._mode is _Mode.DIALLING:  # a keystroke aborts the dial
                self._mode = _Mode.COMMAND
                self._count("aborts")
                self._result("NO CARRIER")
                return
            data = self._command_bytes(data)

    def _command_bytes(self, data: bytes) -> bytes:
        """Take command-mode bytes up to a line that leaves command mode; return the rest."""
        with self._cond:
            silent = self._silent
        if self._at.echo and not silent:
            self._write(data)
        for line, rest in self._at.lines(data):
            self._run_line(line, silent)
            if self._mode is not _Mode.COMMAND:
                return rest
        return b""

    def _run_line(self, line: str, silent: bool) -> None:
        start = line.upper().find("AT")
        if start < 0:
            return  # no AT prefix: a modem ignores it
        command = line[start:].strip()
        with self._cond:
            self.commands.append(command)
            self._cond.notify_all()
        if not silent:
            self._write(self._at.execute(command[2:]))

    def _hang_up(self) -> None:
        if self._call_up:
            self._end_call("hangup")

    def _dial(self, dial: Dial) -> str | None:
        with self._cond:
            self.dials.append(dial)
            fault = self._faults.pop(0) if self._faults else None
            self._cond.notify_all()
        if self._call_up:
            return "ERROR"
        if fault is _Fault.NO_RESULT:
            self._mode = _Mode.DIALLING
            return None
        if fault is not None:
            return fault.value
        if self.remote is not None:
            try:
                self._sock = socket.create_connection(self.remote, timeout=2.0)
            except OSError:
                return "NO CARRIER"
        self._host_end.clear()
        self._plus, self._escape_at, self._closing_at = 0, None, None
        self._last_rx = time.monotonic()
        self._mode, self._call_up = _Mode.DATA, True
        self._count("connects")
        return f"CONNECT {self.speed}"

    def _data_from_terminal(self, data: bytes, now: float) -> None:
        guard = self._at.guard
        if data.strip(b"+") == b"" and self._plus + len(data) <= 3 and (self._plus or now - self._last_rx >= guard):
            self._plus += len(data)  # perhaps the escape: wait for the silence after it
            self._escape_at = now + guard if self._plus == 3 else None
            return
        if self._plus:
            data, self._plus, self._escape_at = b"+" * self._plus + data, 0, None
        self._last_rx = now
        with self._cond:
            if self._keep_received:
                self._received += data
                del self._received[:-RECEIVED_KEPT]
            self._cond.notify_all()
        if self._sock is not None:
            try:
                self._sock.sendall(data)
            except OSError:
                self._lose_carrier()
            return
        if self.host is None:
            return
        try:
            self._host_end.feed(data, self.host, heard=self._hear)
        except ProtocolError:
            return  # the far end cannot follow the stream; it keeps listening

    def _hear(self, payload: bytes) -> None:
        with self._cond:
            self._heard(payload)

    def _from_remote(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._closing_at = time.monotonic() + _DRAIN_LIMIT
            self._sock.close()
            self._sock = None
        elif self._mode is _Mode.DATA:
            self._write(data)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._escape_at is not None and now >= self._escape_at:
            self._escape_at, self._plus, self._mode = None, 0, _Mode.COMMAND  # online command mode: the call stays up
            self._result("OK")
        for arrival in self._host_end.due(now):
            if self._mode is _Mode.DATA:
                self._write(arrival.data)
            if arrival.close:
                self._closing_at = now + _DRAIN_LIMIT
        if self._closing_at is not None and (self._drained(now) or now >= self._closing_at):
            self._lose_carrier()

    def _drained(self, now: float) -> bool:
        """Has the terminal read everything written to it?"""
        if now - self._last_tx < _SETTLE:
            return False
        try:
            return struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"))[0] == 0
        except OSError:
            return True

    # -- calls and the line --------------------------------------------------------
    def _count(self, name: str) -> None:
        with self._cond:
            setattr(self, name, getattr(self, name) + 1)
            self._cond.notify_all()

    def _end_call(self, how: str) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._host_end.clear()
        self._plus, self._escape_at, self._closing_at = 0, None, None
        self._mode = _Mode.COMMAND
        with self._cond:
            self._call_up, self._last_end = False, how
            if how == "hangup":
                self.hangups += 1
            else:
                self.drops += 1
            self._cond.notify_all()

    def _lose_carrier(self) -> None:
        """The call ends from the line's side: NO CARRIER, command mode, and a hung-up pty."""
        if not self._call_up:
            self._closing_at = None
            return
        self._end_call("drop")
        self._result("NO CARRIER")
        old = self._master, self._slave
        self._master, self._slave = self._new_pty()  # opened before the old one closes: a new pts number
        for fd in old:
            os.close(fd)

    def _new_pty(self) -> tuple[int, int]:
        master, slave = raw_pty()
        staging = self.port + ".new"
        os.symlink(os.ttyname(slave), staging)
        os.replace(staging, self.port)  # atomic: the driver always finds a live pty at ``port``
        return master, slave

    def _release(self) -> None:
        if self._sock is not None:
            self._sock.close()
        for fd in (self._master, self._slave):
            os.close(fd)
        shutil.rmtree(self._dir, ignore_errors=True)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"remote host {text!r} is not host:port")
    return host, int(port)
