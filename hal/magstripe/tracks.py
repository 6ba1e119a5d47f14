"""Parsing financial tracks (ISO/IEC 7813) into a card.

Track 2: ``PAN = YYMM SVC discretionary`` (digits, ``=`` separator).
Track 1, format B: ``B PAN ^ NAME ^ YYMM SVC discretionary``.
Track 3 (ISO 4909; UnionPay cards carry it) is kept as data, not parsed.

Track 2 is what the host is sent, so when it is present it is the source
of the PAN, expiry and service code; track 1 supplies the cardholder name,
and its PAN and expiry must agree with track 2. A card with track 1 only is
read from track 1. A damaged track 2 is an error even if track 1 is fine:
the swipe was bad, and the customer swipes again. A track 1 that does not
parse beside a good track 2 is ignored (its name is then unknown): track 2
is the one that counts, and track 1 layouts vary more between issuers.

Every error is a ``CardError`` whose text tells the operator what to do and
never quotes the data. The expiry year is read as 20YY.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from crypto.secrets import Pan, TrackData
from firmware.errors import CardError
from hal.magstripe import Swipe
from hal.magstripe.raw import in_alphabet

__all__ = ["Card", "CardSummary", "parse_swipe", "luhn_ok", "summary"]

log = logging.getLogger(__name__)

_AGAIN = "swipe again"


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (at least two digits) passes the Luhn (mod 10) check."""
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


class Card:
    """What a swipe says about the card. The repr shows the masked PAN only.

    ``name`` is not secret, but it is personal data: it goes on the screen
    and the receipt, never into a log. ``track2``/``track3`` are copies owned
    by the card (the swipe may be wiped independently). ``wipe()`` wipes all.
    """

    __slots__ = ("pan", "expiry", "service_code", "name", "track2", "track3")

    def __init__(
        self,
        pan: Pan,
        expiry: str,
        service_code: str | None = None,
        name: str | None = None,
        track2: TrackData | None = None,
        track3: TrackData | None = None,
    ) -> None:
        self.pan = pan
        self.expiry = expiry
        self.service_code = service_code
        self.name = name
        self.track2 = track2
        self.track3 = track3

    def wipe(self) -> None:
        self.pan.wipe()
        for data in (self.track2, self.track3):
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

    Scheme rules (a UnionPay debit card wants a PIN whatever its service code)
    are the transaction core's, not this table's.
    """

    masked_pan: str
    last4: str
    expiry: str
    service_code: str | None
    chip: bool
    pin_required: bool
    online_only: bool
    pin_prompt: bool


def summary(card: Card) -> CardSummary:
    svc = card.service_code or "   "
    pin_required = svc[2] in "035"
    return CardSummary(
        masked_pan=card.pan.masked(),
        last4=card.pan.last4,
        expiry=card.expiry,
        service_code=card.service_code,
        chip=svc[0] in "26",
        pin_required=pin_required,
        online_only=svc[1] in "24",
        pin_prompt=pin_required or svc[2] in "67",
    )


@dataclass(frozen=True)
class _Fields:
    """One track's fields, while parsing. Local to this module, never kept."""

    pan: str = field(repr=False)
    expiry: str
    service_code: str | None
    name: str | None = field(default=None, repr=False)


def _fail(code: str, text: str) -> CardError:
    return CardError(text, code=code)


def _check_pan(pan: str, track: int) -> None:
    if not pan.isascii() or not pan.isdigit():
        raise _fail("card.pan_digits", f"Card number on track {track} is not all digits: {_AGAIN}")
    if not 12 <= len(pan) <= 19:
        raise _fail("card.pan_length", f"Card number on track {track} has the wrong length: {_AGAIN}")
    if not luhn_ok(pan):
        raise _fail("card.luhn", f"Card number on track {track} fails its check digit: {_AGAIN}")


def _expiry_and_service(rest: str, track: int, separator: str) -> tuple[str, str | None]:
    """``YYMM`` then a 3-digit service code, or the separator where a card has none."""
    expiry = rest[:4]
    if len(expiry) != 4 or not expiry.isdigit() or not 1 <= int(expiry[2:]) <= 12:
        raise _fail("card.format", f"Expiry date on track {track} is unreadable: {_AGAIN}")
    tail = rest[4:]
    if tail.startswith(separator):
        return expiry, None
    service = tail[:3]
    if len(service) != 3 or not service.isdigit():
        raise _fail("card.format", f"Service code on track {track} is unreadable: {_AGAIN}")
    return expiry, service


def _parse_track2(text: str) -> _Fields:
    pan, sep, rest = text.partition("=")
    if not sep or not pan:
        raise _fail("card.format", f"Track 2 is not a card track: {_AGAIN}")
    _check_pan(pan, 2)
    expiry, service = _expiry_and_service(rest, 2, "=")
    return _Fields(pan, expiry, service)


def _parse_track1(text: str) -> _Fields:
    if not text.startswith("B"):
        raise _fail("card.format", f"Track 1 is not a format B card track: {_AGAIN}")
    parts = text[1:].split("^", 2)
    if len(parts) != 3:
        raise _fail("card.format", f"Track 1 is missing a field separator: {_AGAIN}")
    pan, name, rest = parts
    pan = pan.replace(" ", "")  # some issuers space the PAN on track 1
    if not pan:
        raise _fail("card.format", f"Track 1 has no card number: {_AGAIN}")
    _check_pan(pan, 1)
    if len(name) > 26:
        raise _fail("card.format", f"Cardholder name on track 1 is too long: {_AGAIN}")
    expiry, service = _expiry_and_service(rest, 1, "^")
    return _Fields(pan, expiry, service, name.strip() or None)


def _text(data: TrackData) -> str:
    raw = data.reveal()
    if not in_alphabet(raw, data.track):
        raise _fail("card.format", f"Track {data.track} has characters a card track cannot carry: {_AGAIN}")
    return raw.decode("ascii")


def _copy(data: TrackData | None) -> TrackData | None:
    return None if data is None or data.wiped else TrackData(data.reveal(), track=data.track)


def _present(data: TrackData | None) -> bool:
    return data is not None and not data.wiped


def parse_swipe(swipe: Swipe, today: date) -> Card:
    """Read the PAN, expiry, service code and name from a swipe.

    ``today`` is passed in (the parser reads no clock). Raises ``CardError``:
    ``card.no_track``, ``card.format``, ``card.pan_digits``, ``card.pan_length``,
    ``card.luhn``, ``card.expired``, ``card.tracks_disagree``.
    """
    t2 = _parse_track2(_text(swipe.track2)) if _present(swipe.track2) else None
    t1: _Fields | None = None
    if _present(swipe.track1):
        try:
            t1 = _parse_track1(_text(swipe.track1))  # type: ignore[arg-type]
        except CardError as exc:
            if t2 is None:
                raise
            log.debug("track 1 ignored, track 2 is good (%s)", exc.code)
    main = t2 or t1
    if main is None:
        raise _fail("card.no_track", "No card track could be read: swipe again")
    if t1 is not None and t2 is not None and (t1.pan != t2.pan or t1.expiry != t2.expiry):
        raise _fail("card.tracks_disagree", "Card tracks disagree: swipe again")
    if (2000 + int(main.expiry[:2]), int(main.expiry[2:])) < (today.year, today.month):
        raise _fail("card.expired", "Card expired: use another card")
    return Card(
        pan=Pan(main.pan),
        expiry=main.expiry,
        service_code=main.service_code,
        name=t1.name if t1 is not None else None,
        track2=_copy(swipe.track2),
        track3=_copy(swipe.track3),
    )
