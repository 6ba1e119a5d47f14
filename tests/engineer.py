"""Helpers for tests of the engineer's commands run in-process, and of a booted lab terminal."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from firmware.cli import main
from firmware.scenario import ScenarioRunner, parse_scenario
from storage.store import DB_FILE

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``posterm ARGV`` in this process: (exit code, stdout, stderr). ``posterm run`` installs signal
    handlers for its process; they are put back."""
    kept = {n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        code = main(list(argv))
    finally:
        for n, handler in kept.items():
            signal.signal(n, handler)
    out, err = capsys.readouterr()
    return code, out, err


def make_lab_sale_dir(data: Path) -> Path:
    """A lab data directory holding one approved sale, signed on, its database checkpointed (WAL empty)."""
    result = ScenarioRunner(data_dir=data).run(parse_scenario({"name": "lab", "step": SALE}))
    assert result["ok"] and result["transactions"][0]["outcome"] == "approved", result["failures"]
    conn = sqlite3.connect(data / DB_FILE)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return data


@contextlib.contextmanager
def booted(data: Path, config: dict = FAST) -> Iterator[ScenarioRunner]:
    """A lab terminal booted on simulated devices with its built-in host, left running for the test to
    act on (``.runner`` is the Runner, ``.devices`` the simulators); closed after."""
    sim = ScenarioRunner(data_dir=data)
    started = sim._start(sim._config(parse_scenario({"name": "t", "config": config, "step": []})))
    try:
        sim._boot(started, None)
        yield sim
    finally:
        sim.close()


def tmpfs_prefix() -> list[str]:
    """A shell prefix (``PREFIX + [script]``) whose script may mount a small tmpfs: a real full disk.
    As root a mount namespace is enough; otherwise a user namespace too (``unshare -U``)."""
    if os.geteuid() == 0:
        return ["unshare", "-m", "sh", "-c"]
    if shutil.which("unshare") is None:
        raise AssertionError("the full-disk tests need unshare(1) (util-linux) to mount a small tmpfs")
    return ["unshare", "-Urm", "sh", "-c"]
