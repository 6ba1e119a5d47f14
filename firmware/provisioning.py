"""``posterm provision --manifest``: a terminal brought up from its manifest in one step.

The order is what makes it safe to run again after any failure:

1. **Check, changing nothing** (``check``): the manifest and its configuration
   (``firmware.manifest``), where the configuration goes, the TR-31 block opened in
   memory under the KBPK and its KCV compared with the manifest's, the configuration
   text rendered. Then the terminal's state (``check_terminal``): a data directory
   provisioned as another terminal, or holding another master key, is refused unless
   ``--replace``; a ``--replace`` that would change anything is refused while anything
   is queued (and, if the terminal ID or merchant changes, while the open batch holds
   approved sales).
2. **Apply, each step idempotent** (``apply``, in ``firmware.provisioning_apply``): the
   device KEK and at-rest keys if absent; the identity record (``provisioned.json``:
   terminal and merchant ID, master key KCV; no secret); the master key unless the same
   one is loaded (one atomic key-ring write, so a failure leaves the old ring or the new,
   never half a key); the configuration (atomic, 0644); the supervisor's hash.
3. **The offline selftest** on the written configuration.

A re-run finds each step done and says so (``Outcome.EXISTING``). The report carries
KCVs and outcomes only: no key, KBPK, password or hash.

``--replace`` re-provisions: another master key replaces the loaded one (the working
keys go with it: the terminal signs on at its next start), the identity record and the
configuration are rewritten, and the supervisor gets the manifest's hash. It never
discards a stored record: while a reversal, an offline sale or advice, a request
without its answer, an owed receipt or an owed batch upload is queued, it refuses
(``provision.queued``), and a new terminal or merchant ID also waits for the open
batch to be settled (``provision.open_batch``), since its totals belong to the old
identity. Start the terminal to send the queue and settle, then re-run.
"""

from __future__ import annotations

import enum
import hmac
import json
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.secrets import SecretKey
from firmware.errors import (
    ConfigError,
    CryptoError,
    StateError,
    StorageError,
    TerminalError,
)
from firmware.manifest import Manifest, load_manifest, render_config

__all__ = ["IDENTITY_FILE", "REFUSALS", "Identity", "Outcome", "Plan", "Report", "Request", "Step", "check",
           "check_terminal", "provision_from_manifest", "queued_records"]

log = logging.getLogger(__name__)

IDENTITY_FILE = "provisioned.json"
# Refusals because of what the terminal holds: the manifest is fine (exit 1, not 2).
REFUSALS = frozenset({"provision.other_terminal", "provision.other_master_key", "provision.queued",
                      "provision.open_batch", "storage.in_use"})


class Outcome(enum.Enum):
    CREATED = "created"
    EXISTING = "existing"  # already there as the manifest says: left alone
    REPLACED = "replaced"
    KEPT = "kept"  # differs from the manifest but left alone on purpose (said in the detail)
    FAILED = "failed"  # the step the run stopped at (a full disk, a write refused): the detail says why


@dataclass(frozen=True)
class Step:
    name: str
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class Request:
    manifest: Path
    data_dir: Path
    config_out: Path
    kbpk: SecretKey | None = None  # --kbpk (the lab); else the ring's KBPK
    replace: bool = False
    online: bool = False  # the selftest also connects to the host


