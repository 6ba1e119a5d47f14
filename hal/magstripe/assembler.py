"""Cutting a stream of reader bytes into swipes: sans-IO, shared by the serial and keyboard-wedge drivers.

A text reader sends each swipe as a burst of characters, usually ending with a
terminator (CR, LF, CR LF or ETX) and sometimes opening with STX. The bytes
arrive in as many reads as the line and the scheduler make of them, so a
swipe may be split across reads, and a swipe may stop half-way (the card was
pulled back, the cable was knocked). ``SwipeAssembler`` takes the bytes with
the time they arrived and gives back whole swipes:

* at a terminator, everything since the last swipe is one swipe;
* after ``gap`` seconds of silence, whatever was collected is one swipe too
  (partial or not: the port's decoding says what is wrong with it). A reader
  without a terminator (``terminator=b""``) relies on this alone;
* with a ``prefix`` (STX), bytes outside ``prefix ... terminator`` are noise
  (a block check after ETX) and are dropped; a new prefix inside a swipe
  closes the one before it as a partial swipe;
* leftovers that are only line endings or spaces are dropped, not reported.

It holds no clock: callers pass ``now`` (``time.monotonic()``) and ask
``deadline()`` when to come back. Buffers are ``bytearray``s, handed over
and wiped by the port; ``clear()`` wipes what is still held.
"""

from __future__ import annotations

__all__ = ["SwipeAssembler", "TERMINATORS", "PREFIXES"]

TERMINATORS: dict[str, bytes] = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "etx": b"\x03", "none": b""}
PREFIXES: dict[str, bytes] = {"none": b"", "stx": b"\x02"}
MAX_SWIPE = 2048  # far more than three tracks and an encrypting reader's hex: anything longer is noise


class SwipeAssembler:
    def __init__(self, *, terminator: bytes = b"\r", prefix: bytes = b"", gap: float = 0.5) -> None:
        if gap <= 0:
            raise ValueError("gap must be above 0 seconds")
        self.terminator = terminator
        self.prefix = prefix
        self.gap = gap
        self._buf = bytearray()
        self._inside = not prefix  # without a prefix every byte belongs to a swipe
        self._last: float | None = None

    def feed(self, data: bytes | bytearray, now: float) -> list[bytearray]:
        """Take bytes read at ``now``; return the swipes they complete (oldest first)."""
        out = self.expire(now)
        if not data:
            return out
        self._last = now
        for byte in bytes(data):
            if self.prefix and byte == self.prefix[0]:
                if self._inside:
                    self._emit(out)  # the previous swipe never ended
                self._inside = True
                continue
            if not self._inside:
                continue  # noise between framed swipes
            self._buf.append(byte)
            if self.terminator and self._buf.endswith(self.terminator):
                del self._buf[-len(self.terminator) :]
                self._emit(out)
                self._inside = not self.prefix
            elif len(self._buf) > MAX_SWIPE:
                self._emit(out)
        return out

    def expire(self, now: float) -> list[bytearray]:
        """The swipe held since before a silence of ``gap`` seconds, if any (a partial swipe)."""
        out: list[bytearray] = []
        if self._last is not None and now - self._last >= self.gap:
            self._emit(out)
            self._inside = not self.prefix
            self._last = None
        return out

    def deadline(self) -> float | None:
        """When ``expire`` will have something to give back, if bytes are held."""
        return self._last + self.gap if self._last is not None and self._buf else None

    @property
    def pending(self) -> int:
        """Bytes held for a swipe not yet complete."""
        return len(self._buf)

    def clear(self) -> None:
        self._buf[:] = bytes(len(self._buf))
        self._buf = bytearray()
        self._inside = not self.prefix
        self._last = None

    def _emit(self, out: list[bytearray]) -> None:
        buf, self._buf = self._buf, bytearray()
        if buf.strip(b" \r\n\t\x00"):
            out.append(buf)
        else:
            buf[:] = bytes(len(buf))
