"""Building the terminal's online requests, field by field from the profile's tables.

The helpers here (the fields every financial message shares, the local time,
the original's fields) are the one place those fields are made: the reversal,
resend and advice builders (``stored``) and the sign-on (``signon``) use them
too, so every message of a transaction carries them alike.
"""

from __future__ import annotations

from datetime import datetime, timezone

from firmware.errors import ProtocolError
from firmware.host.codec import Message, Tpdu
from firmware.host.spec import EntryMode, FieldKind, OriginalField, Profile, TxnKind, TxnSpec
from firmware.host.txndata import CardData, Original, TxnData, _bad_txn

__all__ = ["read_field60", "REQUEST_KINDS", "build_request", "transmission_time"]


# -- building ----------------------------------------------------------------
def _txn_spec(profile: Profile, kind: TxnKind) -> TxnSpec:
    spec = profile.transactions.get(kind)
    if spec is None:
        raise ProtocolError(f"profile {profile.name} has no {kind.value} transaction", code="host.unsupported")
    return spec


def transmission_time(when: datetime) -> str:
    """Field 7, MMDDhhmmss: UTC when the time is aware, else as given."""
    stamp = when.astimezone(timezone.utc) if when.tzinfo else when
    # strftime("%m%d%H%M%S"), at a quarter of its cost (each message of a sale carries its times)
    return "%02d%02d%02d%02d%02d" % (stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)


def _local_time(profile: Profile, when: datetime, fields: frozenset[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    if 7 in fields:
        out[7] = transmission_time(when)
    if 12 in fields:
        out[12] = "%02d%02d%02d" % (when.hour, when.minute, when.second)  # strftime("%H%M%S")
    if 13 in fields:
        out[13] = "%02d%02d" % (when.month, when.day)  # strftime("%m%d")
    return {n: v for n, v in out.items() if n in profile.fields}


def _field22(profile: Profile, txn: TxnData) -> str:
    mode = profile.entry_modes.get(txn.entry_mode)
    if mode is None:
        raise ProtocolError(f"profile {profile.name} has no code for entry mode {txn.entry_mode.value}",
                            code="host.unsupported")
    return mode + profile.pin_capability[0 if txn.pin_entered else 1]


def _field60(profile: Profile, spec: TxnSpec, batch: int, entry: EntryMode | None = None) -> dict[int, str]:
    """cup 60: 60.1 type, 60.2 batch, 60.3 network code; a financial message (``entry``, how its card was
    read) adds 60.4 and 60.5 where the profile has them (``Profile.read_capability``)."""
    f60 = profile.fields.get(60)
    if spec.type_code is None or f60 is None or f60.kind is not FieldKind.N:
        return {}
    tail = profile.read_capability.digits(entry) if entry is not None and profile.read_capability else ""
    return {60: f"{spec.type_code}{batch:06d}{spec.network_code}{tail}"}


def read_field60(profile: Profile, value: str | None) -> tuple[str, ...] | None:
    """cup 60 back in its parts: 60.1 type, 60.2 batch, 60.3 network code, then 60.4 and 60.5 when present.

    Either form is read: 11 digits (management messages, and financial ones sealed before 60.4 and 60.5 were
    sent, which are replayed as they were sealed) or 13. None for a message without 60 or a profile whose 60
    is not this layout; any other length is ``ProtocolError`` ``host.bad_field``."""
    f60 = profile.fields.get(60)
    if value is None or f60 is None or f60.kind is not FieldKind.N:
        return None
    if len(value) not in (11, 13) or not value.isdigit():
        raise ProtocolError(f"field 60 is {len(value)} characters, expected 11 (60.1-60.3) or 13 (to 60.5)",
                            code="host.bad_field")
    return (value[:2], value[2:8], value[8:11], *value[11:13])


def acquirer_fields(profile: Profile, acquirer_id: str) -> dict[int, str]:
    """The acquiring institution's ID (``host.acquirer_id``) where the profile carries it (iso87's 32), in
    every message the terminal originates: financial ones, reversals, advices, sign-on and settlement."""
    if acquirer_id and profile.acquirer_field is not None:
        return {profile.acquirer_field: acquirer_id}
    return {}


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
    fields.update(acquirer_fields(profile, txn.acquirer_id))
    fields.update(_field60(profile, spec, txn.batch, txn.entry_mode))
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
        if card.pin_block.ksn is not None:  # a DUKPT block: the host derives its key from the KSN
            if profile.ksn_field is None:
                raise ProtocolError(f"profile {profile.name} has no field for a DUKPT KSN", code="host.no_ksn_field")
            fields[profile.ksn_field] = card.pin_block.ksn.hex().upper()
        if profile.pin_security_info:
            fields[53] = profile.pin_security_info
    return _message(profile, spec.mti, fields, tpdu, header)
