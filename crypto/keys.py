"""Key check values and key usages."""

from __future__ import annotations

import enum

from crypto.secrets import SecretKey
from firmware.errors import CryptoError

__all__ = ["KeyUsage", "kcv"]


class KeyUsage(str, enum.Enum):
    """What a key may be used for. Stored with each key in the key ring."""

    KEK = "kek"  # device key-encrypting key: wraps every other key at rest
    DATA = "data"  # AES-256-GCM at-rest encryption of card data
    PAN_HASH = "pan-hash"  # HMAC-SHA-256 key for PAN look-ups
    TMK = "tmk"  # terminal master key: wraps working keys from the host
    PIN = "pin"  # PIN encryption working key (PIK / TPK)
    MAC = "mac"  # message authentication working key (MAK)
    TDK = "tdk"  # track data encryption working key, where a profile has one
    SRED = "sred"  # the initial key (IPEK) of an encrypting reader: its tracks are decrypted in crypto/
    KBPK = "kbpk"  # TR-31 key block protection key: opens the TMK's key block at injection

    def __str__(self) -> str:
        return self.value


AES_USAGES = frozenset({KeyUsage.KEK.value, KeyUsage.DATA.value, KeyUsage.PAN_HASH.value})


def kcv(key: SecretKey | bytes, length: int = 3, *, algorithm: str = "auto") -> str:
    """The key check value: the first ``length`` bytes of E(key, zero block), hex.

    ``algorithm`` is ``"tdes"`` (E over 8 zero bytes, ANSI X9.24), ``"aes"``
    (E over 16 zero bytes), ``"aes-cmac"`` (AES-CMAC of a zero block, the
    ANSI X9.24-1:2017 method for AES keys, usually shown as 5 bytes) or
    ``"auto"``: AES for a ``SecretKey`` whose usage is an AES usage (KEK,
    data, PAN hash) or for 32-byte keys, TDES otherwise.
    """
    if isinstance(key, SecretKey):
        raw = key.reveal()
        if algorithm == "auto" and key.usage in AES_USAGES:
            algorithm = "aes"
    else:
        raw = bytes(key)
    if algorithm == "auto":
        algorithm = "aes" if len(raw) == 32 else "tdes"
    if algorithm == "tdes" and len(raw) in (8, 16, 24):
        from crypto.des import tdes_ecb_encrypt

        return tdes_ecb_encrypt(raw, bytes(8))[:length].hex().upper()
    if algorithm == "aes" and len(raw) in (16, 24, 32):
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        e = Cipher(algorithms.AES(raw), modes.ECB()).encryptor()
        return (e.update(bytes(16)) + e.finalize())[:length].hex().upper()
    if algorithm == "aes-cmac" and len(raw) in (16, 24, 32):
        from crypto.mac import aes_cmac

        return aes_cmac(raw, bytes(16))[:length].hex().upper()
    raise CryptoError(f"no {algorithm} check value is defined for a {len(raw)}-byte key", code="crypto.key_length")
