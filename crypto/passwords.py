"""Operator passwords: held as secrets, stored only as salted scrypt hashes, compared in constant time.

A cashier's or the supervisor's password is typed on the cashier keypad (digits),
never on the PIN pad's secure entry, so it passes through the core and the runner.
It lives in a ``Password`` (a ``Secret``: masked repr, wiped after use) and never
reaches the disk, a log or an exception: only its hash is stored.

The hash is scrypt (``hashlib.scrypt``, RFC 7914) with a random 16-byte salt. Its
cost is written into the stored text, so a hash keeps verifying whatever cost new
hashes use. ``PRODUCTION`` is N = 2**14, r = 8, p = 1: 16 MiB of memory and about
50 ms on a desktop core (measured: 48 ms); a Pi Zero (ARM11 at 1 GHz) is some
20-30 times slower, so roughly one to one and a half seconds per check (an estimate,
not measured on the device). That fits a sign-in, and a Pi Zero's 512 MB; OWASP's
larger N = 2**17 (128 MiB) would not. A keypad password is short, so the hash is a
speed bump for a stolen database; at the terminal the lock-out after wrong tries
(``firmware.core.operators``) is what bounds guessing. Tests use a lower cost through
the ``operators.kdf_cost`` setting; ``posterm selftest`` warns about any stored hash
below ``PRODUCTION``.

Text form: ``scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>``.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from crypto.secrets import Secret
from firmware.errors import CryptoError

__all__ = ["Password", "KdfCost", "PRODUCTION", "hash_password", "verify_password", "cost_of",
           "DEFAULT_SUPERVISOR_PASSWORD_HINT", "DEFAULT_SUPERVISOR_HASH", "MIN_LENGTH", "MAX_LENGTH"]

MIN_LENGTH, MAX_LENGTH = 4, 12  # digits typed on the keypad
SALT_BYTES, HASH_BYTES = 16, 32


class Password(Secret):
    """An operator password being typed or checked: digits only, masked in every repr."""

    __slots__ = ()
    label = "password"

    def append(self, digit: str) -> None:
        """One more digit from the keypad (nothing beyond ``MAX_LENGTH``)."""
        if len(self._buf) < MAX_LENGTH and digit.isdigit() and len(digit) == 1:
            self._buf.append(ord(digit))

    def backspace(self) -> None:
        if self._buf:
            self._buf[-1] = 0
            del self._buf[-1]

    def masked(self) -> str:
        return "wiped" if self.wiped else "*" * len(self._buf)


@dataclass(frozen=True)
class KdfCost:
    """scrypt's cost: N = 2**log2_n, block size r, parallelism p."""

    log2_n: int = 14
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not (1 <= self.log2_n <= 20 and 1 <= self.r <= 32 and 1 <= self.p <= 4):
            raise CryptoError("the password hash cost is out of range", code="operator.bad_cost")

    def below(self, other: KdfCost) -> bool:
        return (self.log2_n, self.r, self.p) < (other.log2_n, other.r, other.p)


PRODUCTION = KdfCost(14, 8, 1)


def _scrypt(secret: bytes, salt: bytes, cost: KdfCost) -> bytes:
    import hashlib  # here, not at the top: the CLI's parser imports this module (a Pi Zero imports slowly)

    return hashlib.scrypt(secret, salt=salt, n=2 ** cost.log2_n, r=cost.r, p=cost.p,
                          maxmem=256 * cost.r * 2 ** cost.log2_n + 2 ** 20, dklen=HASH_BYTES)


def check_new(password: Password) -> None:
    """A new password: ``MIN_LENGTH`` to ``MAX_LENGTH`` digits (it is typed on the keypad)."""
    value = password.reveal()
    if not (MIN_LENGTH <= len(value) <= MAX_LENGTH and value.isdigit()):
        raise CryptoError(f"a password is {MIN_LENGTH} to {MAX_LENGTH} digits (it is typed on the keypad)",
                          code="operator.bad_password")


def hash_password(password: Password, cost: KdfCost = PRODUCTION, *, salt: bytes | None = None) -> str:
    """The stored text for ``password``: a fresh random salt unless one is given."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = _scrypt(password.reveal(), salt, cost)
    return f"scrypt${cost.log2_n}${cost.r}${cost.p}${salt.hex()}${digest.hex()}"


def _parse(stored: str) -> tuple[KdfCost, bytes, bytes]:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            raise ValueError
        return KdfCost(int(n), int(r), int(p)), bytes.fromhex(salt), bytes.fromhex(digest)
    except (ValueError, CryptoError):
        raise CryptoError("a stored password hash is damaged", code="operator.bad_hash") from None


def cost_of(stored: str) -> KdfCost:
    return _parse(stored)[0]


def verify_password(password: Password, stored: str) -> bool:
    """True if ``password`` hashes to ``stored`` (same salt and cost); compared in constant time."""
    cost, salt, digest = _parse(stored)
    return hmac.compare_digest(_scrypt(password.reveal(), salt, cost), digest)


# A fresh terminal's supervisor (00) password, as UnionPay terminals ship it: 123456.
# Its hash is fixed (salt derived from a public label) so that creating a database costs
# no KDF; the password is public anyway, and ``posterm selftest`` warns while the stored
# hash is still this one.
DEFAULT_SUPERVISOR_PASSWORD_HINT = "123456"
DEFAULT_SUPERVISOR_HASH = (
    "scrypt$14$8$1$8566a68c695fc802257d9c8dab369170$"
    "5e2f81c0e9a91a8c6c2acb22d8063da566e0734620790ce8e5ec2285cfb5ac37"
)
