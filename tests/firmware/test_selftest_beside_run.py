"""The offline selftest beside a running terminal (AU12 F4): ``posterm run`` holds its modem port exclusively,
so opening it again fails a working modem. The selftest asks the run lock first (``firmware.runlock.lock_holder``)
and, while another process holds it, reports each device it would open as SKIP "in use by posterm run (pid N): not
opened". A real pty, and a real second process holding the run lock and the port, as ``posterm run`` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.provision import provision
from firmware.runlock import lock_holder, run_lock
from firmware.selftest import Status, Target, passed, run_selftest

ROOT = Path(__file__).resolve().parents[2]

# What posterm run holds, in a process of its own: the data directory's run lock, then its modem port.
_HOLDER = """
import sys
from firmware.errors import LinkError
from firmware.runlock import run_lock
from hal.serialport import close_quietly, open_serial
with run_lock(sys.argv[1]):
    port = open_serial(sys.argv[2], 9600, error=LinkError, what="modem", code="link.open_failed")
    print("ready", flush=True)
    sys.stdin.read()
    close_quietly(port)
"""


@pytest.fixture
def pty_path():
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def _config(data: Path, port: str, tmp_path: Path) -> Path:
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[devices]\nlink = "modem://{port}?carrier=none&number=95516"\n')
    return config


def _holding(data: Path, port: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(data), port], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdout.readline().strip() == "ready"
    return child


def _release(child: subprocess.Popen) -> None:
    child.stdin.close()
    try:
        assert child.wait(timeout=30) == 0
    finally:
        child.stdout.close()


def test_offline_selftest_beside_a_running_terminal_does_not_call_a_working_modem_dead(tmp_path, pty_path):
    data = tmp_path / "data"
    provision(data, lab=True)
    config = _config(data, pty_path, tmp_path)
    child = _holding(data, pty_path)
    try:
        assert lock_holder(data) == str(child.pid)
        results = {r.name: r for r in run_selftest(Target(config_path=config))}
    finally:
        _release(child)
    link = results["link"]
    assert (link.status, link.code) == (Status.SKIP, "selftest.in_use"), link
    assert link.text == f"in use by posterm run (pid {child.pid}): not opened"
    for kind in ("reader", "pinpad", "printer", "display"):
        assert results[kind].status is Status.SKIP and "in use by posterm run" in results[kind].text
    assert passed(results.values()), results


def test_the_same_port_held_without_a_running_terminal_is_still_a_fail(tmp_path, pty_path):
    """Honest: with no run lock held, a port something else holds is a link that cannot be opened."""
    from firmware.errors import LinkError
    from hal.serialport import close_quietly, open_serial

    data = tmp_path / "data"
    provision(data, lab=True)
    config = _config(data, pty_path, tmp_path)
    other = open_serial(pty_path, 9600, error=LinkError, what="modem", code="link.open_failed")
    try:
        assert lock_holder(data) is None
        link = {r.name: r for r in run_selftest(Target(config_path=config))}["link"]
    finally:
        close_quietly(other)
    assert (link.status, link.code) == (Status.FAIL, "link.open_failed"), link


def test_the_lock_this_process_holds_is_not_a_running_terminal(tmp_path, pty_path):
    """``posterm provision --manifest`` runs its selftest under its own run lock: its devices are checked."""
    data = tmp_path / "data"
    provision(data, lab=True)
    config = _config(data, pty_path, tmp_path)
    with run_lock(data, doing="provision"):
        assert lock_holder(data) is None
        link = {r.name: r for r in run_selftest(Target(config_path=config))}["link"]
    assert link.status is Status.PASS, link


def test_no_lock_file_is_nobody_running(tmp_path):
    assert lock_holder(tmp_path) is None and not (tmp_path / "run.lock").exists()
