"""DUKPT PIN encryption for sales: a fresh counter per PIN block, and no fsync on a sale's path.

``host.pin_keys = "dukpt"`` makes the soft PIN pad encrypt each PIN block
under the PIN key of a new DUKPT counter; the block carries its KSN
(``PinBlock.ksn``) to the host message. ``DukptPinCipher`` is what the PIN
pad is handed instead of the session PIN key (``encrypt_pin(digits, pan)``).

Never a counter twice, and still two fsyncs a sale
--------------------------------------------------
``DukptDevice.next_transaction`` writes the state (two fsyncs) before every
use. On a sale's path that would double the durable writes. Instead the
state on disk is kept *ahead* of the state in memory:

* ``open`` loads the registers (next counter ``c``) and at once writes the
  state as it will be ``WINDOW`` counters later (``DukptDevice.save_ahead``:
  a copy of the registers walks ahead and is written; the registers in
  memory stay at ``c``). Counters ``c`` .. ``limit - 1`` are now *reserved*.
* A PIN block spends the next counter from memory only (``spend``): no write,
  as long as the counter is below ``limit``.
* ``top_up`` (the runner's idle housekeeping, where the database checkpoint
  runs) writes a new state ``WINDOW`` counters past the one in memory when
  fewer than ``LOW_WATER`` are left, so a sale seldom meets an empty window.
* A sale that finds the window empty (a burst with no idle time between
  sales) reserves a new window itself before it spends, and that is logged.
  If that write fails (a full or read-only disk) the PIN is not encrypted:
  ``StorageError`` ``storage.dukpt_state`` names the state file, no counter
  is spent, and the runner ends the sale (nothing was journalled or sent).
* ``close`` (a clean shutdown) writes the state in memory, so a restart
  skips nothing; after it the cipher refuses to encrypt.

Why it is safe: every counter spent is below the ``limit`` that was on disk,
fsync'd, before it was spent; the disk's counter only ever grows while the
terminal runs (each reservation starts from memory, which is past every
counter spent). A power cut or a kill restarts from the disk's counter, which
is past every counter spent: counters between the last one spent and the
limit are *skipped* (X9.24 allows gaps: the host derives any counter's key
from the BDK), never used again. A write interrupted by the cut leaves the
old file (``write_private`` writes a temporary file and renames it), whose
limit is still past every counter spent under it. ``close`` writes a state
*behind* the disk's limit, which is safe only because nothing is spent after
it (the object is closed); the counters it gives back were never used.

At most ``WINDOW`` counters are lost per power cut: 1,048,575 TDES counters
last about 16,000 power cuts even if no sale were made.

Keys: the working keys of a transaction exist for the length of
``encrypt_pin``; the PIN key encrypts one block and every working key is
wiped before the block is returned. The clear PIN digits never leave
``crypto.pinblock``. Format 0 (TDES) or 4 (AES, 16 bytes, with the PAN), per
``PIN_FORMATS``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from math import comb
from pathlib import Path

from crypto.dukpt_device import DukptDevice, DukptScheme
from crypto.keyring import KekProvider
from crypto.secrets import Pan, PinBlock
from firmware.errors import CryptoError, StorageError

__all__ = ["DukptPinCipher", "WINDOW", "LOW_WATER", "PIN_FORMATS", "LOW_COUNTERS", "valid_below", "counters_left"]

log = logging.getLogger(__name__)

WINDOW = 64  # counters reserved ahead on disk: at most this many are skipped by a power cut
LOW_WATER = 32  # idle housekeeping reserves a new window when fewer than this are left
LOW_COUNTERS = 10_000  # selftest warns below this many counters left on the key
PIN_FORMATS = {DukptScheme.TDES: 0, DukptScheme.AES128: 4, DukptScheme.AES256: 4}  # ISO 9564-1 format
PIN_BLOCK_SIZE = {0: 8, 4: 16}


def valid_below(n: int, bits: int, max_ones: int) -> int:
    """How many counters in ``[0, n)`` have at most ``max_ones`` one-bits (``0 <= n <= 2**bits``)."""
    if n >= 1 << bits:
        return sum(comb(bits, k) for k in range(max_ones + 1))
    count, ones = 0, 0
    for bit in range(bits - 1, -1, -1):
        if n >> bit & 1:  # n's higher bits, this bit 0, any ``bit`` lower bits
            count += sum(comb(bit, k) for k in range(max_ones - ones + 1))
            ones += 1
            if ones > max_ones:
                break
    return count


def counters_left(counter: int | None, bits: int, max_ones: int) -> int:
    """Valid counters from ``counter`` (itself included) to the end of the key."""
    if counter is None:
        return 0
    return valid_below(1 << bits, bits, max_ones) - valid_below(counter, bits, max_ones)


class DukptPinCipher:
    """The terminal's DUKPT registers with counters reserved ahead (see the module docstring)."""

    def __init__(self, device: DukptDevice, *, window: int = WINDOW, low_water: int | None = None) -> None:
        low_water = max(1, window * LOW_WATER // WINDOW) if low_water is None else low_water
        if not 1 <= low_water <= window:
            device.wipe()
            raise CryptoError("the DUKPT reserve needs 1 <= low water <= window", code="dukpt.window")
        self.device = device
        self.window = window
        self.low_water = low_water
        self.pin_format = PIN_FORMATS[device.scheme]
        self.writes = 0  # reservations written (an instrument for tests and the log)
        self.empty_windows = 0  # sales that found the window empty and paid the write
        self._limit: int | None = None  # the next counter on disk; None: to the end of the key
        self._closed = False

    @classmethod
    def open(cls, data_dir: Path, *, kek: KekProvider | None = None, **options) -> DukptPinCipher:
        """Load the registers and reserve the first window (one durable write, at boot).

        An exhausted key opens too, reserving nothing: every PIN it is asked for is refused
        (``dukpt.exhausted``), while the terminal still sends its reversals and stored sales and
        settles, and refuses PIN transactions at READY (audit AU21 M3's hold, from boot on)."""
        if not DukptDevice.exists(data_dir):
            raise CryptoError('host.pin_keys is "dukpt" but no DUKPT key is loaded: '
                              "run posterm keys inject-dukpt", code="keys.no_dukpt")
        cipher = cls(DukptDevice.load(Path(data_dir), kek), **options)
        if not cipher.device.exhausted:
            cipher._reserve()
        return cipher

    # -- counters ---------------------------------------------------------------------
    @property
    def scheme(self) -> DukptScheme:
        return self.device.scheme

    @property
    def pin_block_size(self) -> int:
        return PIN_BLOCK_SIZE[self.pin_format]

    @property
    def reserved(self) -> int:
        """Counters spendable without a write."""
        bits, ones = self.device.counter_bits
        counter = self.device.counter
        if counter is None:
            return 0
        end = self._limit if self._limit is not None else 1 << bits
        return max(0, valid_below(end, bits, ones) - valid_below(counter, bits, ones))

    @property
    def left(self) -> int:
        """Counters left on the key (from the one in memory)."""
        return counters_left(self.device.counter, *self.device.counter_bits)

    def _reserve(self) -> None:
        """Write the state ``window`` counters ahead. A failed write (a full or read-only disk) is a
        ``StorageError`` naming the state file: nothing moved in memory, no counter was spent, and the
        old file (whose limit is past every counter spent) is still the one on disk."""
        with self._writing("reserve DUKPT counters"):
            self._limit = self.device.save_ahead(self.window)
        self.writes += 1

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OSError as e:
            raise StorageError(f"cannot write the DUKPT state {self.device.path} to {doing} "
                               f"({e.strerror or type(e).__name__})", code="storage.dukpt_state") from None

    def top_up(self) -> bool:
        """Reserve a new window if the current one runs low. For idle time only. True if it wrote."""
        if self._closed or self.device.exhausted or self.reserved >= self.low_water:
            return False
        if self._limit is None:  # the window already runs to the end of the key
            return False
        self._reserve()
        log.debug("DUKPT counters reserved up to %s", self._limit)
        return True

    # -- the PIN pad's side ---------------------------------------------------------------
    def encrypt_pin(self, pin: bytes | bytearray, pan: Pan) -> PinBlock:
        """The PIN block under the PIN key of a fresh counter, carrying its KSN."""
        from crypto.pinblock import encrypt_pin_block

        if self._closed:
            raise CryptoError("the DUKPT registers are closed", code="dukpt.closed")
        if self.device.exhausted:
            raise CryptoError("the DUKPT key is exhausted: inject a new initial key", code="dukpt.exhausted")
        if self.reserved < 1:
            self.empty_windows += 1
            log.warning("DUKPT: no counter reserved (no idle time since %d sales): this PIN pays the state write",
                        self.window)
            self._reserve()
        keys = self.device.spend()
        try:
            inner = encrypt_pin_block(pin, pan, keys.pin, self.pin_format)
        finally:
            keys.wipe()
        try:
            return PinBlock(inner.reveal(), format=inner.format, ksn=keys.ksn)
        finally:
            inner.wipe()

    # -- life cycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Clean shutdown: write the state in memory (nothing skipped), then wipe it."""
        if self._closed:
            return
        self._closed = True
        try:
            with self._writing("give back the unused counters"):
                self.device.save()
        finally:
            self.device.wipe()

    def wipe(self) -> None:
        """Tamper: forget the registers without writing anything."""
        self._closed = True
        self.device.wipe()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.reserved} reserved"
        return f"<DukptPinCipher {self.scheme.value} {state}>"

    def __reduce__(self):
        raise TypeError("DukptPinCipher cannot be pickled")
