"""Single, double and triple DES through ``cryptography``'s decrepit module.

No cipher is written here: this module only wraps ``cryptography`` so that the
rest of posterm never touches the deprecated ``primitives`` location of
TripleDES (which warns under cryptography >= 43), and so that an ECB context
can be reused across calls on the hot path.

A key of 8 bytes is single DES (K1=K2=K3), 16 bytes double-length (K1,K2,K1)
and 24 bytes triple-length.
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from crypto.ecb import EcbContext, check_blocks
from firmware.errors import CryptoError

__all__ = [
    "TdesEcb", "tdes_ecb_encrypt", "tdes_ecb_decrypt", "tdes_cbc_encrypt", "tdes_cbc_decrypt", "tdes_algorithm",
]

BLOCK = 8


def _triple(key: bytes) -> TripleDES:
    """A TripleDES algorithm for an 8, 16 or 24-byte key, given as K1||K2||K3.

    cryptography warns on 8- and 16-byte keys, so they are expanded here to
    the equivalent 24-byte form (K1K1K1 is single DES, K1K2K1 double-length).
    """
    if len(key) == 8:
        key = key * 3
    elif len(key) == 16:
        key = key + key[:8]
    elif len(key) != 24:
        raise CryptoError(f"a DES key is 8, 16 or 24 bytes, not {len(key)}", code="crypto.key_length")
    return TripleDES(key)


# Public name for the other crypto modules (CMAC for TR-31 version B).
tdes_algorithm = _triple


def _check_data(data: bytes) -> None:
    check_blocks(data, BLOCK, "DES")


class TdesEcb(EcbContext):
    """A reusable ECB context for one DES/TDES key."""

    __slots__ = ()
    block = BLOCK
    name = "DES"

    def __init__(self, key: bytes) -> None:
        super().__init__(_triple(key))


def tdes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    return TdesEcb(key).encrypt(data)


def tdes_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    return TdesEcb(key).decrypt(data)


def tdes_cbc_encrypt(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    _check_data(data)
    e = Cipher(_triple(key), modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


def tdes_cbc_decrypt(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    _check_data(data)
    d = Cipher(_triple(key), modes.CBC(iv)).decryptor()
    return d.update(data) + d.finalize()
