"""Encode and decode host messages for a ``Profile``, MAC included. Pure functions.

The wire payload (without the link's 2-byte length) is::

    [TPDU 5 bytes] [header] MTI bitmap [secondary bitmap] fields... [MAC]

The secondary bitmap is there only when a field above 64 is (pyiso8583 sets
bit 1 by itself), and the MAC is always the last field: field 64, or 128 when
the profile puts it where ISO 8583 does and a secondary bitmap is present
(``MacPlacement``).

pyiso8583 does the field packing from the spec dict the profile converts to
once; this module adds what pyiso8583 leaves out: the TPDU and header, the
check of every value against its kind (BCD that is really digits, track data
that is digits and '=' ...; the rules themselves are ``field_rules``, worked
out once per profile), the MAC, and errors that never quote message data.
pyiso8583's ``DecodeError`` keeps the whole raw message in ``.s`` and
``.doc_dec``; it is never chained (our errors are raised outside the
``except`` block, so not even ``__context__`` holds it).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field, replace
from typing import Any

import iso8583
from iso8583.decoder import DecodeError
from iso8583.encoder import EncodeError

from crypto.secrets import mask_pan
from firmware.errors import ConfigError, MacError, ProtocolError
from firmware.host.field_rules import _Layout, _layout
from firmware.host.mac import MacKey, compute_mac
from firmware.host.spec import (
    CARD_DATA_FIELDS,
    MAC_FIELDS,
    Encoding,
    MacAlgorithm,
    MacPlacement,
    Profile,
)

__all__ = ["Tpdu", "Message", "encode", "decode", "require_mac", "compute_mac"]

_HEX = re.compile(r"[0-9A-Fa-f]*")
_FOUR_DIGITS = re.compile(r"\d{4}")
_TWO_DIGITS = re.compile(r"\d{2}")
_ASCII_BITMAP = re.compile(rb"[0-9A-Fa-f]{16}")


@dataclass(frozen=True)
class Tpdu:
    """Transport protocol data unit: id, destination NII, source NII (BCD on the wire)."""

    id: str = "60"
    destination: str = "0000"
    source: str = "0000"

    def __post_init__(self) -> None:
        if not (_TWO_DIGITS.fullmatch(self.id) and _FOUR_DIGITS.fullmatch(self.destination)
                and _FOUR_DIGITS.fullmatch(self.source)):
            raise ConfigError("a TPDU is a 2-digit id and two 4-digit addresses", code="config.bad_tpdu")

    def swapped(self) -> Tpdu:
        """The TPDU of the answer: destination and source exchanged."""
        return Tpdu(self.id, self.source, self.destination)

    def to_bytes(self) -> bytes:
        return bytes.fromhex(str(self))

    def __str__(self) -> str:
        return self.id + self.destination + self.source


def _mask(number: int, value: str, sensitive: frozenset[int]) -> str:
    if number not in sensitive:
        return value
    if number in (2, 103) and value.isascii() and value.isdigit() and len(value) >= 8:  # 103: a transfer's to
        return mask_pan(value)
    return f"<{len(value)} chars>"


@dataclass(repr=False)
class Message:
    """One ISO 8583 message. N/AN/ANS/Z values are text (Z with '='), B values upper-case hex.

    Its ``repr`` masks sensitive fields (PAN first 6 / last 4, others by length).
    """

    mti: str
    fields: dict[int, str] = field(default_factory=dict)
    tpdu: Tpdu | None = None
    header: str | None = None
    mac_ok: bool | None = None
    sensitive: frozenset[int] = field(default=CARD_DATA_FIELDS, compare=False)

    def redacted(self) -> dict[str, Any]:
        """A printable view for tools and logs: sensitive fields masked."""
        return {
            "mti": self.mti,
            "tpdu": str(self.tpdu) if self.tpdu else None,
            "header": self.header,
            "fields": {n: _mask(n, v, self.sensitive) for n, v in sorted(self.fields.items())},
            "mac_ok": self.mac_ok,
        }

    def copy(self, **changes: Any) -> Message:
        """A copy with its own ``fields`` dict, with ``changes`` applied."""
        changes.setdefault("fields", dict(self.fields))
        return replace(self, **changes)

    def __repr__(self) -> str:
        view = self.redacted()
        return (f"Message(mti={self.mti!r}, tpdu={view['tpdu']!r}, header={self.header!r}, "
                f"fields={view['fields']!r}, mac_ok={self.mac_ok!r})")

    __str__ = __repr__


# -- MAC ---------------------------------------------------------------------
def _mac_wire(profile: Profile, mac: bytes) -> bytes:
    return mac if profile.fields[64].encoding is Encoding.BINARY else mac.hex().upper().encode("ascii")


def require_mac(message: Message) -> None:
    """Raise ``MacError`` unless the message's MAC was checked and is right."""
    if message.mac_ok is False:
        raise MacError("the host message failed its MAC check", code="host.mac")
    if message.mac_ok is None:
        raise MacError("the host message carries no MAC that could be checked", code="host.mac")


