"""AES block operations through ``cryptography``, shaped like ``crypto.des``.

No cipher is written here. ``AesEcb`` is a reusable ECB context (DUKPT
derivations and ISO 9564 format 4 encrypt single blocks, many times per
transaction); the CBC helpers serve TR-31 version D and DUKPT data keys.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.ecb import EcbContext, check_blocks
from firmware.errors import CryptoError

__all__ = [
    "BLOCK", "AesEcb", "aes_ecb_encrypt", "aes_ecb_decrypt", "aes_cbc_encrypt", "aes_cbc_decrypt", "check_aes_key",
]

BLOCK = 16


def check_aes_key(key: bytes) -> bytes:
    if len(key) not in (16, 24, 32):
        raise CryptoError(f"an AES key is 16, 24 or 32 bytes, not {len(key)}", code="crypto.key_length")
    return key


def _check_data(data: bytes) -> None:
    check_blocks(data, BLOCK, "AES")


class AesEcb(EcbContext):
    """A reusable ECB context for one AES key."""

    __slots__ = ()
    block = BLOCK
    name = "AES"

    def __init__(self, key: bytes) -> None:
        super().__init__(algorithms.AES(check_aes_key(bytes(key))))


def aes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    return AesEcb(key).encrypt(data)


def aes_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    return AesEcb(key).decrypt(data)


def aes_cbc_encrypt(key: bytes, data: bytes, iv: bytes = bytes(BLOCK)) -> bytes:
    _check_data(data)
    e = Cipher(algorithms.AES(check_aes_key(bytes(key))), modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


def aes_cbc_decrypt(key: bytes, data: bytes, iv: bytes = bytes(BLOCK)) -> bytes:
    _check_data(data)
    d = Cipher(algorithms.AES(check_aes_key(bytes(key))), modes.CBC(iv)).decryptor()
    return d.update(data) + d.finalize()
