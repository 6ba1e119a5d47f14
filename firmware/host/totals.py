"""The totals of a settlement (0500/0510), in each profile's layout.

Two layouts, one per profile, each a small frozen dataclass with the same
methods (``TotalsLayout``): whether the profile can carry it, the fields of
the 0500, the totals read back, the fields of the host's 0510 (its verdict),
and the batch a 0500 names. ``firmware.host.settlement`` builds and reads the
messages through them.

UnionPay (cup, ``SettlementLayout``) carries the totals in field 48 as two
blocks, domestic cards then foreign cards, each: debit amount n12, debit count
n3, credit amount n12, credit count n3, a result digit (0 in the request; in
the 0510: 1 balanced, 2 unbalanced, 3 error). Field 60 is 60.1 type code 00,
60.2 the batch, 60.3 network management code 201; field 63 the operator. This
layout, as public UnionPay POS code packs and reads it, is data in
``profiles/cup.py``.

ISO 8583:1987 (iso87, ``ReconciliationLayout``) has a field per figure, in the
secondary bitmap: 74 credits number, 75 credits reversal number, 76 debits
number, 77 debits reversal number (n10 each); 86 to 89 the same amounts (n16);
97 the net settlement amount, x+n16: ``C`` when it is zero or above, ``D`` below,
where net = (86 - 87) - (88 - 89), as acquirers' 1987 reconciliation specs
define it (e.g. Elavon's field 97). The answer's 66 is the settlement code: 1
in balance, 2 out of balance, 3 error. posterm's totals (the core's ``Totals``)
map onto it so: debits are the sales (online, and offline ones the host has
accepted), credits the approved voids (a void gives the money back to the
card). A reversed transaction is in neither, so the reversal figures (75, 77,
87, 89) are zero: the journal keeps no separate reversal totals; a 0500 that
has them is read net of them. The batch number goes in field 60 (private use:
1987 has none), the currency of the amounts in 50, the transmission time in 7.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar, Protocol

from firmware.errors import ProtocolError
from firmware.host.codec import Message
from firmware.host.messages import transmission_time
from firmware.host.spec import FieldKind, Profile

__all__ = ["TotalsBlock", "TotalsLayout", "SettlementLayout", "ReconciliationLayout", "cup_field60"]


@dataclass(frozen=True)
class TotalsBlock:
    """A batch's totals as a settlement carries them (cup: one block of field 48)."""

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


def cup_field60(profile: Profile, type_code: str, batch: int, network_code: str) -> dict[int, str]:
    """cup's field 60 (60.1 type, 60.2 batch, 60.3 network code), when the profile's 60 is numeric."""
    f60 = profile.fields.get(60)
    return {60: f"{type_code}{batch:06d}{network_code}"} if f60 is not None and f60.kind is FieldKind.N else {}


class TotalsLayout(Protocol):
    """Where a profile's 0500 and 0510 carry the totals (one implementation per layout)."""

    @property
    def totals_fields(self) -> tuple[int, ...]: ...

    def check(self, profile: Profile) -> None: ...

    def request_fields(self, profile: Profile, *, batch: int, totals: TotalsBlock, currency: str, operator: str,
                       when: datetime) -> dict[int, str]: ...

    def read(self, message: Message) -> tuple[TotalsBlock, TotalsBlock | None]: ...

    def answer_fields(self, request: Message, result: str) -> dict[int, str]: ...

    def result(self, answer: Message) -> str | None: ...

    def batch_of(self, message: Message) -> int | None: ...

    @property
    def max_count(self) -> int: ...

    @property
    def max_total(self) -> int: ...


