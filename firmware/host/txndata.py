"""What a host message is built from: ``TxnData`` (safe to log) and ``CardData`` (secret types only).

The two are kept apart so that everything about a transaction but the card can
be logged, journalled and compared, while the card's PAN, tracks and PIN block
stay in ``crypto.secrets`` types until the message is encoded (then
``wipe()``). ``Original`` is the earlier transaction a void, refund or
completion names. Checked when made, so a builder can trust its inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from crypto.secrets import Pan, PinBlock, TrackData
from firmware.errors import ProtocolError
from firmware.host.spec import EntryMode, TxnKind

__all__ = ["Original", "TxnData", "CardData"]


_CURRENCY = re.compile(r"\d{3}")
_TERMINAL_ID = re.compile(r"[\x20-\x7e]{8}")
_MERCHANT_ID = re.compile(r"[\x20-\x7e]{15}")
_ACQUIRER_ID = re.compile(r"\d{0,11}")


def _bad_txn(text: str) -> ProtocolError:
    return ProtocolError(text, code="host.bad_txn")


def institution_part(institution_id: str) -> str:
    """An institution's ID (fields 32, 33) as ISO 8583:1987 field 90 names it: 11 digits, right-aligned, zeros
    for none."""
    return institution_id.zfill(11)


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
    acquirer: str = "0" * 11  # its field 32 (``institution_part``): zeros when it had none
    forwarder: str = "0" * 11  # its field 33: posterm sends none


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
    acquirer_id: str = ""  # the acquiring institution's ID (field 32 where the profile sends it); "" none

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
        if not isinstance(self.acquirer_id, str) or not _ACQUIRER_ID.fullmatch(self.acquirer_id):
            raise _bad_txn("acquirer ID must be up to 11 digits")
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
