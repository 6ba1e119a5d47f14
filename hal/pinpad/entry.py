"""Soft PIN entry: PIN digits in, one PIN event out. Sans-IO.

A ``SoftPinEntry`` is made for one PIN prompt and fed key characters one at
a time. The digits collect in a ``bytearray`` that is overwritten as soon as
the entry ends (entered, cancelled, bypassed or abandoned); they are never
put into an event, a log record, a repr or an exception. ENTER builds an ISO
9564 format 0 block under the PIN key and hands back only the ``PinBlock``;
with DUKPT (``host.pin_keys = "dukpt"``) the "key" is a PIN cipher that spends
a fresh counter and returns a block carrying its KSN.

The rules, in one place:

==========  =======================================  ==========================
key         while digits < min_len                    digits >= min_len
==========  =======================================  ==========================
0-9         add (ignored at max_len): PinProgress     same
CLEAR (*)   remove the last digit: PinProgress        same
CANCEL (X)  PinCancelled, entry over                  same
ENTER (#)   0 digits and bypass allowed: PinBypassed  PinEntered, entry over
            otherwise ignored: PinProgress again
FUNCTION    ignored                                   ignored
==========  =======================================  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto.secrets import Pan
from firmware.errors import ConfigError, CryptoError, PinPadError, StorageError
from hal.pinpad.keys import Key, PinBypassed, PinCancelled, PinEntered, PinEvent, PinProgress

__all__ = ["PinEntryRequest", "SoftPinEntry", "PIN_MIN", "PIN_MAX"]

PIN_MIN, PIN_MAX = 4, 12  # what ISO 9564 format 0 can carry


@dataclass(frozen=True)
class PinEntryRequest:
    """What a PIN prompt asks for. Safe to record and show (the PAN is masked)."""

    masked_pan: str
    min_len: int = PIN_MIN
    max_len: int = PIN_MAX
    allow_bypass: bool = False

    def __post_init__(self) -> None:
        if not PIN_MIN <= self.min_len <= self.max_len <= PIN_MAX:
            raise ConfigError(
                f"PIN length limits {self.min_len}..{self.max_len} must lie within {PIN_MIN}..{PIN_MAX}",
                code="config.pin_limits",
            )


class SoftPinEntry:
    """One PIN prompt in progress. ``feed(key)`` returns the event it causes, if any."""

    __slots__ = ("request", "_pan", "_key", "_digits", "done")

    def __init__(self, request: PinEntryRequest, pan: Pan, key: Any) -> None:
        self.request = request
        self._pan = Pan(pan.reveal())  # our own copy: the caller may wipe theirs
        self._key = key
        self._digits = bytearray()
        self.done = False

    @property
    def count(self) -> int:
        return len(self._digits)

    def feed(self, key: Key) -> PinEvent | None:
        if self.done:
            raise PinPadError("no PIN entry is in progress", code="pinpad.not_in_entry")
        if key.isdigit():  # Key.is_digit, without the property's call (a Key is its own character)
            if len(self._digits) < self.request.max_len:
                self._digits.append(ord(key))  # a Key is a str, its own character
            return PinProgress(len(self._digits))
        if key is Key.CLEAR:
            if self._digits:
                self._digits[-1] = 0
                del self._digits[-1]
            return PinProgress(len(self._digits))
        if key is Key.CANCEL:
            self.abandon()
            return PinCancelled()
        if key is Key.ENTER:
            if not self._digits and self.request.allow_bypass:
                self.abandon()
                return PinBypassed()
            if len(self._digits) < self.request.min_len:
                return PinProgress(len(self._digits))
            return PinEntered(self._encrypt())
        return None  # FUNCTION has no meaning inside a PIN prompt

    def _encrypt(self):
        """ISO format 0 under a PIN key; or, when the key is a PIN cipher (an object with
        ``encrypt_pin(digits, pan) -> PinBlock``, such as ``crypto.dukpt_reserve.DukptPinCipher``),
        whatever block it makes: a DUKPT block carries its KSN (``PinBlock.ksn``)."""
        from crypto.pinblock import encrypt_iso0  # lazy: pulls in cryptography

        cipher = getattr(self._key, "encrypt_pin", None)
        try:
            if cipher is not None:
                return cipher(self._digits, self._pan)
            return encrypt_iso0(self._digits, self._pan, self._key)
        except StorageError:  # the DUKPT state could not be written (storage.dukpt_state): a storage fault, said so
            raise
        except CryptoError as e:
            if e.code.startswith("dukpt."):  # exhausted, closed: say so, not "check the PIN key"
                raise PinPadError(f"PIN could not be encrypted: {e.text}", code=f"pinpad.{e.code}") from None
            raise PinPadError("PIN could not be encrypted: check the PIN key", code="pinpad.encrypt_failed") from None
        except Exception:
            # A wrong key type or length; the cause may quote key material, so it is not chained.
            raise PinPadError("PIN could not be encrypted: check the PIN key", code="pinpad.encrypt_failed") from None
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Overwrite the digits and end the entry."""
        for i in range(len(self._digits)):
            self._digits[i] = 0
        self._digits = bytearray()
        if not self._pan.wiped:
            self._pan.wipe()
        self._key = None
        self.done = True

    def __repr__(self) -> str:
        state = "done" if self.done else f"{len(self._digits)} digits"
        return f"<SoftPinEntry {self.request.masked_pan} {state}>"

    def __reduce__(self):
        raise TypeError("SoftPinEntry cannot be pickled")
