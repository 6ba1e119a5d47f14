"""A scenario file's format: the step kinds, the checks of their values, and the parsed ``Scenario``.

``STEP_KINDS`` is the one documentation of every step (README's step table is
generated from it and ``tests/test_readme.py`` holds the two together); each
step's value is checked here, once, when the file is read, so a bad scenario
fails before the terminal boots and the runner can trust what it is given.
Nothing here touches a device: see ``firmware.scenario`` for the format.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.core.model import State
from firmware.errors import ScenarioError
from firmware.scenario.forms import (
    BAD_VALUE, OMIT, UNKNOWN_KEY, Const, Either, Flag, Form, Key, Seconds, Table, Text, Whole, choice, digits, kind_of,
)

__all__ = ["Scenario", "Step", "load_scenario", "parse_scenario", "STEP_KINDS", "STEP_FORMS", "MAX_WAIT",
           "crash_points"]

STEP_KINDS = {
    "key": 'keys pressed on the PIN pad outside PIN entry, e.g. "1250#" (# enter, * clear, X cancel, F function)',
    "swipe": "a test card name (posterm tools cards) or a table of track1/track2/track3 text",
    "swipe_raw": "raw reader bytes with sentinels, for damaged swipes",
    "swipe_damaged": "a damaged visa swipe: missing_end_sentinel, truncated, non_digit_pan, bad_luhn, flipped_bit or bad_lrc",
    "pin": 'a PIN typed on the PIN pad, then ENTER; "" bypasses where allowed',
    "void": "{ trace = N, confirm = true, supervisor }: F, 4 (void), the supervisor's password if guarded, the "
    "original's trace, ENTER, then ENTER to confirm it (or the trace alone: void = N)",
    "settle": "true: F, 5 (settle), then ENTER on the totals screen (false stops there); or { confirm, supervisor }",
    "refund": "{ rrn, date, amount, confirm, supervisor }: F, 6 (refund), the supervisor's password if guarded, "
    "the original's RRN, ENTER, its date MMDD (default today), ENTER, ENTER to confirm the original, then the "
    "amount and ENTER",
    "balance": "true: F, 7 (balance inquiry); the card and PIN follow",
    "preauth": "N: F, 0, 1 (pre-authorisation), the amount N, ENTER; the card and PIN follow",
    "preauth_cancel": "{ auth, date, amount, confirm, supervisor }: F, 0, 2 (pre-auth cancel), the supervisor's "
    "password if guarded, the pre-auth's 6-digit auth code, ENTER, its date MMDD (default today), ENTER, ENTER to "
    "confirm, then the amount and ENTER",
    "preauth_complete": "{ auth, date, amount, confirm, supervisor }: F, 0, 3 (completion), as preauth_cancel",
    "preauth_advice": "{ auth, date, amount, confirm, supervisor }: F, 0, 6 (the completion made as an advice "
    "without the host), as preauth_complete; the card follows, no PIN",
    "preauth_complete_void": "{ trace = N, confirm = true }: F, 0, 4 (completion void), the completion's trace, "
    "ENTER, then ENTER to confirm it (or the trace alone)",
    "transfer": '{ amount, account, again }: F, 0, 5 (transfer), the amount, ENTER; then, once the card is '
    "swiped, the destination account keyed on the PIN pad, ENTER, keyed again (again, default the same), ENTER; "
    "the PIN follows",
    "host": "a host rule { behaviour, code, seconds, times, mti, amount, batch }; behaviours: approve, decline, "
    "delay, drop, close, bad_mac, garbage, wrong_stan, wrong_amount, wrong_mti, wrong_terminal, renumber (a "
    "sign-on's answer names the rule's batch), unbalanced (a settlement's answer: "
    'the terminal uploads the batch; on iso87, which has no upload, it is recorded for reconciliation by hand); '
    '"clear" removes all rules',
    "printer": "paper_out, load_paper, open_cover, offline, stop_answering or resume",
    "link": "down (connects are refused) or up",
    "reader": "stop_answering or resume",
    "pinpad": "stop_answering or resume",
    "display": "stop_answering or resume",
    "disk": "full or ok: fills (or frees) the file system holding the data directory, only a small one such as a tmpfs",
    "tamper": "the tamper line trips (the value is the reason): every key is destroyed, the terminal locks",
    "power_cut": "a crash point such as after:send_request; the power goes off when the flow reaches it",
    "restart": "true: power on again on the same data directory (recovery runs by itself)",
    "upload": "true: forward queued reversals and offline sales now",
    "wait": "seconds (0 to 3600) of wall-clock time for the terminal to run (host delays, upload timer)",
    "add_operator": '{ operator = "NN", password = "digits" }: stores a cashier, or the supervisor\'s (00) new '
    "password, as posterm operators would",
    "sign_in": '{ operator = "NN", password = "digits" }: the operator number, ENTER, the password, ENTER',
    "sign_out": "true: F, then * (the cashier signs out)",
    "supervisor": "the supervisor's password typed at its prompt, then ENTER",
    "expect": "checks: state, outcome, response_code, reason, display, printed, alerts, notes, journal_count, "
    "ledger_postings (printed, alerts and notes: since the previous run of expect steps)",
}
_PRINTER_FAULTS = {
    "paper_out": "paper_out",
    "load_paper": "load_paper",
    "open_cover": "open_cover",
    "offline": "go_offline",
    "stop_answering": "stop_answering",
    "resume": "resume",
}
MAX_WAIT = 3600.0  # seconds: see the wait form in STEP_FORMS


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _latin1(text: str) -> bool:
    return all(ord(c) < 256 for c in text)


_EXAMPLE_POINTS = ("after:open_request", "after:send_request", "after:answer", "after:record_outcome")


def crash_points() -> frozenset[str]:
    """Every power-cut point a scenario may name: those the runner checks (``firmware.runner.CrashPlan``)."""
    from firmware.runner import CrashPlan  # lazy: parsing a scenario needs no runner until a cut is named

    return CrashPlan.points()


class _CrashPoint(Form):
    """A power-cut point the runner really has: a misspelt one would never fire, and the scenario would
    silently test a flow without its power cut."""

    expected = "a crash point in quotes, e.g. after:send_request"

    def check(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(value, where)
        points = crash_points()
        if value in points:
            return value
        shown = repr(value) if re.fullmatch(r"[a-z_:]{1,64}", value) else kind_of(value)  # never card data
        name = value.partition(":")[2]
        near = sorted(p for p in points if p.partition(":")[2] == name)  # right action, wrong side (before:answer)
        near = near or difflib.get_close_matches(value, sorted(points), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(near)}" if near else f"e.g. {', '.join(_EXAMPLE_POINTS)}"
        raise ScenarioError(f"{where} must be a crash point (before: or after: an action's name, or after:answer), "
                            f"got {shown}; {hint}", code=BAD_VALUE)


def _host_rule(value: dict | str, where: str) -> dict | str:
    """A host rule is checked by the host simulator's own rule checker, here, when the file is read."""
    if value == "clear":
        return value
    from firmware.hostsim.rules import RuleBook  # lazy: only a scenario with host rules pays for it

    spec = {"behaviour": value} if isinstance(value, str) else dict(value)
    try:
        RuleBook.from_dicts([spec])
    except ScenarioError as e:
        raise ScenarioError(f"{where}: {e.text.removeprefix('rule 1: ')}", code=e.code) from None
    return spec


