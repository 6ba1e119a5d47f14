"""The magnetic-stripe reader port.

``MagstripeReader`` holds what every reader driver shares: enabling and
disabling, turning what a driver reads into a ``Swipe``, and discarding swipes
that arrive while the reader is disabled. A driver overrides ``_read_raw()``
(and, if its hardware must be armed, ``_enable()``/``_disable()``).

A driver reads one of three things per swipe, and the port decodes each in
one place (``decode_raw``):

* text with sentinels (serial, keyboard-wedge and simulated readers), split by
  the driver's ``Sentinels`` (``hal.magstripe.raw``);
* the same from an encrypting reader in MagTek's format (``output_format``
  ``MAGTEK``): masked tracks plus ciphertext and KSN (``hal.magstripe.sred``);
* raw bits per track (``BitSwipe``, from a TTL reader), decoded by
  ``hal.magstripe.f2f``.

The drivers: ``sim://`` (``sim``), ``serial://`` (``serial``), ``hid://``
(``hid``, Linux input events), ``gpio://`` (``ttl``). Parsing the tracks into a
card is ``hal.magstripe.tracks``; whether a swipe may be used at all (chip
cards, fallback) is ``hal.magstripe.policy``.

``poll()`` never blocks and never raises for a bad swipe: a swipe that cannot
be split into tracks comes back as a ``CardError`` *value* in the list, so the
runner can show "Swipe again" and carry on. Parsing the tracks into a card
(PAN, expiry, service code) is ``hal.magstripe.tracks``.

A swipe that arrives while the reader is disabled is wiped and dropped: the
terminal was not asking for a card, and a stale swipe must never start a
later transaction. (The simulator can hold swipes back until the reader is
enabled, as a customer who swipes early would simply swipe again; see
``hal.magstripe.sim``.)
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from firmware.errors import CardError, ReaderError
from hal.base import Device, DeviceContext
from hal.magstripe.raw import ISO_SENTINELS, OutputFormat, Sentinels, split_tracks
from hal.magstripe.swipe import Swipe
from hal.url import DeviceUrl

__all__ = ["Swipe", "MagstripeReader", "Sentinels", "ISO_SENTINELS", "OutputFormat", "RawSwipe"]

# What a driver's ``_read_raw`` returns per swipe: text (ideally a bytearray, which
# the port wipes) or a ``hal.magstripe.f2f.BitSwipe``.
RawSwipe = Any

log = logging.getLogger(__name__)


class MagstripeReader(Device):
    """Port for magnetic-stripe readers. Drivers override ``_read_raw``."""

    kind = "reader"
    SENTINELS: ClassVar[Sentinels] = ISO_SENTINELS

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        self._enabled = False

    # -- what drivers override ----------------------------------------------
    def _read_raw(self) -> list[RawSwipe]:  # hook
        """Return every swipe read since the last call: its raw text (sentinels included) or a ``BitSwipe``.

        Must not block. Must drain what the hardware holds even while the
        reader is disabled, so that a swipe made then is dropped, not kept.
        """
        raise NotImplementedError

    def _enable(self) -> None:  # hook
        """Arm the hardware. Raise ``ReaderError`` if it does not answer."""

    def _disable(self) -> None:  # hook
        pass

    @property
    def sentinels(self) -> Sentinels:
        """The sentinels this reader wraps tracks in (a driver may make them an option)."""
        return self.SENTINELS

    @property
    def output_format(self) -> OutputFormat:
        """What the reader sends per swipe (a driver may make it an option)."""
        return OutputFormat.ASCII

    # -- the port -------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self._enabled

    def enable(self) -> None:
        """Start accepting swipes."""
        self._require_open()
        self._enable()
        self._enabled = True
        log.debug("%s enabled", self)

    def disable(self) -> None:
        """Stop accepting swipes; any that arrive until ``enable()`` are dropped."""
        if self._enabled:
            self._enabled = False
            if self.is_open:
                self._disable()
            log.debug("%s disabled", self)

    def poll(self) -> list[Swipe | CardError]:
        """Every swipe read since the last poll: a ``Swipe``, or a ``CardError`` for a bad read."""
        self._require_open()
        out: list[Swipe | CardError] = []
        for raw in self._read_raw():
            if not self._enabled:
                _wipe_bytes(raw)
                log.info("%s: swipe while disabled was dropped", self)
                continue
            out.append(self.swipe_from_raw(raw))
            _wipe_bytes(raw)
        return out

    def decode_raw(self, raw: RawSwipe) -> Swipe:
        """Turn one swipe as read into a ``Swipe``; raises ``CardError`` for a bad read."""
        from hal.magstripe.f2f import BitSwipe, decode_swipe_bits

        if isinstance(raw, BitSwipe):
            return decode_swipe_bits(raw.tracks)
        if self.output_format is OutputFormat.MAGTEK:
            from hal.magstripe.sred import parse_magtek

            return parse_magtek(raw, self.sentinels)
        return Swipe.from_tracks(split_tracks(raw, self.sentinels))

    def swipe_from_raw(self, raw: RawSwipe) -> Swipe | CardError:
        """Decode one swipe; a bad read comes back as a ``CardError`` value (see ``poll``)."""
        try:
            return self.decode_raw(raw)
        except CardError as exc:
            log.info("%s: unreadable swipe (%s)", self, exc.code)
            # Returned, not raised: drop the traceback, whose frames hold the raw text.
            return exc.with_traceback(None)

    def _require_open(self) -> None:
        if not self.is_open:
            raise ReaderError("card reader is not open", code="reader.not_open")

    def close(self) -> None:
        self.disable()
        super().close()


def _wipe_bytes(raw: RawSwipe) -> None:
    """Zero a raw swipe buffer if it is mutable (drivers should hand over bytearrays or BitSwipes)."""
    if isinstance(raw, bytearray):
        raw[:] = bytes(len(raw))
    elif hasattr(raw, "wipe"):
        raw.wipe()
