"""Building the terminal's requests and reading the host's replies.

Inputs come in two types: ``TxnData`` (amount, STAN, terminal ... safe to log)
and ``CardData`` (PAN, tracks, PIN block, all in secret types). What comes
back is a ``Reply`` holding only non-sensitive facts, so the transaction core
never sees card data. The host side (``build_response``) lives here too, so
the simulator and the terminal agree on the layout by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from crypto.keys import KeyUsage
from crypto.secrets import Pan, PinBlock, TrackData
from firmware.errors import ProtocolError
from firmware.host.balance import Balance, parse_balances, pick_balance
from firmware.host.codec import Message, Tpdu
from firmware.host.spec import (
    EntryMode,
    FieldKind,
    Mtis,
    OriginalField,
    OriginalPart,
    Profile,
    ReversalReason,
    TxnKind,
    TxnSpec,
)

__all__ = [
    "TxnKind", "EntryMode", "ReversalReason", "Original", "TxnData", "CardData",
    "build_request", "build_reversal", "build_advice", "build_signon", "with_reason", "as_repeat", "build_resend",
    "Reply", "parse_reply", "Expectation", "expectation_for", "mismatch", "response_text",
    "build_response", "kind_of", "read_original", "REQUEST_KINDS", "transmission_time",
    "SIGN_OFF_MTI", "KeySlot", "SignonKeyLayout", "SIGNON_KEY_LAYOUTS", "signon_key_layout", "signon_network_code",
    "build_signoff", "read_signon_keys", "with_signon_keys",
]


_CURRENCY = re.compile(r"\d{3}")
_TERMINAL_ID = re.compile(r"[\x20-\x7e]{8}")
_MERCHANT_ID = re.compile(r"[\x20-\x7e]{15}")


def _bad_txn(text: str) -> ProtocolError:
    return ProtocolError(text, code="host.bad_txn")


@dataclass(frozen=True)
class Original:
    """The transaction a void refers to; the profile's ``TxnSpec.original`` says which fields carry what."""

    stan: int
    batch: int
    date: str  # MMDD
    rrn: str | None = None
    auth_code: str | None = None
    mti: str | None = None  # its request's MTI (ISO 8583:1987 field 90 names it)
    transmitted: str | None = None  # its field 7, MMDDhhmmss (``transmission_time``)
    acquirer: str = "0" * 11  # its fields 32 and 33, right-aligned: zeros, posterm sends neither
    forwarder: str = "0" * 11


@dataclass(frozen=True)
class TxnData:
    """Everything about a transaction except the card. Safe to log."""

    kind: TxnKind
    amount: int  # minor units
    currency: str  # ISO 4217 numeric
    stan: int
    batch: int
    when: datetime  # local time at the terminal
    terminal_id: str
    merchant_id: str
    entry_mode: EntryMode
    pin_entered: bool
    operator: str = "01"
    original: Original | None = None

    def __post_init__(self) -> None:
        # Enum members (what the bridge passes) are kept as they are; raw values are looked up.
        if not isinstance(self.kind, TxnKind) or not isinstance(self.entry_mode, EntryMode):
            try:
                object.__setattr__(self, "kind", TxnKind(self.kind))
                object.__setattr__(self, "entry_mode", EntryMode(self.entry_mode))
            except ValueError:
                raise _bad_txn("unknown transaction kind or entry mode") from None
        if type(self.amount) is not int or not 0 <= self.amount < 10**12:
            raise _bad_txn("amount must be whole minor units from 0 to 999999999999")
        if type(self.stan) is not int or not 1 <= self.stan <= 999999:
            raise _bad_txn("STAN must be a whole number from 1 to 999999")
        if type(self.batch) is not int or not 0 <= self.batch <= 999999:
            raise _bad_txn("batch must be a whole number from 0 to 999999")
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise _bad_txn("currency must be an ISO 4217 numeric code of 3 digits")
        if not isinstance(self.terminal_id, str) or not _TERMINAL_ID.fullmatch(self.terminal_id):
            raise _bad_txn("terminal ID must be 8 printable characters")
        if not isinstance(self.merchant_id, str) or not _MERCHANT_ID.fullmatch(self.merchant_id):
            raise _bad_txn("merchant ID must be 15 printable characters")
        if not isinstance(self.when, datetime):
            raise _bad_txn("when must be a datetime")