# -- encode ------------------------------------------------------------------
def _bad(text: str, code: str = "host.bad_field") -> ProtocolError:
    return ProtocolError(text, code=code)


def _prefix(profile: Profile, message: Message) -> bytes:
    out = b""
    if profile.tpdu:
        if message.tpdu is None:
            raise _bad(f"profile {profile.name} needs a TPDU and the message has none", "host.bad_message")
        out += message.tpdu.to_bytes()
    elif message.tpdu is not None:
        raise _bad(f"profile {profile.name} has no TPDU", "host.bad_message")
    if profile.header_length:
        header = message.header if message.header is not None else profile.default_header
        if not header or len(header) != 2 * profile.header_length or not _HEX.fullmatch(header):
            raise _bad(f"the header must be {2 * profile.header_length} hex digits", "host.bad_message")
        out += bytes.fromhex(header)
    elif message.header:
        raise _bad(f"profile {profile.name} has no header", "host.bad_message")
    return out


def encode(profile: Profile, message: Message, *, mac_key: MacKey | None = None) -> bytes:
    """The payload for ``message`` (without the 2-byte length).

    With a MAC profile and a key, the MAC is computed and set in its field (64,
    or 128 beside a secondary bitmap where the profile says so; a MAC the
    message already holds is replaced), except for the profile's unMACed MTIs
    such as sign-on. Without a key, a MAC the message holds is sent as is, if
    it is in the right field. The caller's message is not changed.
    """
    layout = _layout(profile)
    prefix = _prefix(profile, message)
    if not isinstance(message.mti, str) or not _FOUR_DIGITS.fullmatch(message.mti):
        raise _bad("the MTI must be 4 digits", "host.bad_message")
    doc: dict[str, str] = {"t": message.mti}
    rules = layout.rules
    for number, value in sorted(message.fields.items()):
        rule = rules.get(number)
        if rule is None:
            raise _bad(f"field {number} is not in profile {profile.name}", "host.unknown_field")
        # rule.problem and rule.to_pyiso, inlined: a sale encodes some 35 values
        if not (type(value) is str and rule.sound(value)):
            problem = rule.problem(value)
            if problem:
                raise _bad(f"{rule.label} {problem}")
        doc[rule.key] = value.upper() if rule.hex else value.replace("=", "D") if rule.bcd_track else value
    macing = (mac_key is not None and profile.mac is not MacAlgorithm.NONE
              and message.mti not in profile.unmacced_mtis)
    mac_field = profile.mac_field(n for n in message.fields if n not in MAC_FIELDS)
    if macing:
        for number in MAC_FIELDS:
            doc.pop(str(number), None)
        doc[str(mac_field)] = "00" * 8
    elif mac_field is not None:
        for number in MAC_FIELDS:
            if number in message.fields and number != mac_field:
                raise _bad(f"field {number} cannot carry the MAC of this message: it goes in field {mac_field}",
                           "host.bad_message")
    failure = None
    try:
        body, _ = iso8583.encode(doc, layout.pyiso8583_spec)
    except (EncodeError, ValueError, TypeError, KeyError) as exc:
        failure = getattr(exc, "field", "?")
    if failure is not None:
        raise _bad(f"field {failure} could not be encoded")
    if macing:
        width = profile.mac_wire_size
        body[-width:] = _mac_wire(profile, compute_mac(profile.mac, mac_key, bytes(body[:-width])))
    return prefix + bytes(body)


