"""What one swipe yields: the secret text of each track, and for an encrypting reader its ciphertext.

A ``Swipe`` is the unit every reader driver produces and ``hal.magstripe.tracks``
parses. Its tracks are ``TrackData`` secrets (sentinels stripped). An encrypting
(SRED) reader's swipe carries only *masked* tracks and an ``EncryptedSwipe``
(``hal.magstripe.sred``); nothing in ``hal`` can decrypt it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto.secrets import TrackData

if TYPE_CHECKING:
    from hal.magstripe.sred import EncryptedSwipe

__all__ = ["Swipe"]


class Swipe:
    """The tracks read from one swipe, each a ``TrackData`` or ``None``.

    Its repr shows which tracks were read and their lengths, never their text.
    ``wipe()`` wipes every track (and the ciphertext of an encrypted swipe);
    whoever ends up holding a swipe wipes it.

    ``encrypted`` is set only by encrypting readers: the tracks are then the
    reader's masked copies (first 6 / last 4 of the PAN in clear), good for a
    display but not for a transaction, and ``tracks.parse_swipe`` refuses them.
    """

    __slots__ = ("track1", "track2", "track3", "encrypted")

    def __init__(
        self,
        track1: TrackData | None = None,
        track2: TrackData | None = None,
        track3: TrackData | None = None,
        *,
        encrypted: EncryptedSwipe | None = None,
    ) -> None:
        for number, data in ((1, track1), (2, track2), (3, track3)):
            if data is not None and (not isinstance(data, TrackData) or data.track != number):
                raise TypeError(f"track{number} must be a TrackData for track {number}")
        self.track1 = track1
        self.track2 = track2
        self.track3 = track3
        self.encrypted = encrypted

    @classmethod
    def from_tracks(cls, tracks: dict[int, TrackData], *, encrypted: EncryptedSwipe | None = None) -> Swipe:
        return cls(tracks.get(1), tracks.get(2), tracks.get(3), encrypted=encrypted)

    @property
    def tracks(self) -> tuple[TrackData, ...]:
        """The tracks present, in track order."""
        return tuple(t for t in (self.track1, self.track2, self.track3) if t is not None)

    def wipe(self) -> None:
        for data in self.tracks:
            data.wipe()
        if self.encrypted is not None:
            self.encrypted.wipe()

    @property
    def wiped(self) -> bool:
        return all(t.wiped for t in self.tracks) and (self.encrypted is None or self.encrypted.wiped)

    def __repr__(self) -> str:
        shown = ", ".join(t.masked() for t in self.tracks) or "no tracks"
        if self.encrypted is not None:
            shown += f", {self.encrypted!r}"
        return f"<Swipe {shown}>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Swipe cannot be pickled")
