"""Settlement (0500/0510) and batch upload (0320/0330): the batch totals and transactions in the profile's layout.

UnionPay (cup) carries the totals in field 48 as two blocks, domestic cards then
foreign cards, each: debit amount n12, debit count n3, credit amount n12,
credit count n3, a result digit (0 in the request; in the 0510: 1 balanced,
2 unbalanced, 3 error). Field 60 is 60.1 type code 00, 60.2 the batch, 60.3
network management code 201; field 63 the operator. This layout, as public
UnionPay POS code packs and reads it, is data in ``profiles/cup.py``.

A profile without a layout (iso87: ISO 8583:1987 would need fields 74-89,
beyond the primary bitmap it has) refuses settlement with ``host.unsupported``.

Batch upload (批上送), after a 0510 that did not say "balanced", as the public
UnionPay POS code sends it (e.g. CaoEnXin/LiaoYang_POS ``Src/tranproc.c``
``PosBatchUp``, ``BatchMagOnLineTrans``, ``BatchSendOffTrans1``, and its
transaction table in ``Src/globalvar.c``):

* online magstripe sales and voids, up to 8 per 0320: field 48 is a 2-digit
  count, then per transaction 40 digits: card organisation n2 (00 domestic,
  01 foreign), its trace n6, its card number n20 (right-aligned, zero-filled),
  its amount n12; field 60 = 60.1 00, 60.2 the batch, 60.3 201; its own STAN;
* each offline sale in a 0320 of its own, with the fields of its advice
  (card number, amount, its own trace in 11, 60.1 30 ... 60.3 000);
* then the "batch upload end" 0320: field 48 the number of transactions
  uploaded (n4), 60.3 202 (207 is the end after a balanced settlement, which
  posterm does not send: it uploads only when the host asks by "not balanced").

Field 48 of an upload carries card numbers: its messages mark it sensitive,
so it is masked in every ``repr`` (the profile's 48 is not, since in the 0500
it carries totals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import enum
from collections.abc import Sequence

from crypto.secrets import Pan, mask_pan
from firmware.core.model import UploadEntry, UploadPlan
from firmware.errors import ProtocolError
from firmware.host.codec import Message, Tpdu
from firmware.host.spec import FieldKind, Profile

__all__ = ["SettlementLayout", "TotalsBlock", "settlement_layout", "build_settlement", "read_totals",
           "with_result", "SETTLE_MTI", "UploadLayout", "upload_layout", "upload_parts", "plan_upload",
           "build_upload", "build_upload_end", "UploadKind", "UploadLine", "UploadRead", "read_upload"]

SETTLE_MTI = "0500"


@dataclass(frozen=True)
class TotalsBlock:
    """One block of the totals field (domestic or foreign cards)."""

    debit_amount: int = 0
    debit_count: int = 0
    credit_amount: int = 0
    credit_count: int = 0
    result: str = "0"

    def text(self) -> str:
        for count in (self.debit_count, self.credit_count):
            if not 0 <= count <= 999:
                raise ProtocolError("a settlement count must be 0 to 999 (n3)", code="host.bad_txn")
        for amount in (self.debit_amount, self.credit_amount):
            if not 0 <= amount < 10**12:
                raise ProtocolError("a settlement amount must fit 12 digits", code="host.bad_txn")
        return (f"{self.debit_amount:012d}{self.debit_count:03d}{self.credit_amount:012d}"
                f"{self.credit_count:03d}{self.result}")

    @classmethod
    def parse(cls, text: str) -> TotalsBlock:
        if len(text) != 31 or not text.isdigit():
            raise ProtocolError("a settlement totals block is not 31 digits", code="host.bad_field")
        return cls(int(text[0:12]), int(text[12:15]), int(text[15:27]), int(text[27:30]), text[30])


@dataclass(frozen=True)
class SettlementLayout:
    """Where a profile's 0500 carries what (validated against the profile when used)."""

    totals_field: int  # 48
    type_code: str  # 60.1
    network_code: str  # 60.3
    operator_field: int | None = 63
    foreign_block: bool = True  # a second (foreign cards) block follows the domestic one


def settlement_layout(profile: Profile) -> SettlementLayout:
    from firmware.host.profiles import cup

    layout = {"cup": cup.SETTLEMENT}.get(profile.name)
    if layout is None:
        raise ProtocolError(f"profile {profile.name} has no settlement message; settle with the acquirer by hand",
                            code="host.unsupported")
    spec = profile.fields.get(layout.totals_field)
    if spec is None or spec.max_len < 31 * (2 if layout.foreign_block else 1):
        raise ProtocolError(f"profile {profile.name} field {layout.totals_field} cannot hold the totals",
                            code="config.bad_txn")
    return layout


