"""Track 3 (ISO 4909), the layout UnionPay cards carry, written as data.

The layout is ``LAYOUT``: one entry per field, in track order, in the manner
of pyiso8583's specs. The field list and lengths are those of ISO 4909:1987
("Bank cards -- Magnetic stripe data content for track 3", clause 8, fields
2 to 27), which China's GB/T 19584 (the UnionPay magnetic stripe standard)
keeps, with the country code present. ISO/IEC 4909:2006 later deprecated the
country code and left a lone field separator in its place; that form is read
too (``country`` is then ``None``). Positions, for the 1987 layout, counted
from ``p``, the first character after the field separator that ends the PAN
(the PAN is variable, up to 19 digits, after the 2-digit format code):

=====  ============================================  ======  ==========
field  name                                          chars   position
=====  ============================================  ======  ==========
2      format code (01, 02 ISO; 90-99 issuer's)      2       0 (start)
3      primary account number, then ``=``            <= 19   2
5      country code (ISO 3166 numeric)               3       p
6      currency code (ISO 4217 numeric)              3       p+3
7      currency exponent                             1       p+6
8      amount authorised per cycle                   4       p+7
9      amount remaining this cycle                   4       p+11
10     cycle begin (YDDD)                            4       p+15
11     cycle length                                  2       p+19
12     retry count (PIN tries left)                  1       p+21
13     PIN control parameters (PINPARM)              6 | =   p+22
14     interchange control                           1       p+28
15     type of account and service restriction, PAN  2       p+29
16     the same, SAN-1                               2       p+31
17     the same, SAN-2                               2       p+33
18     expiry date (YYMM)                            4 | =   p+35
19     card sequence number                          1       p+39
20     card security number                          9 | =   p+40
21/22  first subsidiary account number, then ``=``   <= 12   variable
23/24  second subsidiary account number, then ``=``  <= 12   variable
25     relay marker                                  1       variable
26     crypto check digits                           6 | =   variable
27     additional data                               rest    variable
=====  ============================================  ======  ==========

"``6 | =``" marks a field that may be a lone field separator when not used.
Fields up to the card sequence number must be present. Issuers often end the
track after any later field (real UnionPay track 3 data stops after SAN-1, or
after the crypto check digits), so the track may end after any complete
field from field 20 on, and a subsidiary account number may run to the end of
the track without its separator. An expiry of ``0000`` means "not encoded".

The PAN, PIN control parameters (they hold a PIN offset), card security
number, subsidiary account numbers, crypto check digits and additional data
are secrets here (``Pan``/``Secret``), masked in every repr. Errors never
quote the data: ``card.format`` names the field, the PAN checks use the same
codes as the other tracks (``card.pan_digits``, ``card.pan_length``,
``card.luhn``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from crypto.secrets import Pan, Secret
from firmware.errors import CardError
from hal.magstripe.pan import check_pan

__all__ = ["Kind", "Field", "LAYOUT", "Track3", "parse_track3", "encode_track3"]

FS = "="
_AGAIN = "swipe again"


class Kind(enum.Enum):
    FIXED = "fixed"  # exactly ``length`` digits
    FIXED_OR_FS = "fixed_or_fs"  # ``length`` digits, or a lone separator when the field is not used
    VARIABLE = "variable"  # up to ``length`` digits, then a separator
    REST = "rest"  # the rest of the track


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    length: int
    secret: bool
    description: str


LAYOUT: tuple[Field, ...] = (
    Field("format_code", Kind.FIXED, 2, False, "format code"),
    Field("pan", Kind.VARIABLE, 19, True, "primary account number"),
    Field("country", Kind.FIXED_OR_FS, 3, False, "country code"),
    Field("currency", Kind.FIXED, 3, False, "currency code"),
    Field("currency_exponent", Kind.FIXED, 1, False, "currency exponent"),
    Field("amount_authorised", Kind.FIXED, 4, False, "amount authorised per cycle"),
    Field("amount_remaining", Kind.FIXED, 4, False, "amount remaining this cycle"),
    Field("cycle_begin", Kind.FIXED, 4, False, "cycle begin"),
    Field("cycle_length", Kind.FIXED, 2, False, "cycle length"),
    Field("retry_count", Kind.FIXED, 1, False, "retry count"),
    Field("pin_control", Kind.FIXED_OR_FS, 6, True, "PIN control parameters"),
    Field("interchange_control", Kind.FIXED, 1, False, "interchange control"),
    Field("restriction_pan", Kind.FIXED, 2, False, "account type and service restriction of the PAN"),
    Field("restriction_san1", Kind.FIXED, 2, False, "account type and service restriction of SAN-1"),
    Field("restriction_san2", Kind.FIXED, 2, False, "account type and service restriction of SAN-2"),
    Field("expiry", Kind.FIXED_OR_FS, 4, False, "expiry date"),
    Field("sequence_number", Kind.FIXED, 1, False, "card sequence number"),
    Field("security_number", Kind.FIXED_OR_FS, 9, True, "card security number"),
    Field("san1", Kind.VARIABLE, 12, True, "first subsidiary account number"),
    Field("san2", Kind.VARIABLE, 12, True, "second subsidiary account number"),
    Field("relay_marker", Kind.FIXED, 1, False, "relay marker"),
    Field("crypto_check", Kind.FIXED_OR_FS, 6, True, "crypto check digits"),
    Field("additional_data", Kind.REST, 0, True, "additional data"),
)
_MANDATORY = 1 + next(i for i, f in enumerate(LAYOUT) if f.name == "sequence_number")
_BY_NAME = {f.name: f for f in LAYOUT}
_SECRET_FIELDS = tuple(f.name for f in LAYOUT if f.secret)  # each a Pan/Secret or None
# The kinds as module names for ``_split``'s loop: an Enum's class attribute costs
# several times as much to reach, 23 fields a swipe.
_FIXED, _FIXED_OR_FS, _VARIABLE = Kind.FIXED, Kind.FIXED_OR_FS, Kind.VARIABLE
_STEPS = tuple((index, f.name, f.kind, f.length) for index, f in enumerate(LAYOUT))  # ``_split``'s loop, unpacked once
_SECRETS_BESIDE_PAN = tuple(name for name in _SECRET_FIELDS if name != "pan")  # kept as ``Secret``


@dataclass(frozen=True, eq=True)
class Track3:
    """The fields of one track 3. Secrets are ``Pan``/``Secret``; ``None`` where not encoded.

    Amounts are integers in units of ``10 ** currency_exponent`` of ``currency``.
    """

    format_code: str
    pan: Pan | None
    country: str | None
    currency: str
    currency_exponent: int
    amount_authorised: int
    amount_remaining: int
    cycle_begin: str
    cycle_length: str
    retry_count: int
    pin_control: Secret | None
    interchange_control: str
    restriction_pan: str
    restriction_san1: str
    restriction_san2: str
    expiry: str | None
    sequence_number: str
    security_number: Secret | None = None
    san1: Secret | None = None
    san2: Secret | None = None
    relay_marker: str | None = None
    crypto_check: Secret | None = None
    additional_data: Secret | None = field(default=None)

    __hash__ = None  # type: ignore[assignment]  # holds secrets

    @property
    def pos_allowed(self) -> bool:
        """False when the PAN's service restriction (second digit 2 or 3) forbids point-of-sale use."""
        return self.restriction_pan[1] not in "23"

    def wipe(self) -> None:
        for name in _SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None:
                value.wipe()

    def __reduce__(self):
        raise TypeError("Track3 cannot be pickled")


