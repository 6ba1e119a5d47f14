"""A full disk at an outcome's commit, the disk freed, CHECK AGAIN (no restart): what storage holds after.

Each test fills a real file system (a 3 MB tmpfs, as the full-disk test of ``test_bad_input.py``) at
``before:record_outcome`` in a child process of its own mount namespace (``full_disk_child.py``), frees
it, presses ENTER, and reads the journal as storage holds it (AU14).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engineer import tmpfs_prefix

CHILD = Path(__file__).with_name("full_disk_child.py")
ROOT = Path(__file__).resolve().parents[2]


def full_disk_at_outcome(tmp_path, env, kind: str, profile: str = "cup") -> dict:
    disk = tmp_path / "disk"
    disk.mkdir()
    script = f"mount -t tmpfs -o size=3m tmpfs {disk} && exec {sys.executable} {CHILD} {disk} {kind} {profile}"
    env = {**env, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(tmpfs_prefix() + [script], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip(), out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_an_inquiry_whose_answer_met_a_full_disk_is_closed_once_storage_works_again(tmp_path, clean_env):
    """Not left ``requested`` until the next restart: CHECK AGAIN closes it as a restart would."""
    got = full_disk_at_outcome(tmp_path, clean_env, "balance")
    r = got["result"]
    codes = [code for code, _ in r["alerts"]]
    assert "storage.full" in codes and "storage.ok" in codes, codes  # the fault happened, and was cleared
    (inquiry,) = got["journal"]
    assert (inquiry["kind"], inquiry["state"], inquiry["reason"]) == ("balance", "declined", "interrupted"), inquiry
    assert "recovery.inquiries" in [code for code, _ in r["notes"]]


@pytest.mark.parametrize("profile, repeat", [("cup", "0400"), ("iso87", "0401")])
def test_an_approval_that_met_a_full_disk_is_journalled_reversed_with_reason_96(tmp_path, clean_env, profile, repeat):
    """The host answered, so the reversal's reason is 96, not 98 "no answer": the 96 reversal went, its
    ReversalDone met the full disk, and after CHECK AGAIN the reversal storage gave back (armed, 98, its
    advisory mark lost) goes again with the core's reason, as the repeat it is (iso87's 0401)."""
    got = full_disk_at_outcome(tmp_path, clean_env, "sale", profile)
    (sale,) = got["journal"]
    assert (sale["state"], sale["reason"]) == ("reversed", "96"), sale
    mtis = [m["mti"] for m in got["result"]["host_ledger"]["messages"]]
    assert mtis == ["0200", "0400", repeat], mtis
