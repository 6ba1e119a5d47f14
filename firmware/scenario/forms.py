"""Declared forms of scenario values: each checks a value read from TOML and names the key and the form.

A scenario file is TOML, so a step's value may be any TOML value: text, an
integer, a float (``nan`` and ``inf`` included), a boolean, a date, an array
or a table. Each step kind declares the form its value takes (``steps.STEP_FORMS``),
in the way ``firmware.config`` declares each configuration key's type and
check, and one walk (``Form.check``) applies it. A value of any other shape is
a ``ScenarioError`` naming the step, the key (``step 3: expect.printed``) and
the form expected; nothing else escapes, so a malformed file never reaches the
runner as a ``TypeError``.

Codes: ``scenario.bad_value`` (a value of the wrong form, or a missing key) and
``scenario.unknown_key`` (a key the table does not take), as the host
simulator's rule files use them.

Error texts show a wrong value only when it is short and cannot be card data
(``crypto.secrets.looks_like_card_data``: a card number in one run or in groups,
track text); otherwise they say what kind of value it was. A form marked
``secret`` (a PIN, a password, an account, track text) never has its value
shown, whatever it looks like: a PIN is four digits, as innocent as a count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from crypto.secrets import looks_like_card_data
from firmware.errors import ScenarioError

__all__ = ["Form", "Text", "Whole", "Seconds", "Flag", "Const", "Key", "Table", "Either", "OMIT",
           "BAD_VALUE", "UNKNOWN_KEY", "kind_of", "digits", "choice"]

BAD_VALUE = "scenario.bad_value"
UNKNOWN_KEY = "scenario.unknown_key"
OMIT = object()  # a table key's default meaning "left out of the checked value" (expect's checks)


def kind_of(value: Any) -> str:
    """What a TOML value is, in words, for an error text."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, (date, datetime, time)):
        return "a date or time"
    return type(value).__name__


def _shown(value: Any) -> str:
    """The value itself if it is short and cannot be card data, else what kind of value it is."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) < 10**9 or abs(value) >= 10**19:  # too long for a PAN
            return repr(value)
    if isinstance(value, str) and len(value) <= 24 and not looks_like_card_data(value):
        return repr(value)
    return kind_of(value)


class Form:
    """A declared form: ``expected`` says it in words, ``check`` returns the value (normalised) or raises."""

    expected: str = "a value"
    secret: bool = False  # a PIN, a password, an account, track text: a wrong value is told by its kind only

    def check(self, value: Any, where: str) -> Any:  # pragma: no cover - every form overrides it
        raise NotImplementedError

    def fail(self, value: Any, where: str) -> ScenarioError:
        got = kind_of(value) if self.secret else _shown(value)
        return ScenarioError(f"{where} must be {self.expected}, got {got}", code=BAD_VALUE)


@dataclass(frozen=True)
class Text(Form):
    """Text in quotes, optionally one that passes ``test``."""

    expected: str = "text in quotes"
    test: Callable[[str], bool] | None = None
    secret: bool = False

    def check(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or (self.test is not None and not self.test(value)):
            raise self.fail(value, where)
        return value


def digits(n: int | None = None, expected: str | None = None, *, secret: bool = False) -> Text:
    """A string of digits (exactly ``n`` of them if given); ``secret``: a wrong one is never shown."""
    if n is None:
        return Text(expected or "a string of digits in quotes", lambda v: v.isascii() and v.isdigit(), secret)
    return Text(expected or f"{n} digits in quotes", lambda v: len(v) == n and v.isascii() and v.isdigit(), secret)


def choice(*names: str) -> Text:
    """One of ``names``."""
    said = " or ".join(names) if len(names) <= 2 else f"one of {', '.join(names)}"
    return Text(said, lambda v: v in names)


@dataclass(frozen=True)
class Whole(Form):
    """A whole number (not a boolean, not a float) from ``lo`` to ``hi``."""

    lo: int = 0
    hi: int | None = None
    what: str = "a whole number"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"{self.what} from {self.lo} to {self.hi}" if self.hi is not None else f"{self.what} of {self.lo} or more"

    def check(self, value: Any, where: str) -> int:
        if type(value) is not int or value < self.lo or (self.hi is not None and value > self.hi):
            raise self.fail(value, where)
        return value


@dataclass(frozen=True)
class Seconds(Form):
    """A finite number of seconds from ``lo`` to ``hi`` (whole or not), as a float."""

    lo: float = 0.0
    hi: float = 3600.0

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a number of seconds from {self.lo:g} to {self.hi:g}"

    def check(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(value, where)
        if not (math.isfinite(value) and self.lo <= value <= self.hi):
            raise self.fail(value, where)
        return float(value)


@dataclass(frozen=True)
class Flag(Form):
    expected: str = "true or false"

    def check(self, value: Any, where: str) -> bool:
        if type(value) is not bool:
            raise self.fail(value, where)
        return value


@dataclass(frozen=True)
class Const(Form):
    """Exactly one value (``balance = true``)."""

    value: Any = True
    expected: str = "true"

    def check(self, value: Any, where: str) -> Any:
        if type(value) is not type(self.value) or value != self.value:
            raise self.fail(value, where)
        return value


@dataclass(frozen=True)
class Key:
    """One key of a ``Table``: its form, and its default when left out (``required``: never left out)."""

    form: Form
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class Table(Form):
    """A table of declared keys. Unknown keys are refused; ``finish`` may check the keys together.

    The checked table holds every key, a left-out one as its default (``OMIT``: not at all), so the
    runner reads ``value["date"]`` without guessing; checking a checked table again gives it back."""

    keys: Mapping[str, Key] = field(default_factory=dict)
    finish: Callable[[dict, str], dict] | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a table {{ {', '.join(self.keys)} }}"

    def check(self, value: Any, where: str) -> dict:
        if not isinstance(value, Mapping):
            raise self.fail(value, where)
        unknown = sorted(str(k) for k in set(value) - set(self.keys))
        if unknown:
            raise ScenarioError(f"{where} takes {', '.join(sorted(self.keys))}, not {_shown(unknown[0])}",
                                code=UNKNOWN_KEY)
        out: dict = {}
        for name, key in self.keys.items():
            if value.get(name) is not None:  # None (from Python or JSON, never TOML) is a key left out
                out[name] = key.form.check(value[name], f"{where}.{name}")
            elif key.required:
                raise ScenarioError(f"{where} needs {name} = {key.form.expected}", code=BAD_VALUE)
            elif key.default is not OMIT:
                out[name] = key.default
        return self.finish(out, where) if self.finish is not None else out


@dataclass(frozen=True)
class Either(Form):
    """A table, or a bare value: with ``key``, the bare value stands for that key of the table
    (``void = 3`` is ``void = { trace = 3 }``); otherwise it is checked by ``bare`` and kept as it is."""

    table: Table = field(default_factory=Table)
    key: str | None = None
    bare: Form | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        bare = self.bare if self.bare is not None else self.table.keys[self.key].form
        return f"{bare.expected}, or {self.table.expected}"

    def check(self, value: Any, where: str) -> Any:
        if isinstance(value, Mapping):
            return self.table.check(value, where)
        if self.key is not None:
            return self.table.check({self.key: value}, where)
        try:
            return self.bare.check(value, where)
        except ScenarioError:
            raise self.fail(value, where) from None  # say both forms