def _fail(name: str, what: str = "is unreadable") -> CardError:
    return CardError(f"Track 3 {_BY_NAME[name].description} {what}: {_AGAIN}", code="card.format")


def _split(text: str) -> dict[str, str | None]:
    """Cut the track into raw field values by ``LAYOUT``; ``None`` for a field given as a lone separator."""
    out: dict[str, str | None] = {}
    pos, n = 0, len(text)
    for index, name, kind, length in _STEPS:
        if pos >= n:
            if index < _MANDATORY:
                raise _fail(name, "is missing")
            break
        if kind is _FIXED or (kind is _FIXED_OR_FS and text[pos] != FS):
            value = text[pos : pos + length]
            if len(value) < length or not value.isdigit():
                raise _fail(name)
            out[name] = value
            pos += length
        elif kind is _FIXED_OR_FS:  # a lone separator: the field is not used
            out[name] = None
            pos += 1
        elif kind is _VARIABLE:
            stop = text.find(FS, pos)
            if stop < 0:
                if index < _MANDATORY:
                    raise _fail(name, "has no field separator after it")
                stop = n  # an issuer's track that ends inside a subsidiary account number
            value = text[pos:stop]
            if name != "pan" and (len(value) > length or not (value == "" or value.isdigit())):
                raise _fail(name)  # the PAN has its own checks, with the codes every track uses
            out[name] = value
            pos = stop + 1
        else:  # Kind.REST
            out[name] = text[pos:]
            break
    return out


