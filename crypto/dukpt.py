"""DUKPT, the part both schemes share, and ANSI X9.24-1 TDES DUKPT.

Derived Unique Key Per Transaction: the host derives every transaction key
from its base derivation key (BDK) and the key serial number (KSN) the
terminal sends; the terminal derives them from registers of *future keys*,
so that a key, once used, cannot be recomputed from what the terminal
still holds. After initialisation the terminal keeps neither the BDK nor
its initial key (IPEK / IK): ``FutureKeyRegisters.from_initial_key`` fills
the registers and forgets the initial key.

The register walk is written once (``FutureKeyRegisters``) for both
schemes; ``crypto.dukpt_aes`` plugs in the X9.24-3 derivation:

=================  ===========================  ==========================
                   TDES (X9.24-1:2009)          AES (X9.24-3:2017)
=================  ===========================  ==========================
counter            21 bits, at most 10 ones     32 bits, at most 16 ones
transactions       1,048,575                    4,294,901,760 / 2^16 ...
registers          21                           32
derivation         non-reversible key gen.      AES-ECB of derivation data
working keys       variants of the txn key      derived with a usage code
=================  ===========================  ==========================

Invariant of the registers: for the next counter ``c`` with lowest set bit
``p``, register ``p`` holds the key of ``c``, and every register ``i > p``
whose bit is clear in ``c`` holds the key of ``c``'s bits above ``i`` plus
bit ``i``. Using ``c`` derives registers ``p-1 .. 0`` from it (unless ``c``
already has the most one-bits allowed), erases register ``p``, and moves to
the next valid counter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from crypto.des import TdesEcb
from crypto.secrets import SecretKey
from firmware.errors import CryptoError

__all__ = [
    "DukptKeys", "FutureKeyRegisters", "next_counter", "valid_counters",
    "TDES_COUNTER_BITS", "TDES_MAX_ONES", "TDES_MAX_COUNTER", "TdesVariant", "parse_ksn", "ksn_counter",
    "with_counter", "derive_ipek", "derive_transaction_key", "tdes_working_key", "tdes_keys", "TdesRegisters",
]

TDES_COUNTER_BITS = 21
TDES_MAX_ONES = 10
TDES_MAX_COUNTER = 0x1FF800  # the last counter with at most 10 one-bits
_C0 = bytes.fromhex("C0C0C0C000000000C0C0C0C000000000")


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _wipe(buf: bytearray | None) -> None:
    if buf is not None:
        buf[:] = bytes(len(buf))


# -- counters (both schemes) ---------------------------------------------------
def next_counter(counter: int, bits: int, max_ones: int) -> int | None:
    """The next valid transaction counter after ``counter`` (``None``: exhausted).

    A counter is valid with at most ``max_ones`` one-bits; counters with more
    are skipped by adding their lowest set bit (X9.24-1 A.2, X9.24-3 6.5).
    """
    counter += 1
    while counter.bit_count() > max_ones:
        counter += counter & -counter
    return counter if counter < 1 << bits else None


def valid_counters(bits: int, max_ones: int, start: int = 0) -> Iterator[int]:
    """Every valid counter after ``start``, in order."""
    counter: int | None = start
    while (counter := next_counter(counter, bits, max_ones)) is not None:
        yield counter


# -- the terminal's registers (both schemes) -------------------------------------
@dataclass(repr=False, eq=False)
class DukptKeys:
    """The working keys of one transaction and the KSN that goes with them.

    ``mac_generate``/``data_encrypt`` protect what the terminal sends (the
    TDES *request* variants), ``mac_verify``/``data_decrypt`` what the host
    answers (the *response* variants).
    """

    scheme: str
    ksn: bytes
    counter: int
    pin: SecretKey
    mac_generate: SecretKey
    mac_verify: SecretKey
    data_encrypt: SecretKey
    data_decrypt: SecretKey

    def wipe(self) -> None:
        for key in (self.pin, self.mac_generate, self.mac_verify, self.data_encrypt, self.data_decrypt):
            key.wipe()

    def __repr__(self) -> str:
        return f"<DukptKeys {self.scheme} KSN {self.ksn.hex().upper()} pin={self.pin!r}>"


class FutureKeyRegisters:
    """The terminal side of DUKPT: future keys, the next counter, nothing else.

    Subclasses give ``SCHEME``, ``BITS``, ``MAX_ONES``, ``_derive(base, counter)``
    and ``working_keys(counter, key)``. ``next_key`` hands out each counter
    once; persisting the advanced state before using the key is the caller's
    (``crypto.dukpt_device``).
    """

    SCHEME = ""
    BITS = 0
    MAX_ONES = 0

    def __init__(self, ident: bytes, counter: int | None, registers: list[bytearray | None]) -> None:
        if len(registers) != self.BITS:
            raise CryptoError(f"{self.SCHEME} DUKPT needs {self.BITS} future key registers", code="dukpt.state")
        self.ident = bytes(ident)
        self.counter = counter
        self.registers = registers

    @classmethod
    def from_initial_key(cls, initial_key: SecretKey | bytearray, ident: bytes, **options) -> FutureKeyRegisters:
        """Fill every register from the initial key, then wipe the initial key."""
        raw = bytearray(initial_key.reveal() if isinstance(initial_key, SecretKey) else initial_key)
        try:
            state = cls(ident, 0, [None] * cls.BITS, **options)
            state.registers = [state._derive(raw, 1 << i) for i in range(cls.BITS)]
            state.counter = 1
            return state
        finally:
            _wipe(raw)
            if isinstance(initial_key, SecretKey):
                initial_key.wipe()
            elif isinstance(initial_key, bytearray):
                _wipe(initial_key)

    @property
    def scheme(self) -> str:
        return self.SCHEME

    # hooks -------------------------------------------------------------------
    def _derive(self, base: bytes | bytearray, counter: int) -> bytearray:
        raise NotImplementedError

    def working_keys(self, counter: int, key: bytes | bytearray) -> DukptKeys:
        raise NotImplementedError

    def ksn(self, counter: int) -> bytes:
        raise NotImplementedError

    # the walk --------------------------------------------------------------------
    @property
    def exhausted(self) -> bool:
        return self.counter is None

    def next_key(self) -> tuple[int, bytearray]:
        """The next counter and its key; the state moves past it. Wipe the key after use."""
        c = self.counter
        if c is None:
            raise CryptoError(f"the {self.SCHEME} DUKPT key is exhausted: inject a new initial key",
                              code="dukpt.exhausted")
        p = (c & -c).bit_length() - 1
        key = self.registers[p]
        if key is None:
            raise CryptoError(f"the {self.SCHEME} DUKPT registers are damaged: re-inject the key", code="dukpt.state")
        full = c.bit_count() >= self.MAX_ONES
        if not full:
            for i in range(p - 1, -1, -1):
                self.registers[i] = self._derive(key, c | 1 << i)
        self.registers[p] = None
        step = c + (1 << p if full else 1)
        self.counter = step if step < 1 << self.BITS else None
        return c, key

    def next_keys(self) -> DukptKeys:
        """``next_key`` turned into the transaction's working keys (state not persisted)."""
        counter, key = self.next_key()
        try:
            return self.working_keys(counter, key)
        finally:
            _wipe(key)

    def wipe(self) -> None:
        for reg in self.registers:
            _wipe(reg)
        self.registers = [None] * self.BITS

    # persistence (the caller wraps it under the KEK) -----------------------------
    def dump(self) -> bytearray:
        """Counter (4 bytes, FFFFFFFF when exhausted), register bitmap (4 bytes), the keys."""
        bitmap = sum(1 << i for i, r in enumerate(self.registers) if r is not None)
        out = bytearray((0xFFFFFFFF if self.counter is None else self.counter).to_bytes(4, "big"))
        out += bitmap.to_bytes(4, "big")
        for reg in self.registers:
            if reg is not None:
                out += reg
        return out

    @classmethod
    def load(cls, ident: bytes, blob: bytes | bytearray, key_size: int, **options) -> FutureKeyRegisters:
        if len(blob) < 8:
            raise CryptoError(f"the {cls.SCHEME} DUKPT state is damaged", code="dukpt.state")
        counter = int.from_bytes(blob[:4], "big")
        bitmap = int.from_bytes(blob[4:8], "big")
        regs: list[bytearray | None] = [None] * cls.BITS
        pos = 8
        for i in range(cls.BITS):
            if bitmap >> i & 1:
                regs[i] = bytearray(blob[pos : pos + key_size])
                pos += key_size
        if pos != len(blob) or bitmap >> cls.BITS or any(r is not None and len(r) != key_size for r in regs):
            raise CryptoError(f"the {cls.SCHEME} DUKPT state is damaged", code="dukpt.state")
        return cls(ident, None if counter == 0xFFFFFFFF else counter, regs, **options)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} next counter {self.counter}>"

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled")


