"""``posterm selftest``: can this terminal take a sale, and if not, what exactly is wrong?

A field engineer runs it after flashing and provisioning. Each check is a
function of the shared ``Target`` returning one ``CheckResult``; the list
``plan()`` makes is data, run in order by ``run_checks``. A check never
raises: a ``TerminalError`` becomes FAIL with its own code and text, anything
else FAIL ``selftest.crashed`` (logged in full at debug, never on the
console). A check whose prerequisite did not pass is SKIP, saying which.
The checks that open the devices and the host link (through the HAL registry) are in
``firmware.selftest_devices``, the storage check in ``firmware.selftest_storage``, the
operators' check in ``firmware.operators``.

What a selftest may change, and nothing more: the ``heartbeat`` setting
(``Store.check`` is how a durable commit is measured) and, when the database
does not exist yet, a scratch database in the data directory that is removed
again. It takes no STAN, writes no journal row, finishes no key rotation and
sends nothing to the host: without ``--online`` the link device is only opened and
closed (a modem's port; nothing dialled), with it the host is connected and
disconnected. Results
carry KCVs at most, never a key or card data.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from firmware.config import Config, load_config
from firmware.errors import CryptoError, TerminalError

__all__ = ["DEVICE_KINDS", "Check", "CheckResult", "Status", "Target", "format_line", "passed", "plan",
           "run_checks", "run_selftest", "summary"]

log = logging.getLogger(__name__)

DEVICE_KINDS = ("reader", "pinpad", "printer", "display", "tamper")  # tamper only when one is fitted

class Status(enum.Enum):
    PASS = "pass"
    WARN = "warn"  # sales work, but something needs attention soon
    FAIL = "fail"  # this terminal cannot take a sale until it is fixed
    SKIP = "skip"  # not checked: a prerequisite failed, or not asked for


_SEVERITY = {Status.PASS: 0, Status.SKIP: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    code: str = ""  # the error code for WARN/FAIL, "" when it passed
    text: str = ""  # one sentence an operator can read
    detail: str = ""  # measured figures and secondary findings

    def as_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["status"] = self.status.value
        return d


@dataclass
class Target:
    """What the checks look at. ``config`` is filled in by the ``config`` check."""

    config_path: Path | None = None
    data_dir: Path | None = None  # overrides storage.data_dir
    online: bool = False
    # Ready-made devices by kind (simulators a test drives), used instead of the configured URLs.
    devices: Mapping[str, Any] = field(default_factory=dict)
    host: Any = None  # the in-process host behind a sim:// link (default: the built-in simulator)
    firmware_root: Path | None = None  # the tree the firmware check reads (default: the running firmware's)
    config: Config | None = None


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Target], CheckResult]
    needs: tuple[str, ...] = ("config",)


# -- the framework -------------------------------------------------------------------
def _run_one(check: Check, target: Target) -> CheckResult:
    try:
        return check.run(target)
    except TerminalError as e:
        return CheckResult(check.name, Status.FAIL, e.code, e.text)
    except Exception as e:  # never a traceback on the console; the debug log has it
        log.debug("selftest check %s crashed", check.name, exc_info=True)
        return CheckResult(
            check.name,
            Status.FAIL,
            "selftest.crashed",
            f"the {check.name} check crashed ({type(e).__name__}); run with the log level at debug for details",
        )


def run_checks(checks: Iterable[Check], target: Target) -> list[CheckResult]:
    """Run ``checks`` in order; a check whose prerequisite did not pass (or warn) is SKIP."""
    results: dict[str, CheckResult] = {}
    for check in checks:
        blocked = [n for n in check.needs if n in results and results[n].status in (Status.FAIL, Status.SKIP)]
        if blocked:
            dep = results[blocked[0]]
            why = "failed" if dep.status is Status.FAIL else "was skipped"
            result = CheckResult(check.name, Status.SKIP, "", f"not checked: the {dep.name} check {why}")
        else:
            result = _run_one(check, target)
        log.debug("selftest %s %s %s %s", result.name, result.status.name, result.code, result.text)
        results[check.name] = result
    return list(results.values())


def plan(target: Target) -> list[Check]:
    """The checks, in order. Which devices are checked depends on the configuration, so it is read first."""
    # not at the top: that module imports this one
    from firmware.selftest_devices import check_device, check_host, check_link
    from firmware.selftest_storage import check_storage

    from firmware.runlock import lock_holder

    checks = [Check("config", check_config, needs=()), Check("firmware", check_firmware, needs=()),
              Check("storage", check_storage), Check("keys", check_keys)]
    running = None
    try:
        config = _load(target)
        fitted = not config.devices.tamper.startswith("none:")
        if config.operators.required or config.operators.supervisor_for:
            from firmware.operators import check_operators

            checks.append(Check("operators", check_operators, needs=("config", "storage")))
        running = lock_holder(config.data_dir)  # posterm run holds its devices (a serial port exclusively)
    except TerminalError:
        fitted = False  # not known: the config check reports why
    for kind in DEVICE_KINDS:
        if kind == "tamper" and not fitted and kind not in target.devices:
            continue  # no switch fitted: nothing to check
        checks.append(_unless_running(kind, functools.partial(check_device, kind), running, target))
    # the link device: opened and closed offline; --online connects through it instead (the host check)
    link = "host" if target.online else "link"
    checks.append(_unless_running(link, check_host if target.online else check_link, running, target))
    return checks


def _unless_running(name: str, run: Callable[[Target], CheckResult], running: str | None, target: Target) -> Check:
    """The check, or, while ``posterm run`` (pid ``running``) holds the data directory, a SKIP saying its device
    was not opened: opening a port the terminal holds fails a working device (a simulator a test hands in is
    checked still). The running terminal is the better test of its devices; stop it to check them here."""
    device = "link" if name == "host" else name
    if running is None or device in target.devices:
        return Check(name, run)
    return Check(name, lambda _t: CheckResult(name, Status.SKIP, "selftest.in_use",
                                              f"in use by posterm run (pid {running}): not opened"))


def run_selftest(target: Target) -> list[CheckResult]:
    return run_checks(plan(target), target)


def _load(target: Target) -> Config:
    config = load_config(target.config_path)
    if target.data_dir is not None:
        config = config.replace({"storage": {"data_dir": str(target.data_dir)}})
    return config


def _worst(name: str, findings: list[tuple[Status, str, str]], ok_text: str, facts: list[str]) -> CheckResult:
    """One result from several findings: the most severe one leads, the rest go to the detail."""
    if not findings:
        return CheckResult(name, Status.PASS, "", ok_text, "; ".join(facts))
    ordered = sorted(findings, key=lambda f: -_SEVERITY[f[0]])  # stable: first found wins a tie
    status, code, text = ordered[0]
    others = [f"{s.name} {t} [{c}]" for s, c, t in ordered[1:]]
    return CheckResult(name, status, code, text, "; ".join(others + facts))


# -- config ---------------------------------------------------------------------------
def check_config(target: Target) -> CheckResult:
    target.config = _load(target)
    source = str(target.config_path) if target.config_path else "built-in defaults (no configuration file)"
    return CheckResult("config", Status.PASS, "", f"{source} is valid", f"data directory {target.config.data_dir}")


# -- firmware -------------------------------------------------------------------------
def check_firmware(target: Target) -> CheckResult:
    """Whether this firmware starts from its bytecode (``firmware.bytecode``): without it every start compiles
    each module again, seconds on a Pi Zero. Sales still work: a WARN."""
    from firmware import bytecode

    root = target.firmware_root or Path(bytecode.__file__).resolve().parent.parent
    stale, count = bytecode.stale_sources(root)
    kept = bytecode.class_code_kept(root)
    if not stale and kept:
        return CheckResult("firmware", Status.PASS, "", f"its {count} modules start from their bytecode", str(root))
    fix = f"reinstall posterm, or run python3 -m firmware.bytecode {root}"
    if not stale:  # firmware/classcode.py
        return CheckResult("firmware", Status.WARN, "firmware.no_bytecode",
                           "the code of its dataclasses' methods is not kept beside its bytecode, so every start "
                           f"compiles it again (a slower start): {fix}", "firmware/__pycache__/dataclasses.*.marshal")
    shown = ", ".join(stale[:3]) + (f" and {len(stale) - 3} more" if len(stale) > 3 else "")
    return CheckResult("firmware", Status.WARN, "firmware.no_bytecode",
                       f"{len(stale)} of its {count} modules have no up-to-date bytecode, so every start compiles "
                       f"them again (a slower start): {fix}", shown)


# -- keys -----------------------------------------------------------------------------
def _reader_is_sred(target: Target) -> bool:
    from hal.magstripe.raw import OutputFormat
    from hal.registry import make_device

    reader = target.devices.get("reader")
    if reader is None:
        try:
            reader = make_device("reader", target.config.devices.reader)  # constructed only, never opened
        except Exception:  # the reader check reports it
            log.debug("reader not constructed for the SRED check", exc_info=True)
            return False
    return getattr(reader, "output_format", None) is OutputFormat.MAGTEK


def check_keys(target: Target) -> CheckResult:
    from crypto.keyring import Keyring
    from crypto.keys import KeyUsage
    from crypto.provision import TerminalKeys
    from crypto.tamper import tamper_status
    from firmware.bridge import HostBridge
    from storage.rekey import rotation_pending

    assert target.config is not None
    data_dir = target.config.data_dir
    record = tamper_status(data_dir)
    if record is not None:
        raise CryptoError(record.text, code="keys.tampered")
    ring = Keyring.load(data_dir)  # keys.not_provisioned, keys.permissions, keys.kek_mismatch ...
    # Unwraps every key the runner loads and checks its KCV. The PIN key (the only one held as a
    # wipeable secret) is wiped at once; the MAC and sealing contexts go with the object, as in the runner.
    keys = TerminalKeys.load(ring, mac_context=HostBridge.from_config(target.config).mac_context)
    working = keys.pin_key is not None and keys.mac is not None
    if keys.pin_key is not None:
        keys.pin_key.wipe()
    findings: list[tuple[Status, str, str]] = []
    has_tmk = ring.has(KeyUsage.TMK)
    if not has_tmk and not working:
        findings.append((Status.FAIL, "keys.no_master_key", "no terminal master key: inject one (posterm keys inject)"))
    elif not working:
        findings.append((Status.WARN, "keys.need_sign_on", "no working keys: sign on before the first sale"))
    elif not has_tmk:
        findings.append((Status.WARN, "keys.no_master_key",
                         "working keys but no terminal master key: a new sign-on will not be possible"))
    if _reader_is_sred(target) and not ring.has(KeyUsage.SRED):
        findings.append((Status.FAIL, "keys.no_sred", "the reader encrypts its tracks but no SRED key is loaded"))
    if rotation_pending(ring):
        findings.append((Status.WARN, "keys.rotation_pending",
                         "a data-key rotation was interrupted; posterm run finishes it at the next start"))
    shown = (KeyUsage.TMK, KeyUsage.PIN, KeyUsage.MAC, KeyUsage.SRED)
    facts = [f"{e['usage']} v{e['version']} KCV {e['kcv']}" for e in ring.summary() if e["usage"] in shown]
    findings += _dukpt_findings(target, facts)
    if any(e["note"] == "LAB TEST KEY" for e in ring.summary()):
        facts.append("LAB TEST KEYS: never for real cards")
    return _worst("keys", findings, "master and working keys loaded, not tampered", facts)


def _dukpt_findings(target: Target, facts: list[str]) -> list[tuple[Status, str, str]]:
    """DUKPT (``host.pin_keys = "dukpt"``): the key is loaded, fits the profile, and how many counters are left.
    Reads the state only: a selftest spends no counter and reserves none."""
    from crypto.dukpt_device import DukptDevice
    from crypto.dukpt_reserve import (
        LOW_COUNTERS,
        PIN_BLOCK_SIZE,
        PIN_FORMATS,
        counters_left,
    )
    from firmware.host.profiles import get_profile

    assert target.config is not None
    data_dir, wanted = target.config.data_dir, target.config.host.pin_keys == "dukpt"
    if not DukptDevice.exists(data_dir):
        if wanted:
            return [(Status.FAIL, "keys.no_dukpt",
                     'host.pin_keys is "dukpt" but no DUKPT key is loaded: run posterm keys inject-dukpt')]
        return []
    device = DukptDevice.load(data_dir)
    try:
        left = counters_left(device.counter, *device.counter_bits)
        scheme = device.scheme
    finally:
        device.wipe()
    facts.append(f"DUKPT {scheme.value}: {left:,} counters left" + ("" if wanted else " (not used: pin_keys session)"))
    if not wanted:
        return []
    field = get_profile(target.config.host.profile).fields.get(52)
    size = PIN_BLOCK_SIZE[PIN_FORMATS[scheme]]
    if field is None or not field.carries(size):
        return [(Status.FAIL, "keys.dukpt_pin_field",
                 f"{scheme.value} DUKPT makes {size}-byte PIN blocks; field 52 of the profile cannot carry them")]
    if left == 0:
        return [(Status.FAIL, "dukpt.exhausted", "the DUKPT key is exhausted: inject a new initial key")]
    if left < LOW_COUNTERS:
        return [(Status.WARN, "keys.dukpt_low",
                 f"only {left:,} DUKPT counters left: inject a new initial key soon")]
    return []



# -- output ---------------------------------------------------------------------------
def format_line(result: CheckResult) -> str:
    line = f"{result.status.name:<5} {result.name:<9} {result.text}"
    if result.code and result.status in (Status.WARN, Status.FAIL):
        line += f" [{result.code}]"
    if result.detail:
        line += f"; {result.detail}"
    return line


def passed(results: Iterable[CheckResult]) -> bool:
    return not any(r.status is Status.FAIL for r in results)


def summary(results: list[CheckResult], *, online: bool) -> str:
    counts = {s: sum(r.status is s for r in results) for s in Status}
    parts = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    verdict = "ready to take a sale" if passed(results) else "cannot take a sale until the FAIL lines are fixed"
    if passed(results) and not online:
        verdict += " (host link not tried: add --online)"
    return f"selftest: {parts}: {verdict}"
