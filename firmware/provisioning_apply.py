"""Step 2 of ``posterm provision --manifest``: make the terminal what a checked ``Plan`` says.

Kept apart from ``firmware.provisioning`` (the request, the checks that change nothing, the
run and its report) because this is the only part that writes, and what makes a re-run safe
lives here: each step looks at what is there first and says what it found
(``Outcome.EXISTING``), the identity is claimed before the master key goes in, and the key
ring is written once. ``firmware.provisioning`` calls ``apply`` only after its checks passed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from firmware.provisioning import Identity, Outcome, Plan, Step

__all__ = ["STEPS", "Progress", "apply"]

# The steps ``apply`` takes, in order.
STEPS = ("device_key", "data_key", "pan_hash_key", "identity", "master_key", "config", "supervisor")


@dataclass
class Progress:
    """How far ``apply`` got: the steps done (each appended as it is done) and the step it is in (``current``,
    set before the step's work starts), so a failure names the step it stopped in, not a guess from the ones
    done (the identity's second save, after the supervisor step, was named "supervisor")."""

    steps: list[Step] = field(default_factory=list)
    current: str = ""

log = logging.getLogger("firmware.provisioning")  # the run's one logger, as before this part had its own module


def _fingerprint(stored_hash: str) -> str:
    """Tells whether the supervisor's hash is still the one a manifest set (useless for guessing: no salt)."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


def _keys(plan: Plan, progress: Progress):
    from crypto.keyring import KEK_FILE, Keyring
    from crypto.keys import KeyUsage
    from crypto.provision import provision

    data_dir = plan.data_dir
    before = Keyring.load(data_dir) if (data_dir / KEK_FILE).exists() else None
    progress.current = "device_key"
    try:
        ring = provision(data_dir)  # the KEK and the at-rest keys, each only if absent
    except BaseException:
        progress.current = _missing_key(data_dir)  # one call makes the three: the first not on disk stopped it
        if progress.current != "device_key":  # the device key it made (or found) is done
            progress.steps.append(Step("device_key", Outcome.EXISTING if before is not None else Outcome.CREATED))
        raise
    steps = progress.steps
    steps.append(Step("device_key", Outcome.EXISTING if before is not None else Outcome.CREATED,
                      f"KCV {ring.kek.check_value()}"))
    for name, usage in (("data_key", KeyUsage.DATA), ("pan_hash_key", KeyUsage.PAN_HASH)):
        there = before is not None and before.has(usage)
        steps.append(Step(name, Outcome.EXISTING if there else Outcome.CREATED, f"KCV {ring.entry(usage).kcv}"))
    return ring


def _missing_key(data_dir: Path) -> str:
    """The first of the device, data and PAN-hash keys not on disk (after ``provision`` failed)."""
    from crypto.keyring import KEK_FILE, Keyring
    from crypto.keys import KeyUsage

    if not (data_dir / KEK_FILE).exists():
        return "device_key"
    try:
        ring = Keyring.load(data_dir)
    except Exception:  # a ring it could not read back: the data key's write is where it stopped
        return "data_key"
    return "data_key" if not ring.has(KeyUsage.DATA) else "pan_hash_key"


def _master_key(plan: Plan, ring, steps: list[Step]) -> None:
    from crypto.inject import inject_key
    from crypto.keys import KeyUsage

    if ring.has(KeyUsage.TMK) and ring.entry(KeyUsage.TMK).kcv == plan.tmk_kcv:
        steps.append(Step("master_key", Outcome.EXISTING, f"KCV {plan.tmk_kcv}"))
        return
    outcome = Outcome.REPLACED if ring.has(KeyUsage.TMK) else Outcome.CREATED
    # one key-ring write: the old ring or the new one survives a failure, never half a key
    inject_key(ring, KeyUsage.TMK, plan.tmk, expected_kcv=plan.manifest.kcv, note=f"TR-31 {plan.tmk_version} manifest")
    steps.append(Step("master_key", outcome, f"KCV {plan.tmk_kcv}; working keys come at the next sign-on"))


def _config(plan: Plan, steps: list[Step]) -> None:
    from crypto.keyring import write_atomic

    path = Path(plan.request.config_out)
    if plan.config_before == plan.config_text and (path.stat().st_mode & 0o777) == 0o644:
        steps.append(Step("config", Outcome.EXISTING, str(path)))
        return
    write_atomic(path, plan.config_text.encode("utf-8"), 0o644)
    steps.append(Step("config", Outcome.CREATED if plan.config_before is None else Outcome.REPLACED, str(path)))


def _supervisor(plan: Plan, identity: Identity | None, steps: list[Step]) -> bool:
    """Set the manifest's hash unless the supervisor changed it on the terminal since (then --replace
    sets it). True when the stored hash is the manifest's afterwards."""
    from storage.operators import SUPERVISOR, OperatorBook
    from storage.store import Store

    wanted = plan.manifest.supervisor_hash
    store = Store.open(plan.data_dir)  # creates the database on a fresh terminal
    try:
        book = OperatorBook(store.conn)
        current = book.get(SUPERVISOR)
        if current.password_hash == wanted:
            steps.append(Step("supervisor", Outcome.EXISTING, "the manifest's password hash"))
            return True
        ours = identity is not None and identity.supervisor == _fingerprint(current.password_hash)
        if not (current.default_password or ours or plan.request.replace):
            steps.append(Step("supervisor", Outcome.KEPT, "changed on the terminal since it was provisioned; "
                              "--replace sets the manifest's"))
            return False
        book.set_hash(SUPERVISOR, wanted, datetime.now())
        steps.append(Step("supervisor", Outcome.CREATED if current.default_password else Outcome.REPLACED,
                          "the manifest's password hash (the default password is gone)"))
        return True
    finally:
        store.close()


def apply(plan: Plan, progress: Progress | None = None) -> list[Step]:
    """Make the terminal what the manifest says; ``plan.tmk`` is wiped whatever happens. Each step done is
    appended to ``progress.steps`` as it is done and ``progress.current`` names the step under way, so a
    caller's record says how far a failed run got and where it stopped."""
    progress = Progress() if progress is None else progress
    steps = progress.steps
    try:
        m = plan.manifest
        ring = _keys(plan, progress)
        progress.current = "identity"
        record = Identity.load(plan.data_dir)
        same = record is not None and (record.terminal_id, record.merchant_id) == (m.terminal_id, m.merchant_id)
        claimed = Identity(m.terminal_id, m.merchant_id, plan.tmk_kcv, record.supervisor if same else "",
                           record.provisioned_at if same else datetime.now(timezone.utc).isoformat(timespec="seconds"))
        if claimed != record:  # claimed before the key goes in: a half-provisioned terminal is already this one
            claimed.save(plan.data_dir)
        steps.append(Step("identity", Outcome.EXISTING if same and claimed == record else
                          Outcome.REPLACED if record is not None else Outcome.CREATED,
                          f"terminal {m.terminal_id}, merchant {m.merchant_id}"))
        progress.current = "master_key"
        _master_key(plan, ring, steps)
        progress.current = "config"
        _config(plan, steps)
        progress.current = "supervisor"
        if _supervisor(plan, claimed, steps):
            final = Identity(claimed.terminal_id, claimed.merchant_id, claimed.tmk_kcv,
                             _fingerprint(m.supervisor_hash), claimed.provisioned_at)
            if final != claimed:
                progress.current = "identity"  # its record of the supervisor's hash, written again
                final.save(plan.data_dir)
        progress.current = ""
        for step in steps:
            log.info("provision %s: %s %s", step.name, step.outcome.value, step.detail)
        return steps
    finally:
        plan.close()
