"""Card data between capture and the host's answer, always sealed.

A swipe is parsed and sealed the moment it leaves the reader: ``CardSession``
keeps only the AES-GCM blob (bound to the sale's journal number) and the PIN
pad's encrypted PIN block. Whoever needs the clear PAN or tracks (the message
builder, the PIN pad) opens the blob for the length of one call, through
``CardSession.card()``, and the clear copy is wiped when the ``with`` ends.
``wipe()`` destroys everything once the host has answered (PCI DSS 3.3.1).

The same module packs a ready-made host message (a reversal or an advice) into
bytes for sealing at rest, and back.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

from crypto.atrest import Sealer
from crypto.secrets import Pan, PinBlock, TrackData
from firmware.errors import CryptoError

__all__ = ["CardSession", "ClearCard", "card_aad", "pack_card", "unpack_card", "pack_message", "unpack_message"]


def card_aad(txn_no: int, where: str = "session") -> bytes:
    return f"{where}:{txn_no}:card".encode()


@dataclass
class ClearCard:
    """The clear card data, alive only inside ``CardSession.card()``."""

    pan: Pan
    expiry: str | None
    track2: TrackData | None
    track3: TrackData | None
    sequence: str | None = None
    account: Pan | None = None  # a transfer's destination account (keyed on the PIN pad)

    def wipe(self) -> None:
        for secret in (self.pan, self.track2, self.track3, self.account):
            if secret is not None:
                secret.wipe()


# -- the packed card ----------------------------------------------------------------
# A card is packed as a version byte, one length byte per item (0xFF for an item
# that is None), then the items' bytes, in this order. This replaced JSON, which
# cost about twice the CPU to pack and half again to unpack, and the card is
# opened three or four times a sale. Journal rows sealed before it are JSON and
# still open: a JSON object starts with "{", never with the version byte. Version 2 adds a
# sixth item, a transfer's destination account; a card without one is still packed as version 1.
_CARD_V1, _CARD_V2 = 1, 2
_CARD_ITEMS = ("pan", "expiry", "sequence", "track2", "track3")
_CARD_ITEMS_V2 = _CARD_ITEMS + ("account",)
_NONE = 0xFF


def pack_card(card: ClearCard, *, tracks: bool = True) -> bytearray:
    """The card packed for sealing: PAN, expiry, sequence number and (unless ``tracks=False``) tracks 2 and 3
    and a transfer's destination account: what must not outlive the host's answer goes or stays together."""
    items = (
        card.pan.reveal(),
        _ascii(card.expiry),
        _ascii(card.sequence),
        card.track2.reveal() if tracks and card.track2 else None,
        card.track3.reveal() if tracks and card.track3 else None,
    )
    account = card.account.reveal() if tracks and card.account is not None else None
    if account is not None:
        items += (account,)
    out = bytearray((_CARD_V1 if account is None else _CARD_V2,))
    for item in items:  # one length byte each
        if item is None:
            out.append(_NONE)
        elif len(item) >= _NONE:
            raise CryptoError("card data is too long to seal", code="sealed.format")
        else:
            out.append(len(item))
    for item in items:
        if item is not None:
            out += item
    return out


def unpack_card(raw: bytearray) -> ClearCard:
    """The card from ``pack_card``'s bytes (or from JSON, as sealed before them). Wipes ``raw``."""
    try:
        if raw[:1] not in (bytes((_CARD_V1,)), bytes((_CARD_V2,))):
            return _unpack_card_json(raw)
        items = _card_items(raw, len(_CARD_ITEMS_V2 if raw[0] == _CARD_V2 else _CARD_ITEMS))
        pan, expiry, seq, t2, t3 = items[:5]
        account = items[5] if len(items) > 5 else None
        if pan is None:
            raise CryptoError("sealed card data has no card number", code="sealed.format")
        return ClearCard(
            Pan(pan),
            None if expiry is None else str(expiry, "ascii"),
            TrackData(t2, track=2) if t2 else None,
            TrackData(t3, track=3) if t3 else None,
            None if seq is None else str(seq, "ascii"),
            Pan(account) if account else None,
        )
    finally:
        raw[:] = bytes(len(raw))  # the views into it read zeros from here on


def _card_items(raw: bytearray, count: int) -> list[memoryview | None]:
    """The items of a packed card, as views into ``raw`` (no copies to wipe)."""
    lengths = raw[1 : 1 + count]
    if len(lengths) != count or 1 + count + sum(lengths) - _NONE * lengths.count(_NONE) != len(raw):
        raise CryptoError("sealed card data is not in the expected form", code="sealed.format")
    view = memoryview(raw)
    items: list[memoryview | None] = []
    pos = 1 + count
    for n in lengths:
        if n == _NONE:
            items.append(None)
        else:
            items.append(view[pos : pos + n])
            pos += n
    return items