@dataclass(repr=False, eq=False)
class CardData:
    """The card's secrets for one message. ``wipe()`` once the message is encoded."""

    pan: Pan
    expiry: str | None = None  # YYMM
    track2: TrackData | None = None
    track3: TrackData | None = None
    pin_block: PinBlock | None = None
    sequence: str | None = None
    account: Pan | None = None  # a transfer's destination account

    def __post_init__(self) -> None:
        if not isinstance(self.pan, Pan):
            raise TypeError("CardData.pan must be a Pan")

    def wipe(self) -> None:
        for secret in (self.pan, self.track2, self.track3, self.pin_block, self.account):
            if secret is not None:
                secret.wipe()
        self.expiry = None

    def __repr__(self) -> str:
        return (f"CardData(pan={self.pan!r}, expiry={'<4 chars>' if self.expiry else None}, "
                f"track2={self.track2!r}, track3={self.track3!r}, pin_block={self.pin_block!r}, "
                f"sequence={self.sequence!r}, account={self.account!r})")

    __str__ = __repr__


# -- building ----------------------------------------------------------------
def _txn_spec(profile: Profile, kind: TxnKind) -> TxnSpec:
    spec = profile.transactions.get(kind)
    if spec is None:
        raise ProtocolError(f"profile {profile.name} has no {kind.value} transaction", code="host.unsupported")
    return spec


def transmission_time(when: datetime) -> str:
    """Field 7, MMDDhhmmss: UTC when the time is aware, else as given."""
    stamp = when.astimezone(timezone.utc) if when.tzinfo else when
    return stamp.strftime("%m%d%H%M%S")