# -- TDES (ANSI X9.24-1:2009 annex A) ----------------------------------------------
class TdesVariant(bytes, enum.Enum):
    """Masks applied to a TDES DUKPT transaction key (X9.24-1 A.4.1, table A-1)."""

    PIN = bytes.fromhex("00000000000000FF00000000000000FF")
    MAC_REQUEST = bytes.fromhex("000000000000FF00000000000000FF00")
    MAC_RESPONSE = bytes.fromhex("00000000FF00000000000000FF000000")
    DATA_REQUEST = bytes.fromhex("0000000000FF00000000000000FF0000")
    DATA_RESPONSE = bytes.fromhex("000000FF00000000000000FF00000000")


def parse_ksn(ksn: bytes | str) -> bytes:
    """A 10-byte TDES KSN from bytes or hex; a shorter one is left-filled with FF."""
    if isinstance(ksn, str):
        try:
            ksn = bytes.fromhex(ksn)
        except ValueError:
            raise CryptoError("a KSN is hexadecimal", code="dukpt.ksn") from None
    if not 8 <= len(ksn) <= 10:
        raise CryptoError(f"a TDES KSN is 10 bytes, not {len(ksn)}", code="dukpt.ksn")
    return b"\xff" * (10 - len(ksn)) + bytes(ksn)


