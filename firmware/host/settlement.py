"""The settlement message (0500/0510): the batch totals in the profile's layout.

UnionPay (cup) carries the totals in field 48 as two blocks, domestic cards then
foreign cards, each: debit amount n12, debit count n3, credit amount n12,
credit count n3, a result digit (0 in the request; in the 0510: 1 balanced,
2 unbalanced, 3 error). Field 60 is 60.1 type code 00, 60.2 the batch, 60.3
network management code 201; field 63 the operator. This layout, as public
UnionPay POS code packs and reads it, is data in ``profiles/cup.py``.

A profile without a layout (iso87: ISO 8583:1987 would need fields 74-89,
beyond the primary bitmap it has) refuses settlement with ``host.unsupported``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from firmware.errors import ProtocolError
from firmware.host.codec import Message, Tpdu
from firmware.host.spec import FieldKind, Profile

__all__ = ["SettlementLayout", "TotalsBlock", "settlement_layout", "build_settlement", "read_totals",
           "with_result", "SETTLE_MTI"]

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
