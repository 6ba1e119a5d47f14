"""The checks every track's PAN must pass (ISO/IEC 7812): digits only, 12 to 19 of them, Luhn."""

from __future__ import annotations

from firmware.errors import CardError

__all__ = ["luhn_ok", "check_pan", "MIN_PAN", "MAX_PAN"]

MIN_PAN, MAX_PAN = 12, 19
_AGAIN = "swipe again"


def luhn_ok(digits: str | bytes | bytearray) -> bool:
    """True when ``digits`` (at least two ASCII digits) passes the Luhn (mod 10) check.

    Bytes are read in place, without a copy: the PIN pad checks a keyed account number
    in the buffer it wipes (``hal.pinpad.account``)."""
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    codes = reversed(digits) if isinstance(digits, (bytes, bytearray)) else map(ord, reversed(digits))
    total = 0
    for i, code in enumerate(codes):  # code 48 + d: _LUHN[0] adds d, _LUHN[1] the digits of 2d
        total += _LUHN[i & 1][code]
    return total % 10 == 0


# What the Luhn check adds for each ASCII digit's code, at an even and at an odd place from the right.
_LUHN = ((0,) * 48 + tuple(range(10)), (0,) * 48 + tuple(n * 2 - 9 if n > 4 else n * 2 for n in range(10)))


def check_pan(pan: str, track: int) -> None:
    """Raise ``CardError`` (``card.pan_digits``, ``card.pan_length``, ``card.luhn``) naming the track, never the PAN."""
    if not pan.isascii() or not pan.isdigit():
        raise CardError(f"Card number on track {track} is not all digits: {_AGAIN}", code="card.pan_digits")
    if not MIN_PAN <= len(pan) <= MAX_PAN:
        raise CardError(f"Card number on track {track} has the wrong length: {_AGAIN}", code="card.pan_length")
    if not luhn_ok(pan):
        raise CardError(f"Card number on track {track} fails its check digit: {_AGAIN}", code="card.luhn")