def _local_time(profile: Profile, when: datetime, fields: frozenset[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    if 7 in fields:
        out[7] = transmission_time(when)
    if 12 in fields:
        out[12] = when.strftime("%H%M%S")
    if 13 in fields:
        out[13] = when.strftime("%m%d")
    return {n: v for n, v in out.items() if n in profile.fields}


def _field22(profile: Profile, txn: TxnData) -> str:
    mode = profile.entry_modes.get(txn.entry_mode)
    if mode is None:
        raise ProtocolError(f"profile {profile.name} has no code for entry mode {txn.entry_mode.value}",
                            code="host.unsupported")
    return mode + profile.pin_capability[0 if txn.pin_entered else 1]


def _field60(profile: Profile, spec: TxnSpec, batch: int) -> dict[int, str]:
    f60 = profile.fields.get(60)
    if spec.type_code is None or f60 is None or f60.kind is not FieldKind.N:
        return {}
    return {60: f"{spec.type_code}{batch:06d}{spec.network_code}"}


def _base(profile: Profile, txn: TxnData, card: CardData, spec: TxnSpec, *, local: frozenset[int]) -> dict[int, str]:
    """Fields every financial message shares: card number, amounts, ids, entry mode."""
    fields = {2: card.pan.reveal_str(), 3: spec.processing_code, 4: f"{txn.amount:012d}", 11: f"{txn.stan:06d}"}
    if not spec.amount:  # an inquiry carries no transaction amount
        del fields[4]
    fields.update(_local_time(profile, txn.when, local))
    if card.expiry is not None:
        fields[14] = card.expiry
    fields[22] = _field22(profile, txn)
    if card.sequence is not None and 23 in profile.fields:
        # Track 3 carries the card sequence number with as many digits as it has;
        # field 23 is fixed (n3): right-aligned with leading zeros.
        width = profile.fields[23].max_len
        seq = card.sequence.strip()
        if not seq.isdigit() or len(seq) > width:
            raise _bad_txn(f"the card sequence number is not 1 to {width} digits")
        fields[23] = seq.zfill(width)
    fields.update({25: spec.condition_code, 41: txn.terminal_id, 42: txn.merchant_id, 49: txn.currency})
    fields.update(_field60(profile, spec, txn.batch))
    return {n: v for n, v in fields.items() if v is not None}


def _message(profile: Profile, mti: str, fields: dict[int, str], tpdu: Tpdu | None, header: str | None) -> Message:
    return Message(mti=mti, fields=dict(sorted(fields.items())), tpdu=tpdu if profile.tpdu else None,
                   header=(header or profile.default_header) if profile.header_length else None,
                   sensitive=profile.sensitive_fields)


# The online requests built today; the rest of the profiles' tables is the roadmap.
REQUEST_KINDS = frozenset({TxnKind.SALE, TxnKind.VOID, TxnKind.REFUND, TxnKind.BALANCE, TxnKind.PREAUTH,
                           TxnKind.PREAUTH_VOID, TxnKind.PREAUTH_COMPLETE, TxnKind.PREAUTH_COMPLETE_VOID,
                           TxnKind.TRANSFER})


def _account_fields(profile: Profile, spec: TxnSpec, card: CardData) -> dict[int, str]:
    """A transfer's destination account in the field its profile names (cup 48, iso87 103)."""
    if spec.account_field is None:
        return {}
    if card.account is None:
        raise _bad_txn("a transfer needs its destination account")
    f = profile.fields.get(spec.account_field)
    if f is None or not f.sensitive:
        raise ProtocolError(f"profile {profile.name} has no sensitive field {spec.account_field} for the "
                            "destination account", code="host.unsupported")
    return {spec.account_field: card.account.reveal_str()}


def _local_fields(profile: Profile, spec: TxnSpec) -> frozenset[int]:
    """The profile's local time fields; a notification (0220: a refund) also always carries 12 and 13,
    as an advice does, so that its repeat and the original name the same local date."""
    if spec.mti in (profile.mtis.advice, profile.mtis.advice_repeat):
        return profile.local_time_fields | {12, 13}
    return profile.local_time_fields


def _original_text(of: OriginalField, original: Original) -> str | None:
    """The field's text, or None when one of its parts is unknown (the field is then left out)."""
    out = []
    for part in of.parts:
        value = getattr(original, part.attr)
        if value is None:
            return None
        text = f"{value:0{part.width}d}" if isinstance(value, int) else str(value)
        if len(text) != part.width:
            raise _bad_txn(f"the original's {part.attr} is not {part.width} characters")
        out.append(text)
    return "".join(out)


def _original_fields(spec: TxnSpec, txn: TxnData, *, reversal: bool) -> dict[int, str]:
    if not spec.original:
        return {}
    if txn.original is None:
        raise _bad_txn(f"a {txn.kind.value} needs the original transaction it refers to")
    fields = {}
    for of in spec.original:
        if reversal and not of.in_reversal:
            continue
        text = _original_text(of, txn.original)
        if text is not None:
            fields[of.number] = text
    return fields


def read_original(profile: Profile, message: Message) -> Original | None:
    """What a request (or its reversal) says about its original, per the profile; None if it says nothing.

    A part the message does not carry is None (the STAN and batch default to 0).
    """
    kind = kind_of(profile, message)
    spec = profile.transactions.get(kind) if kind is not None else None
    if spec is None or not spec.original:
        return None
    reversal = message.mti in (profile.mtis.reversal, profile.mtis.reversal_repeat)
    found: dict[str, str] = {}
    for of in spec.original:
        if not (reversal and not of.in_reversal):  # a reversal's own 90 names what it reverses
            found.update(of.split(message.fields.get(of.number, "")) or {})
    if not found:
        return None
    return Original(
        stan=_int(found.get(OriginalPart.STAN.attr)) or 0,
        batch=_int(found.get(OriginalPart.BATCH.attr)) or 0,
        # ISO 8583:1987 has no original-date subfield: 90's transmission date stands for it
        date=found.get(OriginalPart.DATE.attr) or (found.get(OriginalPart.TRANSMITTED.attr) or "")[:4],
        rrn=found.get(OriginalPart.RRN.attr),
        auth_code=found.get(OriginalPart.AUTH_CODE.attr),
        mti=found.get(OriginalPart.MTI.attr),
        transmitted=found.get(OriginalPart.TRANSMITTED.attr),
        acquirer=found.get(OriginalPart.ACQUIRER.attr, "0" * 11),
        forwarder=found.get(OriginalPart.FORWARDER.attr, "0" * 11),
    )


def build_request(profile: Profile, txn: TxnData, card: CardData, *, tpdu: Tpdu | None,
                  header: str | None = None) -> Message:
    """The online request for ``txn`` (a sale, void, refund, balance inquiry or one of the pre-auth family).
    Field 64 is set by ``encode``."""
    if txn.kind not in REQUEST_KINDS:
        raise ProtocolError(f"{txn.kind.value} requests are not built yet", code="host.unsupported")
    spec = _txn_spec(profile, txn.kind)
    if spec.amount and txn.amount < 1:
        raise _bad_txn(f"a {txn.kind.value} needs an amount of at least 1")
    fields = _base(profile, txn, card, spec, local=_local_fields(profile, spec))
    fields.update(_original_fields(spec, txn, reversal=False))
    fields.update(_account_fields(profile, spec, card))
    if card.track2 is not None:
        fields[35] = card.track2.reveal_str()
    if card.track3 is not None:
        fields[36] = card.track3.reveal_str()
    if txn.pin_entered != (card.pin_block is not None):
        raise _bad_txn("a PIN block goes with pin_entered, and only then")
    if card.pin_block is not None:
        fields[26] = "12"  # the PIN pad accepts up to 12 digits
        fields[52] = card.pin_block.reveal().hex().upper()
        if profile.pin_security_info:
            fields[53] = profile.pin_security_info
    return _message(profile, spec.mti, fields, tpdu, header)


def build_reversal(profile: Profile, txn: TxnData, card: CardData, *, tpdu: Tpdu | None,
                   reason: str | ReversalReason = "98", header: str | None = None) -> Message:
    """The reversal of ``txn``: its STAN and amount, the PAN, no track and no PIN block."""
    spec = _txn_spec(profile, txn.kind)
    if not spec.reversible:
        raise ProtocolError(f"a {txn.kind.value} is not reversed", code="host.not_reversible")
    code = getattr(reason, "value", reason)
    if code not in profile.reversal_reasons:
        raise ProtocolError(f"reversal reason must be one of {', '.join(profile.reversal_reasons)}",
                            code="host.bad_reason")
    fields = _base(profile, txn, card, spec, local=profile.local_time_fields)
    fields.update(_original_fields(spec, txn, reversal=True))
    fields.update(_account_fields(profile, spec, card))  # a transfer's reversal names both accounts
    if profile.reversal_original is not None:  # ISO 8583:1987 field 90: the request reversed
        reversed_ = Original(stan=txn.stan, batch=txn.batch, date=txn.when.strftime("%m%d"), mti=spec.mti,
                             transmitted=transmission_time(txn.when))
        fields[profile.reversal_original.number] = _original_text(profile.reversal_original, reversed_)
    fields[39] = code
    return _message(profile, profile.mtis.reversal, fields, tpdu, header)


def build_resend(profile: Profile, txn: TxnData, card: CardData, *, tpdu: Tpdu | None,
                 header: str | None = None) -> Message:
    """The ready-made repeat of a request that is re-sent, never reversed, while unanswered (a refund).

    The request itself without track data or PIN block (none may be kept once the
    host has answered, and this waits, sealed, until it has). It is stored with its
    own MTI, so the profile's MTI must be an advice's: ``as_repeat`` turns it into
    the repeat (0220 -> 0221) when it is sent.
    """
    spec = _txn_spec(profile, txn.kind)
    if spec.mti not in (profile.mtis.advice, profile.mtis.advice_repeat):
        raise ProtocolError(f"profile {profile.name} sends a {txn.kind.value} as {spec.mti}, which cannot be "
                            "re-sent as an advice", code="host.unsupported")
    if spec.amount and txn.amount < 1:
        raise _bad_txn(f"a {txn.kind.value} needs an amount of at least 1")
    fields = _base(profile, txn, card, spec, local=_local_fields(profile, spec))
    fields.update(_original_fields(spec, txn, reversal=False))
    return _message(profile, spec.mti, fields, tpdu, header)


# The journal kinds approved offline and forwarded as a stored advice, and the message each travels as.
ADVICE_OF = {
    TxnKind.SALE: TxnKind.OFFLINE_SALE,
    TxnKind.OFFLINE_SALE: TxnKind.OFFLINE_SALE,
    TxnKind.PREAUTH_COMPLETE: TxnKind.PREAUTH_COMPLETE_ADVICE,  # 预授权完成通知
    TxnKind.PREAUTH_COMPLETE_ADVICE: TxnKind.PREAUTH_COMPLETE_ADVICE,
}


def build_advice(profile: Profile, txn: TxnData, card: CardData, *, tpdu: Tpdu | None,
                 header: str | None = None) -> Message:
    """The store-and-forward advice of a sale approved offline, or of a completion made without the
    host (which names its pre-auth as the online completion does): PAN and expiry, no track, no PIN."""
    if txn.kind not in ADVICE_OF:
        raise ProtocolError(f"a {txn.kind.value} is not sent as an offline advice", code="host.unsupported")
    if txn.amount < 1:
        raise _bad_txn("an advice needs an amount of at least 1")
    spec = _txn_spec(profile, ADVICE_OF[txn.kind])
    # The local time of the sale always goes with an advice: it was made earlier.
    fields = _base(profile, txn, card, spec, local=profile.local_time_fields | {12, 13})
    if spec.original:
        fields.update(_original_fields(spec, txn, reversal=False))
    return _message(profile, spec.mti, fields, tpdu, header)


def build_signon(profile: Profile, *, stan: int, batch: int, terminal_id: str, merchant_id: str,
                 when: datetime, operator: str = "01", tpdu: Tpdu | None, header: str | None = None,
                 network_code: str | None = None) -> Message:
    """The 0800 sign-on; the answer carries the working keys (``read_signon_keys``).

    ``network_code`` (cup field 60.3) asks for a key layout other than the
    profile's: 001 single-length keys, 003 double-length, 004 with a data key.
    """
    spec = _txn_spec(profile, TxnKind.SIGN_ON)
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id}
    fields.update(_local_time(profile, when, profile.local_time_fields))
    fields.update(_field60(profile, spec, batch))
    if network_code is not None:
        signon_key_layout(profile, network_code)  # an unknown layout fails here, not at the answer
        if 60 in fields:
            fields[60] = fields[60][:-3] + network_code
    f63 = profile.fields.get(63)
    if f63 is not None and f63.kind is FieldKind.ANS and spec.type_code is not None:
        fields[63] = operator.ljust(3)
    return _message(profile, spec.mti, fields, tpdu, header)


# -- sign-on keys and sign-off -------------------------------------------------
SIGN_OFF_MTI = "0820"


@dataclass(frozen=True)
class KeySlot:
    """One working key in the sign-on answer: its encrypted bytes, then its check value."""

    usage: KeyUsage
    size: int  # bytes of the key (and of its ciphertext under the TMK)
    wire: int  # bytes it takes in the field: ``size``, or more with zero padding after it
    check: int = 4  # bytes of check value


@dataclass(frozen=True)
class SignonKeyLayout:
    field: int
    slots: tuple[KeySlot, ...]

    @property
    def length(self) -> int:
        return sum(s.wire + s.check for s in self.slots)

    def sizes(self) -> dict[KeyUsage, int]:
        return {s.usage: s.size for s in self.slots}


_PIN, _MAC, _TDK = KeyUsage.PIN, KeyUsage.MAC, KeyUsage.TDK

# (profile, network management code) -> where the working keys travel in the 0810.
# cup follows the UnionPay POS convention for field 62: 001 single-length PIK/MAK
# (24 bytes), 003 double-length PIK and single-length MAK padded to 16 (40 bytes),
# 004 the same plus a double-length TDK (60 bytes). iso87 carries its double-length
# PIN, X9.19 MAC and data keys as hex text in field 62.
SIGNON_KEY_LAYOUTS: dict[tuple[str, str], SignonKeyLayout] = {
    ("cup", "001"): SignonKeyLayout(62, (KeySlot(_PIN, 8, 8), KeySlot(_MAC, 8, 8))),
    ("cup", "003"): SignonKeyLayout(62, (KeySlot(_PIN, 16, 16), KeySlot(_MAC, 8, 16))),
    ("cup", "004"): SignonKeyLayout(62, (KeySlot(_PIN, 16, 16), KeySlot(_MAC, 8, 16), KeySlot(_TDK, 16, 16))),
    ("iso87", "001"): SignonKeyLayout(62, (KeySlot(_PIN, 16, 16), KeySlot(_MAC, 16, 16), KeySlot(_TDK, 16, 16))),
}


def signon_key_layout(profile: Profile, network_code: str | None = None) -> SignonKeyLayout:
    code = network_code or _txn_spec(profile, TxnKind.SIGN_ON).network_code
    layout = SIGNON_KEY_LAYOUTS.get((profile.name, code))
    if layout is None:
        raise ProtocolError(f"profile {profile.name} has no sign-on key layout for network code {code}",
                            code="host.unsupported")
    return layout


def signon_network_code(profile: Profile, message: Message) -> str:
    """The network management code of a sign-on or its answer (cup 60.3), else the profile's."""
    f60 = profile.fields.get(60)
    value = message.fields.get(60, "")
    if f60 is not None and f60.kind is FieldKind.N and len(value) >= 11:
        return value[8:11]
    return _txn_spec(profile, TxnKind.SIGN_ON).network_code


def build_signoff(profile: Profile, *, stan: int, batch: int, terminal_id: str, merchant_id: str,
                  tpdu: Tpdu | None, header: str | None = None) -> Message:
    """The 0820 sign-off: after its answer the terminal drops its working keys."""
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id}
    f60 = profile.fields.get(60)
    if f60 is not None and f60.kind is FieldKind.N:
        fields[60] = f"00{batch:06d}002"
    return _message(profile, SIGN_OFF_MTI, fields, tpdu, header)


