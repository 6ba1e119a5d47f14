"""Amounts are integers in minor units (fen, cents) from the keypad to the wire.

Only these two functions cross between an integer amount and its decimal text,
and neither goes through a float.
"""

from __future__ import annotations

import re

from firmware.errors import ConfigError

__all__ = ["format_amount", "parse_amount"]


def format_amount(minor: int, exponent: int = 2) -> str:
    """1250, 2 -> "12.50"; 7, 2 -> "0.07"; 1250, 0 -> "1250"."""
    if type(minor) is not int and (not isinstance(minor, int) or isinstance(minor, bool)):  # a plain int skips both
        raise TypeError(f"amounts are integers in minor units, not {type(minor).__name__}")
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    if exponent == 0:
        return f"{sign}{minor}"
    units, fraction = divmod(minor, 10**exponent)
    return f"{sign}{units}.{str(fraction).zfill(exponent)}"  # zfill: half the cost of a nested format spec


_DECIMAL = re.compile(r"^([0-9]+)(?:\.([0-9]+))?$")  # ASCII digits only: \d matches any script's digits


def parse_amount(text: str | int, exponent: int = 2) -> int:
    """"12.50" -> 1250 (exponent 2). An int is taken as minor units already."""
    if isinstance(text, bool):
        raise ConfigError("an amount is a number, not true/false", code="config.bad_amount")
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"amount {text} is negative", code="config.bad_amount")
        return text
    m = _DECIMAL.match(text.strip())
    if not m or (m.group(2) is not None and len(m.group(2)) > exponent):
        raise ConfigError(
            f"amount {text!r} is not a decimal with at most {exponent} digits after the point", code="config.bad_amount"
        )
    whole, fraction = m.group(1), (m.group(2) or "")
    return int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or 0)