@dataclass(frozen=True)
class SettlementLayout:
    """UnionPay's 0500: the totals in one field as digit blocks (validated against the profile when used)."""

    totals_field: int  # 48
    type_code: str  # 60.1
    network_code: str  # 60.3
    operator_field: int | None = 63
    foreign_block: bool = True  # a second (foreign cards) block follows the domestic one

    @property
    def max_count(self) -> int:
        """The most debits (or credits) a block can count: n3, so a batch must settle before its 1000th."""
        return 999

    @property
    def max_total(self) -> int:
        """The largest debit (or credit) total a block carries: n12, in minor units."""
        return 10**12 - 1

    @property
    def totals_fields(self) -> tuple[int, ...]:
        return (self.totals_field,)

    def check(self, profile: Profile) -> None:
        spec = profile.fields.get(self.totals_field)
        if spec is None or spec.max_len < 31 * (2 if self.foreign_block else 1):
            raise ProtocolError(f"profile {profile.name} field {self.totals_field} cannot hold the totals",
                                code="config.bad_txn")

    def request_fields(self, profile: Profile, *, batch: int, totals: TotalsBlock, currency: str, operator: str,
                       when: datetime) -> dict[int, str]:
        fields = {self.totals_field: totals.text() + (TotalsBlock().text() if self.foreign_block else "")}
        if 49 in profile.fields:
            fields[49] = currency
        fields.update(cup_field60(profile, self.type_code, batch, self.network_code))
        if self.operator_field is not None and self.operator_field in profile.fields:
            fields[self.operator_field] = operator.ljust(3)
        return fields

    def read(self, message: Message) -> tuple[TotalsBlock, TotalsBlock | None]:
        text = message.fields.get(self.totals_field, "")
        domestic = TotalsBlock.parse(text[:31])
        foreign = TotalsBlock.parse(text[31:62]) if self.foreign_block and len(text) >= 62 else None
        return domestic, foreign

    def answer_fields(self, request: Message, result: str) -> dict[int, str]:
        """The request's totals echoed with the result digit set in each block; the operator echoed."""
        domestic, foreign = self.read(request)
        text = replace(domestic, result=result).text()
        if foreign is not None:
            text += replace(foreign, result=result).text()
        fields = {self.totals_field: text}
        if self.operator_field is not None and self.operator_field in request.fields:
            fields[self.operator_field] = request.fields[self.operator_field]
        return fields

    def result(self, answer: Message) -> str | None:
        """The result digit of the domestic block (None when the totals cannot be read)."""
        try:
            return self.read(answer)[0].result
        except ProtocolError:
            return None

    def batch_of(self, message: Message) -> int | None:
        value = message.fields.get(60, "")
        return int(value[2:8]) if len(value) >= 8 and value[2:8].isdigit() else None


