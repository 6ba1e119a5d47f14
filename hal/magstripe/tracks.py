"""Parsing financial tracks into a card, and the checks a bank terminal makes.

Track 1, format B (ISO/IEC 7813): ``B PAN ^ NAME ^ YYMM SVC discretionary``.
Track 2 (ISO/IEC 7813): ``PAN = YYMM SVC discretionary`` (digits, ``=`` separator).
Track 3 (ISO 4909; UnionPay cards carry it): ``hal.magstripe.iso4909``.
In tracks 1 and 2 a card without a service code has a separator in its place.

Track 2 is what the host is sent, so when it is present it is the source of
the PAN, expiry and service code; track 1 supplies the cardholder name. The
tracks present must agree: the PAN and expiry of tracks 1 and 2, and of track
3 with whichever of them is the source (1/2, 2/3, 1/3, 1/2/3), as far as track
3 encodes them. A card with track 1 only is read from track 1; track 3 alone
is not enough (the host needs track 2 or the PAN from track 1).

Layouts vary between issuers more than data goes bad, so a track 1 or 3 whose
*layout* is not the standard one (``card.format``, ``card.track_length``)
beside a good source track is ignored: it is not cross-checked, track 3 is
still carried to the host as read, and the card's name is then unknown. A
track that does follow the layout but fails a check (a PAN that is not all
digits, too long or fails Luhn) spoils the swipe: it was misread, and the
customer swipes again. A damaged track 2 is always an error.

Every error is a ``CardError`` whose text tells the operator what to do and
never quotes the data. Codes: ``card.no_track``, ``card.format``,
``card.track_length``, ``card.pan_digits``, ``card.pan_length``,
``card.luhn``, ``card.expired``, ``card.tracks_disagree``, ``card.encrypted``.
The expiry year is read as 20YY; a card is valid to the end of its month.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from crypto.secrets import Pan, Secret, TrackData
from firmware.errors import CardError
from hal.magstripe.f2f import FORMATS
from hal.magstripe.iso4909 import Track3, parse_track3
from hal.magstripe.pan import check_pan, luhn_ok
from hal.magstripe.raw import in_alphabet
from hal.magstripe.swipe import Swipe

__all__ = [
    "Card",
    "CardSummary",
    "Track1",
    "Track2",
    "Track3",
    "parse_swipe",
    "parse_track1",
    "parse_track2",
    "parse_track3",
    "track_text",
    "luhn_ok",
    "summary",
    "summarise",
    "expired",
]

log = logging.getLogger(__name__)

_AGAIN = "swipe again"
# Characters a track holds between its sentinels: its capacity less start sentinel, end sentinel and LRC.
MAX_DATA = {n: fmt.max_chars - 3 for n, fmt in FORMATS.items()}
_TOLERATED = frozenset({"card.format", "card.track_length"})


class Card:
    """What a swipe says about the card. The repr shows the masked PAN only.

    ``name`` is not secret, but it is personal data: it goes on the screen
    and the receipt, never into a log. ``track2``/``track3`` are copies owned
    by the card (the swipe may be wiped independently), as is ``track3_fields``
    (the parsed track 3, when it follows ISO 4909). ``tracks`` lists the tracks
    that were parsed and cross-checked. ``wipe()`` wipes all.
    """

    __slots__ = ("pan", "expiry", "service_code", "name", "track2", "track3", "track3_fields", "tracks")

    def __init__(
        self,
        pan: Pan,
        expiry: str,
        service_code: str | None = None,
        name: str | None = None,
        track2: TrackData | None = None,
        track3: TrackData | None = None,
        *,
        track3_fields: Track3 | None = None,
        tracks: tuple[int, ...] = (),
    ) -> None:
        self.pan = pan
        self.expiry = expiry
        self.service_code = service_code
        self.name = name
        self.track2 = track2
        self.track3 = track3
        self.track3_fields = track3_fields
        self.tracks = tracks

    @property
    def sequence_number(self) -> str | None:
        """The card sequence number from track 3, when track 3 was read."""
        return self.track3_fields.sequence_number if self.track3_fields is not None else None

    def wipe(self) -> None:
        self.pan.wipe()
        for data in (self.track2, self.track3, self.track3_fields):
            if data is not None:
                data.wipe()
        self.name = None

    def __repr__(self) -> str:
        return f"<Card {self.pan.masked()}>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Card cannot be pickled")


@dataclass(frozen=True)
class CardSummary:
    """Facts about a card that are safe for the transaction core, the log and the receipt.

    From the ISO/IEC 7813 service code (``None`` when the card has none):

    * ``chip``: first digit 2 or 6 (international / national, IC card). The
      terminal should ask for the chip rather than accept the swipe.
    * ``online_only``: second digit 2 (authorise online) or 4 (online unless a
      bilateral agreement says otherwise). No offline approval.
    * ``pin_required``: third digit 0 (no restrictions, PIN required), 3 (ATM
      only, PIN required) or 5 (goods and services only, PIN required).
    * ``pin_prompt``: ``pin_required``, or third digit 6 or 7 (prompt for PIN
      if a PIN pad is present, which this terminal always has).
    * ``service_restricted``: the card may not buy goods here: third digit 3
      (ATM only) or 4 (cash only), or a track 3 service restriction of the PAN
      that forbids point-of-sale use (second digit 2 or 3).

    ``tracks`` names the tracks read ("12", "23", "123" ...); ``sequence_number``
    is track 3's card sequence number. Scheme rules (a UnionPay debit card
    wants a PIN whatever its service code) are the transaction core's.
    """

    masked_pan: str
    last4: str
    expiry: str
    service_code: str | None
    chip: bool
    pin_required: bool
    online_only: bool
    pin_prompt: bool
    tracks: str = ""
    sequence_number: str | None = None
    service_restricted: bool = False


def summary(card: Card) -> CardSummary:
    t3 = card.track3_fields
    return summarise(
        card.pan.masked(),
        card.pan.last4,
        card.expiry,
        card.service_code,
        tracks="".join(map(str, card.tracks)),
        sequence_number=card.sequence_number,
        pos_allowed=t3 is None or t3.pos_allowed,
    )


def summarise(
    masked_pan: str,
    last4: str,
    expiry: str,
    service_code: str | None,
    *,
    tracks: str = "",
    sequence_number: str | None = None,
    pos_allowed: bool = True,
) -> CardSummary:
    """A ``CardSummary`` from its parts: the service code table in one place (also for masked SRED swipes)."""
    svc = service_code or "   "
    pin_required = svc[2] in "035"
    return CardSummary(
        masked_pan=masked_pan,
        last4=last4,
        expiry=expiry,
        service_code=service_code,
        chip=svc[0] in "26",
        pin_required=pin_required,
        online_only=svc[1] in "24",
        pin_prompt=pin_required or svc[2] in "67",
        tracks=tracks,
        sequence_number=sequence_number,
        service_restricted=svc[2] in "34" or not pos_allowed,
    )


@dataclass(frozen=True)
class Track1:
    """Track 1, format B. ``name`` is personal data (never logged); the repr shows neither it nor the PAN."""

    pan: Pan
    name: str | None
    expiry: str
    service_code: str | None
    discretionary: Secret

    def __repr__(self) -> str:
        return f"<Track1 {self.pan.masked()}>"

    def wipe(self) -> None:
        self.pan.wipe()
        self.discretionary.wipe()

    def __reduce__(self):
        raise TypeError("Track1 cannot be pickled")


@dataclass(frozen=True)
class Track2:
    pan: Pan
    expiry: str
    service_code: str | None
    discretionary: Secret

    def __repr__(self) -> str:
        return f"<Track2 {self.pan.masked()}>"

    def wipe(self) -> None:
        self.pan.wipe()
        self.discretionary.wipe()

    def __reduce__(self):
        raise TypeError("Track2 cannot be pickled")


def _fail(code: str, text: str) -> CardError:
    return CardError(text, code=code)


def _expiry_and_service(rest: str, track: int, separator: str) -> tuple[str, str | None, str]:
    """``YYMM`` then a 3-digit service code (or the separator where a card has none), then the rest."""
    expiry = rest[:4]
    if len(expiry) != 4 or not expiry.isdigit() or not 1 <= int(expiry[2:]) <= 12:
        raise _fail("card.format", f"Expiry date on track {track} is unreadable: {_AGAIN}")
    tail = rest[4:]
    if tail.startswith(separator):
        return expiry, None, tail[1:]
    service = tail[:3]
    if len(service) != 3 or not service.isdigit():
        raise _fail("card.format", f"Service code on track {track} is unreadable: {_AGAIN}")
    return expiry, service, tail[3:]


def parse_track2(text: str) -> Track2:
    """Parse track 2's text (no sentinels). Raises ``CardError``."""
    pan, sep, rest = text.partition("=")
    if not sep or not pan:
        raise _fail("card.format", f"Track 2 is not a card track: {_AGAIN}")
    check_pan(pan, 2)
    expiry, service, disc = _expiry_and_service(rest, 2, "=")
    return Track2(Pan(pan), expiry, service, Secret(disc))


