"""Settlement (0500/0510) and batch upload (0320/0330): the batch totals and transactions in the profile's layout.

The totals travel as each profile's layout says (``firmware.host.totals``:
UnionPay's field 48 blocks, ISO 8583:1987's reconciliation fields);
``build_settlement``, ``read_totals``, ``read_result`` and ``with_result`` work
for both. 1987 has no batch upload (the 0320 upload is UnionPay's): an iso87
batch the host finds out of balance is recorded as such and reconciled by hand
(``posterm report --batch N``); ``has_upload`` tells which profiles upload.

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

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from crypto.secrets import Pan, mask_pan
from firmware.core.batch import UploadEntry, UploadPlan
from firmware.errors import ProtocolError
from firmware.host.codec import Message, Tpdu
from firmware.host.requests import acquirer_fields
from firmware.host.spec import FieldKind, Profile
from firmware.host.totals import ReconciliationLayout, SettlementLayout, TotalsBlock, TotalsLayout, cup_field60

__all__ = ["TotalsLayout", "SettlementLayout", "ReconciliationLayout", "TotalsBlock", "settlement_layout",
           "build_settlement", "read_totals", "read_result", "with_result", "SETTLE_MTI", "UploadLayout",
           "has_upload", "upload_layout", "upload_parts", "plan_upload", "build_upload", "build_upload_end",
           "UploadKind", "UploadLine", "UploadRead", "read_upload"]

SETTLE_MTI = "0500"


def settlement_layout(profile: Profile) -> TotalsLayout:
    from firmware.host.profiles import cup, iso87

    layout = {"cup": cup.SETTLEMENT, "iso87": iso87.SETTLEMENT}.get(profile.family)
    if layout is None:
        raise ProtocolError(f"profile {profile.name} has no settlement message; settle with the acquirer by hand",
                            code="host.unsupported")
    layout.check(profile)
    return layout


def build_settlement(profile: Profile, *, stan: int, batch: int, terminal_id: str, merchant_id: str,
                     currency: str, domestic: TotalsBlock, operator: str = "01", when: datetime,
                     tpdu: Tpdu | None, header: str | None = None, acquirer_id: str = "") -> Message:
    """The 0500 with the terminal's totals (cup: result digits 0)."""
    layout = settlement_layout(profile)
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id, **acquirer_fields(profile, acquirer_id)}
    fields.update(layout.request_fields(profile, batch=batch, totals=domestic, currency=currency, operator=operator,
                                        when=when))
    return Message(mti=SETTLE_MTI, fields=dict(sorted(fields.items())), tpdu=tpdu if profile.tpdu else None,
                   header=(header or profile.default_header) if profile.header_length else None,
                   sensitive=profile.sensitive_fields)


def read_totals(profile: Profile, message: Message) -> tuple[TotalsBlock, TotalsBlock | None]:
    """The (domestic, foreign) totals of a 0500 or 0510 (iso87: no foreign block)."""
    return settlement_layout(profile).read(message)


def read_result(profile: Profile, message: Message) -> str | None:
    """The host's verdict in a 0510 ("1" balanced, "2" not, "3" error); None when it cannot be read."""
    try:
        layout = settlement_layout(profile)
    except ProtocolError:
        return None
    return layout.result(message)


def with_result(profile: Profile, response: Message, request: Message, result: str) -> Message:
    """The host's 0510: the request's totals echoed, with its verdict (``result``)."""
    fields = dict(response.fields)
    fields.update(settlement_layout(profile).answer_fields(request, result))
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


def _upload_layouts() -> dict[str, UploadLayout]:
    from firmware.host.profiles import cup

    return {"cup": cup.BATCH_UPLOAD}  # 1987 has no batch upload: iso87 has none


def has_upload(profile: Profile) -> bool:
    """Whether the profile uploads a batch its host finds out of balance (cup does; iso87 has no such message)."""
    return profile.family in _upload_layouts()


def upload_layout(profile: Profile) -> UploadLayout:
    layout = _upload_layouts().get(profile.family)
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
    import hashlib

    parts = upload_parts(upload_layout(profile), entries)
    stans = tuple(part[0].stan if part[0].offline else None for part in parts)
    layout = "|".join(",".join(str(e.stan) for e in part) for part in parts)
    return UploadPlan(stans, len(entries), hashlib.sha256(layout.encode()).hexdigest()[:16])


def _upload_message(profile: Profile, layout: UploadLayout, fields: dict[int, str], tpdu: Tpdu | None,
                    header: str | None) -> Message:
    return Message(mti=layout.mti, fields=dict(sorted(fields.items())), tpdu=tpdu if profile.tpdu else None,
                   header=(header or profile.default_header) if profile.header_length else None,
                   sensitive=profile.sensitive_fields | {layout.entries_field})


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
    fields.update(cup_field60(profile, layout.type_code, batch, layout.network_code))
    return _upload_message(profile, layout, fields, tpdu, header)


def build_upload_end(profile: Profile, *, count: int, stan: int, batch: int, terminal_id: str, merchant_id: str,
                     tpdu: Tpdu | None, header: str | None = None) -> Message:
    """The "batch upload end" 0320: the number of transactions uploaded."""
    layout = upload_layout(profile)
    if not 0 <= count < 10**layout.count_width:
        raise ProtocolError(f"a batch upload counts at most {10**layout.count_width - 1} transactions",
                            code="host.bad_txn")
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id, layout.entries_field: f"{count:0{layout.count_width}d}"}
    fields.update(cup_field60(profile, layout.type_code, batch, layout.end_code))
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