def ksn_counter(ksn: bytes) -> int:
    return int.from_bytes(ksn[7:10], "big") & 0x1FFFFF


def with_counter(ksn: bytes, counter: int) -> bytes:
    base = int.from_bytes(ksn, "big") & ~0x1FFFFF
    return (base | counter).to_bytes(10, "big")


def derive_ipek(bdk: SecretKey | bytes, ksn: bytes | str) -> SecretKey:
    """The initial PIN encryption key of a terminal (host and key loading only, never a terminal)."""
    raw = bdk.reveal() if isinstance(bdk, SecretKey) else bytes(bdk)
    if len(raw) != 16:
        raise CryptoError(f"a TDES DUKPT BDK is 16 bytes, not {len(raw)}", code="crypto.key_length")
    base = with_counter(parse_ksn(ksn), 0)[:8]
    return SecretKey(TdesEcb(raw).encrypt(base) + TdesEcb(_xor(raw, _C0)).encrypt(base), usage="dukpt-ik")


def _nrkgp(key: bytes | bytearray, data: bytes) -> bytearray:
    """The non-reversible key generation process (X9.24-1 A.2) on the KSN's rightmost 8 bytes."""
    key = bytes(key)
    right = key[8:]
    r2 = _xor(TdesEcb(key[:8]).encrypt(_xor(data, right)), right)
    key = _xor(key, _C0)
    right = key[8:]
    r1 = _xor(TdesEcb(key[:8]).encrypt(_xor(data, right)), right)
    return bytearray(r1 + r2)


def derive_transaction_key(ipek: SecretKey | bytes, ksn: bytes | str) -> SecretKey:
    """The transaction key for ``ksn`` from the initial key (the host's side)."""
    key = bytearray(ipek.reveal() if isinstance(ipek, SecretKey) else ipek)
    ksn = parse_ksn(ksn)
    counter, reg = ksn_counter(ksn), 0
    for bit in range(TDES_COUNTER_BITS - 1, -1, -1):
        if counter >> bit & 1:
            reg |= 1 << bit
            new = _nrkgp(key, with_counter(ksn, reg)[2:])
            _wipe(key)
            key = new
    try:
        return SecretKey(bytes(key), usage="dukpt-txn")
    finally:
        _wipe(key)


def tdes_working_key(transaction_key: SecretKey | bytes | bytearray, variant: TdesVariant) -> SecretKey:
    """A working key: the variant of the transaction key; data keys also pass the one-way step
    (each half encrypted under the variant itself)."""
    raw = transaction_key.reveal() if isinstance(transaction_key, SecretKey) else bytes(transaction_key)
    key = _xor(raw, variant.value)
    if variant in (TdesVariant.DATA_REQUEST, TdesVariant.DATA_RESPONSE):
        key = TdesEcb(key).encrypt(key)
    usage = {TdesVariant.PIN: "pin"}.get(variant, "mac" if "MAC" in variant.name else "tdk")
    return SecretKey(key, usage=usage)


def tdes_keys(transaction_key: SecretKey | bytes | bytearray, ksn: bytes, counter: int) -> DukptKeys:
    return DukptKeys(
        "tdes", ksn, counter,
        pin=tdes_working_key(transaction_key, TdesVariant.PIN),
        mac_generate=tdes_working_key(transaction_key, TdesVariant.MAC_REQUEST),
        mac_verify=tdes_working_key(transaction_key, TdesVariant.MAC_RESPONSE),
        data_encrypt=tdes_working_key(transaction_key, TdesVariant.DATA_REQUEST),
        data_decrypt=tdes_working_key(transaction_key, TdesVariant.DATA_RESPONSE),
    )


class TdesRegisters(FutureKeyRegisters):
    """X9.24-1 terminal: 21 future key registers; ``ident`` is the initial KSN (counter zero)."""

    SCHEME = "tdes"
    BITS = TDES_COUNTER_BITS
    MAX_ONES = TDES_MAX_ONES
    KEY_SIZE = 16

    def __init__(self, ident: bytes, counter: int | None, registers: list[bytearray | None]) -> None:
        super().__init__(with_counter(parse_ksn(ident), 0), counter, registers)

    def _derive(self, base: bytes | bytearray, counter: int) -> bytearray:
        return _nrkgp(base, with_counter(self.ident, counter)[2:])

    def ksn(self, counter: int) -> bytes:
        return with_counter(self.ident, counter)

    def working_keys(self, counter: int, key: bytes | bytearray) -> DukptKeys:
        return tdes_keys(key, self.ksn(counter), counter)
