"""The Verifone PINpad 1000 "Z" protocol, as bytes: frames, controls and messages. Sans-IO.

Both the driver (``hal.pinpad.zpad``) and its simulator (``hal.pinpad.ptysim``)
use this module, so there is one place for the wire format. Nothing here
reads a port or a clock.

Link layer (PINpad 1000SE guide; Uniform Industrial PP791 programmer's manual)::

    <STX> message <ETX> <LRC>     data frames (Z2, Z42/Z43, Z62, 71, 72)
    <SI>  message <SO>  <LRC>     administration frames (08 select master key)
    LRC = XOR of every byte after STX/SI up to and including ETX/SO

The receiver of a frame answers ``ACK`` (good LRC) or ``NAK`` (bad LRC, so
the sender sends it again); a sender that has had three NAKs gives up with
``EOT``. A pad also answers ``EOT`` to a message it refuses, and sends
``EOT`` instead of message 71 when the customer cancels or the PIN entry
times out, or to confirm a ``72`` that aborted a key or PIN request.

Messages used here (PP791 section 9, master/session keys):

=========  ============================================================  =========
id         fields                                                        direction
=========  ============================================================  =========
08         key slot 0-9 (SI frame); answered ``08`` + status, 0 = OK     both
Z2         [SUB clears first] text, 1-64 characters                      to pad
Z42        key timeout, 1-255 seconds                                    to pad
Z43        one key: 0-9, ``#`` ENTER, ``*`` CANCEL, ``/`` CLEAR,          from pad
           ``A``-``C`` F1-F3, ``?`` timed out
Z62        ``.`` account FS session-key min max null-flag prompt1 FS      to pad
           prompt2 FS proc-prompt FS timeout (1-9 x 30 s)
71         ``.`` fkey ``0`` PIN length (00, 04-12) ``01`` 16 hex block;   from pad
           or ``71`` + one error code
72         abort the key or PIN request in progress                       to pad
=========  ============================================================  =========

A ``Frame`` holds the message bytes, which for ``71`` and ``Z62`` are
sensitive (an encrypted PIN block; an account number and a session key
cryptogram): its repr shows only the message id and length.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from firmware.errors import PinPadError
from hal.pinpad.keys import Key

__all__ = [
    "STX", "ETX", "EOT", "ACK", "NAK", "SI", "SO", "FS", "SUB",
    "Control", "Frame", "Receiver", "PinResponse", "lrc", "encode",
    "select_key", "display", "read_key", "pin_request", "abort", "key_from_code",
    "KEY_CODES", "parse_pin_response", "MAX_FRAME",
]

STX, ETX, EOT, ACK, NAK, SI, SO, FS, SUB = 0x02, 0x03, 0x04, 0x06, 0x15, 0x0F, 0x0E, 0x1C, 0x1A
MAX_FRAME = 256  # no Z message is longer (Z62 at most 116); longer is noise
_END = {STX: ETX, SI: SO}


class Control(enum.Enum):
    """A one-byte answer outside a frame."""

    ACK = ACK
    NAK = NAK
    EOT = EOT


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame received: its message (without STX/ETX/LRC), whether the LRC matched, and its kind."""

    message: bytes = field(repr=False)
    good: bool = True
    short: bool = False  # an SI/SO (administration) frame

    @property
    def ident(self) -> str:
        """The message id (``Z43``, ``71``, ``08``...): safe to log."""
        # Z0-Z3 have two characters, Z42, Z43, Z50, Z62... three; the others two.
        three = self.message[:1] == b"Z" and self.message[1:2] not in (b"0", b"1", b"2", b"3")
        head = self.message[:3] if three else self.message[:2]
        return head.decode("ascii", "replace")

    def __repr__(self) -> str:
        state = "" if self.good else " bad LRC"
        return f"<Frame {self.ident} {len(self.message)} bytes{state}>"


def lrc(data: bytes | bytearray) -> int:
    out = 0
    for b in data:
        out ^= b
    return out


def encode(message: bytes | bytearray, *, short: bool = False) -> bytearray:
    """``message`` framed: STX message ETX LRC (SI ... SO LRC when ``short``). Wipe it after writing."""
    start = SI if short else STX
    body = bytearray(message)
    body.append(_END[start])
    body.append(lrc(body))
    body.insert(0, start)
    return body