def read_signon_keys(profile: Profile, message: Message) -> tuple[dict[KeyUsage, bytes], dict[KeyUsage, bytes]]:
    """(encrypted working keys, their check values) from a sign-on answer, by usage.

    Nothing is decrypted here: ``crypto.signon.install_working_keys`` checks
    and installs them under the terminal master key.
    """
    layout = signon_key_layout(profile, signon_network_code(profile, message))
    text = message.fields.get(layout.field)
    if text is None:
        raise ProtocolError(f"the sign-on answer has no working keys in field {layout.field}",
                            code="host.signon_keys")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != layout.length:
        raise ProtocolError(f"field {layout.field} of the sign-on answer is not {layout.length} bytes of keys",
                            code="host.signon_keys")
    encrypted, checks, pos = {}, {}, 0
    for slot in layout.slots:
        encrypted[slot.usage] = raw[pos : pos + slot.size]
        pos += slot.wire
        checks[slot.usage] = raw[pos : pos + slot.check]
        pos += slot.check
    return encrypted, checks


def with_signon_keys(profile: Profile, response: Message, encrypted: dict[KeyUsage, bytes],
                     check_values: dict[KeyUsage, bytes]) -> Message:
    """The host's sign-on answer with the working keys set in their field (a copy)."""
    layout = signon_key_layout(profile, signon_network_code(profile, response))
    out = bytearray()
    for slot in layout.slots:
        key, check = encrypted.get(slot.usage), check_values.get(slot.usage)
        if key is None or check is None or len(key) != slot.size or len(check) < slot.check:
            raise ProtocolError(f"no {slot.size}-byte {slot.usage.value} key with its check value to send",
                                code="host.signon_keys")
        out += key + bytes(slot.wire - slot.size) + check[: slot.check]
    fields = dict(response.fields)
    fields[layout.field] = out.hex().upper()
    return response.copy(fields=dict(sorted(fields.items())))


