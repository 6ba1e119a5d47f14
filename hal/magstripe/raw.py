"""Raw track text: splitting what a reader sends into tracks, by sentinel.

A reader that has already decoded the magnetic flux (a keyboard-wedge or
serial reader) sends ASCII text such as ``%B4761...^NAME^2512...?;4761...=2512...?``.
This module finds each track between its start and end sentinel and checks
its characters against the track's ISO/IEC 7811 alphabet. It knows nothing
about PANs or expiry dates (that is ``hal.magstripe.tracks``) and nothing about
bits (a later F2F decoder produces the same text and hands it here).

Readers differ in the sentinel they use for track 3 (``;`` per ISO 4909, ``+``
on many keyboard-wedge readers), so sentinels are data: a ``Sentinels`` value
on each driver. When track 2 and track 3 share a start sentinel, the first
such track is track 2 and the second is track 3.

Several readers report a track they could not read as the single character
``E`` between sentinels (``%E?``); such a track counts as absent.

Errors never quote the data, only what is wrong with it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crypto.secrets import TrackData
from firmware.errors import CardError, ConfigError
from hal.url import Option

__all__ = [
    "Sentinels",
    "ISO_SENTINELS",
    "TRACK_ALPHABET",
    "SENTINEL_NAMES",
    "OutputFormat",
    "split_tracks",
    "in_alphabet",
    "sentinel_options",
    "sentinels_from_options",
]

# ISO/IEC 7811-2: track 1 carries 6-bit characters 0x20-0x5F, tracks 2 and 3
# carry 4-bit characters 0x30-0x3F. Sentinels are part of the alphabet but may
# not appear inside a track.
TRACK_ALPHABET: dict[int, range] = {1: range(0x20, 0x60), 2: range(0x30, 0x40), 3: range(0x30, 0x40)}
_RESERVED: dict[int, frozenset[int]] = {1: frozenset(b"%?"), 2: frozenset(b";?"), 3: frozenset(b";?")}

_REREAD = "Card read failed: swipe again"


@dataclass(frozen=True)
class Sentinels:
    """The start and end sentinels a reader wraps each track in.

    ``track3`` is a string of every character that may start track 3.
    """

    track1: str = "%"
    track2: str = ";"
    track3: str = ";"
    end: str = "?"
    error_mark: str | None = "E"

    def __post_init__(self) -> None:
        for name in ("track1", "track2", "track3", "end"):
            value = getattr(self, name)
            if not value or not value.isascii():
                raise ValueError(f"sentinel {name} must be one or more ASCII characters")
        if self.end in self.track1 + self.track2 + self.track3:
            raise ValueError("the end sentinel cannot also start a track")
        if set(self.track1) & set(self.track2 + self.track3):
            raise ValueError("the start sentinel of track 1 cannot also start track 2 or 3")


ISO_SENTINELS = Sentinels()

# Sentinels by name, for device URLs: a '%', ';' or '+' in a URL query would need
# escaping ('+' even decodes to a space), so options name them instead.
SENTINEL_NAMES: dict[str, str] = {
    "percent": "%",
    "semicolon": ";",
    "plus": "+",
    "question": "?",
    "at": "@",
    "ampersand": "&",
    "hash": "#",
    "exclamation": "!",
}


class OutputFormat(str, enum.Enum):
    """What a text reader sends per swipe."""

    ASCII = "ascii"  # the tracks between their sentinels (ISO/IEC 7811 characters)
    MAGTEK = "magtek"  # MagTek MagneSafe encrypted keyboard-emulation output (``hal.magstripe.sred``)


def sentinel_options(track3: str = "semicolon") -> dict[str, Option]:
    """The sentinel options a text reader's URL accepts (``track1``, ``track2``, ``track3``, ``end``)."""
    names = tuple(SENTINEL_NAMES)
    return {
        "track1": Option(str, "percent", "start sentinel of track 1", choices=names),
        "track2": Option(str, "semicolon", "start sentinel of track 2", choices=names),
        "track3": Option(str, track3, "start sentinel of track 3", choices=names),
        "end": Option(str, "question", "end sentinel of every track", choices=names),
    }