class _HostRule(Form):
    expected = 'a behaviour name, "clear", or a table { behaviour, code, seconds, times, mti, amount, batch }'

    def check(self, value: Any, where: str) -> dict | str:
        if not isinstance(value, (str, Mapping)):
            raise self.fail(value, where)
        return _host_rule(value, where)


def _transfer_again(value: dict, where: str) -> dict:
    """``again`` (the account keyed a second time) defaults to the account."""
    return {**value, "again": value["account"] if value["again"] is None else value["again"]}


_AMOUNT = Whole(1, 999999999999, "a whole number of minor units")
_PASSWORD = digits(expected="a string of digits in quotes (a password)", secret=True)
_ACCOUNT = digits(expected="the account's digits in quotes", secret=True)
_SUPERVISOR = Key(_PASSWORD)  # typed at the supervisor's prompt; left out, the step stops there
_CONFIRM = Key(Flag(), default=True)
_TRACE = Key(Whole(1, 999999, "a trace number"), required=True)
_DATE = Key(digits(4, "the original's date, MMDD, in quotes"))
_STEADY = choice("stop_answering", "resume")
_OPERATOR = Table({"operator": Key(digits(2, "two digits in quotes"), required=True),
                   "password": Key(_PASSWORD, required=True)})


def _named(name: str, form: Text) -> Table:
    """A step naming its original by a keyed number and date: refund (rrn), the pre-auth family (auth)."""
    return Table({name: Key(form, required=True), "date": _DATE, "amount": Key(_AMOUNT), "confirm": _CONFIRM,
                  "supervisor": _SUPERVISOR})


_VOID = Either(Table({"trace": _TRACE, "confirm": _CONFIRM, "supervisor": _SUPERVISOR}), key="trace")
_AUTH = _named("auth", digits(6, "the pre-auth's 6-digit authorisation code in quotes"))
_EXPECT_TEXT = Key(Text(), default=OMIT)
_EXPECT = Table({
    "state": Key(choice(*(s.value for s in State), "off"), default=OMIT),
    "outcome": _EXPECT_TEXT, "response_code": _EXPECT_TEXT, "reason": _EXPECT_TEXT, "display": _EXPECT_TEXT,
    "printed": _EXPECT_TEXT, "alerts": _EXPECT_TEXT, "notes": _EXPECT_TEXT,
    "journal_count": Key(Whole(0), default=OMIT), "ledger_postings": Key(Whole(0), default=OMIT),
})

