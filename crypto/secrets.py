"""Secret types: card data, PIN blocks and keys that cannot leak by accident.

Every sensitive value in posterm is held in one of these classes rather than
in a ``str`` or ``bytes``. They guarantee:

* ``repr``, ``str`` and ``format`` show a mask, never the value, so a secret
  that ends up in a log line, an f-string, an exception or a test failure
  report is harmless;
* they refuse to be pickled (so they cannot cross into another process or
  onto disk through ``multiprocessing`` or ``shelve``);
* ``reveal()`` is the only way to the clear value. It is easy to grep for,
  and callers keep the result short-lived;
* ``wipe()`` overwrites the buffer in place (best effort: Python may have
  made copies we cannot reach, which is why clear values are revealed late
  and dropped early). A wiped secret raises on ``reveal()``.

Equality is constant-time and only between secrets of the same class.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from firmware.errors import CardError, CryptoError

__all__ = ["Secret", "Pan", "TrackData", "PinBlock", "SecretKey", "mask_pan", "KEY_LIKE", "looks_like_key", "mask_keys",
           "CARD_LIKE", "looks_like_card_data", "mask_card_data"]

# What a pasted key looks like in text an error might echo: 16 or more hex digits in a row (a single-length DES
# key; a PAN's digits are hex digits too). Such text is told by its form and length, never shown.
KEY_LIKE = re.compile(r"[0-9A-Fa-f]{16,}")


def looks_like_key(text: str) -> bool:
    """True when ``text`` holds ``KEY_LIKE``: a key (or a PAN) pasted where a name or a value was wanted."""
    return KEY_LIKE.search(text) is not None


def mask_keys(text: str) -> str:
    """``text`` with each ``KEY_LIKE`` run (a key, a PIN block, a MAC written as hex) told only by its length."""
    return KEY_LIKE.sub(lambda m: f"<{len(m.group())} hex digits>", text)


# What card data looks like in free text (a log line, a value an error would echo, an operator's note): the one
# judgement the log redactor, the scenario and test-card errors and ``journal resolve --note`` share.
# ``number``: 12 to 19 digits in a row, or 13 or more in groups with spaces, dashes, dots, slashes or underscores
# between them (1 to 3 of them: "6222 0212 3456 7890 123" as on a card face, "4761-7390-0101-0010", a copied
# table's "6222  0212"); 13 keeps a dotted IP address (12 digits at most) out. ``track``: what follows a card
# number in track text: track 1's ``^NAME^`` and its expiry, service code and discretionary data, or track 2's
# or 3's ``=`` (``D``) and all after it, up to an end sentinel, a start sentinel or a space.
_GAP = r"[ ._/-]{1,3}"
CARD_LIKE = re.compile(
    rf"(?<![0-9])(?P<number>[0-9](?:(?:{_GAP})?[0-9]){{12,}}|[0-9]{{12}})(?![0-9])"
    r"(?P<track>\^[^^?;\n]{0,26}(?:\^[^?;\s]*)?|=[^?;\s]*|D[0-9][^?;\s]*)?"
)


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def looks_like_card_data(text: str, *, shortest: int = 12) -> bool:
    """True when ``text`` holds a card number (``CARD_LIKE``, at least ``shortest`` digits) or track text."""
    return any(m["track"] or len(_digits(m["number"])) >= shortest for m in CARD_LIKE.finditer(text))


def _masked(m: re.Match) -> str:
    digits = _digits(m["number"])
    shown = mask_pan(digits) if len(digits) <= 19 else f"<{len(digits)} digits>"
    return shown + (f"{m['track'][0]}..." if m["track"] else "")


def mask_card_data(text: str) -> str:
    """``text`` with each card number masked (first 6 / last 4 at most, separators dropped) and any track text
    after it cut to its separator and ``...``."""
    return CARD_LIKE.sub(_masked, text)


class Secret:
    """A wipeable byte buffer whose value never appears in a repr."""

    __slots__ = ("_buf", "_wiped")
    label = "secret"

    def __init__(self, value: bytes | bytearray | memoryview | str) -> None:
        if isinstance(value, str):
            value = value.encode("ascii")
        self._buf = bytearray(value)
        self._wiped = False

    # -- access -----------------------------------------------------------
    def reveal(self) -> bytes:
        """Return the clear value. Keep the result local and short-lived."""
        if self._wiped:
            raise CryptoError(f"{self.label} was already wiped", code="secret.wiped")
        return bytes(self._buf)

    def reveal_str(self) -> str:
        return self.reveal().decode("ascii")

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def wiped(self) -> bool:
        return self._wiped

    def wipe(self) -> None:
        """Overwrite the buffer with zeros and forget it."""
        self._buf[:] = bytes(len(self._buf))  # in place, in C
        self._buf = bytearray()
        self._wiped = True

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wipe()

    # -- never leak -------------------------------------------------------
    def masked(self) -> str:
        return f"{len(self._buf)} bytes" if not self._wiped else "wiped"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.masked()}>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled")

    def __copy__(self):
        raise TypeError(f"{type(self).__name__} cannot be copied; reveal() it explicitly")

    __deepcopy__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return hmac.compare_digest(self.reveal(), other.reveal())  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


def mask_pan(pan: str, *, first: int = 6, last: int = 4) -> str:
    """Mask a PAN string, keeping at most the first 6 and last 4 digits.

    At least four digits are always hidden: a PAN too short for that with
    the first digits shown (13 digits and fewer) keeps only the last 4.
    """
    first = min(first, 6)
    last = min(last, 4)
    if len(pan) - first - last < 4:
        first = 0
    hidden = len(pan) - first - last
    if hidden <= 0:
        return "*" * len(pan)
    return pan[:first] + "*" * hidden + pan[len(pan) - last :]


class Pan(Secret):
    """A primary account number: 12 to 19 digits."""

    __slots__ = ()
    label = "PAN"

    def __init__(self, value: bytes | bytearray | str) -> None:
        super().__init__(value)
        n = len(self._buf)
        if not 12 <= n <= 19:
            self.wipe()
            raise CardError(f"card number has {n} digits, expected 12 to 19", code="card.pan_length")
        if not self._buf.isdigit():  # ASCII digits only, checked in C
            self.wipe()
            raise CardError("card number contains a non-digit", code="card.pan_digits")

    def masked(self, *, first: int = 6, last: int = 4) -> str:
        if self._wiped:
            return "wiped"
        return mask_pan(self._buf.decode("ascii"), first=first, last=last)

    @property
    def last4(self) -> str:
        return self._buf[-4:].decode("ascii")

    def __repr__(self) -> str:
        return f"<Pan {self.masked()}>"

    __str__ = __repr__


class TrackData(Secret):
    """The text of one magnetic track, sentinels stripped."""

    __slots__ = ("track",)
    label = "track data"

    def __init__(self, value: bytes | bytearray | str, track: int) -> None:
        if track not in (1, 2, 3):
            raise ValueError(f"track must be 1, 2 or 3, not {track!r}")
        super().__init__(value)
        self.track = track

    def masked(self) -> str:
        return f"track {self.track}, {len(self._buf)} chars" if not self._wiped else f"track {self.track}, wiped"


class PinBlock(Secret):
    """An encrypted PIN block. Still sensitive: it is never stored or logged.

    ``ksn`` is the DUKPT key serial number the block was encrypted under (10
    bytes TDES, 12 AES), or None for a block under a fixed or session PIN key.
    The KSN is not secret: the host needs it to derive the key.
    """

    __slots__ = ("format", "ksn")
    label = "PIN block"

    def __init__(self, value: bytes | bytearray, format: int = 0, ksn: bytes | None = None) -> None:
        super().__init__(value)
        self.format = format
        self.ksn = None if ksn is None else bytes(ksn)

    def masked(self) -> str:
        return f"ISO {self.format}, {len(self._buf)} bytes" if not self._wiped else "wiped"


class SecretKey(Secret):
    """A cryptographic key with its usage. Its repr shows the usage and KCV only."""

    __slots__ = ("usage",)
    label = "key"

    def __init__(self, value: bytes | bytearray, usage: str = "generic") -> None:
        super().__init__(value)
        self.usage = usage

    @property
    def kcv(self) -> str:
        from crypto.keys import kcv  # lazy: keeps cryptography off the import path of secrets

        return kcv(self)

    def masked(self) -> str:
        if self._wiped:
            return f"{self.usage}, wiped"
        try:
            return f"{self.usage}, {len(self._buf) * 8}-bit, KCV {self.kcv}"
        except Exception:  # a key of odd length still must not break repr
            return f"{self.usage}, {len(self._buf) * 8}-bit"
