"""ANSI X9.24-3:2017 AES DUKPT: initial key, intermediate derivation keys, working keys.

Every key is derived the same way: AES-ECB under the deriving key over
16 bytes of *derivation data*, one block per 128 bits of output::

    01 | block no. | key usage (2) | algorithm (2) | length in bits (2) | 8 bytes

The last 8 bytes are the initial key ID for the initial key, and otherwise
the last 4 bytes of the initial key ID followed by the 32-bit counter. The
KSN is the 8-byte initial key ID followed by the 4-byte counter.

The BDK (AES-128 or AES-256) fixes the type of the initial and intermediate
keys; working keys can be any of AES-128/192/256 or two/three-key TDES.
"""

from __future__ import annotations

import enum

from crypto.aes import AesEcb
from crypto.dukpt import DukptKeys, FutureKeyRegisters
from crypto.secrets import SecretKey
from firmware.errors import CryptoError

__all__ = [
    "AesKeyType", "AesKeyUsage", "AES_COUNTER_BITS", "AES_MAX_ONES", "parse_aes_ksn", "derivation_data",
    "derive_key", "derive_initial_key", "derive_intermediate_key", "derive_working_key", "AesRegisters",
]

AES_COUNTER_BITS = 32
AES_MAX_ONES = 16


class AesKeyType(enum.Enum):
    """Key type: (algorithm indicator, length in bits) of X9.24-3 table 2."""

    TDES2 = (0x0000, 128)
    TDES3 = (0x0001, 192)
    AES128 = (0x0002, 128)
    AES192 = (0x0003, 192)
    AES256 = (0x0004, 256)

    @property
    def size(self) -> int:
        return self.value[1] // 8

    @classmethod
    def of_bdk(cls, size: int) -> AesKeyType:
        try:
            return {16: cls.AES128, 24: cls.AES192, 32: cls.AES256}[size]
        except KeyError:
            raise CryptoError(f"an AES DUKPT key is 16, 24 or 32 bytes, not {size}", code="crypto.key_length") from None


class AesKeyUsage(enum.IntEnum):
    """Key usage indicators of X9.24-3 table 3."""

    KEY_ENCRYPTION = 0x0002
    PIN_ENCRYPTION = 0x1000
    MAC_GENERATION = 0x2000
    MAC_VERIFICATION = 0x2001
    MAC_BOTH = 0x2002
    DATA_ENCRYPT = 0x3000
    DATA_DECRYPT = 0x3001
    DATA_BOTH = 0x3002
    KEY_DERIVATION = 0x8000
    INITIAL_KEY = 0x8001


def parse_aes_ksn(ksn: bytes | str) -> bytes:
    """A 12-byte AES DUKPT KSN (initial key ID and counter) from bytes or hex."""
    if isinstance(ksn, str):
        try:
            ksn = bytes.fromhex(ksn)
        except ValueError:
            raise CryptoError("a KSN is hexadecimal", code="dukpt.ksn") from None
    if len(ksn) == 8:  # an initial key ID alone: counter zero
        ksn = bytes(ksn) + bytes(4)
    if len(ksn) != 12:
        raise CryptoError(f"an AES DUKPT KSN is 12 bytes, not {len(ksn)}", code="dukpt.ksn")
    return bytes(ksn)


def derivation_data(usage: AesKeyUsage, key_type: AesKeyType, tail: bytes) -> bytearray:
    algorithm, bits = key_type.value
    return bytearray(b"\x01\x01" + usage.to_bytes(2, "big") + algorithm.to_bytes(2, "big")
                     + bits.to_bytes(2, "big") + tail)


