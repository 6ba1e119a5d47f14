"""``ScenarioRunner``: a scenario's steps played on the simulated devices, the host and the power.

It builds the terminal as ``posterm run`` would (``build_runner`` on ``sim://``
devices, the embedded host simulator unless ``--host`` names another), then
plays each parsed step (``steps``) and runs the terminal until it waits for a
person again. A power cut leaves the runner dead until a ``restart`` step, so
what survives is only what a real terminal keeps: the data directory, the
host, the printed paper. The menu walks are in ``menus``, the checks and the
result in ``report``.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from collections.abc import Callable, Mapping
from pathlib import Path

from crypto.provision import provision
from firmware.app import Overrides, build_runner
from firmware.config import Config, as_dict, parse_config
from firmware.core.model import State
from firmware.errors import ConfigError, ScenarioError, TerminalError
from firmware.runlock import run_lock
from firmware.runner import CrashPlan, PowerCut, Runner
from firmware.scenario.menus import MenuStepsMixin
from firmware.scenario.report import ReportMixin
from firmware.scenario.steps import _PRINTER_FAULTS, Scenario, Step
from hal.url import DeviceUrl

__all__ = ["ScenarioRunner", "fill_disk"]

# the pre-auth family's keys after F: the menu's second page (0), then 1-4 (flows.MENU_MORE_FLOWS)
_PREAUTH_KEYS = {"preauth": "F01", "preauth_cancel": "F02", "preauth_complete": "F03", "preauth_complete_void": "F04",
                 "preauth_advice": "F06"}


# The simulated devices' URLs. The printer has a Chinese font and mode, as the printers of the reference
# profile's (cup's) market do, so a scenario's Chinese merchant name is printed and shown in its receipts.
SIM_DEVICES = {"reader": "sim://", "pinpad": "sim://", "printer": "sim://?cjk=gb18030", "display": "sim://",
               "tamper": "sim://"}


def sim_devices(config: Mapping) -> dict[str, str]:
    """The simulated devices a scenario runs on: ``SIM_DEVICES``, with any the scenario's ``[config] devices``
    names, such as ``display = "sim://?rows=2&cols=16"`` (it was replaced by a 4 x 20 display without a word).
    Only a ``sim://`` URL: a scenario's devices are the simulators it drives, and its host the built-in simulator
    or ``--host``, so another scheme, or a link, is refused rather than silently dropped."""
    given = config.get("devices", {})
    for kind, url in given.items():
        if kind not in SIM_DEVICES or not isinstance(url, str) or not url.startswith("sim://"):
            where = "the host is the built-in simulator or --host" if kind == "link" else (
                f"a scenario's devices are simulated: {', '.join(SIM_DEVICES)} take a sim:// URL "
                "(e.g. display = \"sim://?rows=2&cols=16\")")
            raise ScenarioError(f"[config.devices] {kind} cannot be set here: {where}", code="scenario.bad_value")
    return {**SIM_DEVICES, **given}


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


class ScenarioRunner(MenuStepsMixin, ReportMixin):
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
        self.clock_moved = timedelta(0)  # what terminal.clock_from_host moved the terminal's clock by
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
        self.sim_urls = dict(SIM_DEVICES)  # with the scenario's own sim:// devices once it is read (sim_devices)
        self.runner: Runner | None = None
        self.power_cuts: list[str] = []
        self.failures: list[str] = []
        self.skipped: list[str] = []  # checks that cannot apply (the ledger of an external host)
        # how much paper, alerts and notes there were when the last run of expect steps ended: the next
        # run's printed, alerts and notes checks read only what came after, so a check never passes on
        # output from before the previous check (expect steps in a row share one stretch)
        self.expected_upto = (0, 0, 0)
        self._expect_run: tuple[int, tuple[int, int, int]] = (-2, (0, 0, 0))  # (last expect's index, its start)
        self._pending_cut: CrashPlan | None = None  # armed while the power is off
        self._armed_cuts: list[tuple[Step, CrashPlan]] = []  # every power_cut step's plan: each must fire
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
        self.sim_urls = sim_devices(scenario.config)
        merged["devices"].update(self.sim_urls)
        merged["devices"]["link"] = self.host_url or "tcp://127.0.0.1:1"  # replaced once the host is up
        return parse_config(merged, source=f"scenario {scenario.name}")

    def _start(self, config: Config) -> Config:
        from hal.registry import make_device

        if self.host_url is None:
            _check_lab_directory(self.data_dir)
            provision(self.data_dir, lab=True)
            if config.host.pin_keys == "dukpt":  # the lab DUKPT key, whose BDK the embedded host holds
                from crypto.dukpt_lab import lab_scheme_for, provision_lab_dukpt
                from firmware.host.profiles import get_profile

                # AES where the profile's field 52 carries a format 4 block (iso87-aes), else TDES (iso87)
                field = get_profile(config.host.profile).fields.get(52)
                provision_lab_dukpt(self.data_dir, lab_scheme_for(lambda size: field is not None and field.carries(size)))
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
        context = DeviceContext(data_dir=self.data_dir, pin_key=lambda: self.runner.pin_cipher() if self.runner else None)
        for kind, url in self.sim_urls.items():
            self.devices[kind] = make_device(kind, url, context)
        return config

    def _boot(self, config: Config, crash: CrashPlan | None) -> None:
        try:
            self.runner = build_runner(config, overrides=Overrides(devices=dict(self.devices)), crash=crash)
        except ConfigError as e:
            if e.code != "config.profile_changed":
                raise
            # A lab directory reused with another profile: what it owes is real even in a lab (kept refused), but
            # a demo or a scenario may simply start afresh elsewhere.
            raise ConfigError(f"{e.text}, or use a new --data-dir", code=e.code) from None
        self.runner.keep_history()  # the report maps every printed copy to the paper, and lists every alert
        if self.runner.set_clock is not None:  # terminal.clock_from_host: the simulated terminal's clock, not ours
            self.runner.set_clock = self._move_clock
            self.runner.clock = lambda: datetime.now() + self.clock_moved
        self.runner.boot()

    def _move_clock(self, offset: timedelta) -> None:
        """A scenario never sets the machine's clock it runs on (an engineer's laptop, against a real host
        with another time): it moves its terminal's, which survives a restart as a system clock would."""
        self.clock_moved += offset

    # -- running -------------------------------------------------------------
    def run(self, scenario: Scenario, *, after_step: Callable[[Step], None] | None = None) -> dict:
        """Run every step; ``after_step`` (tests) is called after each one, with the power on or off:
        it may read the data directory, or arm a ``CrashPlan`` on ``self.runner``."""
        try:  # a configuration refused still cleans up the temporary data directory
            with run_lock(self.data_dir, doing="run a scenario"):  # never beside a running terminal
                config = self._start(self._config(scenario))
                self._safely(lambda: self._boot(config, None))
                for step in scenario.steps:
                    self._step(step, config)
                    if after_step is not None:
                        after_step(step)
                self._check_cuts()
                self._check_end(scenario)
                return self.result(scenario)
        finally:
            self.close()

    def _check_cuts(self) -> None:
        """A power cut the flow never reached (or that a later power_cut or a restart disarmed) is a failure:
        otherwise a scenario written to test a power cut would pass as a plain run."""
        for step, plan in self._armed_cuts:
            if plan.seen < plan.count:
                self.failures.append(f"step {step.index}: power cut at {plan.point} never happened")

    def _check_end(self, scenario: Scenario) -> None:
        """A terminal that ended suspended (its storage failed) did nothing with the steps after the
        failure: the scenario passes only if it expected that state (AU9: a disk that filled after a few
        of forty scripted sales was 'scenario passed')."""
        if self.runner is None or self.runner.core.state is not State.SUSPENDED:
            return
        if any(s.kind == "expect" and s.value.get("state") == State.SUSPENDED.value for s in scenario.steps):
            return
        codes = sorted({code for code, _ in self.runner.alerts if code.startswith("storage.")})
        self.failures.append(f"the terminal ended suspended ({', '.join(codes) or 'storage failed'}): the steps "
                             "after the failure did nothing")

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
            self.runner.close_wait()  # as the kernel would close it
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
            plan = CrashPlan(str(value))
            self._armed_cuts.append((step, plan))
            if self.runner is None:
                self._pending_cut = plan
            else:
                self.runner.crash = plan
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
            reader = self.devices["reader"]  # a card name, or the tracks (steps.STEP_FORMS)
            if isinstance(value, str):
                reader.swipe_card(value)
            else:
                reader.swipe(**value)
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
            self._safely(lambda: runner.run_until(lambda: False, value))  # finite, 0 to steps.MAX_WAIT
            return
        if self.runner is not None:
            self._safely(lambda: None)

    # -- the link and the host -------------------------------------------------
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

        if step.value == "clear":
            self.processor.rules.clear()
            return
        try:  # the rule's table, already checked when the file was read (steps.STEP_FORMS)
            (rule,) = RuleBook.from_dicts([step.value]).rules
        except TerminalError as e:
            raise ScenarioError(f"step {step.index}: {e.text}") from None
        self.processor.rules.push(rule)

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


