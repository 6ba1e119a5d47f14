"""Encrypting (SRED) readers: their tracks are decrypted here, and only here.

An SRED reader encrypts each track under a DUKPT key of its own and sends the
ciphertext with its KSN (``hal.magstripe.sred``). The terminal holds the
reader's initial key (IPEK) in its key ring (usage ``sred``); for each swipe
it derives that transaction's key from the KSN, then the track key:

* ``DATA`` (the usual choice, MagTek's default): the transaction key XOR the
  data variant, each half then encrypted under that key (ANSI X9.24-1:2009);
* ``PIN``: the transaction key XOR the PIN variant (older readers).

Tracks are TDES-CBC with a zero IV, zero padded. Both derivations are checked
against published vectors (Dukpt.NET's PEK and DEK vectors, tonicforhealth/dukpt).
"""

from __future__ import annotations

import enum

from crypto.des import TdesEcb, tdes_cbc_decrypt, tdes_cbc_encrypt
from crypto.dukpt import TdesVariant, derive_transaction_key
from crypto.secrets import SecretKey

__all__ = ["SredVariant", "track_key", "SredDecryptor"]


class SredVariant(str, enum.Enum):
    DATA = "data"
    PIN = "pin"


def _xor(a: bytes, b: bytes) -> bytearray:
    return bytearray(x ^ y for x, y in zip(a, b))


def track_key(ipek: SecretKey, ksn: bytes, variant: SredVariant = SredVariant.DATA) -> SecretKey:
    """The key the reader encrypted this swipe's tracks under."""
    tk = derive_transaction_key(ipek, ksn)
    try:
        if variant is SredVariant.PIN:
            return SecretKey(_xor(tk.reveal(), TdesVariant.PIN.value), usage="sred-track")
        v = _xor(tk.reveal(), TdesVariant.DATA_REQUEST.value)
        ecb = TdesEcb(bytes(v))
        key = SecretKey(ecb.encrypt(bytes(v[:8])) + ecb.encrypt(bytes(v[8:])), usage="sred-track")
        v[:] = bytes(len(v))
        return key
    finally:
        tk.wipe()


class SredDecryptor:
    """``hal.magstripe.sred.TrackDecryptor``: the clear bytes of one encrypted track."""

    __slots__ = ("_ipek", "variant")

    def __init__(self, ipek: SecretKey, variant: SredVariant = SredVariant.DATA) -> None:
        self._ipek = ipek
        self.variant = SredVariant(variant)

    def __call__(self, ksn: bytes, ciphertext: bytes) -> bytearray:
        with track_key(self._ipek, ksn, self.variant) as key:
            return bytearray(tdes_cbc_decrypt(key.reveal(), ciphertext))

    def encrypt(self, ksn: bytes, clear: bytes) -> bytes:
        """The reader's side, for the simulators and tests."""
        with track_key(self._ipek, ksn, self.variant) as key:
            return tdes_cbc_encrypt(key.reveal(), clear)

    def wipe(self) -> None:
        self._ipek.wipe()

    def __repr__(self) -> str:
        return f"<SredDecryptor {self.variant.value}>"
