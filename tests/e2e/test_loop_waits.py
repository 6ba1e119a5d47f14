"""The main loop waits, and stops, as it should (``firmware/runner_wait.py``).

Found by an audit: ``Runner._wait`` selected on the ``fileno()`` of every device, but the
loop reads only what ``poll()`` reads: a printer is never polled, a modem on hook is not
read, and a reader whose port failed raised on every poll without closing it. Any byte
(or EOF) waiting on such a descriptor made ``select()`` return at once, for ever (36,000
to 106,000 turns a second), and an unplugged reader wrote a warning line at every turn.
And a signal set only a flag, which an idle ``select(None)`` (restarted by Python after
the handler) never saw.

Each test runs the real loop (``run_forever``) for a bounded window and counts its
turns through the watchdog ``tick``. An idle terminal turns about once in that window
(the tests print 1); a spinning one tens of thousands of times. The bound (200) is not
a speed requirement: a slower machine only turns less.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from crypto.provision import provision
from firmware.app import Overrides, build_runner
from firmware.config import Config
from firmware.hostsim.processor import HostProcessor

WINDOW = 0.5
MAX_TURNS = 200


def _turns_after(runner, fault) -> tuple[int, int]:
    """Loop turns in ``WINDOW`` s before and after ``fault()``."""
    turns = [0]
    thread = threading.Thread(target=runner.run_forever, kwargs={"tick": lambda: turns.__setitem__(0, turns[0] + 1)},
                              daemon=True)
    thread.start()
    try:
        time.sleep(WINDOW)
        before = turns[0]
        fault()
        turns[0] = 0
        time.sleep(WINDOW)
        return before, turns[0]
    finally:
        runner.stopped = True
        thread.join(5)


def _runner(tmp_path, devices: dict):
    data = tmp_path / "data"
    provision(data, lab=True)
    config = Config().replace({"storage": {"data_dir": str(data)}, "devices": devices})
    runner = build_runner(config, overrides=Overrides(host=HostProcessor(config.host.profile)))
    runner.boot()
    return runner


def test_an_unplugged_serial_reader_does_not_spin_the_loop_or_flood_the_log(tmp_path):
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    runner = _runner(tmp_path, {"reader": f"serial://{path}"})
    try:
        before, after = _turns_after(runner, lambda: os.close(master))  # the reader's cable is pulled
    finally:
        runner.close()
    assert before < MAX_TURNS
    assert after < MAX_TURNS, f"{after} loop turns in {WINDOW} s after the reader went away"
    assert len(runner.alerts) < MAX_TURNS, f"{len(runner.alerts)} alerts (each one a WARNING log line)"


def test_a_ring_on_the_idle_modem_line_does_not_spin_the_loop(tmp_path):
    from hal.link.modemsim import PtyModemSim

    with PtyModemSim(HostProcessor("cup"), guard_time=0.02) as modem:
        runner = _runner(tmp_path, {"link": modem.url("95516")})
        try:
            assert not runner.devices.link.connected
            # someone calls the terminal's phone line: the modem, on hook, says RING
            before, after = _turns_after(runner, lambda: os.write(modem._master, b"\r\nRING\r\n"))
        finally:
            runner.close()
    assert before < MAX_TURNS
    assert after < MAX_TURNS, f"{after} loop turns in {WINDOW} s after an unsolicited RING"


def test_a_network_printer_closing_its_idle_connection_does_not_spin_the_loop(tmp_path):
    from hal.printer.ptysim import TcpPrinterSim

    with TcpPrinterSim() as printer:
        runner = _runner(tmp_path, {"printer": printer.url})
        try:
            # a JetDirect-style idle timeout, which hal/printer/network.py says print servers do
            before, after = _turns_after(runner, printer.drop_connection)
        finally:
            runner.close()
    assert before < MAX_TURNS
    assert after < MAX_TURNS, f"{after} loop turns in {WINDOW} s after the printer closed its idle connection"


def test_a_byte_the_serial_printer_sends_unasked_does_not_spin_the_loop(tmp_path):
    from hal.printer.ptysim import PtyPrinterSim

    with PtyPrinterSim() as printer:
        runner = _runner(tmp_path, {"printer": printer.url})
        try:
            # a late answer to a status request that had timed out (or an ASB / XON byte)
            before, after = _turns_after(runner, lambda: os.write(printer._master, b"\x12"))
        finally:
            runner.close()
    assert before < MAX_TURNS
    assert after < MAX_TURNS, f"{after} loop turns in {WINDOW} s after one unsolicited printer byte"


def test_stop_wakes_a_loop_that_waits_with_no_deadline(tmp_path):
    """A serial reader's descriptor and nothing due (the tamper look is off here): the loop waits
    in ``select`` with no timeout, and ``stop()`` (what the signal handlers call) must end it."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    runner = _runner(tmp_path, {"reader": f"serial://{path}"})
    runner.data_dir = None  # no look for a zeroize every second: nothing else would wake the loop
    runner.wal_dirty = False
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    try:
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()
        runner.stop()
        thread.join(5)
        assert not thread.is_alive(), "the loop did not see stop()"
    finally:
        runner.stopped = True
        os.write(master, b"\r")  # (frees a loop stuck in select, so the test ends either way)
        thread.join(5)
        runner.close()
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_posterm_run_cleanly_while_it_waits_on_a_serial_reader(tmp_path, posterm_cmd, clean_env,
                                                                              signum):
    """Outside a systemd watchdog (no ``WATCHDOG_USEC``), past the idle checkpoint: SIGTERM (a
    supervisor) or SIGHUP (the console's session ended) ends ``posterm run`` with exit 0 after
    ``runner.close()``, rather than leaving it to be killed (the DUKPT counters, the database)."""
    data = tmp_path / "data"
    provision(data, lab=True)
    master, slave = os.openpty()
    path = os.ttyname(slave)
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[log]\nlevel = "warning"\n'
                      f'[devices]\nreader = "serial://{path}"\n')
    env = {k: v for k, v in clean_env.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    proc = subprocess.Popen(posterm_cmd + ["run", "--config", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("posterm ready")
        time.sleep(2.5)  # past the idle checkpoint (CHECKPOINT_IDLE = 2 s)
        proc.send_signal(signum)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, f"posterm run did not stop cleanly within 10 s of signal {signum}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
        os.close(master)
        os.close(slave)


def test_a_second_posterm_run_on_the_same_data_directory_is_refused(tmp_path, posterm_cmd, clean_env):
    data = tmp_path / "data"
    provision(data, lab=True)
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[log]\nlevel = "warning"\n')
    first = subprocess.Popen(posterm_cmd + ["run", "--config", str(config)], env=clean_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().startswith("posterm ready")
        second = subprocess.run(posterm_cmd + ["run", "--config", str(config), "--exit-when-ready"], env=clean_env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and "ready" not in second.stdout
        assert "[storage.in_use]" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
        first.communicate(timeout=10)
    again = subprocess.run(posterm_cmd + ["run", "--config", str(config), "--exit-when-ready"], env=clean_env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr  # the lock went with the first


def test_a_scenario_with_power_cuts_leaves_no_descriptor_open():
    """Each runner holds a stop pipe; a simulated power cut skips ``close`` and must not leak it (a
    long scenario run, or the suite, would run out of descriptors)."""
    from firmware.scenario import ScenarioRunner, parse_scenario

    sale = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
    steps = []
    for point in ("after:open_request", "after:record_outcome", "after:print"):
        steps += [{"power_cut": point}, *sale, {"restart": True}]
    before = len(os.listdir("/proc/self/fd"))
    result = ScenarioRunner().run(parse_scenario({"name": "fds", "step": steps}))
    assert result["power_cuts"] == ["after:open_request", "after:record_outcome", "after:print"]
    assert len(os.listdir("/proc/self/fd")) <= before