def build_settlement(profile: Profile, *, stan: int, batch: int, terminal_id: str, merchant_id: str,
                     currency: str, domestic: TotalsBlock, operator: str = "01", when: datetime,
                     tpdu: Tpdu | None, header: str | None = None) -> Message:
    """The 0500 with the terminal's totals (result digits 0)."""
    layout = settlement_layout(profile)
    totals = domestic.text() + (TotalsBlock().text() if layout.foreign_block else "")
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id, layout.totals_field: totals}
    if 49 in profile.fields:
        fields[49] = currency
    f60 = profile.fields.get(60)
    if f60 is not None and f60.kind is FieldKind.N:
        fields[60] = f"{layout.type_code}{batch:06d}{layout.network_code}"
    if layout.operator_field is not None and layout.operator_field in profile.fields:
        fields[layout.operator_field] = operator.ljust(3)
    return Message(mti=SETTLE_MTI, fields=dict(sorted(fields.items())), tpdu=tpdu if profile.tpdu else None,
                   header=(header or profile.default_header) if profile.header_length else None,
                   sensitive=profile.sensitive_fields)


def read_totals(profile: Profile, message: Message) -> tuple[TotalsBlock, TotalsBlock | None]:
    """The (domestic, foreign) blocks of a 0500 or 0510."""
    layout = settlement_layout(profile)
    text = message.fields.get(layout.totals_field, "")
    domestic = TotalsBlock.parse(text[:31])
    foreign = TotalsBlock.parse(text[31:62]) if layout.foreign_block and len(text) >= 62 else None
    return domestic, foreign


def with_result(profile: Profile, response: Message, request: Message, result: str) -> Message:
    """The host's 0510: the request's totals echoed with the result digit set in each block."""
    layout = settlement_layout(profile)
    domestic, foreign = read_totals(profile, request)
    text = TotalsBlock(**{**domestic.__dict__, "result": result}).text()
    if foreign is not None:
        text += TotalsBlock(**{**foreign.__dict__, "result": result}).text()
    fields = dict(response.fields)
    fields[layout.totals_field] = text
    if layout.operator_field is not None and layout.operator_field in request.fields:
        fields[layout.operator_field] = request.fields[layout.operator_field]
    return response.copy(fields=dict(sorted(fields.items())))


# -- batch upload ----------------------------------------------------------------------
@dataclass(frozen=True)
class UploadLayout:
    """How a profile's batch upload (0320) carries a closed batch (validated against the profile when used)."""

    mti: str  # 0320
    entries_field: int  # 48: count n2, then the packed transactions
    per_message: int  # transactions packed in one message (8)
    type_code: str  # 60.1 of a packed message and of the end
    network_code: str  # 60.3 of a packed message (201)
    end_code: str  # 60.3 of the end message after an unbalanced settlement (202)
    count_width: int = 4  # digits of the total in the end message's 48
    domestic: str = "00"  # card organisation of a domestic card (01 foreign)
    pan_width: int = 20

    @property
    def entry_width(self) -> int:
        return len(self.domestic) + 6 + self.pan_width + 12


def upload_layout(profile: Profile) -> UploadLayout:
    from firmware.host.profiles import cup

    layout = {"cup": cup.BATCH_UPLOAD}.get(profile.name)
    if layout is None:
        raise ProtocolError(f"profile {profile.name} has no batch upload", code="host.unsupported")
    spec = profile.fields.get(layout.entries_field)
    if spec is None or spec.kind is not FieldKind.N or spec.max_len < 2 + layout.per_message * layout.entry_width:
        raise ProtocolError(f"profile {profile.name} field {layout.entries_field} cannot hold "
                            f"{layout.per_message} uploaded transactions", code="config.bad_txn")
    return layout


def upload_parts(layout: UploadLayout, entries: Sequence[UploadEntry]) -> list[tuple[UploadEntry, ...]]:
    """The transactions of each 0320 in the order they go: offline sales one to a message first
    (as the reference terminals send their notifications first), then the rest packed."""
    offline = [(e,) for e in entries if e.offline]
    packed = [e for e in entries if not e.offline]
    n = layout.per_message
    return offline + [tuple(packed[i : i + n]) for i in range(0, len(packed), n)]


def plan_upload(profile: Profile, entries: Sequence[UploadEntry]) -> UploadPlan:
    """The STAN each data message must carry (an offline sale's own, else None: the next one) and the count."""
    parts = upload_parts(upload_layout(profile), entries)
    stans = tuple(part[0].stan if part[0].offline else None for part in parts)
    return UploadPlan(stans, len(entries))


def _upload_message(profile: Profile, layout: UploadLayout, fields: dict[int, str], tpdu: Tpdu | None,
                    header: str | None) -> Message:
    return Message(mti=layout.mti, fields=dict(sorted(fields.items())), tpdu=tpdu if profile.tpdu else None,
                   header=(header or profile.default_header) if profile.header_length else None,
                   sensitive=profile.sensitive_fields | {layout.entries_field})


