"""The messages the terminal keeps and sends later or again: reversals, resends, advices, repeats.

Each is built once, when its transaction is journalled, and stored sealed
until store-and-forward sends it (``as_repeat`` turns a stored one into its
repeat MTI, ``with_reason`` sets a reversal's reason). None carries track data
or a PIN block: none may be kept once the host has answered.
"""

from __future__ import annotations

import re

from firmware.errors import ProtocolError
from firmware.host.codec import Message, Tpdu
from firmware.host.requests import (
    _account_fields,
    _base,
    _local_fields,
    _message,
    _original_fields,
    _original_text,
    _txn_spec,
    transmission_time,
)
from firmware.host.spec import Profile, ReversalReason, TxnKind
from firmware.host.txndata import CardData, Original, TxnData, _bad_txn, institution_part

__all__ = ["ADVICE_OF", "as_repeat", "build_advice", "build_resend", "build_reversal", "with_reason"]


def build_reversal(profile: Profile, txn: TxnData, card: CardData, *, tpdu: Tpdu | None,
                   reason: str | ReversalReason = "98", header: str | None = None) -> Message:
    """The reversal of ``txn``: its STAN and amount, the PAN, no track and no PIN block."""
    spec = _txn_spec(profile, txn.kind)
    if not spec.reversible:
        raise ProtocolError(f"a {txn.kind.value} is not reversed", code="host.not_reversible")
    code = profile.reversal_code(reason)
    if code not in profile.reversal_reasons:
        raise ProtocolError(f"reversal reason must be one of {', '.join(profile.reversal_reasons)}",
                            code="host.bad_reason")
    fields = _base(profile, txn, card, spec, local=profile.local_time_fields)
    fields.update(_original_fields(spec, txn, reversal=True))
    fields.update(_account_fields(profile, spec, card))  # a transfer's reversal names both accounts
    if profile.reversal_original is not None:  # ISO 8583:1987 field 90: the request reversed
        reversed_ = Original(stan=txn.stan, batch=txn.batch, date=txn.when.strftime("%m%d"), mti=spec.mti,
                             transmitted=transmission_time(txn.when), acquirer=institution_part(txn.acquirer_id))
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