def with_reason(message: Message, reason: str | ReversalReason) -> Message:
    """A copy with field 39 set to ``reason`` (the MAC is dropped: ``encode`` sets it again)."""
    code = getattr(reason, "value", reason)
    if not isinstance(code, str) or not re.fullmatch(r"[0-9A-Z]{2}", code):
        raise ProtocolError("a reason is a 2-character response code", code="host.bad_reason")
    fields = {n: v for n, v in message.fields.items() if n != 64}
    fields[39] = code
    return message.copy(fields=dict(sorted(fields.items())), mac_ok=None)


def as_repeat(profile: Profile, message: Message) -> Message:
    """A copy with the repeat MTI: reversals and advices only."""
    m = profile.mtis
    if message.mti in (m.reversal, m.reversal_repeat):
        mti = m.reversal_repeat
    elif message.mti in (m.advice, m.advice_repeat):
        mti = m.advice_repeat
    else:
        raise ProtocolError(f"an {message.mti} is not repeated; only reversals and advices are",
                            code="host.not_repeatable")
    fields = {n: v for n, v in message.fields.items() if n != 64}
    return message.copy(mti=mti, fields=fields, mac_ok=None)


# -- reading -----------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """What the core may know of a host answer: nothing that identifies the card."""

    mti: str
    stan: int | None
    terminal_id: str | None
    merchant_id: str | None
    amount: int | None
    response_code: str | None
    rrn: str | None
    auth_code: str | None
    settle_date: str | None
    host_date: str | None  # MMDD
    host_time: str | None  # hhmmss
    batch: int | None
    mac_ok: bool | None
    approved: bool
    settle_result: str | None = None  # a 0510's result digit: 1 balanced, 2 unbalanced, 3 error
    balance: Balance | None = field(default=None, repr=False)  # a balance inquiry's answer (field 54): display only


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def parse_reply(profile: Profile, message: Message) -> Reply:
    """The non-sensitive facts of ``message``; missing fields are ``None``."""
    f = message.fields
    batch = None
    f60 = profile.fields.get(60)
    if f60 is not None and f60.kind is FieldKind.N and len(f.get(60, "")) >= 8:
        batch = int(f[60][2:8])
    code = f.get(39)
    settle_result = None
    if message.mti == "0510":
        from firmware.host.settlement import read_result

        settle_result = read_result(profile, message)
    balance = None
    if 54 in f:  # additional amounts: a malformed field is as if it were absent (the answer still counts)
        try:
            balance = pick_balance(parse_balances(f[54]))
        except ProtocolError:
            balance = None
    return Reply(
        mti=message.mti, stan=_int(f.get(11)), terminal_id=f.get(41), merchant_id=f.get(42),
        amount=_int(f.get(4)), response_code=code, rrn=f.get(37), auth_code=f.get(38),
        settle_date=f.get(15), host_date=f.get(13), host_time=f.get(12), batch=batch,
        mac_ok=message.mac_ok, approved=code in profile.approved_codes, settle_result=settle_result,
        balance=balance,
    )


