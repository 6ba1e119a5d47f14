"""The magnetic-stripe reader port.

``MagstripeReader`` holds what every reader driver shares: enabling and
disabling, turning the raw text a driver reads into a ``Swipe`` (by the
driver's ``Sentinels``, see ``hal.magstripe.raw``), and discarding swipes that
arrive while the reader is disabled. A driver overrides ``_read_raw()`` (and,
if its hardware must be armed, ``_enable()``/``_disable()``).

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
from typing import ClassVar

from crypto.secrets import TrackData
from firmware.errors import CardError, ReaderError
from hal.base import Device, DeviceContext
from hal.magstripe.raw import ISO_SENTINELS, Sentinels, split_tracks
from hal.url import DeviceUrl

__all__ = ["Swipe", "MagstripeReader", "Sentinels", "ISO_SENTINELS"]

log = logging.getLogger(__name__)


class Swipe:
    """The tracks read from one swipe, each a ``TrackData`` or ``None``.

    Its repr shows which tracks were read and their lengths, never their text.
    ``wipe()`` wipes every track; whoever ends up holding a swipe wipes it.
    """

    __slots__ = ("track1", "track2", "track3")

    def __init__(
        self, track1: TrackData | None = None, track2: TrackData | None = None, track3: TrackData | None = None
    ) -> None:
        for number, data in ((1, track1), (2, track2), (3, track3)):
            if data is not None and (not isinstance(data, TrackData) or data.track != number):
                raise TypeError(f"track{number} must be a TrackData for track {number}")
        self.track1 = track1
        self.track2 = track2
        self.track3 = track3

    @classmethod
    def from_tracks(cls, tracks: dict[int, TrackData]) -> Swipe:
        return cls(tracks.get(1), tracks.get(2), tracks.get(3))

    @property
    def tracks(self) -> tuple[TrackData, ...]:
        """The tracks present, in track order."""
        return tuple(t for t in (self.track1, self.track2, self.track3) if t is not None)

    def wipe(self) -> None:
        for data in self.tracks:
            data.wipe()

    @property
    def wiped(self) -> bool:
        return all(t.wiped for t in self.tracks)

    def __repr__(self) -> str:
        shown = ", ".join(t.masked() for t in self.tracks) or "no tracks"
        return f"<Swipe {shown}>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Swipe cannot be pickled")


class MagstripeReader(Device):
    """Port for magnetic-stripe readers. Drivers override ``_read_raw``."""

    kind = "reader"
    SENTINELS: ClassVar[Sentinels] = ISO_SENTINELS

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        self._enabled = False

    # -- what drivers override ----------------------------------------------
    def _read_raw(self) -> list[bytes]:  # hook
        """Return the raw text of every swipe read since the last call (sentinels included).

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

    def swipe_from_raw(self, raw: bytes | bytearray) -> Swipe | CardError:
        """Split one swipe's raw text by this reader's sentinels."""
        try:
            return Swipe.from_tracks(split_tracks(raw, self.sentinels))
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


def _wipe_bytes(raw: bytes | bytearray) -> None:
    """Zero a raw swipe buffer if it is mutable (drivers should hand over bytearrays)."""
    if isinstance(raw, bytearray):
        raw[:] = bytes(len(raw))
