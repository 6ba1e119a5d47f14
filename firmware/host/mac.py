"""The MAC of field 64 (or 128, beside a secondary bitmap), per profile algorithm, from a key or a ready-made context.

A running terminal keeps keys as cipher contexts, not clear bytes. The UnionPay
ECB MAC needs one DES/TDES context (``crypto.des.TdesEcb``); the X9.19 retail
MAC needs two *single*-DES contexts (K1 for the chain, K2 for the final step),
which a TDES context cannot provide. ``mac_key_for(profile, key)`` makes the
right context once (``TdesEcb`` or ``RetailMacKey``); ``compute_mac`` accepts it,
or the key itself.

X9.19 here: ISO 9797-1 algorithm 3, padding method 1, all 8 bytes kept. A
16-byte key is K1||K2; an 8-byte key is used as K1 = K2 (the retail MAC then
equals the single-DES CBC-MAC).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING, Union

from crypto.secrets import SecretKey
from firmware.errors import CryptoError
from firmware.host.spec import MacAlgorithm, Profile

if TYPE_CHECKING:
    from crypto.des import TdesEcb

__all__ = ["RetailMacKey", "MacKey", "mac_key_for", "compute_mac"]


def _raw(key: SecretKey | bytes) -> bytes:
    return key.reveal() if isinstance(key, SecretKey) else bytes(key)


@functools.cache
def _crypto_mac() -> ModuleType:
    """``crypto.mac``, imported on first use: it pulls in ``cryptography``, which
    the codec does not need to import. Cached, since an ``import`` statement
    run on every message costs about a microsecond."""
    import crypto.mac

    return crypto.mac


class RetailMacKey:
    """An X9.19 MAC key held as two single-DES contexts; the clear key is not kept."""

    __slots__ = ("_k1", "_k2")

    def __init__(self, key: SecretKey | bytes) -> None:
        from crypto.des import TdesEcb

        raw = _raw(key)
        if len(raw) == 8:
            raw = raw * 2
        if len(raw) != 16:
            raise CryptoError(f"an X9.19 MAC key is 8 or 16 bytes, not {len(raw)}", code="crypto.key_length")
        self._k1, self._k2 = TdesEcb(raw[:8]), TdesEcb(raw[8:])

    def mac(self, data: bytes) -> bytes:
        chain = bytes(8)
        padded = _crypto_mac().pad(data, 1)
        for i in range(0, len(padded), 8):
            block = int.from_bytes(chain, "big") ^ int.from_bytes(padded[i : i + 8], "big")
            chain = self._k1.encrypt(block.to_bytes(8, "big"))
        return self._k1.encrypt(self._k2.decrypt(chain))

    def __repr__(self) -> str:
        return "<RetailMacKey>"

    def __reduce__(self):
        raise TypeError("RetailMacKey cannot be pickled")


MacKey = Union[SecretKey, bytes, "TdesEcb", RetailMacKey]


def mac_key_for(profile: Profile, key: SecretKey | bytes) -> TdesEcb | RetailMacKey | None:
    """The context ``encode``/``decode`` need for this profile's MAC, built once from the key."""
    from crypto.des import TdesEcb

    if profile.mac is MacAlgorithm.CUP_ECB:
        return TdesEcb(_raw(key))
    if profile.mac is MacAlgorithm.X919:
        return RetailMacKey(key)
    return None


def compute_mac(algorithm: MacAlgorithm, key: MacKey, mab: bytes) -> bytes:
    """The 8 bytes field 64 carries for the MAC block ``mab``.

    ``CUP_ECB``: the 8 ASCII hex characters of the UnionPay ECB MAC (key, or ``TdesEcb``).
    ``X919``: the 8-byte retail MAC (key, or ``RetailMacKey``; a ``TdesEcb`` cannot do it).
    """
    if algorithm is MacAlgorithm.CUP_ECB:
        if isinstance(key, RetailMacKey):
            raise CryptoError("the UnionPay MAC needs the key or a DES context", code="crypto.mac_key")
        return _crypto_mac().cup_ecb_mac(key, mab)
    if algorithm is MacAlgorithm.X919:
        if isinstance(key, RetailMacKey):
            return key.mac(mab)
        if isinstance(key, (SecretKey, bytes, bytearray, memoryview)):
            return RetailMacKey(key).mac(mab)
        raise CryptoError("the X9.19 MAC needs the key or a RetailMacKey, not a DES context", code="crypto.mac_key")
    raise CryptoError("this profile has no MAC", code="crypto.no_mac")
