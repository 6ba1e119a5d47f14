"""Field 54 (additional amounts): where a balance inquiry's answer carries the balance.

ISO 8583:1987 and UnionPay lay the field out as blocks of 20 characters, one
amount each::

    account type   2   e.g. 10 savings, 20 cheque, 30 credit (00 unspecified)
    amount type    2   01 ledger balance, 02 available balance
    currency       3   ISO 4217 numeric
    sign           1   C credit (the balance is positive), D debit (negative)
    amount        12   minor units

Public UnionPay POS code reads the sign at offset 7 and the 12 digits after it
(anything but ``C`` shows as negative). A balance is shown on the display and
nowhere else: it is never journalled, logged or printed by this firmware, so
``Balance`` keeps its amount out of its ``repr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from firmware.errors import ProtocolError

__all__ = ["Balance", "BLOCK", "AVAILABLE", "LEDGER", "parse_balances", "pick_balance", "format_balance"]

BLOCK = 20
LEDGER, AVAILABLE = "01", "02"
_BLOCK = re.compile(r"(\d{2})(\d{2})(\d{3})([CD])(\d{12})")


def _bad(text: str) -> ProtocolError:
    return ProtocolError(text, code="host.bad_field")


@dataclass(frozen=True)
class Balance:
    """One amount of field 54, signed (negative: the account is overdrawn). Integer minor units."""

    amount: int = field(repr=False)
    currency: str
    amount_type: str = AVAILABLE
    account_type: str = "00"

    def __post_init__(self) -> None:
        if type(self.amount) is not int or abs(self.amount) >= 10**12:
            raise _bad("a balance must be whole minor units of at most 12 digits")
        for value, size, what in ((self.currency, 3, "currency"), (self.amount_type, 2, "amount type"),
                                  (self.account_type, 2, "account type")):
            if not isinstance(value, str) or not re.fullmatch(rf"\d{{{size}}}", value):
                raise _bad(f"a balance's {what} must be {size} digits")


def parse_balances(text: str) -> tuple[Balance, ...]:
    """Every block of a field 54 value, in order. Raises ``host.bad_field`` (naming the block) if one is malformed."""
    if not isinstance(text, str) or not text or len(text) % BLOCK:
        raise _bad(f"field 54 is not whole blocks of {BLOCK} characters")
    out = []
    for i in range(0, len(text), BLOCK):
        m = _BLOCK.fullmatch(text[i : i + BLOCK])
        if m is None:
            raise _bad(f"field 54 block {i // BLOCK + 1} is not account type, amount type, currency, C/D, 12 digits")
        account, kind, currency, sign, digits = m.groups()
        out.append(Balance(int(digits) * (-1 if sign == "D" else 1), currency, kind, account))
    return tuple(out)


def pick_balance(balances: tuple[Balance, ...]) -> Balance | None:
    """The available balance if the host gave one, else the first amount given."""
    for b in balances:
        if b.amount_type == AVAILABLE:
            return b
    return balances[0] if balances else None


def format_balance(balance: Balance) -> str:
    """The 20-character block (the host simulator's side)."""
    sign = "D" if balance.amount < 0 else "C"
    return f"{balance.account_type}{balance.amount_type}{balance.currency}{sign}{abs(balance.amount):012d}"
