"""``posterm out-of-service``: once systemd gives up restarting ``posterm run``, the display says so.

The real serial display driver, run as the operator's command would be, against the display
simulator on a real pseudo-terminal; the unit files that wire it to systemd's OnFailure=.
"""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest

from firmware.outofservice import GIVEN_UP
from firmware.runlock import run_lock
from hal.display.ptysim import PtyDisplaySim

ROOT = Path(__file__).resolve().parents[2]


def config_file(tmp_path: Path, display_url: str) -> Path:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    path = tmp_path / "posterm.toml"
    path.write_text(f'[storage]\ndata_dir = "{data}"\n[devices]\ndisplay = "{display_url}"\n')
    return path


def test_the_display_says_out_of_service_call_support_and_the_log_why(tmp_path, posterm_cmd, clean_env):
    with PtyDisplaySim(rows=2, cols=20) as sim:
        path = config_file(tmp_path, sim.url)
        env = dict(clean_env, MONITOR_SERVICE_RESULT="start-limit-hit", MONITOR_EXIT_STATUS="3")
        done = subprocess.run([*posterm_cmd, "out-of-service", "--config", str(path)], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        sim.wait_for_screen(tuple(line.ljust(20) for line in GIVEN_UP))
    assert "service_result start-limit-hit, exit_status 3" in done.stdout
    assert "Traceback" not in done.stderr


def test_beside_a_running_terminal_it_draws_nothing_and_says_why(tmp_path, posterm_cmd, clean_env):
    with PtyDisplaySim(rows=2, cols=20) as sim:
        path = config_file(tmp_path, sim.url)
        with run_lock(tmp_path / "data"):  # a posterm run holds the data directory, and the display
            done = subprocess.run([*posterm_cmd, "out-of-service", "--config", str(path)], env=clean_env,
                                  capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and "[storage.in_use]" in done.stderr, done.stderr
        assert not sim.shows("OUT OF SERVICE") and not sim.commands


def test_a_configuration_posterm_run_refuses_still_lets_the_display_say_so(tmp_path, posterm_cmd, clean_env):
    """A bad configuration is a likely reason for six failed starts: only the keys this command needs are read
    (AU6: it read the whole file, refused it too, and the display kept saying RESTARTING)."""
    with PtyDisplaySim(rows=2, cols=20) as sim:
        path = config_file(tmp_path, sim.url)
        path.write_text(path.read_text() + "[sale]\nmax_amount = 0\n[nonsense]\nkey = 1\n")
        done = subprocess.run([*posterm_cmd, "out-of-service", "--config", str(path)], env=clean_env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        sim.wait_for_screen(tuple(line.ljust(20) for line in GIVEN_UP))


def test_a_failure_systemd_restarts_after_leaves_the_display_and_the_lock_alone(tmp_path, posterm_cmd, clean_env):
    """systemd runs OnFailure= for a stop that timed out too, then starts posterm run again: only
    start-limit-hit means it has given up."""
    with PtyDisplaySim(rows=2, cols=20) as sim:
        path = config_file(tmp_path, sim.url)
        env = dict(clean_env, MONITOR_SERVICE_RESULT="timeout")
        done = subprocess.run([*posterm_cmd, "out-of-service", "--config", str(path)], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and "has not given up" in done.stdout, done.stderr
        assert not sim.commands  # never opened


def unit(name: str) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.optionxform = str
    assert parsed.read(ROOT / "deploy" / name), name
    return parsed


@pytest.mark.parametrize("key", ["User", "Group", "SupplementaryGroups", "StateDirectory", "UMask"])
def test_posterm_service_names_the_unit_that_says_so_run_as_the_terminal_with_its_configuration(key):
    run = unit("posterm.service")
    (name,) = run["Unit"]["OnFailure"].split()
    # systemd >= 254 passes a restarted service through "failed" (so OnFailure=) unless restarts are direct
    assert run["Service"]["Restart"] == "on-failure" and run["Service"]["RestartMode"] == "direct"
    halted = unit(name)
    assert halted["Service"]["Type"] == "oneshot"
    command = halted["Service"]["ExecStart"].split()
    assert command[:2] == [run["Service"]["ExecStart"].split()[0], "out-of-service"]
    assert command[2:] == run["Service"]["ExecStart"].split()[2:]  # the same --config
    assert halted["Service"][key] == run["Service"][key]  # the same user, groups and data directory
