"""Working keys from the host's sign-on answer, under the terminal master key.

At sign-on (0800/0810) the host sends each working key (PIN, MAC and, where
the profile has one, a track data key) encrypted under the TMK with
TDES-ECB, together with its check value: the first bytes of the clear key
encrypting eight zero bytes. The terminal decrypts every key and checks
every check value *before* it installs any of them; one wrong check value
fails the whole sign-on and leaves the key ring as it was. Sign-off removes
the working keys, so nothing can be sent until the next sign-on.

``issue_working_keys`` is the host's half, used by the simulator.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from crypto.des import TdesEcb
from crypto.keyring import KeyEntry, Keyring
from crypto.keys import KeyUsage
from crypto.secrets import SecretKey
from firmware.errors import CryptoError

__all__ = ["CHECK_SIZE", "check_value", "IssuedKeys", "issue_working_keys", "decrypt_working_keys",
           "install_working_keys", "remove_working_keys", "WORKING_USAGES"]

CHECK_SIZE = 4
WORKING_USAGES = (KeyUsage.PIN, KeyUsage.MAC, KeyUsage.TDK)
_NAMES = {KeyUsage.PIN: "PIN key", KeyUsage.MAC: "MAC key", KeyUsage.TDK: "data key"}


def check_value(key: SecretKey | bytes, length: int = CHECK_SIZE) -> bytes:
    """E(key, 8 zero bytes), first ``length`` bytes: the check value hosts send with a key."""
    raw = key.reveal() if isinstance(key, SecretKey) else bytes(key)
    return TdesEcb(raw).encrypt(bytes(8))[:length]


def _odd_parity(raw: bytearray) -> bytearray:
    for i, b in enumerate(raw):
        raw[i] = (b & 0xFE) | (1 ^ ((b >> 1).bit_count() & 1))
    return raw


def _tmk(ring: Keyring, tmk: SecretKey | None) -> TdesEcb:
    if tmk is None:
        if not ring.has(KeyUsage.TMK):
            raise CryptoError("no terminal master key: inject one before signing on", code="keys.no_tmk")
        tmk = ring.get(KeyUsage.TMK)
    return TdesEcb(tmk.reveal())


@dataclass(frozen=True, repr=False, eq=False)
class IssuedKeys:
    """What a host issues at sign-on: the clear keys it keeps, and what it sends."""

    clear: Mapping[KeyUsage, SecretKey]
    encrypted: Mapping[KeyUsage, bytes]
    check_values: Mapping[KeyUsage, bytes]

    def __repr__(self) -> str:
        return f"<IssuedKeys {', '.join(u.value for u in self.clear)}>"


def issue_working_keys(tmk: SecretKey, lengths: Mapping[KeyUsage, int]) -> IssuedKeys:
    """Fresh random working keys (odd DES parity) of the given lengths, encrypted under ``tmk``."""
    under = TdesEcb(tmk.reveal())
    clear, encrypted, checks = {}, {}, {}
    for usage, length in lengths.items():
        if length not in (8, 16, 24):
            raise CryptoError(f"a working key is 8, 16 or 24 bytes, not {length}", code="crypto.key_length")
        key = SecretKey(bytes(_odd_parity(bytearray(os.urandom(length)))), usage=KeyUsage(usage).value)
        clear[usage], encrypted[usage], checks[usage] = key, under.encrypt(key.reveal()), check_value(key)
    return IssuedKeys(clear, encrypted, checks)


def decrypt_working_keys(tmk: SecretKey | TdesEcb, encrypted: Mapping[KeyUsage, bytes],
                         check_values: Mapping[KeyUsage, bytes]) -> dict[KeyUsage, SecretKey]:
    """Every key decrypted and checked against the host's check value, or ``CryptoError``."""
    under = tmk if isinstance(tmk, TdesEcb) else TdesEcb(tmk.reveal())
    if not encrypted:
        raise CryptoError("the sign-on answer carries no working keys", code="signon.no_keys")
    keys: dict[KeyUsage, SecretKey] = {}
    try:
        for usage, blob in encrypted.items():
            usage = KeyUsage(usage)
            name = _NAMES.get(usage)
            if name is None:
                raise CryptoError(f"sign-on cannot load a {usage.value} key", code="signon.usage")
            if len(blob) not in (8, 16, 24):
                raise CryptoError(f"the {name} from the host is {len(blob)} bytes, not 8, 16 or 24",
                                  code="signon.key_length")
            key = SecretKey(under.decrypt(bytes(blob)), usage=usage.value)
            keys[usage] = key
            expected = check_values.get(usage)
            if not expected or not hmac.compare_digest(check_value(key, len(expected)), bytes(expected)):
                raise CryptoError(f"sign-on failed: the {name} does not match the host's check value",
                                  code="signon.check_value")
    except BaseException:
        for key in keys.values():
            key.wipe()
        raise
    return keys


def install_working_keys(ring: Keyring, tmk: SecretKey | None, encrypted: Mapping[KeyUsage, bytes],
                         check_values: Mapping[KeyUsage, bytes]) -> list[KeyEntry]:
    """Check every key, then replace the working keys in the ring in one atomic save.

    ``tmk`` ``None`` takes the ring's own terminal master key. On any failure
    nothing is installed and the previous working keys stay as they were.
    """
    keys = decrypt_working_keys(_tmk(ring, tmk), encrypted, check_values)
    try:
        entries = []
        with ring.batch():
            for usage, key in keys.items():
                entries.append(ring.put(usage, key, note="sign-on", save=False))
                for old in ring.versions(usage)[:-1]:
                    ring.drop(usage, old, save=False)
        return entries
    finally:
        for key in keys.values():
            key.wipe()


def remove_working_keys(ring: Keyring) -> list[str]:
    """Sign-off: drop every working key from the ring (one atomic save). Returns the usages dropped."""
    dropped = [u.value for u in WORKING_USAGES if ring.has(u)]
    with ring.batch():
        for usage in WORKING_USAGES:
            ring.drop(usage, save=False)
    return dropped