# -- decode ------------------------------------------------------------------
def _malformed(what: str, pos: int, problem: str) -> ProtocolError:
    return ProtocolError(f"{what} at byte {pos} {problem}", code="host.malformed")


def _safe_reason(msg: str) -> str:
    """pyiso8583's reason, kept only if it is plainly free of field data (lengths at most)."""
    if msg and re.fullmatch(r"[A-Za-z0-9 ,\-]{1,120}", msg) and not re.search(r"\d{5}", msg):
        return msg[:1].lower() + msg[1:]
    return "could not be decoded"


def _field_name(profile: Profile, key: str) -> str:
    if key.isdigit() and int(key) in profile.fields:
        return f"field {key} ({profile.fields[int(key)].name})"
    return {"t": "the MTI", "p": "the bitmap", "1": "the secondary bitmap", "h": "the header"}.get(key, f"field {key}")


def _bitmap_bits(profile: Profile, raw: bytes, what: str, pos: int) -> int:
    if profile.bitmap_encoding is Encoding.ASCII:
        if not _ASCII_BITMAP.fullmatch(raw):
            raise _malformed(what, pos, "is not 16 hex characters")
        raw = bytes.fromhex(raw.decode("ascii"))
    return int.from_bytes(raw, "big")


def _refuse_unknown(profile: Profile, bits: int, defined: int, offset: int, what: str, pos: int) -> None:
    unknown = bits & ~defined
    if unknown:
        first = offset + 65 - unknown.bit_length()  # the highest bit set is the lowest field number
        raise _malformed(what, pos, f"announces field {first}, which profile {profile.name} does not define")


def _check_bitmap(profile: Profile, layout: _Layout, raw: bytes, pos: int) -> bool:
    """Refuse bitmaps that announce what the profile does not define; True when a secondary one follows.

    pyiso8583 would fail on them too, but later and naming no field. Field ``n``
    is bit ``64 - n`` of the primary bitmap read as one big-endian number, field
    ``64 + n`` the same bit of the secondary. ``raw`` is the body after the MTI.
    A secondary bitmap announces at least one field (1987 sends it only then), and
    where the MAC goes in 128 beside it, field 64 is refused.
    """
    size = profile.bitmap_size
    bits = _bitmap_bits(profile, raw[:size], "the bitmap", pos)
    secondary = bool(bits >> 63)
    if secondary and not profile.secondary_bitmap:
        raise _malformed("the bitmap", pos, f"announces a secondary bitmap, which profile {profile.name} does not use")
    _refuse_unknown(profile, bits & ~(1 << 63), layout.primary, 0, "the bitmap", pos)
    if not secondary:
        return False
    pos2, raw2 = pos + size, raw[size : 2 * size]
    if len(raw2) < size:
        raise _malformed("the secondary bitmap", pos2, "is cut short")
    bits2 = _bitmap_bits(profile, raw2, "the secondary bitmap", pos2)
    if not bits2:
        raise _malformed("the secondary bitmap", pos2, "announces no field")
    _refuse_unknown(profile, bits2, layout.secondary, 64, "the secondary bitmap", pos2)
    if profile.mac_placement is MacPlacement.LAST_BITMAP and bits & 1:
        raise _malformed("the bitmap", pos, "announces field 64 (MAC) beside a secondary bitmap, "
                         "where the MAC goes in field 128")
    return True


