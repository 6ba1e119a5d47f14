"""Raw track bits: decoding the character stream a magnetic head's F2F decoder produces.

A TTL reader (``hal.magstripe.ttl``) hands over the bits it clocked off each
track, already recovered from the flux reversals (F2F, "Aiken bi-phase"). What
is left to do, per ISO/IEC 7811-2 and -6, is this module:

======  ==========  =========================  ==========  ===========
track   bits/char   data bits + parity         offset      sentinels
======  ==========  =========================  ==========  ===========
1       7           6, odd parity last         0x20        ``%`` ``?``
2, 3    5           4, odd parity last         0x30        ``;`` ``?``
======  ==========  =========================  ==========  ===========

Each character is sent least significant bit first, its parity bit last, so
that every character (the start sentinel included) has an odd number of one
bits. The track opens with clocking zeros, then the start sentinel, the data,
the end sentinel and the longitudinal redundancy check (LRC): the XOR of the
data bits of every character from the start to the end sentinel, with its own
odd parity bit. Clocking zeros close the track.

Decoding finds the start sentinel after the leading zeros. A card swiped the
other way round gives the same bits in reverse order, so when the stream does
not decode forwards it is reversed and tried again; ``DecodedTrack.direction``
says which way it read. Parity cannot tell the direction (a character read
backwards keeps its count of one bits), so a stream can, rarely, read as a
valid track both ways round: one whose start sentinel was spoiled, and about
one card in some thousands whose reversed LRC looks like a start sentinel and
whose reversed data happens to balance. The forward reading then wins; a card
swiped backwards gives a wrong track, which the card checks that follow (Luhn,
layout, agreement between tracks) refuse with "swipe again", and swiped the
other way it reads. That is the next line of defence on every bank terminal. Errors are ``TrackReadError`` (a ``CardError``) whose
text names the track and the character (counted from 1 at the start sentinel)
that failed, never its value: ``card.parity``, ``card.lrc``,
``card.start_sentinel``, ``card.end_sentinel``, ``card.bad_char`` (a start
sentinel inside the data), ``card.bad_bits`` (input that is not bits) and
``card.no_track`` (nothing recorded at all).

The encoder (text to bits, either direction) exists for tests, the simulators
and the benchmark; the firmware itself only decodes.

Bits travel as a ``bytearray`` of 0/1 values (wipeable), as text of ``0``/``1``
for people, or as any sequence of 0/1 integers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crypto.secrets import TrackData
from firmware.errors import CardError
from hal.magstripe.swipe import Swipe

__all__ = [
    "TrackFormat",
    "FORMATS",
    "Direction",
    "DecodedTrack",
    "TrackReadError",
    "BitSwipe",
    "decode_track",
    "decode_swipe_bits",
    "encode_track",
    "bits_to_text",
    "bits_from_text",
]

_AGAIN = "Card read failed: swipe again"


@dataclass(frozen=True)
class TrackFormat:
    """How one track's characters are written (ISO/IEC 7811-2 table of character sets)."""

    track: int
    data_bits: int  # 6 on track 1, 4 on tracks 2 and 3
    offset: int  # the ASCII code of character value 0
    start: str
    end: str
    max_chars: int  # the track's capacity, sentinels and LRC included (ISO/IEC 7811-2, 7811-6; ISO 4909)

    @property
    def char_bits(self) -> int:
        return self.data_bits + 1

    @property
    def start_value(self) -> int:
        return ord(self.start) - self.offset

    @property
    def end_value(self) -> int:
        return ord(self.end) - self.offset


FORMATS: dict[int, TrackFormat] = {
    1: TrackFormat(1, 6, 0x20, "%", "?", 79),
    2: TrackFormat(2, 4, 0x30, ";", "?", 40),
    3: TrackFormat(3, 4, 0x30, ";", "?", 107),
}


class Direction(str, enum.Enum):
    FORWARD = "forward"
    REVERSE = "reverse"


class TrackReadError(CardError):
    """A track's bits do not decode. ``track`` and ``position`` (1 = the start sentinel) say where."""

    def __init__(self, text: str, *, code: str | None = None, track: int | None = None, position: int | None = None) -> None:
        super().__init__(text, code=code)
        self.track = track
        self.position = position


@dataclass(frozen=True)
class DecodedTrack:
    data: TrackData  # the characters between the sentinels
    direction: Direction


def _char_bits(value: int, data_bits: int) -> bytes:
    bits = [(value >> i) & 1 for i in range(data_bits)]
    return bytes(bits + [1 - sum(bits) % 2])  # odd parity: the parity bit makes the count of ones odd


