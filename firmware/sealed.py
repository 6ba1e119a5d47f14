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
from collections.abc import Iterator
from dataclasses import dataclass

from crypto.atrest import Sealer
from crypto.secrets import Pan, PinBlock, TrackData

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

    def wipe(self) -> None:
        for secret in (self.pan, self.track2, self.track3):
            if secret is not None:
                secret.wipe()


def pack_card(card: ClearCard, *, tracks: bool = True) -> bytearray:
    doc = {"pan": card.pan.reveal_str(), "expiry": card.expiry, "seq": card.sequence}
    if tracks:
        doc["t2"] = card.track2.reveal_str() if card.track2 else None
        doc["t3"] = card.track3.reveal_str() if card.track3 else None
    return bytearray(json.dumps(doc, separators=(",", ":")).encode())


def unpack_card(raw: bytearray) -> ClearCard:
    try:
        doc = json.loads(raw)
    finally:
        raw[:] = bytes(len(raw))
    t2, t3 = doc.get("t2"), doc.get("t3")
    return ClearCard(
        Pan(doc["pan"]),
        doc.get("expiry"),
        TrackData(t2, track=2) if t2 else None,
        TrackData(t3, track=3) if t3 else None,
        doc.get("seq"),
    )


class CardSession:
    """The sealed card of the sale in progress, and its PIN block. Memory only."""

    __slots__ = ("txn_no", "_sealer", "_blob", "pin_block")

    def __init__(self, txn_no: int, sealer: Sealer, card: ClearCard) -> None:
        self.txn_no = txn_no
        self._sealer = sealer
        packed = pack_card(card)
        try:
            self._blob: bytes | None = sealer.seal(packed, card_aad(txn_no))
        finally:
            packed[:] = bytes(len(packed))
            card.wipe()
        self.pin_block: PinBlock | None = None

    @contextlib.contextmanager
    def card(self) -> Iterator[ClearCard]:
        if self._blob is None:
            from firmware.errors import CryptoError

            raise CryptoError("the card data of this sale was already wiped", code="secret.wiped")
        clear = unpack_card(self._sealer.open(self._blob, card_aad(self.txn_no)))
        try:
            yield clear
        finally:
            clear.wipe()

    def sealed_for_journal(self, card: ClearCard) -> bytes:
        """PAN and expiry only (no tracks) of the opened ``card``, sealed for the journal row."""
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


def pack_message(mti: str, fields: dict[int, str], tpdu: tuple[str, str, str] | None, header: str | None) -> bytearray:
    doc = {"mti": mti, "fields": {str(k): v for k, v in fields.items()}, "tpdu": tpdu, "header": header}
    return bytearray(json.dumps(doc, separators=(",", ":")).encode())


def unpack_message(raw: bytearray) -> tuple[str, dict[int, str], tuple[str, str, str] | None, str | None]:
    try:
        doc = json.loads(raw)
    finally:
        raw[:] = bytes(len(raw))
    tpdu = tuple(doc["tpdu"]) if doc.get("tpdu") else None
    return doc["mti"], {int(k): v for k, v in doc["fields"].items()}, tpdu, doc.get("header")