def derive_key(derivation_key: bytes | bytearray, key_type: AesKeyType, data: bytearray) -> bytearray:
    """AES-ECB under ``derivation_key`` over ``data``, one block per 128 output bits."""
    ecb = AesEcb(bytes(derivation_key))
    out = bytearray()
    for block in range(1, -(-key_type.size // 16) + 1):
        data[1] = block
        out += ecb.encrypt(bytes(data))
    del out[key_type.size :]
    return out


def _raw(key: SecretKey | bytes | bytearray) -> bytes:
    return key.reveal() if isinstance(key, SecretKey) else bytes(key)


def derive_initial_key(bdk: SecretKey | bytes, initial_key_id: bytes) -> SecretKey:
    """The initial key of a terminal (host and key loading only, never a terminal)."""
    raw = _raw(bdk)
    key_type = AesKeyType.of_bdk(len(raw))
    ikid = parse_aes_ksn(initial_key_id)[:8]
    return SecretKey(bytes(derive_key(raw, key_type, derivation_data(AesKeyUsage.INITIAL_KEY, key_type, ikid))),
                     usage="dukpt-ik")


def _tail(ksn: bytes, counter: int) -> bytes:
    return ksn[4:8] + counter.to_bytes(4, "big")


def derive_intermediate_key(initial_key: SecretKey | bytes, ksn: bytes | str) -> bytearray:
    """The intermediate derivation key of the KSN's counter, from the initial key (host side)."""
    ksn = parse_aes_ksn(ksn)
    key = bytearray(_raw(initial_key))
    key_type = AesKeyType.of_bdk(len(key))
    counter, reg = int.from_bytes(ksn[8:], "big"), 0
    for bit in range(AES_COUNTER_BITS - 1, -1, -1):
        if counter >> bit & 1:
            reg |= 1 << bit
            new = derive_key(key, key_type, derivation_data(AesKeyUsage.KEY_DERIVATION, key_type, _tail(ksn, reg)))
            key[:] = bytes(len(key))
            key = new
    return key


def derive_working_key(intermediate_key: bytes | bytearray, ksn: bytes | str, usage: AesKeyUsage,
                       key_type: AesKeyType = AesKeyType.AES128) -> SecretKey:
    """A working key of ``key_type`` for ``usage`` from the transaction's intermediate key."""
    ksn = parse_aes_ksn(ksn)
    data = derivation_data(usage, key_type, _tail(ksn, int.from_bytes(ksn[8:], "big")))
    name = {AesKeyUsage.PIN_ENCRYPTION: "pin", AesKeyUsage.KEY_ENCRYPTION: "kek"}.get(
        usage, "mac" if 0x2000 <= usage <= 0x2002 else "tdk")
    return SecretKey(bytes(derive_key(intermediate_key, key_type, data)), usage=name)


class AesRegisters(FutureKeyRegisters):
    """X9.24-3 terminal: 32 intermediate derivation key registers; ``ident`` is the initial key ID.

    ``working_type`` is the type of the working keys (AES-128 by default, or
    AES-256 for an AES-256 BDK when the host wants it).
    """

    SCHEME = "aes"
    BITS = AES_COUNTER_BITS
    MAX_ONES = AES_MAX_ONES

    def __init__(self, ident: bytes, counter: int | None, registers: list[bytearray | None], *,
                 key_type: AesKeyType = AesKeyType.AES128, working_type: AesKeyType | None = None) -> None:
        super().__init__(parse_aes_ksn(ident)[:8], counter, registers)
        self.key_type = key_type
        self.working_type = working_type or key_type

    @classmethod
    def from_initial_key(cls, initial_key: SecretKey | bytearray, ident: bytes, *,
                         working_type: AesKeyType | None = None) -> AesRegisters:
        key_type = AesKeyType.of_bdk(len(initial_key))
        return super().from_initial_key(initial_key, ident, key_type=key_type, working_type=working_type)

    @property
    def scheme(self) -> str:
        return self.key_type.name.lower()  # aes128, aes192, aes256

    def _derive(self, base: bytes | bytearray, counter: int) -> bytearray:
        return derive_key(base, self.key_type,
                          derivation_data(AesKeyUsage.KEY_DERIVATION, self.key_type, _tail(self.ksn(0), counter)))

    def ksn(self, counter: int) -> bytes:
        return self.ident + counter.to_bytes(4, "big")

    def working_keys(self, counter: int, key: bytes | bytearray) -> DukptKeys:
        ksn, wt = self.ksn(counter), self.working_type
        return DukptKeys(
            self.scheme, ksn, counter,
            pin=derive_working_key(key, ksn, AesKeyUsage.PIN_ENCRYPTION, wt),
            mac_generate=derive_working_key(key, ksn, AesKeyUsage.MAC_GENERATION, wt),
            mac_verify=derive_working_key(key, ksn, AesKeyUsage.MAC_VERIFICATION, wt),
            data_encrypt=derive_working_key(key, ksn, AesKeyUsage.DATA_ENCRYPT, wt),
            data_decrypt=derive_working_key(key, ksn, AesKeyUsage.DATA_DECRYPT, wt),
        )
