"""Length-prefixed framing for host messages, sans-IO.

Acquirer links carry each message behind a 2-byte big-endian binary length
(the TPDU, header and ISO 8583 body follow). ``FrameBuffer`` accepts bytes as
they arrive, in any split, and hands back whole payloads. It is shared by
every link driver and by the host simulator, so both ends agree by
construction.
"""

from __future__ import annotations

from firmware.errors import ProtocolError

__all__ = ["frame", "FrameBuffer", "MAX_FRAME"]

MAX_FRAME = 4096  # UnionPay POS messages stay well under 2 KiB; anything bigger is garbage


def frame(payload: bytes, *, max_size: int = MAX_FRAME) -> bytes:
    """Prefix ``payload`` with its 2-byte big-endian length."""
    if not payload:
        raise ProtocolError("refusing to send an empty host message", code="link.empty_frame")
    if len(payload) > max_size:
        raise ProtocolError(f"host message of {len(payload)} bytes exceeds {max_size}", code="link.frame_too_big")
    return len(payload).to_bytes(2, "big") + payload


class FrameBuffer:
    """Reassemble length-prefixed frames from a byte stream."""

    __slots__ = ("_buf", "_error", "max_size")

    def __init__(self, max_size: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._error: ProtocolError | None = None
        self.max_size = max_size

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every payload now complete, in order.

        A length of zero or above ``max_size`` means the stream is not ours or
        is out of step; the buffer is cleared and ``ProtocolError``
        (``link.bad_frame_length``) raised, so the caller drops the connection
        rather than guessing at a boundary. Whole frames cut before the bad
        length in the same call are returned first (a host's answer followed
        by garbage in one read is still an answer): the error is then
        ``broken`` and raised by the next ``feed`` or ``check``.
        """
        self.check()
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= 2:
            size = int.from_bytes(self._buf[:2], "big")
            if size == 0 or size > self.max_size:
                self._buf.clear()
                error = ProtocolError(f"host frame length {size} is outside 1..{self.max_size}",
                                      code="link.bad_frame_length")
                if not out:
                    raise error
                self._error = error
                break
            if len(self._buf) < 2 + size:
                break
            out.append(bytes(self._buf[2 : 2 + size]))
            del self._buf[: 2 + size]
        return out

    @property
    def broken(self) -> bool:
        """A bad length came after the frames the last ``feed`` returned; ``check`` raises it."""
        return self._error is not None

    def check(self) -> None:
        """Raise (once) the error a ``feed`` found after whole frames it returned."""
        error, self._error = self._error, None
        if error is not None:
            raise error

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buf)

    def clear(self) -> None:
        self._buf.clear()
        self._error = None