# The keys a data directory may hold for a scenario's own host simulator to load the lab keys beside:
# the published lab keys themselves (known by their check values, however they were loaded: provision
# --lab, a lab component or TR-31 injection), and the working keys a sign-on installed under them.
_SIGNED_ON = ("pin", "mac", "tdk")


def _check_lab_directory(data_dir: Path) -> None:
    """A scenario against its built-in host loads the published lab keys and writes that host's sales into
    its data directory: refuse one that is a real terminal's (a master or reader key that is not the lab
    one), and one zeroized after tamper (loading keys cleared the tamper record: a demo unlocked the
    terminal; an engineer re-keys with posterm provision). A new or lab directory is fine."""
    from crypto.keyring import KEK_FILE, Keyring
    from crypto.keys import kcv
    from crypto.provision import LAB_KEYS, lab_key

    from crypto.tamper import tamper_status

    tampered = tamper_status(data_dir)
    if tampered is not None:
        raise ScenarioError(f"{data_dir} holds a terminal zeroized after tamper ({tampered.reason}): a scenario "
                            "never re-keys it; re-key it first (posterm provision)", code="scenario.tampered")
    if not (Path(data_dir) / KEK_FILE).exists():
        return
    lab_seen = _check_lab_dukpt(Path(data_dir))  # a lab DUKPT key, or (below) any lab key in the ring
    lab = {usage.value: kcv(lab_key(usage)) for usage in LAB_KEYS}
    for entry in Keyring.load(Path(data_dir)).summary():
        usage = entry["usage"]
        if usage in lab and entry["kcv"] == lab[usage]:
            lab_seen = True
            continue
        if usage not in lab or (usage in _SIGNED_ON and entry["note"] == "sign-on"):
            continue
        raise ScenarioError(f"{data_dir} holds a terminal's own {usage.upper()} key (check value {entry['kcv']}, "
                            "not the lab key's): a scenario loads the published lab keys and its host simulator's "
                            "sales only into a new or lab data directory (use another --data-dir, or --host with "
                            "this terminal's host)", code="scenario.not_lab")
    if not lab_seen:  # posterm provision without --lab: a real terminal waiting for its master key (DOC24)
        raise ScenarioError(f"{data_dir} holds a terminal provisioned without the lab keys, its own master key "
                            "not injected yet: a scenario loads the published lab keys and its host simulator's "
                            "sales only into a new or lab data directory (use another --data-dir)",
                            code="scenario.not_lab")


def _check_lab_dukpt(data_dir: Path) -> bool:
    """A DUKPT terminal has no master key to tell it by: its DUKPT key is the lab one when it descends from
    a lab initial KSN (``crypto.dukpt_lab``), else it is a real terminal's (AU10). True: it holds the lab's."""
    import json

    from crypto.dukpt_device import STATE_FILE, DukptScheme
    from crypto.dukpt_lab import LAB_INITIAL_KSNS

    path = data_dir / STATE_FILE
    if not path.exists():
        return False
    try:
        doc = json.loads(path.read_text())
        scheme = DukptScheme(doc["scheme"])
        ident = str(doc["ident"]).upper()
    except (OSError, ValueError, KeyError, TypeError):
        ident, scheme = "", None
    lab = LAB_INITIAL_KSNS.get(scheme) if scheme is not None else None
    if lab is None or scheme.ident(lab).hex().upper() != ident:
        raise ScenarioError(f"{data_dir} holds a terminal's own DUKPT key (not descended from a lab initial KSN): "
                            "a scenario loads the published lab keys and its host simulator's sales only into a "
                            "new or lab data directory (use another --data-dir, or --host with this terminal's "
                            "host)", code="scenario.not_lab")
    return True