@dataclass(frozen=True)
class Identity:
    """Who a data directory was provisioned as (``provisioned.json``, 0600; no secret in it)."""

    terminal_id: str
    merchant_id: str
    tmk_kcv: str
    supervisor: str = ""  # the fingerprint of the hash a manifest last set
    provisioned_at: str = ""

    @classmethod
    def load(cls, data_dir: Path) -> Identity | None:
        path = Path(data_dir) / IDENTITY_FILE
        try:
            doc = json.loads(path.read_text())
            return cls(str(doc["terminal_id"]), str(doc["merchant_id"]), str(doc["tmk_kcv"]),
                       str(doc.get("supervisor", "")), str(doc.get("provisioned_at", "")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            raise StorageError(f"{path} is damaged: remove it only if this terminal's identity is known",
                               code="provision.record_damaged") from None

    def save(self, data_dir: Path) -> None:
        from crypto.keyring import write_private

        doc = {"format": 1, "terminal_id": self.terminal_id, "merchant_id": self.merchant_id,
               "tmk_kcv": self.tmk_kcv, "supervisor": self.supervisor, "provisioned_at": self.provisioned_at}
        write_private(Path(data_dir) / IDENTITY_FILE, (json.dumps(doc, indent=1) + "\n").encode())


@dataclass
class Plan:
    """What the checks found; nothing is changed yet. ``tmk`` is wiped by ``apply`` (or ``close``)."""

    request: Request
    manifest: Manifest
    tmk: SecretKey
    tmk_kcv: str
    tmk_version: str  # the key block's version letter, for the key ring's note
    identity: Identity | None  # as found: the record, else the existing configuration's terminal
    loaded_kcv: str | None  # the master key the terminal holds now
    config_text: str
    config_before: str | None

    @property
    def data_dir(self) -> Path:
        return self.manifest.config.data_dir

    def close(self) -> None:
        self.tmk.wipe()


# -- 1. checks (nothing changes) ----------------------------------------------------------
def _check_config_out(path: Path, manifest_path: Path) -> None:
    def bad(text: str) -> ConfigError:
        return ConfigError(text, code="provision.config_out")

    if path.is_dir():
        raise bad(f"--config-out {path} is a directory, not a file")
    if not path.parent.is_dir():
        raise bad(f"--config-out: the directory {path.parent} does not exist")
    if path.exists() and path.resolve() == manifest_path.resolve():
        raise bad("--config-out names the manifest itself")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise bad(f"--config-out {path} cannot be written")


def _existing_config(path: Path) -> tuple[str | None, Identity | None]:
    """The configuration already at ``path`` and, if it names its terminal, that identity."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError):
        return None, None  # unreadable: it is replaced, and says nothing of a terminal
    try:
        terminal = tomllib.loads(text).get("terminal", {})
    except tomllib.TOMLDecodeError:
        return text, None
    if isinstance(terminal, dict) and isinstance(terminal.get("terminal_id"), str):
        return text, Identity(terminal["terminal_id"], str(terminal.get("merchant_id", "")), "")
    return text, None


def check(request: Request) -> Plan:
    """Everything that can be checked before a change; ``TerminalError`` naming the first problem."""
    from crypto.inject import kbpk_for, open_tmk_tr31
    from crypto.keyring import KEK_FILE, Keyring
    from crypto.keys import KeyUsage, kcv

    manifest = load_manifest(request.manifest, data_dir=request.data_dir)
    _check_config_out(Path(request.config_out), Path(request.manifest))
    data_dir = manifest.config.data_dir
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"--data-dir {data_dir} is not a directory", code="provision.data_dir")
    ring = Keyring.load(data_dir) if (data_dir / KEK_FILE).exists() else None
    kbpk = kbpk_for(ring, request.kbpk)
    try:
        opened = open_tmk_tr31(kbpk, manifest.tr31)
    finally:
        if kbpk is not request.kbpk:
            kbpk.wipe()  # the ring's copy; the caller wipes its own
    try:
        full = kcv(opened.key)
        if not hmac.compare_digest(full[: len(manifest.kcv)], manifest.kcv):
            raise CryptoError(f"the master key in the TR-31 block has KCV {full}, the manifest expects "
                              f"{manifest.kcv}: a block for another terminal, or a wrong KCV", code="provision.kcv_mismatch")
        config_before, configured = _existing_config(Path(request.config_out))
        identity = Identity.load(data_dir) or configured
        loaded = ring.entry(KeyUsage.TMK).kcv if ring is not None and ring.has(KeyUsage.TMK) else None
        return Plan(request, manifest, opened.key, full, opened.header.version, identity, loaded,
                    render_config(manifest), config_before)
    except BaseException:
        opened.key.wipe()
        raise


def queued_records(data_dir: Path) -> tuple[dict[str, int], int]:
    """What a re-provisioning must not lose: queued items by kind, and approved records in the open batch."""
    from storage.store import DB_FILE, Store

    if not (Path(data_dir) / DB_FILE).exists():
        return {}, 0
    store = Store.open_read_only(data_dir)  # changes nothing; an older schema: start the terminal once
    try:
        state = store.boot_state()
        reversing = {r.txn_no for r in state.reversals}
        queued = {"reversals": len(reversing), "offline sales and advices": len(state.advices),
                  "requests without an answer": len(set(state.interrupted) - reversing),  # the next start reverses
                  "receipts owed": len({job.record.txn_no for job in state.receipts}),
                  "batch uploads owed": int(store.upload_owed() is not None)}
        open_batch = sum(r.state.value in ("approved", "offline_approved")
                         for r in store.batch_records(state.counters.batch))
    finally:
        store.close()
    return {k: n for k, n in queued.items() if n}, open_batch


def check_terminal(plan: Plan) -> None:
    """Refuse a terminal that is someone else (``provision.other_terminal``) or holds another master key
    (``provision.other_master_key``) unless ``--replace``; refuse a replacement that could lose a record."""
    m, found = plan.manifest, plan.identity
    other_identity = found is not None and (found.terminal_id != m.terminal_id or
                                            found.merchant_id not in ("", m.merchant_id))  # "": a config without one
    other_key = plan.loaded_kcv is not None and plan.loaded_kcv != plan.tmk_kcv
    if not plan.request.replace:
        if other_identity:
            raise StateError(f"this terminal was provisioned as terminal {found.terminal_id} of merchant "
                             f"{found.merchant_id or '?'}, not {m.terminal_id} of {m.merchant_id}: check the manifest, "
                             "or give --replace", code="provision.other_terminal")
        if other_key:
            raise StateError(f"this terminal holds another master key (KCV {plan.loaded_kcv}; the manifest's is "
                             f"{plan.tmk_kcv}): check the manifest, or give --replace", code="provision.other_master_key")
        return
    if not (other_identity or other_key):
        return  # --replace with nothing to replace: an ordinary run
    queued, open_batch = queued_records(plan.data_dir)
    if queued:
        what = ", ".join(f"{n} {k}" for k, n in queued.items())
        raise StateError(f"not replaced: the terminal still holds {what}; start it to send them (and settle), "
                         "then provision again", code="provision.queued")
    if other_identity and open_batch:
        raise StateError(f"not replaced: the open batch holds {open_batch} approved transaction(s) of terminal "
                         f"{found.terminal_id}; settle it first", code="provision.open_batch")


# -- the whole run and its report -----------------------------------------------------------
@dataclass
class Report:
    terminal_id: str = ""
    merchant_id: str = ""
    data_dir: str = ""
    config: str = ""
    steps: list[Step] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)  # usage, version, KCV, note: never a key
    selftest: list = field(default_factory=list)  # firmware.selftest.CheckResult
    error: TerminalError | None = None
    exit_code: int = 0
    checked_only: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def as_dict(self) -> dict[str, Any]:
        from firmware.selftest import passed

        by = {o: [s.name for s in self.steps if s.outcome is o] for o in Outcome}
        return {
            "ok": self.ok, "exit_code": self.exit_code, "checked_only": self.checked_only,
            "terminal_id": self.terminal_id, "merchant_id": self.merchant_id,
            "data_dir": self.data_dir, "config": self.config,
            "kcvs": {k["usage"]: k["kcv"] for k in self.keys},
            "keys": self.keys,
            "steps": [{"step": s.name, "result": s.outcome.value, "detail": s.detail} for s in self.steps],
            **{o.value: by[o] for o in Outcome},
            "selftest": None if not self.selftest else {
                "passed": passed(self.selftest), "results": [r.as_dict() for r in self.selftest]},
            "error": None if self.error is None else {"code": self.error.code, "text": self.error.text},
        }

    def lines(self) -> list[str]:
        from firmware.selftest import format_line, passed

        out = [f"terminal {self.terminal_id}  merchant {self.merchant_id}  data {self.data_dir}"] if self.terminal_id else []
        out += [f"{s.name:<13} {s.outcome.value:<9} {s.detail}" for s in self.steps]
        out += [f"selftest {format_line(r)}" for r in self.selftest]
        if self.error is not None:
            out.append(f"FAILED [{self.error.code}]: {self.error.text}")
        elif self.checked_only:
            out.append("manifest OK for this terminal; nothing was changed (--check)")
        else:
            verdict = "passed" if passed(self.selftest) else "FAILED: fix the FAIL lines and provision again"
            out.append(f"provisioned; selftest {verdict}")
        return out


def provision_from_manifest(request: Request, *, check_only: bool = False) -> Report:
    """Check, apply, selftest. Exit code 0 ok; 2 nothing changed because the manifest or the command
    line is wrong; 1 refused by the terminal's state (``REFUSALS``: a ``posterm run`` on the data
    directory too), a step failed, or the selftest failed."""
    from firmware.runlock import run_lock

    report = Report(data_dir=str(Path(request.data_dir).absolute()), config=str(request.config_out),
                    checked_only=check_only)
    try:
        with run_lock(request.data_dir, doing="provision"):  # not under a running terminal
            return _provision(request, report, check_only)
    except TerminalError as e:
        report.error, report.exit_code = e, 1
        log.info("provision refused [%s]: %s", e.code, e.text)
        return report
    except OSError as e:  # outside any step (the manifest's check, the lock): still this run's report
        report.error = StorageError(f"provisioning failed: {e.strerror or type(e).__name__}", code="provision.io")
        report.exit_code = 1
        log.info("provision failed [provision.io]: %s", report.error.text)
        return report


def _provision(request: Request, report: Report, check_only: bool) -> Report:
    # provisioning_apply: not at the top, as it imports this module's records
    from crypto.keyring import Keyring
    from firmware import selftest
    from firmware.provisioning_apply import Progress, apply

    changed = False
    try:
        plan = check(request)
        report.terminal_id, report.merchant_id = plan.manifest.terminal_id, plan.manifest.merchant_id
        report.data_dir = str(plan.data_dir)
        try:
            check_terminal(plan)
        except BaseException:
            plan.close()
            raise
        if check_only:
            plan.close()
            report.keys = [{"usage": "tmk", "version": 0, "kcv": plan.tmk_kcv, "note": "in the manifest"}]
            return report
        changed = True
        progress = Progress(report.steps)  # the steps done so far stay in the report whatever happens
        try:
            apply(plan, progress)
        except TerminalError as e:  # StorageError and DeviceError are OSErrors too: keep their codes
            report.steps.append(Step(progress.current, Outcome.FAILED, f"[{e.code}] {e.text}"))
            raise
        except OSError as e:  # a disk that fails under a step: the step names it, the run can be repeated
            error = StorageError(f"a provisioning step failed: {e.strerror or type(e).__name__}",
                                 code="provision.io")
            report.steps.append(Step(progress.current, Outcome.FAILED, f"[{error.code}] {error.text}"))
            raise error from None
        report.keys = Keyring.load(plan.data_dir).summary()
    except TerminalError as e:
        report.error = e
        report.exit_code = 1 if changed or e.code in REFUSALS else 2
        log.info("provision refused or failed [%s]: %s", e.code, e.text)
        return report
    report.selftest = selftest.run_selftest(selftest.Target(config_path=Path(request.config_out),
                                                            online=request.online))
    report.exit_code = 0 if selftest.passed(report.selftest) else 1
    log.info("provision of terminal %s done: %s", report.terminal_id, selftest.summary(report.selftest,
                                                                                       online=request.online))
    return report