@dataclass(frozen=True)
class Expectation:
    """What the answer to a request must carry (``None``: nothing to compare)."""

    mti: str
    stan: int | None
    terminal_id: str | None
    amount: int | None


def expectation_for(request: Message) -> Expectation:
    f = request.fields
    return Expectation(Mtis.response(request.mti), _int(f.get(11)), f.get(41), _int(f.get(4)))


def mismatch(expect: Expectation, reply: Reply) -> str | None:
    """``None`` when ``reply`` answers the request, else a short reason naming what differs."""
    checks = (
        ("MTI", reply.mti, expect.mti, str),
        ("STAN", reply.stan, expect.stan, lambda v: f"{v:06d}"),
        ("terminal", reply.terminal_id, expect.terminal_id, str),
        ("amount", reply.amount, expect.amount, str),
    )
    for label, got, want, fmt in checks:
        if want is None:
            continue
        if got is None:
            return f"no {label}, expected {fmt(want)}"
        if got != want:
            return f"{label} {fmt(got)}, expected {fmt(want)}"
    return None


def response_text(profile: Profile, code: str | None) -> str:
    """Short operator text for a response code."""
    if not code:
        return "No response code"
    text = profile.response_texts.get(code)
    if text:
        return text
    return "Approved" if code in profile.approved_codes else f"Declined (code {code})"


