"""Account entry on the PIN pad: a transfer's destination account, keyed twice. Sans-IO.

Like ``SoftPinEntry`` (``entry.py``), an ``AccountEntry`` is fed key characters
one at a time; its digits live in ``bytearray`` buffers overwritten as soon as
they are no longer needed, and they never go into a progress event, a log
record, a repr or an exception. What leaves it is an ``AccountEntered`` holding
a ``crypto.secrets.Pan`` (masked repr), which the runner seals at once.

The rules, in one place:

==========  ==============================================================
key         effect
==========  ==============================================================
0-9         add (ignored at 19 digits): ``AccountProgress``
CLEAR (*)   remove the last digit: ``AccountProgress``
CANCEL (X)  ``AccountCancelled``, entry over
ENTER (#)   first keying: checked (12-19 digits; a card-shaped number must
            pass Luhn), then ``AccountProgress(0, confirming=True)``;
            second keying: the same digits give ``AccountEntered``, entry
            over; otherwise ``AccountRejected`` and keying starts again
FUNCTION    ignored
==========  ==============================================================

Card-shaped: 16 to 19 digits whose first digit is 3 to 6 (ISO/IEC 7812 major
industry identifiers for travel, banking and finance; UnionPay cards begin 62).
Such a number carries a Luhn check digit and a slip is caught here. Shorter
numbers, or numbers outside those identifiers, are bank account numbers with
their own check rules, which only the bank can apply: they are length-checked
and confirmed by the second keying only.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.secrets import Pan
from firmware.errors import PinPadError
from hal.magstripe.pan import luhn_ok  # one Luhn check for swiped and keyed numbers
from hal.pinpad.keys import Key

__all__ = [
    "ACCOUNT_MIN",
    "ACCOUNT_MAX",
    "AccountEntry",
    "AccountProgress",
    "AccountRejected",
    "AccountEntered",
    "AccountCancelled",
    "card_shaped",
    "luhn_ok",
]

ACCOUNT_MIN, ACCOUNT_MAX = 12, 19


@dataclass(frozen=True)
class AccountProgress:
    digits: int
    confirming: bool = False


@dataclass(frozen=True)
class AccountRejected:
    """The keying was refused; the entry goes on from its first keying. No digits here."""

    code: str  # transfer.account_length, transfer.account_check_digit, transfer.account_mismatch
    text: str


@dataclass(frozen=True)
class AccountEntered:
    account: Pan  # the runner seals it with the card, then wipes it


@dataclass(frozen=True)
class AccountCancelled:
    pass


AccountEvent = AccountProgress | AccountRejected | AccountEntered | AccountCancelled


def card_shaped(digits: bytes | bytearray) -> bool:
    return 16 <= len(digits) <= 19 and digits[:1] in (b"3", b"4", b"5", b"6")


def _zero(buf: bytearray) -> None:
    for i in range(len(buf)):
        buf[i] = 0
    del buf[:]


class AccountEntry:
    """One account prompt in progress. ``feed(key)`` returns the event it causes, if any."""

    __slots__ = ("_first", "_digits", "_confirming", "done")

    def __init__(self) -> None:
        self._first = bytearray()  # the first keying, once accepted
        self._digits = bytearray()  # the keying in progress
        self._confirming = False
        self.done = False

    def feed(self, key: Key) -> AccountEvent | None:
        if self.done:
            raise PinPadError("no account entry is in progress", code="pinpad.not_in_entry")
        if key.is_digit:
            if len(self._digits) < ACCOUNT_MAX:
                self._digits.append(ord(key.value))
            return AccountProgress(len(self._digits), self._confirming)
        if key is Key.CLEAR:
            if self._digits:
                self._digits[-1] = 0
                del self._digits[-1]
            return AccountProgress(len(self._digits), self._confirming)
        if key is Key.CANCEL:
            self.abandon()
            return AccountCancelled()
        if key is Key.ENTER:
            return self._second() if self._confirming else self._first_done()
        return None

    def _first_done(self) -> AccountEvent:
        refusal = self._refusal(self._digits)
        if refusal is not None:
            _zero(self._digits)
            return refusal
        self._first, self._digits = self._digits, bytearray()
        self._confirming = True
        return AccountProgress(0, True)

    def _second(self) -> AccountEvent:
        import hmac

        same = hmac.compare_digest(bytes(self._first), bytes(self._digits))
        if not same:
            _zero(self._first)
            _zero(self._digits)
            self._confirming = False
            return AccountRejected("transfer.account_mismatch", "ACCOUNTS DIFFER")
        try:
            return AccountEntered(Pan(self._digits))
        finally:
            self.abandon()

    @staticmethod
    def _refusal(digits: bytearray) -> AccountRejected | None:
        if not ACCOUNT_MIN <= len(digits) <= ACCOUNT_MAX:
            return AccountRejected("transfer.account_length", f"KEY {ACCOUNT_MIN}-{ACCOUNT_MAX} DIGITS")
        if card_shaped(digits) and not luhn_ok(digits):
            return AccountRejected("transfer.account_check_digit", "CHECK DIGIT WRONG")
        return None

    def abandon(self) -> None:
        """Overwrite the digits and end the entry."""
        _zero(self._first)
        _zero(self._digits)
        self.done = True

    def __repr__(self) -> str:
        state = "done" if self.done else f"{len(self._digits)} digits{' (again)' if self._confirming else ''}"
        return f"<AccountEntry {state}>"

    def __reduce__(self):
        raise TypeError("AccountEntry cannot be pickled")
