"""systemd integration: READY, watchdog pings from the main loop, STOPPING; the unit file."""

from __future__ import annotations

import configparser
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from crypto.provision import provision
from firmware.systemd import Notifier

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def waiting(sock) -> list[bytes]:
    """Every datagram already sent to the socket."""
    sock.setblocking(False)
    out = []
    while True:
        try:
            out.append(sock.recv(256))
        except BlockingIOError:
            return out


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    yield path, sock
    sock.close()


def test_outside_systemd_nothing_is_sent():
    n = Notifier.from_env({})
    assert not n.active and n.max_wait is None
    n.ready()
    n.watchdog()
    n.stopping()


def test_watchdog_pings_are_rate_limited_to_four_per_interval(notify_socket):
    path, sock = notify_socket
    clock = FakeClock()
    n = Notifier(str(path), watchdog_usec=2_000_000, monotonic=clock)
    assert n.max_wait == 1.0
    n.ready()
    assert sock.recv(256) == b"READY=1"
    for step in range(16):  # 1/8 s apart: 2 s in all
        clock.now = (step + 1) / 8
        n.watchdog()
    pings = waiting(sock)
    assert pings == [b"WATCHDOG=1"] * 4


def test_a_watchdog_meant_for_another_process_is_ignored():
    n = Notifier.from_env({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert n.active and n.interval is None


def test_an_unreachable_socket_does_not_stop_the_terminal(tmp_path):
    n = Notifier(str(tmp_path / "nobody-listens"), watchdog_usec=1_000_000)
    n.ready()  # logged once, never raised
    n.stopping()


def test_posterm_run_is_ready_pings_and_says_stopping(tmp_path, notify_socket, posterm_cmd, clean_env):
    path, sock = notify_socket
    data = tmp_path / "data"
    provision(data, lab=True)
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[log]\nlevel = "warning"\n')
    env = {**clean_env, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}  # a 0.4 s watchdog
    proc = subprocess.Popen(posterm_cmd + ["run", "--config", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sock.recv(256).startswith(b"READY=1")
        # idle, nothing happening: the loop still turns and pings (the socket's 10 s timeout bounds the wait)
        assert sock.recv(256) == b"WATCHDOG=1"
        assert sock.recv(256) == b"WATCHDOG=1"
        proc.send_signal(signal.SIGTERM)
        while (message := sock.recv(256)) == b"WATCHDOG=1":
            pass
        assert message == b"STOPPING=1"
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


def test_a_long_start_step_extends_the_start_timeout_until_it_ends_and_no_longer_than_its_bound(notify_socket):
    path, sock = notify_socket
    n = Notifier(str(path), watchdog_usec=None)
    with n.extending("migrating", step=0.05):
        time.sleep(0.3)
    time.sleep(0.1)  # the helper thread has stopped: nothing more comes
    got = waiting(sock)
    assert len(got) >= 3 and set(got) == {b"EXTEND_TIMEOUT_USEC=100000\nSTATUS=migrating"}
    time.sleep(0.15)
    assert waiting(sock) == []
    with n.extending("migrating", step=0.05, limit=0):  # past its bound: a hung step times out after all
        time.sleep(0.2)
    assert len(waiting(sock)) == 1


def test_posterm_run_extends_the_start_timeout_while_it_migrates_the_database(
        tmp_path, notify_socket, posterm_cmd, clean_env, monkeypatch):
    """A schema migration after an update reads the whole database (snapshot, digests): minutes on a Pi Zero
    with a long journal, past systemd's 90 s start timeout, which killed it at every start until boot-check
    rolled the update back. The start timeout is extended while it migrates, then READY=1."""
    from storage.migrations import LATEST
    from tests.storage.test_schema import database_at

    path, sock = notify_socket
    data = tmp_path / "data"
    provision(data, lab=True)
    database_at(data, LATEST - 1, monkeypatch).close()  # the database as the firmware before this one left it
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[log]\nlevel = "warning"\n')
    env = {**clean_env, "NOTIFY_SOCKET": str(path)}
    out = subprocess.run(posterm_cmd + ["run", "--config", str(config), "--exit-when-ready"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    first = sock.recv(256).decode()
    assert first.startswith("EXTEND_TIMEOUT_USEC=60000000\n")
    assert first.endswith(f"STATUS=migrating the database from schema {LATEST - 1} to {LATEST}")


def test_the_unit_file_runs_posterm_as_a_notify_service_with_a_watchdog():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(ROOT / "deploy" / "posterm.service")
    service = unit["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert int(service["WatchdogSec"]) > 0 and service["Restart"] == "on-failure"
    assert service["ExecStart"].split()[0] == "/opt/posterm/current/.venv/bin/posterm"
    assert service["ExecStart"].split()[1:3] == ["run", "--config"]
    # A/B updates: a rollback check before each start, from the last confirmed slot; confirm once READY
    assert service["ExecStartPre"].split()[0].endswith("/opt/posterm/good/.venv/bin/posterm")
    assert service["ExecStartPre"].split()[1:3] == ["update", "boot-check"]
    assert service["ExecStartPost"].split()[1:3] == ["update", "confirm"]
    # room for the unconfirmed starts and the rollback's own start before systemd gives up: so when it does (and
    # posterm-out-of-service.service runs from the current slot), current is the good slot, unless the schema
    # blocked the rollback
    from firmware.update import DEFAULT_ATTEMPTS

    assert int(unit["Unit"]["StartLimitBurst"]) > DEFAULT_ATTEMPTS + 1
    assert service["UMask"] == "0077" and service["StateDirectoryMode"] == "0700"
    assert service["User"] != "root"


def test_a_long_dial_mid_sale_keeps_the_watchdog_fed_until_its_bound(tmp_path, notify_socket):
    """A modem dial blocks the loop for its whole connect timeout: the watchdog must not fire."""
    from crypto.provision import provision as provision_keys
    from firmware.app import build_runner
    from firmware.config import Config
    from firmware.core.model import State
    from hal.link.modemsim import PtyModemSim

    path, sock = notify_socket
    data = tmp_path / "data"
    provision_keys(data, lab=True)
    notifier = Notifier(str(path), watchdog_usec=2_000_000)  # pings due every 0.5 s, fatal after 2 s
    with PtyModemSim(guard_time=0.02) as modem:
        modem.no_result()  # the modem never answers the dial: the connect waits its whole 3 s
        config = Config().replace({"storage": {"data_dir": str(data)},
                                   "devices": {"link": modem.url("95516", connect_timeout=3)}})
        runner = build_runner(config)
        runner.blocking = notifier.bounded
        try:
            runner.boot()
            notifier.ready()
            assert sock.recv(256) == b"READY=1"
            runner.devices.pinpad.press("1250#")
            runner.devices.reader.swipe_card("unionpay_debit")
            runner.devices.pinpad.press("1234#", hold_for_pin=True)
            started = time.monotonic()
            runner.drain()  # the whole sale, the blocking dial inside it
            assert time.monotonic() - started >= 3  # it did block (this is not a speed assertion)
            assert runner.core.state is not State.AUTHORISING  # the dial failed; the sale went on
        finally:
            runner.close()
    pings = waiting(sock)
    assert pings.count(b"WATCHDOG=1") >= 3  # fed from the helper thread while the loop was blocked
