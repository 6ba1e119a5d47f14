"""Message authentication codes used by acquirer hosts.

* ``cup_ecb_mac``: the UnionPay POS "ECB" MAC over MTI .. field 63;
* ``iso9797_alg1``: ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC, DES or TDES);
* ``retail_mac``: ISO/IEC 9797-1 MAC algorithm 3, the ANSI X9.19 retail MAC;
* ``aes_cmac`` / ``tdes_cmac``: CMAC (NIST SP 800-38B, ISO/IEC 9797-1 MAC
  algorithm 5) through ``cryptography``'s ``CMAC``.

Each takes the key as raw bytes or a ``SecretKey`` and returns the full MAC
block; callers truncate as their message format says. Padding methods 1, 2
and 3 of ISO/IEC 9797-1 are in ``pad``; CMAC pads itself.
"""

from __future__ import annotations

import functools
import hmac
import operator
import sys

from crypto.des import BLOCK, TdesEcb
from crypto.secrets import SecretKey

__all__ = ["pad", "cup_ecb_mac", "iso9797_alg1", "retail_mac", "aes_cmac", "tdes_cmac", "verify"]


def _raw(key: SecretKey | bytes) -> bytes:
    return key.reveal() if isinstance(key, SecretKey) else bytes(key)


def pad(data: bytes, method: int = 1) -> bytes:
    """ISO/IEC 9797-1 padding: 1 (zeros, none if aligned), 2 (0x80 then zeros),
    3 (zeros, none if aligned, after a first block holding the data's length in bits)."""
    if method == 3:
        return (8 * len(data)).to_bytes(BLOCK, "big") + pad(data, 1)
    if method == 1:
        if not data:
            return bytes(BLOCK)
        return data + bytes(-len(data) % BLOCK)
    if method == 2:
        data = data + b"\x80"
        return data + bytes(-len(data) % BLOCK)
    raise ValueError(f"padding method must be 1, 2 or 3, not {method!r}")


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def cup_ecb_mac(key: SecretKey | bytes | TdesEcb, mab: bytes) -> bytes:
    """UnionPay ECB MAC: 8 ASCII hex characters, as carried in field 64.

    1. XOR every 8-byte block of the MAC block (the last one zero-padded).
    2. Write the 8-byte result as 16 upper-case hex characters.
    3. Encrypt the first 8 characters with the MAC key, XOR the result with
       the last 8 characters, encrypt again.
    4. Write that as hex and keep the first 8 characters.
    """
    ecb = key if isinstance(key, TdesEcb) else TdesEcb(_raw(key))
    # The blocks as native 64-bit words, XORed in C. XOR works byte by byte, so
    # the byte order does not matter as long as the result is written back in it.
    acc = functools.reduce(operator.xor, memoryview(pad(mab, 1)).cast("Q"))
    text = acc.to_bytes(BLOCK, sys.byteorder).hex().upper().encode("ascii")
    step = ecb.encrypt(text[:BLOCK])
    out = ecb.encrypt(_xor(step, text[BLOCK:]))
    return out.hex().upper().encode("ascii")[:BLOCK]


def iso9797_alg1(key: SecretKey | bytes, data: bytes, *, padding: int = 1) -> bytes:
    """ISO/IEC 9797-1 algorithm 1: CBC-MAC with one (DES or TDES) key, zero IV."""
    ecb = TdesEcb(_raw(key))
    chain = bytes(BLOCK)
    padded = pad(data, padding)
    for i in range(0, len(padded), BLOCK):
        chain = ecb.encrypt(_xor(chain, padded[i : i + BLOCK]))
    return chain


def retail_mac(key: SecretKey | bytes, data: bytes, *, padding: int = 1) -> bytes:
    """ISO/IEC 9797-1 algorithm 3 (ANSI X9.19 retail MAC) with a 16-byte key K1||K2.

    Single DES under K1 over every block, then the last result is decrypted
    under K2 and encrypted again under K1.
    """
    raw = _raw(key)
    if len(raw) != 16:
        from firmware.errors import CryptoError

        raise CryptoError(f"the retail MAC needs a 16-byte key, not {len(raw)}", code="crypto.key_length")
    k1, k2 = TdesEcb(raw[:8]), TdesEcb(raw[8:])
    chain = bytes(BLOCK)
    padded = pad(data, padding)
    for i in range(0, len(padded), BLOCK):
        chain = k1.encrypt(_xor(chain, padded[i : i + BLOCK]))
    return k1.encrypt(k2.decrypt(chain))


def aes_cmac(key: SecretKey | bytes, data: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B): the full 16-byte tag."""
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.cmac import CMAC

    from crypto.aes import check_aes_key

    c = CMAC(algorithms.AES(check_aes_key(_raw(key))))
    c.update(bytes(data))
    return c.finalize()


def tdes_cmac(key: SecretKey | bytes, data: bytes) -> bytes:
    """TDES-CMAC (NIST SP 800-38B, 64-bit block): the full 8-byte tag."""
    from cryptography.hazmat.primitives.cmac import CMAC

    from crypto.des import tdes_algorithm

    c = CMAC(tdes_algorithm(_raw(key)))
    c.update(bytes(data))
    return c.finalize()


def verify(expected: bytes, received: bytes) -> bool:
    """Constant-time MAC comparison."""
    return hmac.compare_digest(expected, received)
