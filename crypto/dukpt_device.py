"""The terminal's DUKPT state on disk: never a counter twice, even across a power cut.

``dukpt.json`` (mode 0600, next to the key ring) holds the scheme, the
initial KSN or key ID, the next counter (for people to read) and the
registers wrapped under the device KEK. The wrapped blob repeats the counter,
and that copy is the one trusted.

``DukptDevice.next_transaction`` advances the registers in memory, writes
the advanced state durably (write, fsync, rename, fsync the directory) and
only then derives and returns the transaction's working keys. A power cut
after the write skips a counter; one before it loses nothing that was used.
The registers of a used counter are erased before its keys leave.

A sale does not use ``next_transaction`` (its two fsyncs would double a
sale's durable writes): ``crypto.dukpt_reserve`` writes the state a window of
counters *ahead* with ``save_ahead`` while the terminal is idle and spends
counters inside that window with ``spend``, which writes nothing.

The terminal is initialised from an initial key (a TR-31 block or, in the
lab, derived from a BDK by ``initialise_from_bdk``); the initial key is wiped
once the registers are filled, and a BDK never touches this module's state.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path

from crypto.dukpt import DukptKeys, FutureKeyRegisters, TdesRegisters, parse_ksn, with_counter
from crypto.dukpt_aes import AesKeyType, AesRegisters, parse_aes_ksn
from crypto.keyring import KEK_FILE, FileKek, KekProvider, write_private
from crypto.secrets import SecretKey
from firmware.errors import CryptoError

__all__ = ["DukptScheme", "DukptDevice", "STATE_FILE", "initialise_from_bdk"]

STATE_FILE = "dukpt.json"
FORMAT = 1


class DukptScheme(str, enum.Enum):
    TDES = "tdes"
    AES128 = "aes128"
    AES256 = "aes256"

    @property
    def key_size(self) -> int:
        return 32 if self is DukptScheme.AES256 else 16

    def check_key(self, key: SecretKey) -> None:
        if len(key) != self.key_size:
            raise CryptoError(f"a {self.value} DUKPT initial key is {self.key_size} bytes, not {len(key)}",
                              code="crypto.key_length")

    def ident(self, ksn: bytes | str) -> bytes:
        """The initial KSN (TDES, counter cleared) or initial key ID (AES) in ``ksn``."""
        if self is DukptScheme.TDES:
            return with_counter(parse_ksn(ksn), 0)
        return parse_aes_ksn(ksn)[:8]


def _registers(scheme: DukptScheme, ident: bytes, blob: bytes | bytearray) -> FutureKeyRegisters:
    if scheme is DukptScheme.TDES:
        return TdesRegisters.load(ident, blob, 16)
    key_type = AesKeyType.AES256 if scheme is DukptScheme.AES256 else AesKeyType.AES128
    return AesRegisters.load(ident, blob, key_type.size, key_type=key_type)


class DukptDevice:
    """A terminal's DUKPT registers bound to their state file."""

    def __init__(self, path: Path, kek: KekProvider, scheme: DukptScheme, registers: FutureKeyRegisters) -> None:
        self.path = Path(path)
        self.kek = kek
        self.scheme = scheme
        self._registers = registers

    # -- life cycle ---------------------------------------------------------------
    @classmethod
    def initialise(cls, data_dir: Path, scheme: DukptScheme | str, initial_key: SecretKey, ksn: bytes | str, *,
                   kek: KekProvider | None = None) -> DukptDevice:
        """Fill the registers from ``initial_key`` (wiped afterwards) and persist them."""
        scheme = DukptScheme(scheme)
        scheme.check_key(initial_key)
        data_dir = Path(data_dir)
        kek = kek if kek is not None else FileKek(data_dir / KEK_FILE)
        ident = scheme.ident(ksn)
        if scheme is DukptScheme.TDES:
            registers: FutureKeyRegisters = TdesRegisters.from_initial_key(initial_key, ident)
        else:
            registers = AesRegisters.from_initial_key(initial_key, ident)
        device = cls(data_dir / STATE_FILE, kek, scheme, registers)
        device.save()
        return device

    @classmethod
    def exists(cls, data_dir: Path) -> bool:
        return (Path(data_dir) / STATE_FILE).exists()

    @classmethod
    def load(cls, data_dir: Path, kek: KekProvider | None = None) -> DukptDevice:
        data_dir = Path(data_dir)
        path = data_dir / STATE_FILE
        if not path.exists():
            raise CryptoError("no DUKPT key is loaded: inject an initial key", code="dukpt.missing")
        if path.stat().st_mode & 0o077:
            raise CryptoError(f"DUKPT state {path} must be mode 0600", code="keys.permissions")
        kek = kek if kek is not None else FileKek(data_dir / KEK_FILE)
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != FORMAT:
                raise ValueError("format")
            if doc.get("kek_kcv") != kek.check_value():
                raise CryptoError(f"DUKPT state {path} was written under another device key", code="keys.kek_mismatch")
            scheme = DukptScheme(doc["scheme"])
            ident = bytes.fromhex(doc["ident"])
            blob = bytearray(kek.unwrap(bytes.fromhex(doc["registers"])))
        except CryptoError:
            raise
        except (ValueError, KeyError, TypeError):
            raise CryptoError(f"DUKPT state {path} is damaged", code="dukpt.state") from None
        try:
            return cls(path, kek, scheme, _registers(scheme, ident, blob))
        finally:
            blob[:] = bytes(len(blob))

    def save(self, registers: FutureKeyRegisters | None = None) -> None:
        """Write the registers (default: the ones in memory) durably, wrapped under the KEK."""
        registers = registers if registers is not None else self._registers
        blob = registers.dump()
        try:
            wrapped = self.kek.wrap(bytes(blob))
        finally:
            blob[:] = bytes(len(blob))
        doc = {
            "format": FORMAT,
            "scheme": self.scheme.value,
            "ident": registers.ident.hex().upper(),
            "next_counter": registers.counter,
            "kek_kcv": self.kek.check_value(),
            "registers": wrapped.hex(),
        }
        write_private(self.path, (json.dumps(doc, indent=1) + "\n").encode())

    # -- transactions ---------------------------------------------------------------
    @property
    def next_ksn(self) -> bytes | None:
        counter = self._registers.counter
        return None if counter is None else self._registers.ksn(counter)

    @property
    def exhausted(self) -> bool:
        return self._registers.exhausted

    def next_transaction(self) -> DukptKeys:
        """The working keys and KSN of the next transaction, its counter already spent on disk."""
        counter, key = self._registers.next_key()
        try:
            self.save()
            return self._registers.working_keys(counter, key)
        finally:
            key[:] = bytes(len(key))

    # -- counters reserved ahead (crypto.dukpt_reserve) ---------------------------------
    @property
    def counter(self) -> int | None:
        """The next counter in memory (None: exhausted)."""
        return self._registers.counter

    @property
    def counter_bits(self) -> tuple[int, int]:
        """(counter bits, most one-bits in a valid counter) of this scheme."""
        return self._registers.BITS, self._registers.MAX_ONES

    def save_ahead(self, count: int) -> int | None:
        """Write the state ``count`` transactions past the one in memory; return its next counter.

        The registers in memory do not move: a copy walks ahead (its keys wiped
        as it goes) and that copy is what reaches the disk. ``None``: the copy
        reached the end of the key, so every counter left is covered.
        """
        blob = self._registers.dump()
        try:
            ahead = _registers(self.scheme, self._registers.ident, blob)
        finally:
            blob[:] = bytes(len(blob))
        try:
            for _ in range(count):
                if ahead.counter is None:
                    break
                _, key = ahead.next_key()
                key[:] = bytes(len(key))
            self.save(ahead)
            return ahead.counter
        finally:
            ahead.wipe()

    def spend(self) -> DukptKeys:
        """The next transaction's working keys, *not* written to disk.

        Only for a caller whose disk state is already past this counter
        (``crypto.dukpt_reserve``); anyone else uses ``next_transaction``.
        """
        counter, key = self._registers.next_key()
        try:
            return self._registers.working_keys(counter, key)
        finally:
            key[:] = bytes(len(key))

    def wipe(self) -> None:
        self._registers.wipe()

    def __repr__(self) -> str:
        return f"<DukptDevice {self.scheme.value} next counter {self._registers.counter}>"

    def __reduce__(self):
        raise TypeError("DukptDevice cannot be pickled")


def initialise_from_bdk(data_dir: Path, scheme: DukptScheme | str, bdk: SecretKey, ksn: bytes | str, *,
                        kek: KekProvider | None = None) -> DukptDevice:
    """LAB ONLY: derive the initial key from a BDK, initialise, and forget both.

    A production terminal receives its initial key in a TR-31 block (usage
    B1) and never sees a BDK.
    """
    scheme = DukptScheme(scheme)
    if scheme is DukptScheme.TDES:
        from crypto.dukpt import derive_ipek

        initial = derive_ipek(bdk, ksn)
    else:
        from crypto.dukpt_aes import derive_initial_key

        if len(bdk) != scheme.key_size:
            raise CryptoError(f"a {scheme.value} BDK is {scheme.key_size} bytes, not {len(bdk)}",
                              code="crypto.key_length")
        initial = derive_initial_key(bdk, parse_aes_ksn(ksn)[:8])
    return DukptDevice.initialise(data_dir, scheme, initial, ksn, kek=kek)