def kind_of(profile: Profile, message: Message) -> TxnKind | None:
    """Which transaction a request (or the original of a reversal) is, from the profile's table."""
    f, m = message.fields, profile.mtis
    if message.mti == m.network:
        return TxnKind.SIGN_ON
    if message.mti in (m.reversal, m.reversal_repeat):
        f60 = profile.fields.get(60)
        if f60 is not None and f60.kind is FieldKind.N and len(f.get(60, "")) >= 2:
            return profile.kind_of_type_code(f[60][:2])
        for kind, spec in profile.transactions.items():
            if spec.reversible and (spec.processing_code, spec.condition_code) == (f.get(3), f.get(25)):
                return kind
        return None
    mti = m.advice if message.mti == m.advice_repeat else message.mti
    return profile.kind_of(mti, f.get(3), f.get(25))


# -- host side ---------------------------------------------------------------
_ECHO = (2, 3, 4, 7, 11, 25, 41, 42, 49, 60)
_ECHO_NETWORK = (7, 11, 41, 42, 60)


def build_response(profile: Profile, request: Message, *, response_code: str, rrn: str | None = None,
                   auth_code: str | None = None, when: datetime) -> Message:
    """The host's answer: echoes what UnionPay echoes, host date/time, TPDU swapped."""
    network = request.mti in (profile.mtis.network, SIGN_OFF_MTI)
    fields = {n: request.fields[n] for n in (_ECHO_NETWORK if network else _ECHO)
              if n in request.fields and n in profile.fields}
    if 12 in profile.fields:
        fields[12] = when.strftime("%H%M%S")
    if 13 in profile.fields:
        fields[13] = when.strftime("%m%d")
    if not network and 15 in profile.fields:
        fields[15] = when.strftime("%m%d")
    if rrn is not None:
        fields[37] = rrn
    if auth_code is not None:
        fields[38] = auth_code
    fields[39] = response_code
    return Message(mti=Mtis.response(request.mti), fields=dict(sorted(fields.items())),
                   tpdu=request.tpdu.swapped() if request.tpdu else None, header=request.header,
                   sensitive=profile.sensitive_fields)