def parse_track3(text: str) -> Track3:
    """Parse the text of a track 3 (no sentinels) by ``LAYOUT``. Raises ``CardError``."""
    raw = _split(text)
    pan = raw["pan"] or None
    if pan is not None:
        check_pan(pan, 3)
    expiry = raw["expiry"]
    if expiry == "0000":
        expiry = None
    elif expiry is not None and not 1 <= int(expiry[2:]) <= 12:
        raise _fail("expiry")
    secret = {name: (Secret(value) if (value := raw.get(name)) else None) for name in _SECRETS_BESIDE_PAN}
    return Track3(
        format_code=raw["format_code"],  # type: ignore[arg-type]
        pan=Pan(pan) if pan is not None else None,
        country=raw["country"],
        currency=raw["currency"],  # type: ignore[arg-type]
        currency_exponent=int(raw["currency_exponent"]),  # type: ignore[arg-type]
        amount_authorised=int(raw["amount_authorised"]),  # type: ignore[arg-type]
        amount_remaining=int(raw["amount_remaining"]),  # type: ignore[arg-type]
        cycle_begin=raw["cycle_begin"],  # type: ignore[arg-type]
        cycle_length=raw["cycle_length"],  # type: ignore[arg-type]
        retry_count=int(raw["retry_count"]),  # type: ignore[arg-type]
        interchange_control=raw["interchange_control"],  # type: ignore[arg-type]
        restriction_pan=raw["restriction_pan"],  # type: ignore[arg-type]
        restriction_san1=raw["restriction_san1"],  # type: ignore[arg-type]
        restriction_san2=raw["restriction_san2"],  # type: ignore[arg-type]
        expiry=expiry,
        sequence_number=raw["sequence_number"],  # type: ignore[arg-type]
        relay_marker=raw.get("relay_marker"),
        **secret,
    )


def encode_track3(t: Track3, *, through: str = "additional_data") -> str:
    """The track text for ``t`` (for tests and simulators), ending after field ``through``.

    Amounts are written with their field's width; the secrets are revealed.
    """
    parts: list[str] = []
    for f in LAYOUT:
        value = getattr(t, f.name)
        if isinstance(value, Secret):
            value = value.reveal_str()
        elif isinstance(value, int):
            value = f"{value:0{f.length}d}"
        if f.name == "expiry" and value is None:
            value = "0000"
        if f.kind is Kind.VARIABLE:
            parts.append((value or "") + FS)
        elif value is None:
            parts.append(FS if f.kind is Kind.FIXED_OR_FS else "")
        else:
            parts.append(value)
        if f.name == through:
            break
    return "".join(parts)