class Receiver:
    """Bytes from the wire in, ``Frame`` and ``Control`` items out. Never raises on noise.

    Bytes outside a frame other than ACK/NAK/EOT are dropped (line noise).
    A frame longer than ``MAX_FRAME`` is given up as a bad frame, so the
    sender is NAKed and sends it again.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._start: int | None = None  # STX or SI while inside a frame
        self._need_lrc = False

    def feed(self, data: bytes | bytearray) -> list[Frame | Control]:
        out: list[Frame | Control] = []
        for b in data:
            if self._start is None:
                if b in _END:
                    self._start, self._need_lrc = b, False
                    self._buf.clear()
                elif b in (ACK, NAK, EOT):
                    out.append(Control(b))
                continue
            if self._need_lrc:
                body = self._buf + bytes([_END[self._start]])
                out.append(Frame(bytes(self._buf), lrc(body) == b, self._start == SI))
                self._reset()
                continue
            if b == _END[self._start]:
                self._need_lrc = True
            elif len(self._buf) >= MAX_FRAME:
                out.append(Frame(b"", False, self._start == SI))
                self._reset()
            else:
                self._buf.append(b)
        return out

    def _reset(self) -> None:
        self._buf[:] = bytes(len(self._buf))  # it may have held a PIN block
        self._buf.clear()
        self._start, self._need_lrc = None, False


# -- messages to the pad -------------------------------------------------------
def _text(text: str, limit: int) -> bytes:
    """Printable ASCII, at most ``limit`` characters: control bytes would break the framing."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:limit].encode("ascii")


def select_key(slot: int) -> bytes:
    if not 0 <= slot <= 9:
        raise PinPadError(f"master key slot {slot} is not 0-9", code="pinpad.bad_slot")
    return b"08%d" % slot


def display(text: str, *, clear: bool = True) -> bytes:
    """Z2: show ``text`` (1-64 characters) on the pad's own display."""
    return b"Z2" + (bytes([SUB]) if clear else b"") + (_text(text, 64) or b" ")


def read_key(timeout: int) -> bytes:
    """Z42: send back the next key within ``timeout`` seconds (1-255)."""
    return b"Z42%d" % max(1, min(255, timeout))


def abort() -> bytes:
    return b"72"


def pin_request(
    account: bytes | bytearray,
    session_key: bytes,
    *,
    min_len: int,
    max_len: int,
    allow_null: bool,
    timeout: int,
    prompts: tuple[str, str, str] = ("ENTER PIN", "PRESS ENTER", "PROCESSING"),
) -> bytearray:
    """Z62 with a master/session key: the pad decrypts ``session_key`` under its selected master key.

    ``account`` is 8-19 digits; ``timeout`` the pad's own PIN timeout in
    seconds (30-270, in steps of 30). Returns a ``bytearray`` to wipe after use.
    """
    if not (8 <= len(account) <= 19 and bytes(account).isdigit()):
        raise PinPadError("the account for a PIN request is 8 to 19 digits", code="pinpad.bad_account")
    if len(session_key) not in (8, 16):
        raise PinPadError("the session key cryptogram is 8 or 16 bytes", code="pinpad.bad_key")
    out = bytearray(b"Z62.")
    out += account
    out.append(FS)
    out += session_key.hex().upper().encode("ascii")
    out += b"%02d%02d" % (min_len, max_len) + (b"Y" if allow_null else b"N")
    first, second, proc = (_text(p, 16) for p in prompts)
    out += first + bytes([FS]) + second + bytes([FS]) + proc + bytes([FS])
    out += b"%d" % max(1, min(9, timeout // 30))
    return out


# -- messages from the pad -------------------------------------------------------
KEY_CODES: dict[int, Key] = {ord(d): Key(d) for d in "0123456789"}
KEY_CODES.update({ord("#"): Key.ENTER, ord("*"): Key.CANCEL, ord("/"): Key.CLEAR})
KEY_CODES.update({ord(f): Key.FUNCTION for f in "ABC"})
KEY_TIMEOUT = ord("?")


def key_from_code(code: int) -> Key | None:
    """The port's key for a Z43 key code; None for ``?`` (timed out) or a code that is no key."""
    return KEY_CODES.get(code)


@dataclass(frozen=True, eq=False)
class PinResponse:
    """Message 71, parsed: a PIN length and the encrypted block, or a null PIN, or an error code."""

    length: int = 0
    block: bytes | None = field(default=None, repr=False)
    error: str | None = None

    @property
    def null(self) -> bool:
        return self.error is None and self.length == 0


def parse_pin_response(message: bytes) -> PinResponse:
    """Message 71. Raises ``pinpad.protocol`` for a malformed one (its bytes are not quoted)."""
    if message[:2] != b"71":
        raise PinPadError("the PIN pad answered a PIN request with another message", code="pinpad.protocol")
    rest = message[2:]
    if rest[:1] != b".":
        if len(rest) == 1:
            return PinResponse(error=rest.decode("ascii", "replace"))
        raise PinPadError("the PIN pad sent a malformed PIN response", code="pinpad.protocol")
    length_text, fmt, block = rest[2:4], rest[4:6], rest[6:]
    if len(rest) < 6 or not length_text.isdigit() or fmt != b"01":
        raise PinPadError("the PIN pad sent a malformed PIN response", code="pinpad.protocol")
    length = int(length_text)
    if length == 0 and block in (b"", b"0" * 16):
        return PinResponse(0, None)
    try:
        raw = bytes.fromhex(block.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raw = b""
    if not 4 <= length <= 12 or len(raw) != 8:
        raise PinPadError("the PIN pad sent a malformed PIN response", code="pinpad.protocol")
    return PinResponse(length, raw)
