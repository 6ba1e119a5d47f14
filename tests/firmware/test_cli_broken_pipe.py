"""``posterm ... | head``: a reader that goes away stops the command quietly (AU9).

It printed 'posterm: error [os.epipe]: Broken pipe' and exited 2, as if the command had failed. It now
exits 141, as a shell reports a writer stopped by SIGPIPE, and says nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_reader_that_goes_away_stops_the_command_quietly():
    for _ in range(3):  # the reader closes before the first write: every run meets the broken pipe
        proc = subprocess.Popen([sys.executable, "-m", "firmware.cli", "config", "docs"], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.wait(timeout=60) == 141 and err == "", err
