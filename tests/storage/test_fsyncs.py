"""Each online sale costs exactly two fsyncs; checkpoints happen at idle. Counted with strace, not timed."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from firmware.bench import _fsyncs_between_markers


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace(1) is not installed")
def test_two_fsyncs_per_online_sale_and_checkpoints_only_at_idle(tmp_path):
    trace = tmp_path / "trace.txt"
    subprocess.run(
        ["strace", "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync,uname", "-o", str(trace),
         sys.executable, "-m", "firmware.bench", "--worker", "fsyncs", "--dir", str(tmp_path / "w"), "--sales", "25"],
        check=True, capture_output=True, timeout=120,
    )
    stretches = _fsyncs_between_markers(trace)
    assert stretches[-3] == 2 * 25  # the sales: one fsync per commit, two commits per sale, nothing else
    assert stretches[-2] == 4  # the idle checkpoint: log, database, the log's new header, the heartbeat
    sale_lines = trace.read_text().split("uname(")[-3]
    assert all("posterm.db-wal" in line for line in sale_lines.splitlines() if "sync(" in line)
