"""A "Z" protocol PIN pad on a pseudo-terminal, for testing ``ZPinPad`` over a real wire.

``PtyZPinPadSim`` sits on the master side of ``os.openpty()``; the real
driver (real pyserial) opens ``sim.port``. Its thread answers as a PINpad
1000 compatible would (``hal.pinpad.zproto``): ACK/NAK for every frame,
``08`` selects a master key slot, ``Z2`` writes the display, ``Z42`` sends
the next key pressed as ``Z43``, ``Z62`` decrypts the session key under the
selected master key and, once the customer has typed, sends ``71`` with the
ISO 9564 format 0 block it built itself; ``72`` aborts with EOT.

The scripted customer: ``press("1250#")`` (cashier keys, read one per Z42:
``X`` is CANCEL, ``*`` CLEAR, ``F`` F1), ``enter_pin("1234")``, ``cancel()``,
``bypass()`` (ENTER on no digits: ignored unless the request allows a null
PIN) and ``let_time_out()`` (the pad's PIN timeout expires). PIN actions wait
in order for the next PIN request, or act on the one in progress.

Records: ``display`` (text on the pad's screen), ``idents`` (the id of every
good message received, in order, the last ``IDENTS_KEPT``), ``naks_sent``,
``naks_received``, ``pin_requests`` (safe facts of each Z62: account length,
limits, null flag), ``ignored_bypasses``; and, only once a test has asked with
``keep_messages()``, ``messages``: the whole messages since, the last 64. A
Z62 holds 12 digits of the PAN and the encrypted session key, so keeping it
is a test's explicit choice (as ``hal.link.sim`` ``keep_frames()``), never
the default of a simulator a long-lived process may hold. Faults: ``silent()`` (reads, answers
nothing), ``corrupt_next(n)`` (the next ``n`` frames it sends carry a bad
LRC), ``nak_everything()``, ``refuse_next(ident)`` (answers the next
frame, or the next ``ident`` message, with EOT), ``expire_key_read()`` (answers the outstanding Z42 with ``?``),
``answer_late(ident)`` (acts on the next frame, or the next ``ident`` message, but holds its ACK or EOT until
``answer_now()`` sends it: a pad that answers after the driver gave up waiting).
In a PIN prompt the pad refuses every message but an abort (72) with EOT.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from dataclasses import dataclass

from crypto.des import TdesEcb
from crypto.keys import KeyUsage
from crypto.secrets import SecretKey
from firmware.errors import ScenarioError
from hal.pinpad import zproto as z
from hal.ptysim import SimThread, raw_pty

__all__ = ["IDENTS_KEPT", "MESSAGES_KEPT", "PtyZPinPadSim", "PinRequestFacts"]

IDENTS_KEPT = 4096  # the most message ids kept: a long-lived simulator does not grow for ever
MESSAGES_KEPT = 64  # the most whole messages kept once a test asks for them

_PORT_TO_CODE = {**{d: d for d in "0123456789"}, "#": "#", "X": "*", "*": "/", "F": "A"}


class _Mode(enum.Enum):
    IDLE = "idle"
    KEY_READ = "key read"
    PIN = "PIN entry"


@dataclass(frozen=True)
class PinRequestFacts:
    """What a Z62 asked for, without its account digits or key."""

    account_digits: int
    min_len: int
    max_len: int
    allow_null: bool
    timeout_digit: str


class PtyZPinPadSim(SimThread):
    what = "Z PIN pad simulator"

    def __init__(self, master_key: SecretKey | None = None, slot: int = 0) -> None:
        super().__init__()
        if master_key is None:
            from crypto.provision import lab_key

            master_key = lab_key(KeyUsage.TMK)
        self._master_keys = {slot: SecretKey(master_key.reveal(), usage="tmk")}
        self._selected: int | None = None
        self._rx = z.Receiver()
        self._mode = _Mode.IDLE
        self._keys: deque[str] = deque()
        self._script: deque[tuple[str, bytearray]] = deque()
        self._request: tuple[bytes, SecretKey, int, int, bool] | None = None  # account, working key, min, max, null
        self._pending: bytearray | None = None  # a frame sent, waiting for the driver's ACK
        self._pending_naks = 0
        self._queue: deque[bytes] = deque()  # messages to send after the pending one
        # faults
        self._silent = self._nak_all = False
        self._refuse: bool | str = False
        self._corrupt = 0
        self._late: bool | str = False  # answer_late(): the frame whose answer to hold
        self._hold = False  # the frame being handled is that one
        self._held = bytearray()  # answers held, for answer_now()
        # records
        self._display = ""
        self._idents: deque[str] = deque(maxlen=IDENTS_KEPT)
        self._messages: deque[bytes] | None = None  # whole messages: only after keep_messages()
        self._pin_requests: list[PinRequestFacts] = []
        self.naks_sent = self.naks_received = self.ignored_bypasses = 0
        self._master, self._slave = raw_pty()
        self.port = os.ttyname(self._slave)
        self._start("pty-zpinpad-sim")

    @property
    def url(self) -> str:
        return f"serial://{self.port}"

    # -- the customer --------------------------------------------------------------
    def press(self, keys: str) -> None:
        """Press keys on the pad (port characters: 0-9, ``#``, ``*`` CLEAR, ``X`` CANCEL, ``F``)."""
        bad = sorted({c for c in keys if c not in _PORT_TO_CODE})
        if bad:
            raise ScenarioError(f"the Z PIN pad has no key {bad[0]!r}", code="scenario.bad_key")
        with self._cond:
            self._keys.extend(keys)
        self._order(b"c", "take the keys")

    def enter_pin(self, pin: str) -> None:
        """Type ``pin`` and ENTER at the next (or current) PIN request."""
        if not (pin.isascii() and pin.isdigit()):
            raise ScenarioError("a PIN is digits", code="scenario.bad_pin")
        self._act("pin", bytearray(pin.encode("ascii")))

    def cancel(self) -> None:
        self._act("cancel")

    def bypass(self) -> None:
        self._act("bypass")

    def let_time_out(self) -> None:
        self._act("timeout")

    def _act(self, what: str, digits: bytearray | None = None) -> None:
        with self._cond:
            self._script.append((what, digits or bytearray()))
        self._order(b"c", f"carry out {what}")

    # -- faults ---------------------------------------------------------------------
    def silent(self, on: bool = True) -> None:
        with self._cond:
            self._silent = on

    def corrupt_next(self, frames: int = 1) -> None:
        with self._cond:
            self._corrupt += frames

    def nak_everything(self, on: bool = True) -> None:
        with self._cond:
            self._nak_all = on

    def refuse_next(self, ident: str | None = None) -> None:
        """Answer the next frame (the next ``ident`` message, if given) with EOT."""
        with self._cond:
            self._refuse = ident or True

    def expire_key_read(self) -> None:
        self._order(b"t", "expire the key read")

    def answer_late(self, ident: str | None = None) -> None:
        """Act on the next frame (the next ``ident`` message, if given) but hold its answer for ``answer_now()``."""
        with self._cond:
            self._late = ident or True

    def answer_now(self) -> None:
        """Send the answers held by ``answer_late()`` (waiting, bounded, for the frame to have come)."""
        self.wait_until(lambda s: bool(s._held))
        self._order(b"a", "send the answers it held")

    # -- records ----------------------------------------------------------------------
    @property
    def display(self) -> str:
        with self._cond:
            return self._display

    def keep_messages(self, limit: int = MESSAGES_KEPT) -> None:
        """From now on keep whole messages too (a test's explicit choice: a Z62 carries PAN digits), the last
        ``limit`` of them."""
        with self._cond:
            if self._messages is None or self._messages.maxlen != limit:
                self._messages = deque(self._messages or (), maxlen=limit)

    @property
    def messages(self) -> list[bytes]:
        """The whole messages received since ``keep_messages()``; asking without having called it is a test's
        mistake."""
        with self._cond:
            if self._messages is None:
                raise AssertionError("this Z PIN pad simulator keeps no whole messages: call keep_messages() first")
            return list(self._messages)

    @property
    def idents(self) -> list[str]:
        with self._cond:
            return list(self._idents)

    @property
    def pin_requests(self) -> list[PinRequestFacts]:
        with self._cond:
            return list(self._pin_requests)

    @property
    def mode(self) -> str:
        with self._cond:
            return self._mode.value

    @property
    def keys_waiting(self) -> int:
        with self._cond:
            return len(self._keys)

    def _progress(self) -> str:
        return f"mode {self._mode.value}; messages {list(self._idents)}"

    def __repr__(self) -> str:
        return f"<PtyZPinPadSim {self.port} {self._mode.value}>"

    # -- the thread ----------------------------------------------------------------------
    def _watched(self) -> list[int]:
        return [self._master]

    def _obey(self, order: bytes) -> None:
        with self._cond:
            if order == b"t" and self._mode is _Mode.KEY_READ:
                self._mode = _Mode.IDLE
                self._send(b"Z43?")
            elif order == b"a":
                held, self._held = bytes(self._held), bytearray()
                self._write(held)
            self._deliver()
            self._cond.notify_all()

    def _serve(self, ready: list[int]) -> bool:
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return False
        if not data:
            return False
        with self._cond:
            if not self._silent:
                for item in self._rx.feed(data):
                    if isinstance(item, z.Frame):
                        self._on_frame(item)
                    else:
                        self._on_control(item)
                self._deliver()
            self._cond.notify_all()
        return True

    def _release(self) -> None:
        os.close(self._master)
        os.close(self._slave)
        for key in self._master_keys.values():
            key.wipe()

    # -- the pad (called with the lock held, in the thread) ---------------------------------
    def _write(self, data: bytes) -> None:
        os.write(self._master, data)

    def _answer(self, control: int) -> None:
        """ACK or EOT to the frame being handled; held instead if ``answer_late()`` chose that frame."""
        if self._hold:
            self._hold = False
            self._held.append(control)
        else:
            self._write(bytes([control]))

    def _send(self, message: bytes) -> None:
        if self._pending is not None:
            self._queue.append(message)
            return
        self._pending, self._pending_naks = z.encode(message, short=message[:2] == b"08"), 0
        self._transmit()

    def _transmit(self) -> None:
        frame = bytearray(self._pending)
        if self._corrupt:
            self._corrupt -= 1
            frame[-1] ^= 0xFF
        self._write(bytes(frame))

    def _next(self) -> None:
        self._pending = None
        if self._queue:
            self._send(self._queue.popleft())

    def _on_control(self, control: z.Control) -> None:
        if self._pending is None:
            return
        if control is z.Control.NAK:
            self.naks_received += 1
            self._pending_naks += 1
            if self._pending_naks >= 3:
                self._write(bytes([z.EOT]))  # the sender gives up
                self._next()
            else:
                self._transmit()
        else:  # ACK, or EOT: the driver gave up on it
            self._next()

    def _on_frame(self, frame: z.Frame) -> None:
        if not frame.good or self._nak_all:
            self.naks_sent += 1
            self._write(bytes([z.NAK]))
            return
        self._idents.append(frame.ident)
        self._hold = self._late is True or self._late == frame.ident
        if self._hold:
            self._late = False
        if self._messages is not None:
            self._messages.append(bytes(frame.message))
        if self._refuse is True or self._refuse == frame.ident:
            self._refuse = False
            self._answer(z.EOT)
            return
        m = frame.message
        if self._mode is _Mode.PIN and m[:2] != b"72":
            self._answer(z.EOT)  # the customer's prompt owns the pad: only an abort ends it
            return
        if frame.short and m[:2] == b"08":
            self._answer(z.ACK)
            slot = m[2:3]
            ok = slot.isdigit()
            if ok:
                self._selected = int(slot)
            self._send(b"080" if ok else b"081")
        elif m[:2] == b"72":
            if self._mode is _Mode.IDLE:
                self._answer(z.ACK)
            else:
                self._answer(z.EOT)
                self._end_request()
        elif m[:2] == b"Z2":
            self._answer(z.ACK)
            text = m[2:]
            if text[:1] == bytes([z.SUB]):
                self._display, text = "", text[1:]
            self._display += text.decode("ascii", "replace")
        elif m[:3] == b"Z42":
            self._answer(z.ACK)
            self._mode = _Mode.KEY_READ
        elif m[:3] == b"Z62":
            self._pin_request(m)
        else:
            self._answer(z.EOT)  # a message this pad does not know

    def _pin_request(self, m: bytes) -> None:
        try:
            account, rest = m[4:].split(bytes([z.FS]), 1)
            cryptogram = bytes.fromhex(rest[:32].decode("ascii"))
            lo, hi, null = int(rest[32:34]), int(rest[34:36]), rest[36:37] == b"Y"
            timeout = rest.rsplit(bytes([z.FS]), 1)[1].decode("ascii")
        except (ValueError, IndexError, UnicodeDecodeError):
            self._answer(z.EOT)
            return
        master = self._master_keys.get(self._selected) if self._selected is not None else None
        if master is None:
            self._answer(z.EOT)  # no master key selected: the pad refuses
            return
        self._answer(z.ACK)
        working = SecretKey(TdesEcb(master.reveal()).decrypt(cryptogram), usage="pin")
        self._request = (bytes(account), working, lo, hi, null)
        self._pin_requests.append(PinRequestFacts(len(account), lo, hi, null, timeout))
        self._mode = _Mode.PIN
        self._display = "ENTER PIN"

    def _end_request(self) -> None:
        if self._request is not None:
            self._request[1].wipe()
        self._request = None
        self._mode = _Mode.IDLE

    def _deliver(self) -> None:
        """Carry out what the customer did, as far as the pad's mode allows."""
        if self._silent or self._pending is not None:
            return
        if self._mode is _Mode.KEY_READ and self._keys:
            self._mode = _Mode.IDLE
            self._send(b"Z43" + _PORT_TO_CODE[self._keys.popleft()].encode("ascii"))
        while self._mode is _Mode.PIN and self._script:
            what, digits = self._script.popleft()
            try:
                self._customer(what, digits)
            finally:
                digits[:] = bytes(len(digits))

    def _customer(self, what: str, digits: bytearray) -> None:
        account, working, lo, hi, null = self._request
        if what == "pin" and lo <= len(digits) <= hi:
            from crypto.pinblock import encrypt_iso0

            block = encrypt_iso0(digits, account.decode("ascii"), working)
            try:
                self._send(b"71.0%02d01" % len(digits) + block.reveal().hex().upper().encode("ascii"))
            finally:
                block.wipe()
        elif what == "bypass" and null:
            self._send(b"71.00001")
        elif what in ("cancel", "timeout"):
            self._write(bytes([z.EOT]))
        else:  # a PIN of the wrong length, or ENTER on nothing where no null PIN is allowed: the pad beeps
            self.ignored_bypasses += what == "bypass"
            return
        self._end_request()
        self._display = "PROCESSING" if what in ("pin", "bypass") else ""
