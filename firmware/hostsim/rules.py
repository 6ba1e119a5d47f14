"""Deterministic fault injection for the host simulator.

A ``RuleBook`` is an ordered list of ``Rule``; for each request the first rule
whose match fits (and that has uses left) decides how the host behaves. No
rule matching means approve. Nothing is random: a scenario replays the same
way every time.

A rule file (``--rules FILE.toml``) is a list of ``[[rule]]`` tables::

    [[rule]]
    behaviour = "decline"
    code = "51"
    amount = 100       # only for this amount
    times = 1          # once, then the rule is spent
"""

from __future__ import annotations

import enum
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from firmware.errors import ScenarioError
from firmware.host.spec import TxnKind

__all__ = ["Behaviour", "Rule", "RequestFacts", "RuleBook", "RULE_KEYS", "declines"]


class Behaviour(str, enum.Enum):
    APPROVE = "approve"
    DECLINE = "decline"  # answer with the rule's code (default 05)
    DELAY = "delay"  # wait the rule's seconds, then approve
    DROP = "drop"  # process, never answer (the answer is lost: the case reversals exist for)
    CLOSE = "close"  # process, close the connection without answering
    BAD_MAC = "bad_mac"  # approve with a wrong MAC
    GARBAGE = "garbage"  # answer bytes that do not decode
    WRONG_STAN = "wrong_stan"  # approve, answering another STAN
    WRONG_AMOUNT = "wrong_amount"  # approve, answering another amount
    WRONG_MTI = "wrong_mti"  # approve, answering with an MTI that does not belong
    WRONG_TERMINAL = "wrong_terminal"  # approve, answering another terminal ID (field 41)
    UNBALANCED = "unbalanced"  # a settlement (0500) only: answer its totals "not balanced" (the terminal uploads)
    RENUMBER = "renumber"  # a sign-on (0800) only: approve, naming the rule's batch (a host that renumbered)


SETTLEMENT_MTI = "0500"
SIGN_ON_MTI = "0800"
RULE_KEYS = ("mti", "amount", "stan", "kind", "behaviour", "code", "seconds", "times", "pin", "batch")


def _bad(text: str) -> ScenarioError:
    return ScenarioError(text, code="scenario.bad_value")


def _whole(value: Any) -> bool:
    return type(value) is int


@dataclass(frozen=True)
class RequestFacts:
    """What a rule can match on (no card data)."""

    mti: str
    amount: int | None = None
    stan: int | None = None
    kind: TxnKind | None = None


@dataclass(frozen=True)
class Rule:
    """A match (every given criterion must hold) and what the host does then.

    ``pin``: the PIN the host expects; a request whose PIN differs (or has
    none) is declined with 55.
    """

    behaviour: Behaviour = Behaviour.APPROVE
    code: str | None = None
    seconds: float | None = None
    times: int | None = None  # how many requests it applies to; None = forever
    mti: str | None = None
    amount: int | None = None
    stan: int | None = None
    kind: TxnKind | None = None
    pin: str | None = None
    batch: int | None = None  # renumber: the batch the sign-on's answer names

    def __post_init__(self) -> None:
        try:
            behaviour = Behaviour(self.behaviour)
        except ValueError:
            raise _bad(f"behaviour must be one of {', '.join(b.value for b in Behaviour)}") from None
        object.__setattr__(self, "behaviour", behaviour)
        if self.kind is not None:
            try:
                object.__setattr__(self, "kind", TxnKind(self.kind))
            except ValueError:
                raise _bad(f"kind must be one of {', '.join(k.value for k in TxnKind)}") from None
        if behaviour is Behaviour.DECLINE:
            code = "05" if self.code is None else self.code
            if not isinstance(code, str) or not re.fullmatch(r"[0-9A-Z]{2}", code):
                raise _bad("code must be a 2-character response code such as \"51\"")
            object.__setattr__(self, "code", code)
        elif self.code is not None:
            raise _bad("code goes with behaviour \"decline\" only")
        if behaviour is Behaviour.DELAY:
            if type(self.seconds) not in (int, float) or not 0 < self.seconds <= 600:
                raise _bad("seconds must be a number above 0 and at most 600 for behaviour \"delay\"")
        elif self.seconds is not None:
            raise _bad("seconds goes with behaviour \"delay\" only")
        if self.times is not None and (not _whole(self.times) or self.times < 1):
            raise _bad("times must be a whole number of at least 1 (leave it out for forever)")
        if self.mti is not None and not (isinstance(self.mti, str) and re.fullmatch(r"\d{4}", self.mti)):
            raise _bad("mti must be 4 digits, as a string such as \"0200\"")
        if behaviour is Behaviour.UNBALANCED:  # it means something for a settlement only
            if self.mti not in (None, SETTLEMENT_MTI):
                raise _bad(f"behaviour \"unbalanced\" applies to settlements (mti {SETTLEMENT_MTI}) only")
            object.__setattr__(self, "mti", SETTLEMENT_MTI)
        if behaviour is Behaviour.RENUMBER:  # a sign-on's answer names the batch (the terminal may adopt it)
            if self.mti not in (None, SIGN_ON_MTI):
                raise _bad(f"behaviour \"renumber\" applies to sign-ons (mti {SIGN_ON_MTI}) only")
            object.__setattr__(self, "mti", SIGN_ON_MTI)
            if not _whole(self.batch) or not 1 <= self.batch <= 999999:
                raise _bad("batch must be a whole number from 1 to 999999 for behaviour \"renumber\"")
        elif self.batch is not None:
            raise _bad("batch goes with behaviour \"renumber\" only")
        if self.amount is not None and (not _whole(self.amount) or self.amount < 0):
            raise _bad("amount must be whole minor units")
        if self.stan is not None and (not _whole(self.stan) or not 1 <= self.stan <= 999999):
            raise _bad("stan must be a whole number from 1 to 999999")
        if self.pin is not None and not (isinstance(self.pin, str) and re.fullmatch(r"\d{4,12}", self.pin)):
            raise _bad("pin must be 4 to 12 digits, as a string")

    def matches(self, facts: RequestFacts) -> bool:
        return all(
            want is None or want == got
            for want, got in ((self.mti, facts.mti), (self.amount, facts.amount),
                              (self.stan, facts.stan), (self.kind, facts.kind))
        )

    def __repr__(self) -> str:  # the expected PIN is test data, still kept out of logs
        shown = {k: getattr(self, k) for k in RULE_KEYS if getattr(self, k) is not None and k != "pin"}
        if self.pin is not None:
            shown["pin"] = "<set>"
        return "Rule(" + ", ".join(f"{k}={getattr(v, 'value', v)!r}" for k, v in shown.items()) + ")"


