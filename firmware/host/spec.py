"""Host message layouts as validated data.

A ``Profile`` holds everything that differs between acquirer hosts: the field
layouts, how the MTI and bitmap are written, whether a TPDU and header come
first, the MAC algorithm, the message types, and the transaction table. It is
checked when it is built, so a wrong layout fails at start-up naming the
field, never half-way through a sale.

The layout is written in the spirit of pyiso8583's spec dicts (one entry per
field), but typed: ``Profile.pyiso8583_spec`` converts it once into the dict
pyiso8583 needs, read-only.

This module holds the profile, its checks across fields and its MAC choices;
the pieces it is built from live beside it and are re-exported here, the one
import point: ``spec_fields`` (one data element, checked on its own) and
``spec_txns`` (the transaction table's rows and the other message types).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from firmware.core.model import EntryMode
from firmware.host.spec_fields import (
    CARD_DATA_FIELDS,
    Encoding,
    FieldKind,
    FieldSpec,
    LengthType,
    Pad,
    _bad,
)
from firmware.host.spec_txns import (
    Mtis,
    OriginalField,
    OriginalPart,
    ReversalReason,
    TxnKind,
    TxnSpec,
)

__all__ = [
    "FieldKind",
    "LengthType",
    "Encoding",
    "Pad",
    "MacAlgorithm",
    "MacPlacement",
    "MAC_FIELDS",
    "ReadCapability",
    "TxnKind",
    "EntryMode",
    "ReversalReason",
    "FieldSpec",
    "OriginalPart",
    "OriginalField",
    "TxnSpec",
    "Mtis",
    "Profile",
    "CARD_DATA_FIELDS",
]


class MacAlgorithm(enum.Enum):
    NONE = "none"
    CUP_ECB = "cup_ecb"  # UnionPay ECB MAC, 8 ASCII hex characters in field 64
    X919 = "x919"  # ISO 9797-1 alg. 3 / ANSI X9.19 retail MAC, 8 bytes in the MAC field (64 or 128)


class MacPlacement(enum.Enum):
    """Which field carries the MAC.

    ISO 8583 makes the MAC the last field of the last bitmap: field 64 when only
    the primary bitmap is present, field 128 when the secondary is (bit 64 is
    then never set). A profile without a secondary bitmap always uses 64.
    """

    FIELD_64 = "64"
    LAST_BITMAP = "last"  # 64, or 128 when a field above 64 is present


MAC_FIELDS = (64, 128)  # the fields a MAC may travel in (the last of each bitmap)


@dataclass(frozen=True)
class ReadCapability:
    """cup field 60.4 (the terminal's card-reading capability, n1) and 60.5 (the IC condition code, n1),
    sent after 60.3 in financial messages only: sign-on, settlement and batch upload stop at 60.3.

    60.5 is 2 for a magstripe read of a chip card (fallback after a chip read that could not be made), else
    ``otherwise`` (0); field 22 then reads as a plain swipe (02x). The values are data so that a host with
    other rules is a profile change."""

    terminal: str  # 60.4
    ic_condition: Mapping[EntryMode, str] = field(default_factory=dict)  # 60.5 by entry mode
    otherwise: str = "0"  # 60.5 for any other entry mode

    def digits(self, mode: EntryMode) -> str:
        """60.4 and 60.5 for a card read by ``mode``."""
        return self.terminal + self.ic_condition.get(mode, self.otherwise)

_CODE = re.compile(r"[0-9A-Z]{2}")


@dataclass(frozen=True, eq=False)
class Profile:
    """Everything that differs between hosts. Validated when built."""

    name: str
    description: str
    fields: Mapping[int, FieldSpec]
    mti_encoding: Encoding  # BCD (2 bytes) or ASCII (4 bytes)
    bitmap_encoding: Encoding  # BINARY (8 bytes) or ASCII (16 hex characters)
    tpdu: bool
    header_length: int  # bytes after the TPDU, before the MTI
    default_header: str | None  # as hex digits
    mac: MacAlgorithm
    mtis: Mtis
    transactions: Mapping[TxnKind, TxnSpec]
    entry_modes: Mapping[EntryMode, str]  # the first two digits of field 22
    pin_capability: tuple[str, str]  # the third digit of field 22: (PIN entered, no PIN)
    approved_codes: frozenset[str]
    response_texts: Mapping[str, str]
    reversal_reasons: Mapping[str, str] = field(default_factory=dict)  # field 39 of a reversal: its meaning
    # Each response text's display form (upper case), short enough to follow its code ("51 NO FUNDS") on the
    # narrowest display the screens support (``hal.display.MIN_COLS``): what a decline shows where the whole
    # text does not fit. Every code with a text has one (checked below); empty: the profile shows none.
    display_texts: Mapping[str, str] = field(default_factory=dict)
    # What field 39 of a reversal carries for each of the terminal's reasons (``ReversalReason``, whose
    # values are UnionPay's codes, as the journal keeps them); a reason not listed goes as its own value.
    # A host of another family knows other codes for the same reasons (ISO 8583:1987: 68, 20...).
    reason_codes: Mapping[str, str] = field(default_factory=dict)
    # The codes by which a host approved what the terminal cannot honour (10, approved for a partial
    # amount: ISO 8583 and UnionPay both count it an approval). Money may have moved, so the answer to a
    # reversible request is reversed at once (``ReversalReason.OTHER``) and the transaction ends declined.
    reverse_codes: frozenset[str] = frozenset()
    # The answers that close a queued reversal: reversed (00), no such original, so nothing to
    # undo (25), or a repeat of a reversal the host already applied (94). Any other code means the
    # host did not apply it: the reversal stays queued and goes again (uplink.py).
    reversal_done_codes: frozenset[str] = frozenset({"00", "25", "94"})
    # The codes by which a host says it did not process a message for a technical reason (format,
    # cut-off, issuer or switch unavailable, malfunction, MAC): a stored advice so answered is
    # sent again, never closed (window.py): its sale happened, its receipt is printed.
    try_again_codes: frozenset[str] = frozenset({"22", "30", "68", "90", "91", "92", "96", "98", "A0"})
    # The codes by which a host says the terminal's MAC failed: its working keys are not the
    # host's (a sign-on whose answer was lost), so the terminal signs on before it sends again.
    key_error_codes: frozenset[str] = frozenset({"A0"})
    unmacced_mtis: frozenset[str] = frozenset({"0800", "0810", "0820", "0830"})
    pin_security_info: str | None = None  # field 53 sent with a PIN block, if the host wants it
    # The field that carries the DUKPT KSN beside a PIN block encrypted under a DUKPT key
    # (host.pin_keys = "dukpt"); None: the profile takes session PIN keys only.
    ksn_field: int | None = None
    local_time_fields: frozenset[int] = frozenset()  # of 7/12/13, those the terminal sends
    secondary_bitmap: bool = False  # fields 65-128 may be defined; bitmap 2 is sent only when one is present
    mac_placement: MacPlacement = MacPlacement.FIELD_64
    # Where a reversal names the transaction it reverses (ISO 8583:1987: field 90, built from
    # the reversed request's own MTI, STAN and field 7); None: the profile's reversals do not.
    reversal_original: OriginalField | None = None
    # The field that carries the acquiring institution's ID (``host.acquirer_id``) in financial messages,
    # their reversals and advices (ISO 8583:1987: 32); None: the profile sends none (cup: the host fills it).
    acquirer_field: int | None = None
    # cup 60.4 and 60.5 in financial messages (``ReadCapability``); None: field 60 stops at 60.3.
    read_capability: ReadCapability | None = None
    # The profile whose name-keyed tables (sign-on key layout, settlement, batch upload) this one
    # shares; empty: its own name. ``iso87-aes`` is iso87 with a wider field 52, so of the iso87 family.
    family: str = ""

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", self.name)
        for attr in ("fields", "transactions", "entry_modes", "response_texts", "display_texts", "reversal_reasons",
                     "reason_codes"):
            object.__setattr__(self, attr, MappingProxyType(dict(getattr(self, attr))))
        self._validate()

    # -- validation -----------------------------------------------------------
    def _validate_display_texts(self, p: str) -> None:
        """A display form for every code with a text, none that would be cut after its code on the narrowest
        display (``MIN_COLS``), and none for a code without a text."""
        if not self.display_texts:
            return
        from hal.display import MIN_COLS  # light: the standard library and hal.base

        room = MIN_COLS - 3  # "51 " before it
        missing = sorted(set(self.response_texts) - set(self.display_texts))
        extra = sorted(set(self.display_texts) - set(self.response_texts))
        if missing or extra:
            which = f"response code {missing[0]!r} has no display form" if missing else \
                f"display form of {extra[0]!r}, a code with no response text"
            raise _bad(f"{p}: {which}", "config.bad_response_code")
        for code, text in self.display_texts.items():
            if not (0 < len(text) <= room and text.isprintable() and text == text.upper()):
                raise _bad(f"{p}: the display form of {code!r} must be 1 to {room} printable upper-case characters "
                           f"(it follows the code on a {MIN_COLS}-column display), got {text!r}",
                           "config.bad_response_code")

    def _validate(self) -> None:
        p = f"profile {self.name}"
        top = 128 if self.secondary_bitmap else 64
        for number, spec in self.fields.items():
            if not isinstance(spec, FieldSpec) or spec.number != number:
                raise _bad(f"{p}: field {number} is filed under the wrong number")
            if number > top:
                raise _bad(f"{p}: field {number} needs a secondary bitmap; fields run from 2 to {top}",
                           "config.bad_field_number")
        if self.mti_encoding not in (Encoding.BCD, Encoding.ASCII):
            raise _bad(f"{p}: the MTI is BCD or ASCII")
        if self.bitmap_encoding not in (Encoding.BINARY, Encoding.ASCII):
            raise _bad(f"{p}: the bitmap is binary or ASCII hex")
        header = self.default_header or ""
        if self.header_length < 0 or (header and len(header) != 2 * self.header_length):
            raise _bad(f"{p}: the default header must be {2 * self.header_length} hex digits", "config.bad_header")
        if self.default_header and not re.fullmatch(r"[0-9A-F]+", self.default_header):
            raise _bad(f"{p}: the default header must be upper-case hex digits", "config.bad_header")
        if self.secondary_bitmap and 65 in self.fields:
            raise _bad(f"{p}: field 65 announces a tertiary bitmap, which posterm does not use",
                       "config.bad_field_number")
        if self.mac is not MacAlgorithm.NONE:
            self._validate_mac(p)
        for required in (3, 4, 11, 39, 41):
            if required not in self.fields:
                raise _bad(f"{p}: field {required} is missing", "config.missing_field")
        for mti in astuple(self.mtis):
            if not re.fullmatch(r"\d{4}", mti):
                raise _bad(f"{p}: MTI {mti!r} is not 4 digits", "config.bad_mti")
        seen: dict[tuple, TxnKind] = {}
        for kind, txn in self.transactions.items():
            where = f"{p}: transaction {kind.value}"
            if not re.fullmatch(r"\d{4}", txn.mti):
                raise _bad(f"{where}: MTI {txn.mti!r} is not 4 digits", "config.bad_mti")
            for value, size, label in ((txn.processing_code, 6, "processing code"),
                                       (txn.condition_code, 2, "condition code"),
                                       (txn.type_code, 2, "type code"), (txn.network_code, 3, "network code")):
                if value is not None and not re.fullmatch(rf"\d{{{size}}}", value):
                    raise _bad(f"{where}: {label} must be {size} digits", "config.bad_txn")
            for of in txn.original:
                self._validate_original(where, of)
            key = (txn.mti, txn.processing_code, txn.condition_code)
            if key in seen:
                raise _bad(f"{where} cannot be told apart from {seen[key].value}", "config.bad_txn")
            seen[key] = kind
        if TxnKind.SALE not in self.transactions:
            raise _bad(f"{p}: the transaction table has no sale", "config.bad_txn")
        for mode, digits in self.entry_modes.items():
            if not re.fullmatch(r"\d{2}", digits):
                raise _bad(f"{p}: entry mode {mode.value} must map to 2 digits", "config.bad_entry_mode")
        if len(self.pin_capability) != 2 or not all(re.fullmatch(r"\d", d) for d in self.pin_capability):
            raise _bad(f"{p}: pin_capability is two single digits", "config.bad_entry_mode")
        if self.read_capability is not None:
            rc = self.read_capability
            f60 = self.fields.get(60)
            if (f60 is None or f60.kind is not FieldKind.N or f60.max_len < 13
                    or not all(re.fullmatch(r"\d", d) for d in (rc.terminal, rc.otherwise, *rc.ic_condition.values()))):
                raise _bad(f"{p}: read_capability needs a numeric field 60 of 13 digits or more and single digits "
                           "for 60.4 and 60.5", "config.bad_entry_mode")
        for code in (*self.response_texts, *self.reversal_reasons, *self.approved_codes, *self.reversal_done_codes,
                     *self.try_again_codes, *self.key_error_codes, *self.reverse_codes):
            if not _CODE.fullmatch(code):
                raise _bad(f"{p}: response code {code!r} is not 2 letters or digits", "config.bad_response_code")
        self._validate_display_texts(p)
        if not self.approved_codes <= set(self.response_texts):
            raise _bad(f"{p}: every approved code needs a response text", "config.bad_response_code")
        if self.reverse_codes and not (self.reverse_codes <= set(self.response_texts)
                                       and not self.reverse_codes & self.approved_codes):
            raise _bad(f"{p}: a code to reverse needs a response text and is not also approved",
                       "config.bad_response_code")
        if self.reversal_reasons:  # a profile whose requests are reversed gives each reason a listed code
            for reason in ReversalReason:
                if (code := self.reversal_code(reason)) not in self.reversal_reasons:
                    raise _bad(f"{p}: reversal reason {reason.name.lower()} goes as {code!r}, which "
                               "reversal_reasons does not list", "config.bad_response_code")
        elif self.reason_codes:
            raise _bad(f"{p}: reason_codes needs reversal_reasons", "config.bad_response_code")
        if self.pin_security_info is not None and 53 not in self.fields:
            raise _bad(f"{p}: pin_security_info needs field 53", "config.missing_field")
        if self.ksn_field is not None:
            ksn = self.fields.get(self.ksn_field)
            if ksn is None:
                raise _bad(f"{p}: ksn_field {self.ksn_field} is not defined", "config.missing_field")
            if ksn.kind is not FieldKind.B or ksn.length is LengthType.FIXED or ksn.max_len < 12:
                raise _bad(f"{p}: ksn_field {self.ksn_field} must be variable binary of at least 12 bytes "
                           "(a TDES KSN is 10, an AES KSN 12)", "config.bad_field")
            if self.pin_security_info is not None and self.ksn_field == 53:
                raise _bad(f"{p}: field 53 cannot carry both pin_security_info and the KSN", "config.bad_field")
        missing = self.local_time_fields - set(self.fields)
        if missing or not self.local_time_fields <= {7, 12, 13}:
            raise _bad(f"{p}: local time fields are among 7, 12, 13 and defined", "config.missing_field")
        if self.acquirer_field is not None and self.acquirer_field not in self.fields:
            raise _bad(f"{p}: acquirer_field {self.acquirer_field} is not in the layout", "config.missing_field")
        if self.reversal_original is not None:
            rev = self.reversal_original
            self._validate_original(f"{p}: the reversal's original", rev)
            own = {OriginalPart.MTI, OriginalPart.STAN, OriginalPart.TRANSMITTED, OriginalPart.DATE,
                   OriginalPart.BATCH, OriginalPart.ACQUIRER, OriginalPart.FORWARDER}  # what a request knows of itself
            if not {OriginalPart.MTI, OriginalPart.STAN} <= set(rev.parts) <= own:
                raise _bad(f"{p}: a reversal names what it reverses by MTI and STAN, and facts of its own",
                           "config.bad_txn")
            for kind, txn in self.transactions.items():
                if any(of.number == rev.number and of.in_reversal for of in txn.original):
                    raise _bad(f"{p}: transaction {kind.value} puts its own original in field {rev.number}, "
                               "where its reversal names what it reverses", "config.bad_txn")

    def _validate_mac(self, p: str) -> None:
        """The MAC field(s): fixed binary of 8 bytes; where ISO puts it, both 64 and 128, encoded alike."""
        numbers = (64, 128) if self.mac_placement is MacPlacement.LAST_BITMAP else (64,)
        if self.mac_placement is MacPlacement.LAST_BITMAP and not self.secondary_bitmap:
            raise _bad(f"{p}: a MAC in field 128 needs a secondary bitmap", "config.no_mac_field")
        if self.mac_placement is MacPlacement.FIELD_64 and self.secondary_bitmap:
            raise _bad(f"{p}: a MAC in field 64 must be the last field, so no secondary bitmap")
        for number in numbers:
            mac = self.fields.get(number)
            if mac is None:
                raise _bad(f"{p}: field {number} (MAC) is required when the MAC is {self.mac.value}",
                           "config.no_mac_field")
            if (mac.kind is not FieldKind.B or mac.length is not LengthType.FIXED or mac.max_len != 8
                    or mac.encoding is not self.fields[64].encoding):
                raise _bad(f"{p}: field {number} (MAC) must be fixed binary of 8 bytes", "config.no_mac_field")

    def _validate_original(self, where: str, of: OriginalField) -> None:
        spec = self.fields.get(of.number)
        if (spec is None or not of.parts or of.width > spec.max_len
                or (spec.length is LengthType.FIXED and of.width != spec.max_len)):
            raise _bad(f"{where}: original field {of.number} is missing or does not fit its parts",
                       "config.bad_txn")

    # -- derived ----------------------------------------------------------------
    def reversal_code(self, reason: str | ReversalReason) -> str:
        """Field 39 of a reversal for the terminal's ``reason`` (a ``ReversalReason`` or its value)."""
        code = getattr(reason, "value", reason)
        return self.reason_codes.get(code, code)

    @cached_property
    def sensitive_fields(self) -> frozenset[int]:
        return frozenset(n for n, s in self.fields.items() if s.sensitive) | CARD_DATA_FIELDS

    @cached_property
    def mti_size(self) -> int:
        return 2 if self.mti_encoding is Encoding.BCD else 4

    @cached_property
    def bitmap_size(self) -> int:
        return 8 if self.bitmap_encoding is Encoding.BINARY else 16

    @cached_property
    def prefix_size(self) -> int:
        """Bytes before the MTI: TPDU and header."""
        return (5 if self.tpdu else 0) + self.header_length

    @cached_property
    def mac_wire_size(self) -> int:
        spec = self.fields.get(64)
        return (spec.fixed_wire_size or 0) if spec else 0

    def mac_field(self, numbers: Iterable[int]) -> int | None:
        """The field that carries the MAC of a message holding fields ``numbers`` (None: no MAC).

        To encode, pass the fields other than the MAC; a decoded message's fields may
        include it (field 128 is itself above 64, so the answer is the same).
        """
        if self.mac is MacAlgorithm.NONE:
            return None
        if self.mac_placement is MacPlacement.LAST_BITMAP and any(n > 64 for n in numbers if n != 64):
            return 128
        return 64

    @cached_property
    def pyiso8583_spec(self) -> Mapping[str, Mapping[str, Any]]:
        """The pyiso8583 spec dict for the body (MTI onwards), built once, read-only."""
        bitmap = {"data_enc": "b" if self.bitmap_encoding is Encoding.BINARY else "ascii", "len_enc": "ascii",
                  "len_type": 0, "max_len": self.bitmap_size, "desc": "Bitmap"}
        spec: dict[str, Mapping[str, Any]] = {
            "h": MappingProxyType({"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 0, "desc": "Header"}),
            "t": MappingProxyType({"data_enc": "b" if self.mti_encoding is Encoding.BCD else "ascii", "len_enc": "ascii",
                                   "len_type": 0, "max_len": self.mti_size, "desc": "Message Type"}),
            "p": MappingProxyType(bitmap),
            "1": MappingProxyType(dict(bitmap, desc="Bitmap, Secondary")),
        }
        for number, fs in self.fields.items():
            spec[str(number)] = MappingProxyType(fs.to_pyiso8583())
        return MappingProxyType(spec)

    def kind_of(self, mti: str, processing_code: str | None, condition_code: str | None) -> TxnKind | None:
        """Which transaction a request is, from the table (``None`` when unknown)."""
        return self._kinds_by_codes.get((mti, processing_code, condition_code))

    @cached_property
    def _kinds_by_codes(self) -> Mapping[tuple[str, str | None, str | None], TxnKind]:
        """``kind_of``'s table, made once: the first kind in the table's order for each MTI and codes
        (every answer is looked up in it)."""
        kinds: dict[tuple[str, str | None, str | None], TxnKind] = {}
        for kind, txn in self.transactions.items():
            kinds.setdefault((txn.mti, txn.processing_code, txn.condition_code), kind)
        return MappingProxyType(kinds)

    @cached_property
    def request_mtis(self) -> frozenset[str]:
        """The MTIs of the table's requests."""
        return frozenset(t.mti for t in self.transactions.values())

    def kind_of_type_code(self, type_code: str) -> TxnKind | None:
        for kind, txn in self.transactions.items():
            if txn.type_code == type_code:
                return kind
        return None

    def __repr__(self) -> str:
        return f"<Profile {self.name}: {len(self.fields)} fields, MAC {self.mac.value}>"
