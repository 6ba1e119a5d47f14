"""Scenarios: a session at the terminal, scripted step by step in TOML.

    name = "declined sale"
    [config]                      # overrides of the terminal configuration
    host = { response_timeout = 2 }

    [[step]]
    key = "1250#"                 # keys on the PIN pad: amount 12.50, ENTER
    [[step]]
    host = { behaviour = "decline", code = "51" }
    [[step]]
    swipe = "unionpay_debit"      # a test card, or { track2 = "...", track3 = "..." }
    [[step]]
    pin = "1234"                  # typed on the PIN pad, then ENTER
    [[step]]
    expect = { outcome = "declined", response_code = "51" }

A void of an earlier sale is one step that keys the function menu, 4 (void),
the original's trace and ENTER, then confirms the original shown (ENTER);
the card and the PIN follow as for a sale::

    [[step]]
    void = { trace = 1 }          # or void = 1; confirm = false stops at the confirmation
    [[step]]
    swipe = "unionpay_debit"      # must be the original's card
    [[step]]
    pin = "1234"
    [[step]]
    expect = { outcome = "approved", notes = "" }

A refused void (no such trace, already voided, a void of a void ...) leaves
its stable code among the result's ``notes`` (``expect = { notes =
"void.not_found" }``); nothing is journalled or sent.

A refund keys the function menu, 6, the original's reference number and
date (today's unless given), confirms the original, and keys the amount; a
balance inquiry keys the function menu, 7. The card and PIN follow::

    [[step]]
    refund = { rrn = "000000000001", amount = 500 }   # date = "MMDD"; confirm = false stops at CONFIRM
    [[step]]
    balance = true

The pre-auth family is on the menu's second page (F, 0, then 1-4); the card
and PIN follow each::

    [[step]]
    preauth = 10000                                    # F 0 1, the amount
    [[step]]
    preauth_complete = { auth = "000001", amount = 11000 }   # F 0 3; preauth_cancel likewise (F 0 2)
    [[step]]
    preauth_complete_void = { trace = 2 }              # F 0 4, the completion's trace
    [[step]]
    preauth_advice = { auth = "000001", amount = 11000 }     # F 0 6: the completion as an advice (no PIN)

Each step puts something into a simulated device (or changes the host, the
printer, the link, the power), then runs the terminal until it waits for a
person again. ``power_cut`` arms a cut at a named point (``after:send_request``
...: see ``runner.CrashPlan``), and ``restart`` boots a new runner on the same
data directory, as after the power comes back: recovery runs by itself.

Operators (``operators.required``, ``operators.supervisor_for``): ``add_operator``
stores a cashier (or, for 00, the supervisor's new password) as ``posterm operators``
would; ``sign_in`` keys the number, ENTER, the password, ENTER; ``sign_out`` keys F
then *; a guarded void, refund or settle takes ``supervisor = "..."`` in its table, typed
at the supervisor's prompt (without it the step stops there, and a ``supervisor`` step
types it)::

    [[step]]
    add_operator = { operator = "01", password = "1111" }
    [[step]]
    sign_in = { operator = "01", password = "1111" }
    [[step]]
    void = { trace = 1, supervisor = "123456" }

A settlement is ``settle = true`` (F, 5, then ENTER on the totals); a host rule
``host = { behaviour = "unbalanced" }`` makes the host answer its totals "not
balanced", and the terminal then uploads the batch before its report prints.

The result lists every transaction from the journal with its kind (``sale``,
``void``), outcome, codes, trace and receipt text (a void also gives its
original's trace as ``original_stan``; a voided sale the journal number of
its void as ``voided_by``), the host simulator's ledger, what the display
showed last, the operator alerts and notes, the settlements (batch, result,
uploaded, totals), and the failed ``expect`` steps.
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.provision import provision
from firmware.app import Overrides, build_runner
from firmware.config import Config, as_dict, parse_config
from firmware.core.model import State
from firmware.errors import ScenarioError, TerminalError
from firmware.runner import CrashPlan, PowerCut, Runner
from hal.url import DeviceUrl

__all__ = ["Scenario", "Step", "load_scenario", "parse_scenario", "ScenarioRunner", "STEP_KINDS"]

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
    "ledger_postings",
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


# the pre-auth family's keys after F: the menu's second page (0), then 1-4 (flows.MENU_MORE_FLOWS)
_PREAUTH_KEYS = {"preauth": "F01", "preauth_cancel": "F02", "preauth_complete": "F03", "preauth_complete_void": "F04",
                 "preauth_advice": "F06"}


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


FILLER = ".posterm-disk-filler"
MAX_FILL = 64 * 1024 * 1024


def fill_disk(data_dir: Path, full: bool) -> None:
    """Fill the file system holding ``data_dir`` to the last byte (a real full disk), or free it.

    Refuses to fill more than 64 MB: the step is meant for a small file system
    made for the test (a tmpfs), never for a real disk.
    """
    import os

    filler = Path(data_dir) / FILLER
    if not full:
        filler.unlink(missing_ok=True)
        return
    st = os.statvfs(data_dir)
    free = st.f_bavail * st.f_frsize
    if free > MAX_FILL:
        raise ScenarioError(
            f"disk = full would write {free // 2**20} MB: put the data directory on a small file system (a tmpfs)",
            code="scenario.disk_too_big",
        )
    with open(filler, "ab", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(bytes(size))
            except OSError:
                continue


class ScenarioRunner:
    """Runs scenarios on simulated devices against the built-in host simulator or an external host."""

    def __init__(
        self,
        *,
        config: Config | None = None,
        data_dir: Path | None = None,
        host_url: str | None = None,
        settle: float = 30.0,
    ) -> None:
        self.base = config or Config()
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="posterm-sim-")
            data_dir = Path(self._tmp.name) / "data"
        self.data_dir = Path(data_dir)
        self.host_url = host_url
        self.settle = settle
        self.server = None
        self.processor = None
        self.devices: dict = {}
        self.runner: Runner | None = None
        self.power_cuts: list[str] = []
        self.failures: list[str] = []
        self.skipped: list[str] = []  # checks that cannot apply (the ledger of an external host)
        self._pending_cut: CrashPlan | None = None  # armed while the power is off
        self._printed_before: list[tuple[int, str]] = []
        self._alerts_before: list[tuple[str, str]] = []
        self._notes_before: list[tuple[str, str]] = []

    # -- set-up --------------------------------------------------------------
    def _config(self, scenario: Scenario) -> Config:
        merged = as_dict(self.base)
        for section, values in scenario.config.items():
            if not isinstance(values, Mapping):
                raise ScenarioError(f"[config.{section}] must be a table")
            merged.setdefault(section, {}).update(values)
        merged["storage"]["data_dir"] = str(self.data_dir)
        for kind in ("reader", "pinpad", "printer", "display", "tamper"):
            merged["devices"][kind] = "sim://"
        merged["devices"]["link"] = self.host_url or "tcp://127.0.0.1:1"  # replaced once the host is up
        return parse_config(merged, source=f"scenario {scenario.name}")

    def _start(self, config: Config) -> Config:
        from hal.registry import make_device

        if self.host_url is None:
            provision(self.data_dir, lab=True)
            from firmware.embedded_host import EmbeddedHost

            self.server = EmbeddedHost(config.host.profile).start()  # its ledger lives in memory
            self.processor = self.server.processor
            config = config.replace({"devices": {"link": self.server.url}})
        else:
            DeviceUrl.parse(self.host_url, what="host")
        from hal.base import DeviceContext

        # The simulated PIN pad encrypts under whatever PIN key the running terminal holds
        # (as a real pad holds the key the terminal loaded into it); the printer keeps its
        # escpos cache in the data directory.
        context = DeviceContext(data_dir=self.data_dir, pin_key=lambda: self.runner.keys.pin_key if self.runner else None)
        for kind in ("reader", "pinpad", "printer", "display", "tamper"):
            self.devices[kind] = make_device(kind, "sim://", context)
        return config

    def _boot(self, config: Config, crash: CrashPlan | None) -> None:
        self.runner = build_runner(config, overrides=Overrides(devices=dict(self.devices)), crash=crash)
        self.runner.boot()

    # -- running -------------------------------------------------------------
    def run(self, scenario: Scenario, *, after_step: Callable[[Step], None] | None = None) -> dict:
        """Run every step; ``after_step`` (tests) is called after each one, with the power on or off:
        it may read the data directory, or arm a ``CrashPlan`` on ``self.runner``."""
        config = self._start(self._config(scenario))
        try:
            self._safely(lambda: self._boot(config, None))
            for step in scenario.steps:
                self._step(step, config)
                if after_step is not None:
                    after_step(step)
            return self.result(scenario)
        finally:
            self.close()

    def _safely(self, work) -> None:
        """Run ``work``; a power cut leaves the runner dead until a ``restart`` step."""
        try:
            work()
            self._settle()
        except PowerCut as cut:
            self.power_cuts.append(str(cut))
            self._power_off()

    def _settle(self) -> None:
        if self.runner is not None:
            self.runner.run_until(self.runner.waiting_for_person, self.settle)

    def _power_off(self) -> None:
        """Everything volatile is gone; the journal, the host and the printed paper remain."""
        if self.runner is not None:
            self._printed_before += self.runner.printed
            self._alerts_before += self.runner.alerts
            self._notes_before += self.runner.notes
            self.runner.session = None
            self.runner.devices.link.close()
            self.runner.store.close()
        self.runner = None

    def _need_runner(self, step: Step) -> Runner:
        if self.runner is None:
            raise ScenarioError(f"step {step.index} ({step.kind}) needs the power on: add a restart step first")
        return self.runner

    def _step(self, step: Step, config: Config) -> None:  # noqa: C901 - one branch per step kind
        kind, value = step.kind, step.value
        if kind == "restart":
            if self.runner is not None:
                self._power_off()
            crash, self._pending_cut = self._pending_cut, None
            self._safely(lambda: self._boot(config, crash))
            return
        if kind == "power_cut":
            if self.runner is None:
                self._pending_cut = CrashPlan(str(value))
            else:
                self.runner.crash = CrashPlan(str(value))
            return
        if kind == "host":
            self._host_rule(step)
            return
        if kind == "expect":
            self._expect(step)
            return
        if kind == "printer":
            getattr(self.devices["printer"], _PRINTER_FAULTS[value])()
        elif kind in ("reader", "pinpad", "display"):
            getattr(self.devices[kind], value)()
        elif kind == "disk":
            fill_disk(self.data_dir, value == "full")
        elif kind == "key":
            self.devices["pinpad"].press(str(value))
        elif kind == "void":
            self._void(step)
            return
        elif kind == "refund":
            self._named(step, "F6", step.value["rrn"])
            return
        elif kind in ("preauth_cancel", "preauth_complete", "preauth_advice"):
            self._named(step, _PREAUTH_KEYS[kind], step.value["auth"])
            return
        elif kind == "preauth_complete_void":
            self._void(step, _PREAUTH_KEYS[kind])
            return
        elif kind == "preauth":
            self._need_runner(step)
            self.devices["pinpad"].press(f"{_PREAUTH_KEYS[kind]}{value}#")
        elif kind == "transfer":
            self._need_runner(step)
            pad = self.devices["pinpad"]
            pad.press(f"F05{value['amount']}#")
            # held for the pad's account prompt (after the swipe), as a PIN is held for its prompt
            pad.press(f"{value['account']}#{value['again']}#", hold_for_pin=True)
        elif kind == "balance":
            self._need_runner(step)
            self.devices["pinpad"].press("F7")
        elif kind == "settle":
            runner = self._need_runner(step)
            self.devices["pinpad"].press("F5")
            self._safely(lambda: None)
            if not self._supervisor(runner, step.value["supervisor"]):
                return
            if step.value["confirm"] and self.runner is runner and runner.core.state is State.TOTALS:
                self.devices["pinpad"].press("#")
                self._safely(lambda: None)
            return
        elif kind == "pin":
            # held for the PIN prompt, so a PIN typed early never becomes amount keys
            self.devices["pinpad"].press(f"{value}#", hold_for_pin=True)
        elif kind == "swipe":
            reader = self.devices["reader"]
            if isinstance(value, str):
                reader.swipe_card(value)
            elif isinstance(value, Mapping):
                reader.swipe(**{k: value[k] for k in value})
            else:
                raise ScenarioError(f"step {step.index}: swipe takes a card name or a table of tracks")
        elif kind == "swipe_raw":
            self.devices["reader"].swipe_raw(str(value).encode("latin-1"))
        elif kind == "swipe_damaged":
            try:
                self.devices["reader"].swipe_damaged(str(value))
            except (ValueError, TerminalError):
                raise ScenarioError(f"step {step.index}: unknown damage {value!r}") from None
        elif kind == "link":
            self._link(step)
        elif kind == "upload":
            runner = self._need_runner(step)
            self._safely(runner.request_upload)
            return
        elif kind in ("sign_in", "add_operator", "sign_out", "supervisor"):
            self._operator(step, config)
            return
        elif kind == "tamper":
            self.devices["tamper"].trip(str(value))
        elif kind == "wait":
            runner = self._need_runner(step)
            self._safely(lambda: runner.run_until(lambda: False, float(value)))
            return
        if self.runner is not None:
            self._safely(lambda: None)

    def _void(self, step: Step, keys: str = "F4") -> None:
        """Menu, 4, the trace, ENTER; once the original is shown, ENTER again to confirm it (a completion's
        void: menu, 0, 4)."""
        runner = self._need_runner(step)
        pad = self.devices["pinpad"]
        pad.press(keys)
        self._safely(lambda: None)
        if not self._supervisor(runner, step.value["supervisor"]):
            return
        pad.press(f"{step.value['trace']}#")
        self._safely(lambda: None)
        if step.value["confirm"] and self.runner is runner and runner.core.state is State.CONFIRM:
            pad.press("#")
            self._safely(lambda: None)

    def _named(self, step: Step, keys: str, number: str) -> None:
        """A refund (F 6, by RRN) or a pre-auth's cancel or completion (F 0 2 / F 0 3, by authorisation
        code): the menu keys, the supervisor's password if guarded, the number, ENTER, the date, ENTER;
        once the original is shown, ENTER, then the amount."""
        runner = self._need_runner(step)
        pad, value = self.devices["pinpad"], step.value
        date = value["date"] or runner.clock().strftime("%m%d")
        pad.press(keys)
        self._safely(lambda: None)
        if not self._supervisor(runner, value["supervisor"]):
            return
        pad.press(f"{number}#{date}#")
        self._safely(lambda: None)
        if not value["confirm"] or self.runner is not runner or runner.core.state is not State.CONFIRM:
            return
        pad.press("#")
        self._safely(lambda: None)
        if value["amount"] is not None and self.runner is runner and runner.core.state is State.AMOUNT:
            pad.press(f"{value['amount']}#")
            self._safely(lambda: None)

    def _supervisor(self, runner: Runner, password: str | None) -> bool:
        """At the supervisor's prompt: type the password if the step gives one. False: stop the step here."""
        if self.runner is not runner or runner.core.state is not State.SUPERVISOR:
            return self.runner is runner and runner.core.state not in (State.IDLE, State.MENU)
        if password is None:
            return False
        self.devices["pinpad"].press(f"{password}#")
        self._safely(lambda: None)
        return self.runner is runner and runner.core.state not in (State.IDLE, State.MENU)

    def _operator(self, step: Step, config: Config) -> None:
        """``add_operator``, ``sign_in``, ``sign_out``, ``supervisor``: see the module docstring."""
        runner = self._need_runner(step)
        pad, value = self.devices["pinpad"], step.value
        if step.kind == "add_operator":
            from crypto.passwords import KdfCost, Password
            from storage.operators import SUPERVISOR, OperatorBook

            book = OperatorBook(runner.store.conn, cost=KdfCost(config.operators.kdf_cost))
            with Password(value["password"]) as password:
                if value["operator"] == SUPERVISOR:
                    book.passwd(SUPERVISOR, password, runner.clock())
                else:
                    book.add(value["operator"], password, runner.clock())
            return
        if step.kind == "sign_in":
            pad.press(f"{value['operator']}#{value['password']}#")
        elif step.kind == "sign_out":
            pad.press("F*")
        else:
            pad.press(f"{value}#")
        self._safely(lambda: None)

    def _link(self, step: Step) -> None:
        if self.server is None:
            raise ScenarioError(f"step {step.index}: link up/down needs the built-in host simulator")
        if step.value == "down":
            self.server.refuse_connections(True)
            if self.runner is not None:
                self.runner.devices.link.disconnect()
        else:
            self.server.refuse_connections(False)

    def _host_rule(self, step: Step) -> None:
        if self.processor is None:
            raise ScenarioError(f"step {step.index}: host rules need the built-in host simulator, not --host")
        from firmware.hostsim.rules import RuleBook

        value = step.value
        if value == "clear":
            self.processor.rules.clear()
            return
        spec = {"behaviour": value} if isinstance(value, str) else dict(value)
        try:
            (rule,) = RuleBook.from_dicts([spec]).rules
        except TerminalError as e:
            raise ScenarioError(f"step {step.index}: {e.text}") from None
        self.processor.rules.push(rule)

    # -- checking and reporting -------------------------------------------------
    def _expect(self, step: Step) -> None:
        checks = step.value
        result = self.snapshot()
        last = result["transactions"][-1] if result["transactions"] else {}
        fail = []
        if "state" in checks and result["state"] != checks["state"]:
            fail.append(f"state is {result['state']}, expected {checks['state']}")
        for key in ("outcome", "response_code", "reason"):
            if key in checks and last.get(key) != checks[key]:
                fail.append(f"last transaction {key} is {last.get(key)!r}, expected {checks[key]!r}")
        if "display" in checks and not any(checks["display"] in line for line in result["display"]):
            fail.append(f"display does not show {checks['display']!r}: {result['display']}")
        if "printed" in checks and checks["printed"] not in self.devices["printer"].text:
            fail.append(f"nothing printed contains {checks['printed']!r}")
        if "alerts" in checks and not any(checks["alerts"] in f"{c} {t}" for c, t in result["alerts"]):
            fail.append(f"no alert mentions {checks['alerts']!r}")
        if "notes" in checks and not any(checks["notes"] in f"{c} {t}" for c, t in result["notes"]):
            fail.append(f"no note mentions {checks['notes']!r}")
        if "journal_count" in checks and len(result["transactions"]) != checks["journal_count"]:
            fail.append(f"journal has {len(result['transactions'])} records, expected {checks['journal_count']}")
        if "ledger_postings" in checks:
            if result["host_ledger"] is None:  # an external host: its books are not ours to read
                self.skipped.append(f"step {step.index}: ledger_postings (external host)")
            elif len(result["host_ledger"]["postings"]) != checks["ledger_postings"]:
                n = len(result["host_ledger"]["postings"])
                fail.append(f"host ledger has {n} postings, expected {checks['ledger_postings']}")
        self.failures += [f"step {step.index}: {f}" for f in fail]

    def snapshot(self) -> dict:
        from storage.store import Store

        store = self.runner.store if self.runner is not None else Store.open(self.data_dir)
        try:
            records = store.journal()
            voided = store.voided()
            refunded = store.refunded()
            boot = store.boot_state()
            settlements = [store.settlement(b) for b in store.settled_batches()]
        finally:
            if self.runner is None:
                store.close()
        receipts: dict[int, list[str]] = {}
        printer = self.devices.get("printer")
        texts = list(printer.receipts) if printer is not None else []
        order = self._printed_order()
        for (txn_no, _copy), text in zip(order, texts):
            receipts.setdefault(txn_no, []).append(text)
        display = self.devices.get("display")
        return {
            "state": self.runner.core.state.value if self.runner is not None else "off",
            "transactions": [
                {
                    "txn_no": r.txn_no,
                    "kind": r.kind.value,
                    "outcome": r.state.value,
                    "amount": r.amount,
                    "stan": f"{r.stan:06d}",
                    "batch": f"{r.batch:06d}",
                    "rrn": r.rrn,
                    "auth_code": r.auth_code,
                    "response_code": r.response_code,
                    "reason": r.reason,
                    "masked_pan": r.masked_pan,
                    "original_stan": f"{r.original.stan:06d}" if r.original is not None else None,
                    "orig_auth": (r.reference.auth_code or None) if r.reference is not None else None,
                    "voided_by": voided.get(r.txn_no),
                    "refunded": refunded.get(r.txn_no, 0),
                    "receipts": receipts.get(r.txn_no, []),
                }
                for r in records
            ],
            "settlements": [
                {
                    "batch": f"{s.batch:06d}",
                    "result": s.result.name.lower(),
                    "uploaded": s.uploaded,
                    "debit_count": s.totals.debit_count,
                    "debit_amount": s.totals.debit_amount,
                    "credit_count": s.totals.credit_count,
                    "credit_amount": s.totals.credit_amount,
                    "completion_count": s.totals.completion_count,
                    "completion_amount": s.totals.completion_amount,
                    "completion_void_count": s.totals.completion_void_count,
                    "completion_void_amount": s.totals.completion_void_amount,
                }
                for s in settlements
            ],
            "host_ledger": (
                {
                    "summary": self.processor.ledger.summary(),
                    "postings": self.processor.ledger.postings(),
                    "messages": self.processor.ledger.messages(),
                    "batches": self.processor.ledger.batches(),
                    "uploads": self.processor.ledger.uploads(),
                    "upload_ends": self.processor.ledger.upload_ends(),
                }
                if self.processor is not None
                else None
            ),
            "display": list(display.lines) if display is not None else [],
            "alerts": [list(a) for a in self._alerts()],
            "notes": [list(n) for n in self._notes()],
            "owed": {"reversals": len(boot.reversals), "advices": len(boot.advices), "receipts": len(boot.receipts)},
            "keys": self.runner.core.keys.value if self.runner is not None else None,
            "power_cuts": list(self.power_cuts),
        }

    def _printed_order(self) -> list[tuple[int, str]]:
        order = list(self._printed_before)
        if self.runner is not None:
            order += self.runner.printed
        return order

    def _notes(self) -> list[tuple[str, str]]:
        out = list(self._notes_before)
        if self.runner is not None:
            out += self.runner.notes
        return out

    def _alerts(self) -> list[tuple[str, str]]:
        out = list(self._alerts_before)
        if self.runner is not None:
            out += self.runner.alerts
        return out

    def result(self, scenario: Scenario) -> dict:
        out = self.snapshot()
        out = {
            "scenario": scenario.name,
            "ok": not self.failures,
            "failures": list(self.failures),
            "skipped_checks": list(self.skipped),
            **out,
        }
        return out

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
