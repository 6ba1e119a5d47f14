"""``posterm selftest``'s storage check: the data directory, its database and the disk under it.

Private modes, free space, a durable commit's cost (measured on the terminal's
database through ``Store.check``, or on a scratch database removed again when
there is none yet or its schema is older), the schema against this firmware,
damaged pages, an emptied database beside used keys, and a host-profile change
while something is owed to the old host: each a finding, the worst leads.
"""

from __future__ import annotations

import shutil
import sqlite3
import stat
import statistics
import tempfile
import time
from pathlib import Path

from firmware.errors import StorageError
from firmware.selftest import CheckResult, Status, Target, _worst

__all__ = ["SPACE_WARN_BYTES", "SPACE_FAIL_BYTES", "check_storage", "space_finding"]

SPACE_WARN_BYTES = 20 * 2**20  # a few thousand sales of journal, log and checkpoints
SPACE_FAIL_BYTES = 2 * 2**20  # SQLite may not manage the next checkpoint
COMMIT_SAMPLES = 5
# Files in the data directory that must be 0600 (the directory itself 0700).
PRIVATE_FILES = ("posterm.db", "posterm.db-wal", "posterm.db-shm", "kek.key", "keyring.json", "dukpt.json",
                 "tamper.json")


# -- storage --------------------------------------------------------------------------
def space_finding(free: int) -> tuple[Status, str, str] | None:
    """What ``free`` bytes on the data directory's file system mean for sales."""
    mb = free / 2**20
    if free < SPACE_FAIL_BYTES:
        return Status.FAIL, "storage.space_low", f"only {mb:.1f} MB free for the data directory: free space now"
    if free < SPACE_WARN_BYTES:
        return Status.WARN, "storage.space_low", f"only {mb:.1f} MB free for the data directory: free space soon"
    return None


def _loose_modes(data_dir: Path) -> list[str]:
    loose = []
    if stat.S_IMODE(data_dir.stat().st_mode) & 0o077:
        loose.append(f"{data_dir} is mode {stat.S_IMODE(data_dir.stat().st_mode):04o}, must be 0700")
    for name in PRIVATE_FILES:
        try:
            mode = stat.S_IMODE((data_dir / name).stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            loose.append(f"{name} is mode {mode:04o}, must be 0600")
    return loose


def _commit_ms(store) -> float:
    """Median wall time of a durable commit (``Store.check``: the heartbeat setting only)."""
    samples = []
    for _ in range(COMMIT_SAMPLES):
        start = time.perf_counter()
        store.check()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _scratch_commit_ms(data_dir: Path) -> float:
    """The commit cost on this disk without touching the terminal's database (which may not exist yet)."""
    from storage.store import Store

    scratch = Path(tempfile.mkdtemp(prefix=".selftest-", dir=data_dir))
    try:
        store = Store.open(scratch)
        try:
            return _commit_ms(store)
        finally:
            store.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_storage(target: Target) -> CheckResult:
    from storage.db import open_database
    from storage.emptied import emptied_database
    from storage.migrations import LATEST, check_opens
    from storage.store import DB_FILE, Store

    assert target.config is not None
    data_dir = target.config.data_dir
    if not data_dir.is_dir():
        raise StorageError(
            f"the data directory {data_dir} does not exist: provision the terminal (posterm provision)",
            code="storage.no_data_dir",
        )
    findings: list[tuple[Status, str, str]] = []
    loose = _loose_modes(data_dir)  # before opening: open_database tightens the database's mode itself
    if loose:
        findings.append((Status.FAIL, "storage.permissions", "; ".join(loose)))
    usage = shutil.disk_usage(data_dir)
    space = space_finding(usage.free)
    if space:
        findings.append(space)
    facts: list[str] = []
    path = data_dir / DB_FILE
    emptied = emptied_database(data_dir, DB_FILE)  # 0 bytes or missing beside used keys: posterm run refuses it too
    if emptied is not None:
        raise emptied
    if path.exists():
        conn = open_database(path)  # StorageError storage.not_durable if WAL/FULL do not read back
        try:
            version = check_opens(conn).version  # storage.schema_newer unless its usable-by record lets us in
            damage = _damaged_pages(conn)
            if damage:  # posterm run stops at the first table it cannot read: say so before it does
                raise StorageError(f"the database {path} is damaged ({damage}): restore it, or move it aside and "
                                   "provision again", code="storage.corrupt")
            if version < LATEST:
                findings.append((Status.WARN, "storage.schema_old",
                                 f"the database schema is version {version}; posterm run upgrades it to {LATEST}"))
                ms, where = _scratch_commit_ms(data_dir), "scratch file"
            else:
                store = Store(conn, path)
                findings += _profile_findings(store, target.config.host.profile, facts)
                ms, where = _commit_ms(store), "database"
        finally:
            conn.close()
        facts.append(f"schema v{version}")
    else:
        ms, where = _scratch_commit_ms(data_dir), "scratch file"
        facts.append("no database yet (posterm run creates it)")
    facts.insert(0, f"commit {ms:.2f} ms (median of {COMMIT_SAMPLES}, {where})")
    facts.append(f"{usage.free / 2**20:.0f} MB free")
    return _worst("storage", findings, "WAL, synchronous=FULL, files private", facts)


def _profile_findings(store, configured: str, facts: list[str]) -> list[tuple[Status, str, str]]:
    """The host profile against the one the database was used with (``storage.profile``): posterm run refuses
    a change while anything is owed to the old host."""
    from storage.profile import profile_error, recorded_profile

    error = profile_error(store, configured)
    if error is not None:
        return [(Status.FAIL, error.code, error.text)]
    recorded = recorded_profile(store)
    if recorded is None:
        facts.append(f"host profile not recorded yet (posterm run records {configured})")
    elif recorded != configured:
        facts.append(f"host profile changes from {recorded} to {configured} at the next start (nothing owed)")
    return []


def _damaged_pages(conn) -> str | None:
    """SQLite's ``quick_check`` (every page and table read, no index cross-check: linear in the file's
    size, a few milliseconds for a terminal's journal): its first problem, or None."""
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
    except sqlite3.DatabaseError as e:
        return str(e)
    return None if rows == ["ok"] else "; ".join(rows)[:200]