def _field60(profile: Profile, type_code: str, batch: int, network_code: str) -> dict[int, str]:
    f60 = profile.fields.get(60)
    return {60: f"{type_code}{batch:06d}{network_code}"} if f60 is not None and f60.kind is FieldKind.N else {}


def build_upload(profile: Profile, entries: Sequence[tuple[UploadEntry, Pan]], *, stan: int, batch: int,
                 terminal_id: str, merchant_id: str, tpdu: Tpdu | None, header: str | None = None) -> Message:
    """A 0320 packing ``entries`` (each with its card number, borrowed: the caller wipes it) in field 48."""
    layout = upload_layout(profile)
    if not 1 <= len(entries) <= layout.per_message:
        raise ProtocolError(f"a batch upload message packs 1 to {layout.per_message} transactions",
                            code="host.bad_txn")
    text = [f"{len(entries):02d}"]
    for entry, pan in entries:
        digits = pan.reveal_str()
        if not digits.isdigit() or len(digits) > layout.pan_width:
            raise ProtocolError("an uploaded card number is not digits that fit its field", code="host.bad_txn")
        if not 0 < entry.amount < 10**12 or not 1 <= entry.stan <= 999999:
            raise ProtocolError("an uploaded transaction's trace or amount does not fit its field", code="host.bad_txn")
        text.append(f"{layout.domestic}{entry.stan:06d}{digits.rjust(layout.pan_width, '0')}{entry.amount:012d}")
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id, layout.entries_field: "".join(text)}
    fields.update(_field60(profile, layout.type_code, batch, layout.network_code))
    return _upload_message(profile, layout, fields, tpdu, header)


def build_upload_end(profile: Profile, *, count: int, stan: int, batch: int, terminal_id: str, merchant_id: str,
                     tpdu: Tpdu | None, header: str | None = None) -> Message:
    """The "batch upload end" 0320: the number of transactions uploaded."""
    layout = upload_layout(profile)
    if not 0 <= count < 10**layout.count_width:
        raise ProtocolError(f"a batch upload counts at most {10**layout.count_width - 1} transactions",
                            code="host.bad_txn")
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id, layout.entries_field: f"{count:0{layout.count_width}d}"}
    fields.update(_field60(profile, layout.type_code, batch, layout.end_code))
    return _upload_message(profile, layout, fields, tpdu, header)


# -- the host's side ---------------------------------------------------------------------
class UploadKind(enum.Enum):
    PACKED = "packed"  # transactions in field 48
    SINGLE = "single"  # one transaction with its own fields (an offline sale)
    END = "end"


@dataclass(frozen=True)
class UploadLine:
    """One uploaded transaction as the host reads it: the card number masked here, never kept clear."""

    stan: int
    masked_pan: str
    amount: int


@dataclass(frozen=True)
class UploadRead:
    kind: UploadKind
    batch: int | None
    lines: tuple[UploadLine, ...] = ()
    count: int | None = None  # the end message's total


def _digits(text: str, at: int, width: int) -> int:
    return int(text[at : at + width])


def read_upload(profile: Profile, message: Message) -> UploadRead:
    """What a 0320 says, card numbers masked (``host.bad_field`` when it cannot be read)."""
    layout = upload_layout(profile)
    f = message.fields
    value60 = f.get(60, "")
    batch = int(value60[2:8]) if len(value60) >= 8 and value60[2:8].isdigit() else None
    code = value60[8:11] if len(value60) >= 11 else ""
    text = f.get(layout.entries_field, "")
    if code == layout.end_code:
        if len(text) != layout.count_width or not text.isdigit():
            raise ProtocolError("the upload end's count is not readable", code="host.bad_field")
        return UploadRead(UploadKind.END, batch, count=int(text))
    if 2 in f:
        if not f.get(11, "").isdigit() or not f.get(4, "").isdigit():
            raise ProtocolError("an uploaded transaction has no trace or amount", code="host.bad_field")
        return UploadRead(UploadKind.SINGLE, batch, (UploadLine(int(f[11]), mask_pan(f[2]), int(f[4])),))
    width = layout.entry_width
    if len(text) < 2 or not text.isdigit() or len(text) != 2 + int(text[:2]) * width or int(text[:2]) == 0:
        raise ProtocolError(f"field {layout.entries_field} of an upload is not a count and its transactions",
                            code="host.bad_field")
    lines = []
    for i in range(int(text[:2])):
        at = 2 + i * width + len(layout.domestic)
        pan = text[at + 6 : at + 6 + layout.pan_width].lstrip("0")
        lines.append(UploadLine(_digits(text, at, 6), mask_pan(pan), _digits(text, at + 6 + layout.pan_width, 12)))
    return UploadRead(UploadKind.PACKED, batch, tuple(lines))
