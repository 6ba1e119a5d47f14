"""python-escpos writes a pickle of its capabilities while it is imported; a full disk must not make
that a crash (AU9). The write failing, the import is tried once more with the cache in /dev/shm (RAM);
failing again it is ``printer.cache_failed``, a printer error like any other: the sale stands, its
receipt is owed. It was an ``OSError`` out of the runner after the sale was approved and committed
(``posterm demo``: 'posterm: error [os.efbig]', exit 2, no receipt).

Both run in a child process: the import happens once per process.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.provision import provision

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm here")
def test_a_cache_that_cannot_be_written_is_kept_in_memory(tmp_path):
    code = ("import os; from pathlib import Path; from hal.printer.render import warm_up, _escpos_collector\n"
            "warm_up(Path(os.environ['CACHE']))\n"
            "print(_escpos_collector(None).__name__, os.environ.get('ESCPOS_CAPABILITIES_PICKLE_DIR'))\n")
    before = {p.name for p in Path("/dev/shm").glob("posterm-escpos-*")}
    # the operator's own cache directory, which is respected, cannot take the pickle (it does not exist)
    env = {**ENV, "CACHE": str(tmp_path / "cache"), "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "gone" / "deeper")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.split()[1] == str(tmp_path / "gone" / "deeper")  # the operator's own setting, restored
    assert "using one in memory" in proc.stderr
    assert {p.name for p in Path("/dev/shm").glob("posterm-escpos-*")} == before  # removed after the import


def _room_for_the_database_not_the_printer_cache():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # posterm.db fits, the 70 KB pickle not


def test_a_full_disk_makes_the_receipt_owed_not_a_crash(tmp_path):
    from storage.store import Store

    data = tmp_path / "data"
    provision(data, lab=True)
    # the database made as the terminal's first start makes it (60 KB since schema 13's indexes); the sale then
    # adds only its log's frames, a new database's creating log (76 KB) being more than the pickle
    Store.open(data).close()
    proc = subprocess.run([sys.executable, "-m", "firmware.cli", "demo", "--data-dir", str(data)],
                          capture_output=True, text=True, preexec_fn=_room_for_the_database_not_the_printer_cache,
                          timeout=120, cwd=ROOT, env=ENV)
    assert "APPROVED" in proc.stdout, proc.stdout
    assert "[os.efbig]" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-500:]
    assert "ALERT printer.cache_failed" in proc.stderr and "capability cache" in proc.stderr, proc.stderr[-500:]