# The form of each step's value, checked once when the file is read (``parse_scenario``), as
# ``firmware.config`` checks each key: what the runner is given is always of this form.
# wait: at most an hour. It is wall-clock time, so a longer one only stalls a run; an hour covers the
# longest timer a scenario may want to see run out (operators.lockout_seconds, at most 3600), while
# 1e308 or inf would overflow the selector's timeout and nan compares false with everything.
STEP_FORMS: dict[str, Form] = {
    "key": Text('keys in quotes, e.g. "1250#"'),
    "swipe": Either(Table({f"track{n}": Key(Text("printable ASCII text in quotes", _printable_ascii, secret=True))
                           for n in (1, 2, 3)}),
                    bare=Text("a test card name in quotes")),
    "swipe_raw": Text("text in quotes (characters up to \\u00ff)", _latin1, secret=True),
    "swipe_damaged": Text("a damage name in quotes"),
    "pin": Text("a PIN's digits in quotes", secret=True),
    "void": _VOID,
    "settle": Either(Table({"confirm": _CONFIRM, "supervisor": _SUPERVISOR}), key="confirm"),
    "refund": _named("rrn", digits(12, "the original's 12-digit reference number in quotes")),
    "balance": Const(True),
    "preauth": _AMOUNT,
    "preauth_cancel": _AUTH,
    "preauth_complete": _AUTH,
    "preauth_advice": _AUTH,
    "preauth_complete_void": _VOID,
    "transfer": Table({"amount": Key(_AMOUNT, required=True),
                       "account": Key(_ACCOUNT, required=True),
                       "again": Key(_ACCOUNT)}, finish=_transfer_again),
    "host": _HostRule(),
    "printer": choice(*_PRINTER_FAULTS),
    "link": choice("down", "up"),
    "reader": _STEADY,
    "pinpad": _STEADY,
    "display": _STEADY,
    "disk": choice("full", "ok"),
    "tamper": Text("the reason in quotes"),
    "power_cut": _CrashPoint(),
    "restart": Const(True),
    "upload": Const(True),
    "wait": Seconds(0.0, MAX_WAIT),
    "add_operator": _OPERATOR,
    "sign_in": _OPERATOR,
    "sign_out": Const(True),
    "supervisor": _PASSWORD,
    "expect": _EXPECT,
}


@dataclass(frozen=True)
class Step:
    kind: str
    value: Any
    index: int


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""


_TOP = ("name", "description", "config", "step")  # the keys a scenario file may hold


def parse_scenario(doc: Mapping[str, Any], *, source: str = "scenario") -> Scenario:
    """Check a scenario document (a TOML file's tables) and every step's value against ``STEP_FORMS``.
    Anything malformed is a ``ScenarioError`` naming the step, the key and the form expected."""
    bad = sorted(set(doc) - set(_TOP))
    if bad:
        raise ScenarioError(f"unknown key {bad[0]!r} in {source}; expected {', '.join(sorted(_TOP))}",
                            code=UNKNOWN_KEY)
    name = Text().check(doc.get("name", Path(source).stem), f"name in {source}")
    description = Text().check(doc.get("description", ""), f"description in {source}")
    config = doc.get("config", {})
    if not isinstance(config, Mapping) or not all(isinstance(v, Mapping) for v in config.values()):
        raise ScenarioError(f"[config] in {source} must be a table of tables ([config] host = {{ ... }})",
                            code=BAD_VALUE)
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list) or not all(isinstance(raw, Mapping) for raw in raw_steps):
        raise ScenarioError(f"step in {source} must be an array of tables ([[step]]), got {kind_of(raw_steps)}",
                            code=BAD_VALUE)
    steps = []
    for i, raw in enumerate(raw_steps, start=1):
        if len(raw) != 1:
            raise ScenarioError(f"step {i} in {source} must have exactly one of: {', '.join(STEP_KINDS)}",
                                code=BAD_VALUE)
        ((kind, value),) = raw.items()
        if kind not in STEP_FORMS:
            raise ScenarioError(f"step {i} in {source}: unknown step {kind!r}; expected one of {', '.join(STEP_KINDS)}",
                                code=UNKNOWN_KEY)
        steps.append(Step(kind, STEP_FORMS[kind].check(value, f"step {i}: {kind}"), i))
    return Scenario(name, tuple(steps), config, description)


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"scenario file {path} does not exist", code="scenario.missing") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path} is not valid TOML: {e}", code="scenario.syntax") from None
    return parse_scenario(doc, source=str(path))