# Every possible chunk of one character's bits -> (value, parity ok). Built once; decoding is a lookup.
_TABLES: dict[int, dict[bytes, tuple[int, bool]]] = {}
_ENCODE: dict[int, tuple[bytes, ...]] = {}
for _d in (4, 6):
    _n = _d + 1
    _TABLES[_d] = {
        bytes((p >> i) & 1 for i in range(_n)): (p & ((1 << _d) - 1), bin(p).count("1") % 2 == 1) for p in range(1 << _n)
    }
    _ENCODE[_d] = tuple(_char_bits(v, _d) for v in range(1 << _d))
del _d, _n


def _fail(code: str, track: int, what: str, position: int | None = None) -> TrackReadError:
    return TrackReadError(f"{_AGAIN} (track {track} {what})", code=code, track=track, position=position)


_TO_BITS = bytes.maketrans(b"01", b"\x00\x01")


def _as_bits(bits: bytes | bytearray | memoryview | str | Iterable[int], track: int) -> bytes:
    """Bits as ``bytes`` of 0/1 values; anything else is ``card.bad_bits``."""
    if isinstance(bits, str):
        raw = bits.encode("ascii", "replace")
        if raw.translate(None, b"01"):
            raise _fail("card.bad_bits", track, "data is not a string of 0 and 1")
        return raw.translate(_TO_BITS)
    if not isinstance(bits, (bytes, bytearray, memoryview)):
        try:
            bits = bytes(bits)
        except (TypeError, ValueError):
            raise _fail("card.bad_bits", track, "data is not a sequence of bits") from None
    out = bytes(bits)
    if out.translate(None, b"\x00\x01"):
        raise _fail("card.bad_bits", track, "data holds values other than 0 and 1")
    return out


def _decode_one_way(b: bytes, start: int, fmt: TrackFormat) -> tuple[bytearray, bool]:
    """Decode from ``start`` (the first bit of the start sentinel).

    Returns the characters between the sentinels, and whether only clocking
    zeros follow the LRC (a reading the wrong way round rarely ends cleanly).
    """
    n = fmt.char_bits
    table = _TABLES[fmt.data_bits]
    blank = bytes(n)
    ss, es, offset, track = fmt.start_value, fmt.end_value, fmt.offset, fmt.track
    out = bytearray()
    lrc = 0
    pos = start
    index = 0  # 0 is the start sentinel
    try:
        while True:
            chunk = b[pos : pos + n]
            if len(chunk) < n or chunk == blank:
                raise _fail("card.end_sentinel", track, f"ends at character {index + 1} without an end sentinel", index + 1)
            value, parity_ok = table[chunk]
            if not parity_ok:
                raise _fail("card.parity", track, f"character {index + 1} failed its parity check", index + 1)
            if index == 0 and value != ss:
                raise _fail("card.start_sentinel", track, "does not open with a start sentinel", 1)
            if index > 0 and value == ss:
                raise _fail("card.bad_char", track, f"character {index + 1} is a start sentinel inside the data", index + 1)
            lrc ^= value
            pos += n
            if index > 0 and value == es:
                break
            if index > 0:
                out.append(value + offset)
            index += 1
            if index > fmt.max_chars - 2:  # no room left for the end sentinel and the LRC
                raise _fail("card.end_sentinel", track, f"has no end sentinel within its {fmt.max_chars} characters", index + 1)
        lrc_position = index + 2
        chunk = b[pos : pos + n]
        if len(chunk) < n or chunk == blank:
            raise _fail("card.lrc", track, f"has no LRC character (character {lrc_position})", lrc_position)
        value, parity_ok = table[chunk]
        if not parity_ok:
            raise _fail("card.lrc", track, f"LRC character {lrc_position} failed its parity check", lrc_position)
        if value != lrc:
            raise _fail("card.lrc", track, f"LRC character {lrc_position} does not match the data", lrc_position)
    except CardError:
        out[:] = bytes(len(out))
        raise
    return out, b.find(1, pos + n) < 0