@dataclass(frozen=True)
class ReconciliationLayout:
    """ISO 8583:1987's reconciliation: a field per figure (see the module's docstring)."""

    batch_field: int | None = 60  # the batch number, 6 digits (private use)
    currency_field: int | None = 50  # currency code, settlement

    # The standard's numbers, not a choice: (count, amount) of credits, credit reversals,
    # debits, debit reversals; the net; the answer's settlement code.
    CREDITS: ClassVar[tuple[int, int]] = (74, 86)
    CREDIT_REVERSALS: ClassVar[tuple[int, int]] = (75, 87)
    DEBITS: ClassVar[tuple[int, int]] = (76, 88)
    DEBIT_REVERSALS: ClassVar[tuple[int, int]] = (77, 89)
    NET: ClassVar[int] = 97
    RESULT: ClassVar[int] = 66
    COUNT_DIGITS: ClassVar[int] = 10
    AMOUNT_DIGITS: ClassVar[int] = 16

    @property
    def max_count(self) -> int:
        return 10**self.COUNT_DIGITS - 1

    @property
    def max_total(self) -> int:
        return 10**self.AMOUNT_DIGITS - 1

    @property
    def totals_fields(self) -> tuple[int, ...]:
        return (*self.CREDITS, *self.CREDIT_REVERSALS, *self.DEBITS, *self.DEBIT_REVERSALS, self.NET)

    def check(self, profile: Profile) -> None:
        wanted = (*self.totals_fields, self.RESULT, *(n for n in (self.batch_field, self.currency_field) if n))
        missing = [n for n in wanted if n not in profile.fields]
        if missing:
            raise ProtocolError(f"profile {profile.name} has no field {missing[0]} for the reconciliation totals",
                                code="config.bad_txn")

    def _net(self, credits: int, debits: int) -> str:
        net = credits - debits
        return f"{'C' if net >= 0 else 'D'}{abs(net):0{self.AMOUNT_DIGITS}d}"

    def request_fields(self, profile: Profile, *, batch: int, totals: TotalsBlock, currency: str, operator: str,
                       when: datetime) -> dict[int, str]:
        t = totals
        for count in (t.debit_count, t.credit_count):
            if not 0 <= count < 10**self.COUNT_DIGITS:
                raise ProtocolError(f"a settlement count must fit {self.COUNT_DIGITS} digits", code="host.bad_txn")
        for amount in (t.debit_amount, t.credit_amount):
            if not 0 <= amount < 10**self.AMOUNT_DIGITS:
                raise ProtocolError(f"a settlement amount must fit {self.AMOUNT_DIGITS} digits", code="host.bad_txn")
        c, a = self.COUNT_DIGITS, self.AMOUNT_DIGITS
        fields = {
            self.CREDITS[0]: f"{t.credit_count:0{c}d}", self.CREDITS[1]: f"{t.credit_amount:0{a}d}",
            self.DEBITS[0]: f"{t.debit_count:0{c}d}", self.DEBITS[1]: f"{t.debit_amount:0{a}d}",
            **{n: "0" * c for n in (self.CREDIT_REVERSALS[0], self.DEBIT_REVERSALS[0])},
            **{n: "0" * a for n in (self.CREDIT_REVERSALS[1], self.DEBIT_REVERSALS[1])},
            self.NET: self._net(t.credit_amount, t.debit_amount),
        }
        if 7 in profile.local_time_fields:
            fields[7] = transmission_time(when)
        if self.currency_field is not None:
            fields[self.currency_field] = currency
        if self.batch_field is not None:
            fields[self.batch_field] = f"{batch:06d}"
        return fields

    def read(self, message: Message) -> tuple[TotalsBlock, TotalsBlock | None]:
        """The totals net of any reversals; ``host.bad_field`` when a figure is missing or they disagree."""
        f = message.fields
        try:
            figures = [int(f[n]) for n in (*self.CREDITS, *self.CREDIT_REVERSALS, *self.DEBITS, *self.DEBIT_REVERSALS)]
        except (KeyError, ValueError):
            raise ProtocolError("the reconciliation totals (fields 74-77, 86-89) are missing or unreadable",
                                code="host.bad_field") from None
        cc, ca, crc, cra, dc, da, drc, dra = figures
        block = TotalsBlock(debit_amount=da - dra, debit_count=dc - drc, credit_amount=ca - cra,
                            credit_count=cc - crc, result=f.get(self.RESULT, "0"))
        if min(block.debit_amount, block.debit_count, block.credit_amount, block.credit_count) < 0:
            raise ProtocolError("the reconciliation totals reverse more than they count", code="host.bad_field")
        if f.get(self.NET) != self._net(block.credit_amount, block.debit_amount):
            raise ProtocolError(f"field {self.NET} (net settlement) does not agree with the totals",
                                code="host.bad_field")
        return block, None

    def answer_fields(self, request: Message, result: str) -> dict[int, str]:
        """The request's totals (and currency, batch) echoed, with the settlement code in 66."""
        if len(result) != 1 or result not in "123":
            raise ProtocolError("a settlement code is 1, 2 or 3", code="host.bad_txn")
        self.read(request)
        echo = (*self.totals_fields, *(n for n in (self.currency_field, self.batch_field) if n))
        fields = {n: request.fields[n] for n in echo if n in request.fields}
        fields[self.RESULT] = result
        return fields

    def result(self, answer: Message) -> str | None:
        """The settlement code in 66 (a host need not echo the totals beside it)."""
        code = answer.fields.get(self.RESULT)
        return code if code in ("1", "2", "3") else None

    def batch_of(self, message: Message) -> int | None:
        value = message.fields.get(self.batch_field, "") if self.batch_field is not None else ""
        return int(value) if value.isdigit() and len(value) <= 6 else None
