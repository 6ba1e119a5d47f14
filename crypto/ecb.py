"""A reusable ECB context, shared by the DES and AES helpers.

ECB carries no state between blocks, so one ``cryptography`` encryptor and
decryptor per key can serve every call on the hot path (MACs, PIN blocks,
DUKPT steps) without building a new context each time.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, modes

from firmware.errors import CryptoError

__all__ = ["EcbContext", "check_blocks"]


def check_blocks(data: bytes, block: int, name: str) -> None:
    if len(data) % block:
        raise CryptoError(f"{name} data must be a multiple of {block} bytes, not {len(data)}", code="crypto.block_length")


class EcbContext:
    __slots__ = ("_enc", "_dec")
    block = 8
    name = "cipher"

    def __init__(self, algorithm) -> None:
        cipher = Cipher(algorithm, modes.ECB())
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    def encrypt(self, data: bytes) -> bytes:
        check_blocks(data, self.block, self.name)
        return self._enc.update(data)

    def decrypt(self, data: bytes) -> bytes:
        check_blocks(data, self.block, self.name)
        return self._dec.update(data)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled")
