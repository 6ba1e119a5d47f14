"""A lab card, a lab transaction and a framed TCP exchange, for benches, demos and tests.

The card is a made-up UnionPay-style test number (19 digits, Luhn-valid); its
PIN block is built under the published lab PIN key the simulator holds. None
of this is real card data.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from datetime import datetime

from crypto.keys import KeyUsage
from crypto.pinblock import encrypt_iso0
from crypto.provision import lab_key
from crypto.secrets import Pan, SecretKey, TrackData
from firmware.errors import LinkError
from firmware.host.messages import CardData, EntryMode, Original, TxnData, TxnKind
from hal.framing import FrameBuffer, frame
from hal.magstripe.sim import LAB_PAN  # one list of the test cards the tools trust

__all__ = ["LAB_PAN", "LAB_EXPIRY", "LAB_PIN", "lab_card", "lab_txn", "exchange", "read_frame", "FrameReader"]

LAB_EXPIRY = "3012"
LAB_PIN = "1234"


def lab_card(*, pan: str = LAB_PAN, expiry: str | None = LAB_EXPIRY, pin: str | None = LAB_PIN,
             pin_key: SecretKey | None = None, track3: bool = False) -> CardData:
    """A swiped lab card; with ``pin`` a format 0 PIN block under ``pin_key`` (default: the lab PIN key)."""
    track2 = TrackData(f"{pan}={expiry or '4912'}1010000012345", track=2)
    t3 = TrackData(f"99{pan}=1561560000000000000003000000214{expiry or '4912'}0=000000000000", track=3) if track3 else None
    block = None
    if pin is not None:
        block = encrypt_iso0(pin.encode("ascii"), Pan(pan), pin_key or lab_key(KeyUsage.PIN))
    return CardData(pan=Pan(pan), expiry=expiry, track2=track2, track3=t3, pin_block=block)


def lab_txn(*, amount: int = 100, stan: int = 1, batch: int = 1, kind: TxnKind = TxnKind.SALE,
            when: datetime | None = None, pin_entered: bool = True, terminal_id: str = "12345678",
            merchant_id: str = "123456789012345", currency: str = "156",
            entry_mode: EntryMode = EntryMode.SWIPE, original: Original | None = None) -> TxnData:
    return TxnData(kind=kind, amount=amount, currency=currency, stan=stan, batch=batch,
                   when=when or datetime(2024, 5, 6, 12, 34, 56), terminal_id=terminal_id, merchant_id=merchant_id,
                   entry_mode=entry_mode, pin_entered=pin_entered, original=original)


class FrameReader:
    """Whole frames from one socket, in order, keeping any that arrived together with another."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = FrameBuffer()
        self._ready: deque[bytes] = deque()

    def read(self, timeout: float = 5.0) -> bytes | None:
        """The next whole frame's payload; ``None`` when the peer closed first.

        Raises ``TimeoutError`` when nothing whole arrives in ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while not self._ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no whole frame in time")
            self.sock.settimeout(left)
            data = self.sock.recv(4096)
            if not data:
                return None
            self._ready.extend(self._buffer.feed(data))
        return self._ready.popleft()


def read_frame(sock: socket.socket, timeout: float = 5.0) -> bytes | None:
    """One frame from a socket that carries only one answer; use ``FrameReader`` for more."""
    return FrameReader(sock).read(timeout)


def exchange(address: tuple[str, int], payload: bytes, timeout: float = 5.0) -> bytes | None:
    """Connect, send one framed payload, return the answer's payload (``None``: closed unanswered)."""
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(frame(payload))
            return read_frame(sock, timeout)
    except ConnectionRefusedError:
        raise LinkError(f"nothing listens on {address[0]}:{address[1]}", code="link.refused") from None