def declines(rule: Rule | None) -> bool:
    """The matched rule (if any) says: decline (with its code). One place for every kind the host posts."""
    return rule is not None and rule.behaviour is Behaviour.DECLINE


class RuleBook:
    """Ordered rules, first match wins; each rule's ``times`` counts down as it is used."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: list[Rule] = []
        self._left: list[int | None] = []
        for rule in rules:
            self.push(rule)

    def push(self, rule: Rule, *, front: bool = False) -> None:
        """Add a rule after the others (or before them with ``front=True``)."""
        if not isinstance(rule, Rule):
            raise TypeError("RuleBook.push takes a Rule")
        at = 0 if front else len(self._rules)
        self._rules.insert(at, rule)
        self._left.insert(at, rule.times)

    def clear(self) -> None:
        self._rules.clear()
        self._left.clear()

    def match(self, facts: RequestFacts) -> Rule | None:
        """The rule for this request (using one of its ``times``), or ``None``: approve."""
        for i, rule in enumerate(self._rules):
            if self._left[i] != 0 and rule.matches(facts):
                if self._left[i] is not None:
                    self._left[i] -= 1
                return rule
        return None

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules in order (spent ones included)."""
        return tuple(self._rules)

    @property
    def remaining(self) -> tuple[int | None, ...]:
        """The uses each rule has left, in order (None = unlimited)."""
        return tuple(self._left)

    def __len__(self) -> int:
        return len(self._rules)

    @classmethod
    def from_dicts(cls, items: Iterable[Mapping[str, Any]]) -> RuleBook:
        """Rules from plain dicts (a TOML or JSON scenario), keys checked."""
        book = cls()
        for number, item in enumerate(items, 1):
            if not isinstance(item, Mapping):
                raise ScenarioError(f"rule {number} is not a table of keys", code="scenario.bad_value")
            unknown = sorted(set(item) - set(RULE_KEYS))
            if unknown:
                raise ScenarioError(f"rule {number}: unknown key {unknown[0]!r}; expected {', '.join(RULE_KEYS)}",
                                    code="scenario.unknown_key")
            failure = None
            try:
                rule = Rule(**item)
            except ScenarioError as exc:
                failure = exc.text
            if failure is not None:
                raise ScenarioError(f"rule {number}: {failure}", code="scenario.bad_value")
            book.push(rule)
        return book

    @classmethod
    def from_toml(cls, path: str | Path) -> RuleBook:
        """Rules from a TOML file of ``[[rule]]`` tables."""
        failure = None
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError:
            failure = ("the rules file could not be read", "scenario.unreadable")
        except tomllib.TOMLDecodeError as exc:
            failure = (f"the rules file is not valid TOML ({exc})", "scenario.bad_toml")
        if failure is not None:
            raise ScenarioError(failure[0], code=failure[1])
        unknown = sorted(set(data) - {"rule"})
        if unknown:
            raise ScenarioError(f"unknown key {unknown[0]!r} in the rules file; expected rule",
                                code="scenario.unknown_key")
        rules = data.get("rule", [])
        if not isinstance(rules, list):
            raise ScenarioError("rule must be an array of tables ([[rule]])", code="scenario.bad_value")
        return cls.from_dicts(rules)

    def __repr__(self) -> str:
        return f"<RuleBook {len(self._rules)} rules>"
