"""The PIN pad port.

``PinPad`` turns key characters from a driver into events. Outside a PIN
prompt each key is a ``KeyPress``. Inside one (``begin_pin_entry``), the base
runs *soft PIN entry* (``hal.pinpad.entry``): digits stay in a wiped buffer,
the customer sees ``PinProgress`` counts, and ENTER yields a ``PinEntered``
holding an ISO 9564 format 0 block encrypted under ``context.pin_key()``.
This suits drivers that deliver raw keys (the simulator, the console); a
hardware PIN pad that encrypts inside its own secure module would override
``begin_pin_entry``/``poll`` instead.

With ``host.pin_keys = "dukpt"`` ``context.pin_key()`` returns a PIN cipher
(``crypto.dukpt_reserve.DukptPinCipher``) instead of a key: the block it makes
is under the PIN key of a fresh DUKPT counter and carries its KSN
(``PinBlock.ksn``), which the request puts in the profile's ``ksn_field``. The
port's contract does not change: only an encrypted block leaves. A pad doing
its own DUKPT (a Z-protocol pad with DUKPT firmware) would hand back
``PinEntered(PinBlock(block, format=0, ksn=its_ksn))`` from its own ``poll``
and the rest of the terminal would carry it unchanged.

A driver overrides ``_read_keys()`` (every key character waiting, without
blocking) and may override ``_prompt(request)`` (called by
``begin_pin_entry``; raise ``PinPadError`` if the device does not answer).

Key pacing: one ``poll()`` hands out keys up to and including the first
ENTER, CANCEL or FUNCTION, and keeps the rest for the next poll (then
``next_deadline()`` is "now"). The application usually changes state after
such a key (an amount is confirmed, a PIN prompt begins), so keys typed ahead
are read in the state they were typed for: ``press("1250#1234#")`` confirms
an amount, and if the runner then begins PIN entry, the PIN is 1234.
"""

from __future__ import annotations

import logging
import time

from crypto.secrets import Pan
from firmware.errors import PinPadError
from hal.base import Device, DeviceContext
from hal.pinpad.entry import PIN_MAX, PIN_MIN, PinEntryRequest, SoftPinEntry
from hal.pinpad.keys import (
    BY_CODE,
    STOP_KEYS,
    Key,
    KeyPress,
    PinBypassed,
    PinCancelled,
    PinEntered,
    PinEvent,
    PinPadEvent,
    PinProgress,
)
from hal.url import DeviceUrl

__all__ = [
    "PinPad",
    "Key",
    "KeyPress",
    "PinEntered",
    "PinCancelled",
    "PinBypassed",
    "PinProgress",
    "PinEvent",
    "PinPadEvent",
    "PinEntryRequest",
]

log = logging.getLogger(__name__)


class PinPad(Device):
    """Port for PIN pads. Drivers override ``_read_keys`` (and maybe ``_prompt``)."""

    kind = "pinpad"

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        self._entry: SoftPinEntry | None = None
        self._ahead = bytearray()  # keys read but not yet handed out; may hold PIN digits

    # -- what drivers override ----------------------------------------------
    def _read_keys(self) -> str:  # hook
        """Every key character waiting, in order; ``""`` when none. Must not block."""
        raise NotImplementedError

    def _prompt(self, request: PinEntryRequest) -> None:  # hook
        """A PIN prompt begins. Raise ``PinPadError`` if the pad does not answer."""

    def _prompt_ended(self) -> None:  # hook
        pass

    # -- the port -------------------------------------------------------------
    @property
    def in_pin_entry(self) -> bool:
        return self._entry is not None

    def begin_pin_entry(
        self, pan: Pan, *, min_len: int = PIN_MIN, max_len: int = PIN_MAX, allow_bypass: bool = False
    ) -> None:
        """Start a PIN prompt for ``pan``. Keys already typed ahead are read by it."""
        self._require_open()
        if self._entry is not None:
            raise PinPadError("a PIN prompt is already in progress", code="pinpad.busy")
        request = PinEntryRequest(pan.masked(), min_len, max_len, allow_bypass)
        key = self.context.pin_key() if self.context.pin_key is not None else None
        if key is None:
            raise PinPadError("no PIN key is loaded: sign on first", code="pinpad.no_key")
        entry = SoftPinEntry(request, pan, key)
        try:
            self._prompt(request)
        except BaseException:
            entry.abandon()
            raise
        self._entry = entry
        log.debug("%s: PIN prompt for %s, %d..%d digits", self, request.masked_pan, min_len, max_len)

    def begin_account_entry(self) -> None:
        """Start collecting a transfer's destination account, keyed twice (``hal.pinpad.account``).

        The digits stay in the pad as a PIN's do; ``cancel_pin_entry`` ends this entry too."""
        from hal.pinpad.account import AccountEntry

        self._require_open()
        if self._entry is not None:
            raise PinPadError("a PIN or account prompt is already in progress", code="pinpad.busy")
        self._entry = AccountEntry()
        log.debug("%s: account prompt", self)

    def cancel_pin_entry(self) -> None:
        """End the PIN prompt without an event (the runner gave up: timeout, card removed)."""
        if self._entry is not None:
            self._end_entry()
            log.debug("%s: PIN prompt cancelled by the terminal", self)

    def poll(self) -> list[PinPadEvent]:
        """Events from the keys pressed since the last poll, up to the first ENTER/CANCEL/FUNCTION."""
        self._require_open()
        waiting = self._read_keys()
        if waiting:
            self._ahead += waiting.encode("ascii", "ignore")
        events: list[PinPadEvent] = []
        taken = 0
        try:
            for byte in self._ahead:
                taken += 1
                key = BY_CODE.get(byte)  # Key.from_char(chr(byte)), without its two calls
                if key is None:
                    continue  # not a key (a driver passes through what it cannot map)
                event = self._feed(key)
                if event is not None:
                    events.append(event)
                if key in STOP_KEYS:
                    break
        finally:
            self._consume(taken)  # even when encryption failed: those keys are spent
        return events

    def _feed(self, key: Key) -> PinPadEvent | None:
        entry = self._entry
        if entry is None:
            return KeyPress(key)
        try:
            event = entry.feed(key)
        finally:
            if entry.done:
                self._end_entry()
        if isinstance(event, (PinEntered, PinCancelled, PinBypassed)):
            log.debug("%s: PIN prompt ended: %s", self, type(event).__name__)
        return event

    def _consume(self, n: int) -> None:
        self._ahead[:n] = bytes(n)  # overwritten in place (the same length: no copy moves), then dropped
        del self._ahead[:n]

    def _end_entry(self) -> None:
        entry, self._entry = self._entry, None
        if entry is not None:
            entry.abandon()
            self._prompt_ended()

    def next_deadline(self) -> float | None:
        """Now, when keys read ahead are waiting for the next ``poll()``."""
        return time.monotonic() if self._ahead else None

    @property
    def keys_ahead(self) -> int:
        """Keys read from the device but not yet handed out."""
        return len(self._ahead)

    def _require_open(self) -> None:
        if not self.is_open:
            raise PinPadError("PIN pad is not open", code="pinpad.not_open")

    def close(self) -> None:
        self.cancel_pin_entry()
        self._consume(len(self._ahead))
        super().close()