def _field_pos(pos: int, doc_enc: dict[str, dict[str, bytes]], key: str) -> int:
    """Where field ``key`` starts in the payload, from what pyiso8583 decoded before it."""
    for k, part in doc_enc.items():
        if k == key:
            break
        pos += len(part.get("len", b"")) + len(part["data"])
    return pos


def decode(profile: Profile, payload: bytes, *, mac_key: MacKey | None = None) -> Message:
    """The message in ``payload``; every field checked against its kind.

    Anything wrong raises ``ProtocolError(code="host.malformed")`` naming the
    field and byte position, never its data. A wrong MAC does not raise:
    ``mac_ok`` is ``False`` (``True`` when it verifies, ``None`` when no key or
    no MAC field), and the caller decides (see ``require_mac``).
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ProtocolError("a host message must be bytes", code="host.malformed")
    payload = bytes(payload)
    pos, tpdu, header = 0, None, None
    if profile.tpdu:
        raw = payload[:5]
        if len(raw) < 5 or not raw.hex().isdigit():
            raise _malformed("the TPDU", 0, "is not 5 bytes of BCD digits")
        text = raw.hex()
        tpdu, pos = Tpdu(text[:2], text[2:6], text[6:]), 5
    if profile.header_length:
        raw = payload[pos : pos + profile.header_length]
        if len(raw) < profile.header_length:
            raise _malformed("the header", pos, f"is shorter than {profile.header_length} bytes")
        header, pos = raw.hex().upper(), pos + profile.header_length
    body = payload[pos:]
    mti_raw = body[: profile.mti_size]
    mti = mti_raw.hex() if profile.mti_encoding is Encoding.BCD else mti_raw.decode("latin-1")
    if not _FOUR_DIGITS.fullmatch(mti):
        raise _malformed("the MTI", pos, f"is not {profile.mti_size} bytes of digits")
    bitmap_pos = pos + profile.mti_size
    bitmap = body[profile.mti_size : profile.mti_size + profile.bitmap_size]
    if len(bitmap) < profile.bitmap_size:
        raise _malformed("the bitmap", bitmap_pos, "is cut short")
    layout = _layout(profile)
    _check_bitmap(profile, layout, body[profile.mti_size :], bitmap_pos)

    failure = None
    try:
        doc_dec, doc_enc = iso8583.decode(body, layout.pyiso8583_spec)
    except DecodeError as exc:
        failure = (_field_name(profile, exc.field), pos + exc.pos, _safe_reason(exc.msg))
    except (ValueError, TypeError, KeyError, IndexError):
        failure = ("the message", pos, "could not be decoded")
    if failure is not None:
        what, at, reason = failure
        raise _malformed(what, at, f"is malformed: {reason}")

    fields: dict[int, str] = {}
    by_key = layout.by_key
    for key, raw in doc_dec.items():  # in wire order: MTI, bitmaps, then fields by number
        rule = by_key.get(key)
        if rule is None:  # the MTI and bitmaps
            continue
        # rule.from_pyiso, inlined for the usual field (not track data in BCD) whose value is sound
        value = raw.upper() if rule.hex else raw
        if rule.bcd_track or not rule.sound(value):
            value, problem = rule.from_pyiso(raw)
            if problem:
                raise _malformed(rule.label, _field_pos(pos, doc_enc, key), problem)
        fields[rule.number] = value

    mac_ok = None
    mac_field = profile.mac_field(fields)
    if mac_key is not None and mac_field in fields:
        expected = compute_mac(profile.mac, mac_key, body[: -profile.mac_wire_size]).hex().upper()
        mac_ok = hmac.compare_digest(expected, fields[mac_field])
    return Message(mti=mti, fields=fields, tpdu=tpdu, header=header, mac_ok=mac_ok, sensitive=profile.sensitive_fields)