def _ascii(text: str | None) -> bytes | None:
    return None if text is None else text.encode("ascii")


def _unpack_card_json(raw: bytearray) -> ClearCard:
    doc = json.loads(raw)
    t2, t3 = doc.get("t2"), doc.get("t3")
    return ClearCard(
        Pan(doc["pan"]),
        doc.get("expiry"),
        TrackData(t2, track=2) if t2 else None,
        TrackData(t3, track=3) if t3 else None,
        doc.get("seq"),
    )


class _Opened:
    """``with CardSession.card() as card``: the card opened on entering, wiped on leaving (a generator-based
    context manager costs several times as much, and a sale opens its card three times)."""

    __slots__ = ("_session", "_clear")

    def __init__(self, session: CardSession) -> None:
        self._session = session
        self._clear: ClearCard | None = None

    def __enter__(self) -> ClearCard:
        self._clear = self._session._open()
        return self._clear

    def __exit__(self, *exc: object) -> None:
        clear, self._clear = self._clear, None
        if clear is not None:
            clear.wipe()


class CardSession:
    """The sealed card of the sale in progress, and its PIN block. Memory only."""

    __slots__ = ("txn_no", "_sealer", "_blob", "_aad", "pin_block")

    def __init__(self, txn_no: int, sealer: Sealer, card: ClearCard) -> None:
        self.txn_no = txn_no
        self._sealer = sealer
        self._aad = card_aad(txn_no)
        packed = pack_card(card)
        try:
            self._blob: bytes | None = sealer.seal(packed, self._aad)
        finally:
            packed[:] = bytes(len(packed))
            card.wipe()
        self.pin_block: PinBlock | None = None

    def card(self) -> contextlib.AbstractContextManager[ClearCard]:
        """The clear card for the length of a ``with`` (opened on entering, wiped on leaving)."""
        return _Opened(self)

    def _open(self) -> ClearCard:
        if self._blob is None:
            raise CryptoError("the card data of this sale was already wiped", code="secret.wiped")
        return unpack_card(self._sealer.open(self._blob, self._aad))

    def add_account(self, account: Pan) -> None:
        """Seal a transfer's destination account with the card (the blob is replaced; ``account`` is wiped)."""
        try:
            with self.card() as clear:
                clear.account = Pan(account.reveal())
                packed = pack_card(clear)
                try:
                    self._blob = self._sealer.seal(packed, self._aad)
                finally:
                    packed[:] = bytes(len(packed))
        finally:
            account.wipe()

    def sealed_for_journal(self, card: ClearCard) -> bytes:
        """PAN and expiry only (no tracks, no transfer's destination) of the opened ``card``, sealed for the
        journal row: the batch upload needs the PAN, and nothing needs the destination once the host answered."""
        packed = pack_card(card, tracks=False)
        try:
            return self._sealer.seal(packed, card_aad(self.txn_no, "journal"))
        finally:
            packed[:] = bytes(len(packed))

    def wipe(self) -> None:
        self._blob = None
        if self.pin_block is not None:
            self.pin_block.wipe()
            self.pin_block = None

    @property
    def wiped(self) -> bool:
        return self._blob is None

    def __repr__(self) -> str:
        return f"<CardSession txn {self.txn_no}{' wiped' if self.wiped else ''}>"


# json.dumps with any argument builds a new encoder at each call: this one is built once (the same text).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def pack_message(mti: str, fields: dict[int, str], tpdu: tuple[str, str, str] | None, header: str | None) -> bytearray:
    # JSON still: packed once a sale, opened only to send a reversal or an advice,
    # and a new format on disk would cost more in care than it saves in CPU.
    doc = {"mti": mti, "fields": {str(k): v for k, v in fields.items()}, "tpdu": tpdu, "header": header}
    return bytearray(_COMPACT.encode(doc).encode())


def unpack_message(raw: bytearray) -> tuple[str, dict[int, str], tuple[str, str, str] | None, str | None]:
    try:
        doc = json.loads(raw)
    finally:
        raw[:] = bytes(len(raw))
    tpdu = tuple(doc["tpdu"]) if doc.get("tpdu") else None
    return doc["mti"], {int(k): v for k, v in doc["fields"].items()}, tpdu, doc.get("header")