def decode_track(bits: bytes | bytearray | str | Iterable[int], track: int) -> DecodedTrack:
    """Decode one track's bits, read in either direction. Raises ``TrackReadError``.

    When the stream opens with a start sentinel at both ends, the forward
    reading wins unless the reverse reading ends cleanly (only clocking zeros
    after its LRC) and the forward one does not, or fails: a card read the
    wrong way round can pass for a short valid track (a start sentinel, an
    end sentinel and a matching LRC), but the real data is then left over.
    """
    fmt = FORMATS[track]
    b = _as_bits(bits, track)
    first = b.find(1)
    if first < 0:
        raise _fail("card.no_track", track, "has nothing recorded")
    opening = _ENCODE[fmt.data_bits][fmt.start_value]
    rev = b[::-1]
    rev_first = rev.find(1)
    forward_ok = b[first : first + fmt.char_bits] == opening
    reverse_ok = rev[rev_first : rev_first + fmt.char_bits] == opening
    if not (forward_ok or reverse_ok):
        raise _fail("card.start_sentinel", track, "has no start sentinel after its leading zeros", 1)
    forward: tuple[bytearray, bool] | None = None
    error: CardError | None = None
    if forward_ok:
        try:
            forward = _decode_one_way(b, first, fmt)
        except CardError as exc:
            error = exc.with_traceback(None)
    chosen, direction = forward, Direction.FORWARD
    if reverse_ok and (forward is None or not forward[1]):
        try:
            backward = _decode_one_way(rev, rev_first, fmt)
        except CardError as exc:
            error = error or exc.with_traceback(None)  # forwards is the likelier reading: its error counts
        else:
            # Where a forward reading was possible, the backward one must end cleanly to beat it.
            if backward[1] or not forward_ok:
                chosen, direction = backward, Direction.REVERSE
                if forward is not None:
                    forward[0][:] = bytes(len(forward[0]))
            else:
                backward[0][:] = bytes(len(backward[0]))
    if chosen is None:
        assert error is not None
        raise error
    chars = chosen[0]
    try:
        return DecodedTrack(TrackData(chars, track=track), direction)
    finally:
        chars[:] = bytes(len(chars))


class BitSwipe:
    """The raw bits of one swipe, per track, as a TTL reader clocked them in (``bytearray`` of 0/1).

    The port decodes it like a text swipe and then wipes it.
    """

    __slots__ = ("tracks",)

    def __init__(self, tracks: Mapping[int, bytearray]) -> None:
        for number in tracks:
            if number not in FORMATS:
                raise ValueError(f"no track {number!r}; tracks are 1, 2 and 3")
        self.tracks: dict[int, bytearray] = {n: bytearray(b) for n, b in tracks.items()}

    def wipe(self) -> None:
        for buf in self.tracks.values():
            buf[:] = bytes(len(buf))
        self.tracks.clear()

    def __repr__(self) -> str:
        shown = ", ".join(f"track {n}: {len(b)} bits" for n, b in sorted(self.tracks.items())) or "no bits"
        return f"<BitSwipe {shown}>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("BitSwipe cannot be pickled")


def decode_swipe_bits(tracks: Mapping[int, bytes | bytearray | str | Iterable[int]]) -> Swipe:
    """Decode every track of a swipe. A track with nothing recorded, or nothing between its sentinels, counts as absent.

    One bad track spoils the swipe (the customer swipes again), as with text
    readers: ``TrackReadError``, or ``card.no_track`` when nothing was recorded.
    """
    found: dict[int, TrackData] = {}
    try:
        for number in sorted(tracks):
            if number not in FORMATS:
                raise _fail("card.bad_bits", number, "is not a track of a card")
            try:
                data = decode_track(tracks[number], number).data
            except TrackReadError as exc:
                if exc.code != "card.no_track":
                    raise
                continue
            if len(data):
                found[number] = data  # an empty track counts as absent, as with text readers
    except CardError:
        for data in found.values():
            data.wipe()
        raise
    if not found:
        raise CardError(f"{_AGAIN} (no track could be read)", code="card.no_track")
    return Swipe.from_tracks(found)


def encode_track(
    text: str | bytes | bytearray,
    track: int,
    *,
    leading: int = 16,
    trailing: int = 16,
    reverse: bool = False,
    end_sentinel: bool = True,
) -> bytearray:
    """The bits a card carrying ``text`` (no sentinels) gives, for tests and simulators.

    ``reverse`` gives them as a swipe the other way round; ``end_sentinel=False``
    stops after the data (no end sentinel, no LRC), as a damaged card does.
    Raises ``ValueError`` for a character the track cannot carry.
    """
    fmt = FORMATS[track]
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    encode = _ENCODE[fmt.data_bits]
    out = bytearray(leading)
    out += encode[fmt.start_value]
    lrc = fmt.start_value
    for i, c in enumerate(data, start=2):
        value = c - fmt.offset
        if not 0 <= value < len(encode) or value in (fmt.start_value, fmt.end_value):
            raise ValueError(f"character {i} cannot be written on track {track}")
        out += encode[value]
        lrc ^= value
    if end_sentinel:
        out += encode[fmt.end_value]
        lrc ^= fmt.end_value
        out += encode[lrc]
    out += bytes(trailing)
    if reverse:
        out.reverse()
    return out


def bits_to_text(bits: bytes | bytearray | Iterable[int]) -> str:
    """Bits as a string of ``0`` and ``1``."""
    return bytes(bits).translate(bytes.maketrans(b"\x00\x01", b"01")).decode("ascii")


def bits_from_text(text: str, track: int) -> bytearray:
    """Parse ``0``/``1`` text for ``track``; spaces, underscores and line breaks between bits are ignored."""
    return bytearray(_as_bits("".join(text.split()).replace("_", ""), track))
