"""A scenario file's format: the step kinds, the checks of their values, and the parsed ``Scenario``.

``STEP_KINDS`` is the one documentation of every step (README's step table is
generated from it and ``tests/test_readme.py`` holds the two together); each
step's value is checked here, once, when the file is read, so a bad scenario
fails before the terminal boots and the runner can trust what it is given.
Nothing here touches a device: see ``firmware.scenario`` for the format.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.errors import ScenarioError

__all__ = ["Scenario", "Step", "load_scenario", "parse_scenario", "STEP_KINDS"]

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
    "host": "a host rule { behaviour, code, seconds, times, mti, amount }; behaviours: approve, decline, delay, "
    "drop, close, bad_mac, garbage, wrong_stan, wrong_amount, wrong_mti, unbalanced (a settlement's answer: "
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
    "wait": "seconds of wall-clock time for the terminal to run (host delays, upload timer)",
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
_EXPECT_KEYS = {
    "state", "outcome", "response_code", "display", "printed", "alerts", "notes", "journal_count", "ledger_postings",
    "reason",
}
_VOID_KEYS = {"trace", "confirm", "supervisor"}
_OPERATOR_KEYS = {"operator", "password"}


def _password(value: Any, i: int, what: str) -> str:
    if not isinstance(value, str) or not value.isdigit():
        raise ScenarioError(f"step {i}: {what} is a string of digits")
    return value


def _operator_step(kind: str, value: Any, i: int) -> dict:
    """``sign_in`` / ``add_operator`` = ``{ operator = "NN", password = "digits" }``, checked."""
    if not isinstance(value, Mapping) or set(value) != _OPERATOR_KEYS:
        raise ScenarioError(f'step {i}: {kind} takes {{ operator = "NN", password = "digits" }}')
    number = value["operator"]
    if not (isinstance(number, str) and len(number) == 2 and number.isdigit()):
        raise ScenarioError(f"step {i}: {kind} operator is two digits in quotes")
    return {"operator": number, "password": _password(value["password"], i, "the password")}


def _transfer_step(value: Any, i: int) -> dict:
    """``transfer = { amount, account, again }`` checked: a whole amount, the account and its second keying as
    digit strings (any length: the pad judges it, so a scenario can key a wrong one)."""
    if not isinstance(value, Mapping) or set(value) - {"amount", "account", "again"}:
        raise ScenarioError(f"step {i}: transfer takes {{ amount, account, again }}")
    amount, account = value.get("amount"), value.get("account")
    again = value.get("again", account)
    if type(amount) is not int or amount < 1:
        raise ScenarioError(f"step {i}: transfer's amount must be a whole number of minor units")
    for text in (account, again):
        if not isinstance(text, str) or not text.isdigit():
            raise ScenarioError(f"step {i}: transfer's account and again must be digit strings")
    return {"amount": amount, "account": account, "again": again}


def _named_step(value: Any, i: int, kind: str, name: str, digits: int, what: str) -> dict:
    """A step naming its original by a keyed number and date, checked: ``refund = { rrn, date, amount,
    confirm, supervisor }`` (``name`` rrn, 12 digits) and ``preauth_cancel`` / ``preauth_complete = { auth,
    date, amount, confirm, supervisor }`` (``name`` auth, 6 digits)."""
    allowed = {name, "date", "amount", "confirm", "supervisor"}
    if not isinstance(value, Mapping):
        raise ScenarioError(f"step {i}: {kind} takes a table {{ {', '.join(sorted(allowed))} }}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ScenarioError(f"step {i}: {kind} takes {', '.join(sorted(allowed))}, not {unknown[0]!r}")
    number, date, amount = value.get(name), value.get("date"), value.get("amount")
    confirm = value.get("confirm", True)
    if not isinstance(number, str) or not (number.isdigit() and len(number) == digits):
        raise ScenarioError(f"step {i}: {kind} needs {name} = {what}")
    if date is not None and not (isinstance(date, str) and date.isdigit() and len(date) == 4):
        raise ScenarioError(f"step {i}: {kind} date is the original's MMDD")
    if amount is not None and (type(amount) is not int or amount < 1):
        raise ScenarioError(f"step {i}: {kind} amount is a whole number of minor units")
    if type(confirm) is not bool:
        raise ScenarioError(f"step {i}: {kind} confirm is true or false")
    supervisor = value.get("supervisor")
    return {name: number, "date": date, "amount": amount, "confirm": confirm,
            "supervisor": None if supervisor is None else _password(supervisor, i, "supervisor")}


def _void_step(value: Any, i: int) -> dict:
    """``void = N`` or ``void = { trace = N, confirm = bool }``, checked."""
    spec = {"trace": value} if not isinstance(value, Mapping) else dict(value)
    unknown = sorted(set(spec) - _VOID_KEYS)
    if unknown:
        raise ScenarioError(f"step {i}: void takes {', '.join(sorted(_VOID_KEYS))}, not {unknown[0]!r}")
    trace, confirm = spec.get("trace"), spec.get("confirm", True)
    if type(trace) is not int or not 1 <= trace <= 999999 or type(confirm) is not bool:
        raise ScenarioError(f"step {i}: void needs trace = a whole number from 1 to 999999 (and confirm = true/false)")
    supervisor = spec.get("supervisor")
    return {"trace": trace, "confirm": confirm,
            "supervisor": None if supervisor is None else _password(supervisor, i, "supervisor")}


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


def parse_scenario(doc: Mapping[str, Any], *, source: str = "scenario") -> Scenario:
    allowed = {"name", "description", "config", "step"}
    bad = sorted(set(doc) - allowed)
    if bad:
        raise ScenarioError(f"unknown key {bad[0]!r} in {source}; expected {', '.join(sorted(allowed))}")
    steps = []
    for i, raw in enumerate(doc.get("step", []), start=1):
        if not isinstance(raw, Mapping) or len(raw) != 1:
            raise ScenarioError(f"step {i} in {source} must have exactly one of: {', '.join(STEP_KINDS)}")
        ((kind, value),) = raw.items()
        if kind not in STEP_KINDS:
            raise ScenarioError(f"step {i} in {source}: unknown step {kind!r}; expected one of {', '.join(STEP_KINDS)}")
        if kind == "expect":
            if not isinstance(value, Mapping):
                raise ScenarioError(f"step {i}: expect takes a table of checks")
            unknown = sorted(set(value) - _EXPECT_KEYS)
            if unknown:
                raise ScenarioError(f"step {i}: unknown check {unknown[0]!r}; expected {', '.join(sorted(_EXPECT_KEYS))}")
        if kind == "printer" and value not in _PRINTER_FAULTS:
            raise ScenarioError(f"step {i}: printer takes one of {', '.join(_PRINTER_FAULTS)}")
        if kind == "link" and value not in ("down", "up"):
            raise ScenarioError(f"step {i}: link takes down or up")
        if kind == "disk" and value not in ("full", "ok"):
            raise ScenarioError(f"step {i}: disk takes full or ok")
        if kind == "void":
            value = _void_step(value, i)
        if kind == "refund":
            value = _named_step(value, i, kind, "rrn", 12, "the original's 12-digit reference number")
        if kind in ("sign_in", "add_operator"):
            value = _operator_step(kind, value, i)
        if kind == "supervisor":
            value = _password(value, i, "supervisor")
        if kind == "sign_out" and value is not True:
            raise ScenarioError(f"step {i}: sign_out takes true")
        if kind == "settle":
            spec = value if isinstance(value, Mapping) else {"confirm": value}
            if set(spec) - {"confirm", "supervisor"} or type(spec.get("confirm", True)) is not bool:
                raise ScenarioError(f"step {i}: settle takes true, false or {{ confirm, supervisor }}")
            sup = spec.get("supervisor")
            value = {"confirm": spec.get("confirm", True),
                     "supervisor": None if sup is None else _password(sup, i, "supervisor")}
        if kind in ("preauth_cancel", "preauth_complete", "preauth_advice"):
            value = _named_step(value, i, kind, "auth", 6, "the pre-auth's 6-digit authorisation code")
        if kind == "preauth_complete_void":
            value = _void_step(value, i)
        if kind == "preauth" and (type(value) is not int or value < 1):
            raise ScenarioError(f"step {i}: preauth takes the amount, a whole number of minor units")
        if kind == "transfer":
            value = _transfer_step(value, i)
        if kind == "balance" and value is not True:
            raise ScenarioError(f"step {i}: balance takes true")
        if kind in ("reader", "pinpad", "display") and value not in ("stop_answering", "resume"):
            raise ScenarioError(f"step {i}: {kind} takes stop_answering or resume")
        steps.append(Step(kind, value, i))
    config = doc.get("config", {})
    if not isinstance(config, Mapping):
        raise ScenarioError(f"[config] in {source} must be a table")
    return Scenario(str(doc.get("name", Path(source).stem)), tuple(steps), config, str(doc.get("description", "")))


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"scenario file {path} does not exist", code="scenario.missing") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path} is not valid TOML: {e}", code="scenario.syntax") from None
    return parse_scenario(doc, source=str(path))
