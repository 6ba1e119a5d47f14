"""Zeroize destroys the keys first and records why after (audit AU9 H3, L2, L3).

On a full disk the record cannot be written: that must never leave a usable key, on disk or in
a running terminal's memory, and the operator must still be told what happened.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.keyring import KEK_FILE, KEYRING_FILE
from crypto.provision import provision
from crypto.tamper import TAMPER_FILE, tamper_status, zeroize
from firmware.errors import CryptoError
from tests.engineer import booted

ROOT = Path(__file__).resolve().parents[2]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def _no_file_growth():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def posterm(*argv: str, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware.cli", *argv], capture_output=True, text=True,
                          preexec_fn=preexec_fn, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_zeroize_destroys_the_keys_even_when_the_disk_is_full(tmp_path):
    """No file may grow (RLIMIT_FSIZE 0: neither the record nor even an overwrite in place): every key
    file is removed all the same, the command fails naming what it destroyed and what it could not
    write, and leaves no temporary file behind."""
    data = tmp_path / "data"
    provision(data, lab=True)
    proc = posterm("keys", "zeroize", "--data-dir", str(data), "--reason", "case opened", preexec_fn=_no_file_growth)
    left = sorted(p.name for p in data.iterdir() if p.name in (KEK_FILE, KEYRING_FILE))
    assert left == [], f"after zeroize ({proc.returncode}: {proc.stderr.strip()}) these key files remain: {left}"
    assert proc.returncode == 2 and "[tamper.not_recorded]" in proc.stderr, proc.stderr
    assert "kek.key, keyring.json" in proc.stderr and str(data / TAMPER_FILE) in proc.stderr
    assert not [p.name for p in data.iterdir() if p.name.endswith(".tmp")]  # no half-written record
    # the terminal refuses to work without its keys, whatever the record says
    proc = posterm("keys", "show", "--data-dir", str(data))
    assert proc.returncode == 2 and "[keys.not_provisioned]" in proc.stderr


def test_a_record_that_cannot_be_written_is_reported_after_the_keys_are_gone(tmp_path):
    data = tmp_path / "data"
    provision(data, lab=True)
    (data / TAMPER_FILE).mkdir()  # the record's name is taken: its write fails however much room there is
    with pytest.raises(CryptoError) as e:
        zeroize(data, reason="case opened", source="gpio")
    assert e.value.code == "tamper.not_recorded"
    assert not (data / KEK_FILE).exists() and not (data / KEYRING_FILE).exists()
    assert not (data / f".{TAMPER_FILE}.tmp").exists()  # the failed write left no temporary file


def test_a_key_file_that_cannot_be_removed_is_named(tmp_path):
    data = tmp_path / "data"
    provision(data, lab=True)
    (data / "dukpt.json").mkdir()  # not a file: it can be neither overwritten nor unlinked
    with pytest.raises(CryptoError) as e:
        zeroize(data, reason="case opened", source="gpio")
    assert e.value.code == "tamper.keys_left" and "dukpt.json" in e.value.text
    assert not (data / KEK_FILE).exists() and not (data / KEYRING_FILE).exists()  # the rest went all the same
    assert tamper_status(data) is not None


def test_zeroize_of_a_mistyped_data_directory_names_the_directory(tmp_path):
    typo = tmp_path / "var-lib-postrem"
    proc = posterm("keys", "zeroize", "--data-dir", str(typo))
    assert proc.returncode == 2 and proc.stderr.strip().endswith(f"No such file or directory: {typo}"), proc.stderr
    assert ".tmp" not in proc.stderr and not typo.exists()


def test_a_running_terminal_locks_when_its_keys_vanish_without_a_record(tmp_path):
    """A zeroize by another process on a full disk removes the key files but writes no record: the
    running terminal must not go on selling with the keys it holds in memory."""
    data = tmp_path / "data"
    with booted(data) as runner:
        t = runner.runner
        assert t.core.state.value == "idle"
        (data / KEK_FILE).unlink()
        (data / KEYRING_FILE).unlink()  # what zeroize leaves when tamper.json cannot be written
        t.run_until(lambda: t.core.state.value == "locked", 5)
        assert t.core.state.value == "locked" and t.keys is None
        assert "TERMINAL LOCKED" in runner.devices["display"].lines[0]
    assert tamper_status(data) is not None  # the runner's own zeroize wrote the record it could
