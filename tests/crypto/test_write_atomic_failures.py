"""``crypto.keyring.write_atomic`` when it fails (audit AU9 L3, L2 keys part).

A failed write leaves the old file and nothing else (no zero-length ``.name.tmp`` on a disk that
is already full), and its error names the file the user gave, or the directory that is missing,
never the temporary name.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.keyring import KEYRING_FILE, Keyring, write_atomic
from crypto.keys import KeyUsage
from crypto.provision import provision

ROOT = Path(__file__).resolve().parents[2]


def test_a_write_that_cannot_be_renamed_into_place_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # os.replace of a file onto a directory fails after the data is written
    with pytest.raises(OSError) as e:
        write_atomic(target, b"data", 0o600)
    assert e.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_write_into_a_missing_directory_names_the_directory(tmp_path):
    missing = tmp_path / "nonexist"
    with pytest.raises(FileNotFoundError) as e:
        write_atomic(missing / "k", b"data", 0o600)
    assert e.value.filename == str(missing) and e.value.errno == errno.ENOENT


_SIGN_ON_ON_A_FULL_DISK = """
import resource, signal, sys
from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.secrets import SecretKey
ring = Keyring.load(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
try:
    ring.put(KeyUsage.PIN, SecretKey(bytes(range(16)), usage="pin"), note="sign-on")
except OSError as e:
    print(e.errno, e.filename)
"""


def test_a_key_ring_save_on_a_full_disk_leaves_the_old_ring_and_no_temporary_file(tmp_path):
    data = tmp_path / "data"
    provision(data, lab=True)
    before = (data / KEYRING_FILE).read_bytes()
    proc = subprocess.run([sys.executable, "-c", _SIGN_ON_ON_A_FULL_DISK, str(data)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.split() == [str(errno.EFBIG), str(data / KEYRING_FILE)], (proc.stdout, proc.stderr)
    assert (data / KEYRING_FILE).read_bytes() == before
    assert not [p.name for p in data.iterdir() if p.name.endswith(".tmp")]
    Keyring.load(data).put(KeyUsage.PIN, Keyring.load(data).get(KeyUsage.PIN))  # and it saves once there is room


def test_update_keygen_into_a_missing_directory_names_the_directory(tmp_path):
    missing = tmp_path / "nonexist"
    proc = subprocess.run([sys.executable, "-m", "firmware.cli", "update", "keygen", "-o", str(missing / "k")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and f"cannot write {missing} " in proc.stderr, proc.stderr
    assert ".k.tmp" not in proc.stderr