def sentinels_from_options(options: Mapping[str, Any], url: str = "") -> Sentinels:
    """A ``Sentinels`` from bound sentinel options; a clash (the end sentinel also starts a track) is a ``ConfigError``."""
    try:
        return Sentinels(*(SENTINEL_NAMES[options[k]] for k in ("track1", "track2", "track3", "end")))
    except ValueError as exc:
        raise ConfigError(f"reader URL {url!r}: {exc}", code="config.bad_option") from None


def in_alphabet(data: bytes | bytearray, track: int) -> bool:
    """True when every character of ``data`` may appear inside ``track`` (sentinels excluded)."""
    # Deleting every allowed byte leaves nothing exactly when all are allowed: one call, in C.
    return not bytes(data).translate(None, _INSIDE[track])


_INSIDE = {
    track: bytes(sorted(b for b in range(256) if b in TRACK_ALPHABET[track] and b not in _RESERVED[track]))
    for track in TRACK_ALPHABET
}


def _which_track(char: int, seen: dict[int, TrackData | None], s: Sentinels) -> int | None:
    c = chr(char)
    if c in s.track1 and 1 not in seen and 2 not in seen and 3 not in seen:
        return 1
    if c in s.track2 and 2 not in seen and 3 not in seen:
        return 2
    if c in s.track3 and 3 not in seen:
        return 3
    return None


def split_tracks(raw: bytes | bytearray, sentinels: Sentinels = ISO_SENTINELS, *, strict: bool = True) -> dict[int, TrackData]:
    """Find the tracks in one swipe's raw text; return ``{track number: TrackData}``.

    Bytes outside any track (line endings, padding) are skipped. Tracks come
    in order 1, 2, 3, each at most once. A start sentinel inside a track means
    its end sentinel was lost, so the next track ran into it. Raises ``CardError`` with code
    ``card.no_track`` (nothing that looks like a track), ``card.end_sentinel``
    (a track starts but never ends: a partial swipe) or ``card.bad_char``
    (a character that track cannot carry: a misread) or ``card.unreadable`` (the reader marked track 2
    unreadable: a parity or LRC error it found, the same misread a bit-level reader names
    ``card.parity`` or ``card.lrc``; track 2 is what the host is sent, so the card is not read from
    track 1 instead, as one without a track 2 would be). A track 1 or 3 the reader marked
    unreadable is left out: track 2 carries what the host needs. ``strict=False`` accepts
    any printable ASCII inside a track (an encrypting reader's masked tracks
    may use a mask character such as ``*`` that the track cannot carry).
    """
    end = ord(sentinels.end)
    # each start sentinel as a one-byte string, looked for inside a track's body in C
    starts = {bytes((c,)) for c in (sentinels.track1 + sentinels.track2 + sentinels.track3).encode("ascii")}
    found: dict[int, TrackData | None] = {}
    i, n = 0, len(raw)
    while i < n:
        track = _which_track(raw[i], found, sentinels)
        if track is None:
            i += 1  # line endings, padding or noise between tracks
            continue
        stop = raw.find(end, i + 1)
        body = raw[i + 1 : stop] if stop >= 0 else b""
        if stop < 0 or any(start in body for start in starts):
            _wipe_all(found)
            raise CardError(f"{_REREAD} (track {track} has no end sentinel)", code="card.end_sentinel")
        if sentinels.error_mark is not None and body == sentinels.error_mark.encode("ascii"):
            if track == 2:  # the track the host is sent, misread: the customer swipes again
                _wipe_all(found)
                raise CardError(f"{_REREAD} (the reader could not read track 2)", code="card.unreadable")
            found[track] = None  # the reader says it could not read this track
        elif not (in_alphabet(body, track) if strict else all(0x20 <= b < 0x7F for b in body)):
            _wipe_all(found)
            raise CardError(f"{_REREAD} (track {track} has a character it cannot carry)", code="card.bad_char")
        else:
            found[track] = TrackData(body, track=track) if body else None
        i = stop + 1
    tracks = {t: d for t, d in found.items() if d is not None}
    if not tracks:
        raise CardError(f"{_REREAD} (no track could be read)", code="card.no_track")
    return tracks


def _wipe_all(found: dict[int, TrackData | None]) -> None:
    for data in found.values():
        if data is not None:
            data.wipe()
