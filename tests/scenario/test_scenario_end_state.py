"""A scenario the terminal could not play does not pass (AU9).

Forty scripted sales on a disk that fills after a few: the terminal suspends sales (storage.io) and
every later step goes nowhere. The run said 'scenario passed', exit 0. A run that ends suspended now
fails unless one of its expect steps asked for that state (tests/e2e/test_bad_input.py does).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from crypto.provision import provision

ROOT = Path(__file__).resolve().parents[2]


def _fsize_limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, 100 * 1024))


def test_sim_fails_when_the_disk_fills_part_way(tmp_path):
    scenario = tmp_path / "many.toml"
    scenario.write_text('name = "many"\n' + '[[step]]\nkey = "1250#"\n[[step]]\nswipe = "unionpay_debit"\n'
                        '[[step]]\npin = "1234"\n' * 40)
    data = tmp_path / "data"
    provision(data, lab=True)
    proc = subprocess.run([sys.executable, "-m", "firmware.cli", "sim", "--scenario", str(scenario),
                           "--data-dir", str(data), "--json"], capture_output=True, text=True,
                          preexec_fn=_fsize_limit, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = json.loads(proc.stdout)
    assert len(result["transactions"]) < 40 and "storage." in proc.stderr  # the disk did fill
    assert proc.returncode != 0 and not result["ok"], (result["state"], len(result["transactions"]))
    assert any("ended suspended" in f and "storage." in f for f in result["failures"]), result["failures"]