def parse_track1(text: str) -> Track1:
    """Parse track 1's text (no sentinels), format B. Raises ``CardError``."""
    if not text.startswith("B"):
        raise _fail("card.format", f"Track 1 is not a format B card track: {_AGAIN}")
    parts = text[1:].split("^", 2)
    if len(parts) != 3:
        raise _fail("card.format", f"Track 1 is missing a field separator: {_AGAIN}")
    pan, name, rest = parts
    pan = pan.replace(" ", "")  # some issuers space the PAN on track 1
    if not pan:
        raise _fail("card.format", f"Track 1 has no card number: {_AGAIN}")
    check_pan(pan, 1)
    if len(name) > 26:
        raise _fail("card.format", f"Cardholder name on track 1 is too long: {_AGAIN}")
    expiry, service, disc = _expiry_and_service(rest, 1, "^")
    return Track1(Pan(pan), name.strip() or None, expiry, service, Secret(disc))


def track_text(data: TrackData) -> str:
    """A track's text after the checks every track shares: its alphabet and its length."""
    raw = data.reveal()
    if not in_alphabet(raw, data.track):
        raise _fail("card.format", f"Track {data.track} has characters a card track cannot carry: {_AGAIN}")
    if len(raw) > MAX_DATA[data.track]:
        raise _fail("card.track_length", f"Track {data.track} is longer than a card can carry: {_AGAIN}")
    return raw.decode("ascii")


