"""Card data at rest: AES-256-GCM bound to its record, and a keyed PAN hash.

A sealed blob is::

    b"S1" | key id (2 bytes, big-endian) | nonce (12 bytes) | ciphertext | tag (16 bytes)

The associated data names the record the blob belongs to (for example
``b"journal:42:card"``), so a blob copied onto another row fails to open. The
key id lets the data key be rotated while older blobs are still queued: the
``Sealer`` holds every key version that may still be referenced and seals
with the newest.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.secrets import Pan, SecretKey
from firmware.errors import CryptoError

__all__ = ["Sealer", "PanHasher", "MAGIC"]

MAGIC = b"S1"
_HEADER = len(MAGIC) + 2 + 12


class Sealer:
    """Seal and open blobs under the at-rest data keys."""

    __slots__ = ("_aead", "_current")

    def __init__(self, keys: Mapping[int, SecretKey], current: int) -> None:
        if current not in keys:
            raise CryptoError(f"data key version {current} is not in the key ring", code="keys.missing")
        for version, key in keys.items():
            if len(key) != 32:
                raise CryptoError(f"data key version {version} is not 256 bits", code="crypto.key_length")
        self._aead = {version: AESGCM(key.reveal()) for version, key in keys.items()}
        self._current = current

    @property
    def current(self) -> int:
        return self._current

    @property
    def versions(self) -> frozenset[int]:
        """Every data-key version this sealer can open."""
        return frozenset(self._aead)

    def seal(self, plaintext: bytes | bytearray, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        header = MAGIC + self._current.to_bytes(2, "big") + nonce
        # bytearray plaintext is read in place: no extra clear copy is left for the collector
        return header + self._aead[self._current].encrypt(nonce, plaintext, aad)

    @staticmethod
    def key_version(blob: bytes) -> int:
        if len(blob) < _HEADER + 16 or blob[:2] != MAGIC:
            raise CryptoError("stored card data is not a sealed blob", code="sealed.format")
        return int.from_bytes(blob[2:4], "big")

    def open(self, blob: bytes, aad: bytes) -> bytearray:
        version = self.key_version(blob)
        aead = self._aead.get(version)
        if aead is None:
            raise CryptoError(f"no data key version {version} to open stored card data", code="keys.missing")
        # Decrypted straight into a bytearray the caller can wipe (``decrypt`` would
        # leave an immutable clear copy behind).
        clear = bytearray(len(blob) - _HEADER - 16)
        try:
            aead.decrypt_into(blob[4:16], blob[_HEADER:], aad, clear)
            return clear
        except InvalidTag:
            clear[:] = bytes(len(clear))  # decrypt_into has written the unauthenticated text
            raise CryptoError("stored card data failed authentication", code="sealed.tampered") from None

    def __repr__(self) -> str:
        return f"<Sealer versions={sorted(self._aead)} current={self._current}>"


class PanHasher:
    """HMAC-SHA-256 of the PAN digits under its own key, for look-ups by card."""

    __slots__ = ("_key",)

    def __init__(self, key: SecretKey) -> None:
        if len(key) < 32:
            raise CryptoError("the PAN hash key must be at least 256 bits", code="crypto.key_length")
        self._key = key.reveal()

    def __call__(self, pan: Pan) -> bytes:
        return hmac.new(self._key, pan.reveal(), hashlib.sha256).digest()[:16]

    def __repr__(self) -> str:
        return "<PanHasher>"