_PARSERS = {1: parse_track1, 2: parse_track2, 3: parse_track3}


def _present(data: TrackData | None) -> bool:
    return data is not None and not data.wiped


def _copy(data: TrackData | None) -> TrackData | None:
    return None if data is None or data.wiped else TrackData(data.reveal(), track=data.track)


def _parse_beside(data: TrackData) -> Track1 | Track3 | None:
    """Parse track 1 or 3 beside a good source track: a layout problem is ignored, a misread is not."""
    try:
        return _PARSERS[data.track](track_text(data))  # type: ignore[return-value]
    except CardError as exc:
        if exc.code not in _TOLERATED:
            raise
        log.debug("track %d ignored, its layout is not the standard one (%s)", data.track, exc.code)
        return None


def expired(expiry: str, today: date) -> bool:
    """True when a card expiring ``YYMM`` (valid to the end of that month) has expired by ``today``."""
    return (2000 + int(expiry[:2]), int(expiry[2:])) < (today.year, today.month)


def parse_swipe(swipe: Swipe, today: date) -> Card:
    """Read the PAN, expiry, service code and name from a swipe, and check them.

    ``today`` is passed in (the parser reads no clock). Raises ``CardError``
    with one of the codes in the module docstring.
    """
    if swipe.encrypted is not None:
        raise _fail("card.encrypted", "Encrypted swipe: it must be decrypted before it is read")
    t1: Track1 | None = None
    t2: Track2 | None = None
    t3: Track3 | None = None
    try:
        if _present(swipe.track2):
            t2 = parse_track2(track_text(swipe.track2))  # type: ignore[arg-type]
        if _present(swipe.track1):
            t1 = _parse_beside(swipe.track1) if t2 is not None else parse_track1(track_text(swipe.track1))  # type: ignore[arg-type,assignment]
        main: Track1 | Track2 | None = t2 or t1
        if main is None:
            raise _fail("card.no_track", "No card track could be read: swipe again")
        if _present(swipe.track3):
            t3 = _parse_beside(swipe.track3)  # type: ignore[arg-type,assignment]
        _check_agreement(main, t1, t3)
        if expired(main.expiry, today):
            raise _fail("card.expired", "Card expired: use another card")
        card = Card(
            pan=Pan(main.pan.reveal()),
            expiry=main.expiry,
            service_code=main.service_code,
            name=t1.name if t1 is not None else None,
            track2=_copy(swipe.track2),
            track3=_copy(swipe.track3),
            track3_fields=t3,
            tracks=tuple(n for n, t in ((1, t1), (2, t2), (3, t3)) if t is not None),
        )
    except BaseException:
        if t3 is not None:
            t3.wipe()
        raise
    finally:
        for t in (t1, t2):
            if t is not None:
                t.wipe()
    return card


def _check_agreement(main: Track1 | Track2, t1: Track1 | None, t3: Track3 | None) -> None:
    others: list[tuple[Pan | None, str | None]] = []
    if t1 is not None and t1 is not main:
        others.append((t1.pan, t1.expiry))
    if t3 is not None:
        others.append((t3.pan, t3.expiry))
    for pan, expiry in others:
        if (pan is not None and pan != main.pan) or (expiry is not None and expiry != main.expiry):
            raise _fail("card.tracks_disagree", "Card tracks disagree: swipe again")
