"""The host's time at sign-on, carried out by the runner: set the clock only when configured, say so either way.

The terminal runs on simulated devices against the host simulator in-process, whose clock is two hours
ahead. The system clock itself is never touched here: the runner's ``set_clock`` (firmware.sysclock in
production) is replaced by a recorder, the HAL boundary this test is about.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


from crypto.keys import KeyUsage
from crypto.provision import lab_key, provision
from firmware.app import Overrides, build_runner
from firmware.config import Config
from firmware.core.events import SignOnRequested
from firmware.core.model import State
from firmware.errors import DeviceError
from firmware.hostsim.ledger import Ledger
from firmware.hostsim.processor import HostProcessor
from firmware.sysclock import set_system_clock

AHEAD = timedelta(hours=2)


def terminal(tmp_path, *, from_host: bool, set_clock=None, host_clock=None, host_zone: str = "", host_tmk=None):
    """Booted on simulated devices; with ``from_host`` the real setter is wired (checked) and then replaced by
    ``set_clock`` before anything can run: the test machine's clock is never set. The host's clock is ours
    plus ``AHEAD`` unless ``host_clock`` says otherwise; ``host_zone`` is host.time_zone."""
    data = tmp_path / "data"
    provision(data, lab=True)
    config = Config().replace({"storage": {"data_dir": str(data)}, "devices": {"link": "sim://"},
                               "terminal": {"clock_from_host": from_host}, "host": {"time_zone": host_zone}})
    host = HostProcessor(config.host.profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                         ledger=Ledger(":memory:"), tmk=host_tmk or lab_key(KeyUsage.TMK),
                         clock=host_clock or (lambda: datetime.now() + AHEAD))
    runner = build_runner(config, overrides=Overrides(host=host))
    if from_host:
        assert runner.set_clock is set_system_clock  # the configuration wires the real one
        runner.set_clock = set_clock
    runner.boot()
    return runner


def sign_on(runner) -> list[tuple[str, str]]:
    before = len(runner.alerts)
    runner.dispatch(SignOnRequested())
    runner.run_until(lambda: runner.core.state is State.IDLE and runner.core.job is None, 5)
    return runner.alerts[before:]


def test_configured_the_clock_is_set_to_the_host_time(tmp_path):
    told: list[timedelta] = []
    runner = terminal(tmp_path, from_host=True, set_clock=told.append)
    try:
        alerts = sign_on(runner)
    finally:
        runner.close()
    assert [c for c, _ in alerts] == ["signon.ok", "clock.set"], alerts
    assert "+7200 s" in alerts[1][1] or "+7199 s" in alerts[1][1], alerts
    (moved,) = told  # the difference, which the system clock is moved by where it is read (sysclock)
    assert abs(moved - AHEAD) < timedelta(seconds=5)


def test_a_sign_on_answer_whose_keys_fail_their_check_values_does_not_move_the_clock(tmp_path):
    """The 0810 carries no MAC (the MAC key travels in it), so the host's time in it is taken only once its
    working keys decrypt under the terminal's TMK to their check values: an answer that is not the acquirer's
    (here a host holding another TMK) installs nothing and sets no clock."""
    from crypto.secrets import SecretKey

    told: list[timedelta] = []
    other_tmk = SecretKey(bytes(range(16)), KeyUsage.TMK.value)
    runner = terminal(tmp_path, from_host=True, set_clock=told.append, host_tmk=other_tmk)
    try:
        alerts = sign_on(runner)
    finally:
        runner.close()
    codes = [c for c, _ in alerts]
    assert "signon.ok" not in codes and "clock.set" not in codes, alerts
    assert told == []


def test_not_configured_an_alert_says_by_how_much_and_nothing_is_set(tmp_path):
    runner = terminal(tmp_path, from_host=False)
    assert runner.set_clock is None
    try:
        alerts = sign_on(runner)
    finally:
        runner.close()
    (differs,) = [t for c, t in alerts if c == "clock.differs"]
    assert "+7200 s" in differs or "+7199 s" in differs, differs


def far_zone() -> str:
    """A zone whose civil time is hours off this machine's, whatever zone the machine keeps."""
    here = datetime.now().astimezone().utcoffset()
    return "Asia/Shanghai" if abs(here - timedelta(hours=8)) >= timedelta(hours=4) else "America/New_York"


def test_a_host_in_another_zone_is_on_time_once_its_zone_is_configured(tmp_path):
    """The host keeps its own civil time, hours off ours: unconfigured, the terminal would take that for a
    wrong clock; with host.time_zone, the time is converted and found right (within the minute)."""
    zone = far_zone()
    host_clock = lambda: datetime.now(ZoneInfo(zone)).replace(tzinfo=None)  # noqa: E731
    runner = terminal(tmp_path, from_host=False, host_clock=host_clock, host_zone=zone)
    try:
        alerts = sign_on(runner)
    finally:
        runner.close()
    assert [c for c, _ in alerts] == ["signon.ok"], alerts
    runner = terminal(tmp_path / "unset", from_host=False, host_clock=host_clock)
    try:
        alerts = sign_on(runner)
    finally:
        runner.close()
    assert "clock.differs" in [c for c, _ in alerts], alerts


def test_a_clock_that_cannot_be_set_is_an_alert_not_a_failed_sign_on(tmp_path):
    def refuse(_when):
        raise DeviceError("cannot set the clock: posterm lacks CAP_SYS_TIME", code="clock.not_permitted")

    runner = terminal(tmp_path, from_host=True, set_clock=refuse)
    try:
        alerts = sign_on(runner)
        assert runner.core.keys.name == "READY"
    finally:
        runner.close()
    assert [c for c, _ in alerts] == ["signon.ok", "clock.not_permitted"], alerts


def test_without_the_capability_setting_the_clock_is_refused_by_name():
    """In a forked child without CAP_SYS_TIME (as nobody, when the suite runs as root): the kernel's EPERM
    is named. Forked, not spawned: nobody may not be able to exec this interpreter."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on, only os._exit
        code = b"?"
        try:
            if os.geteuid() == 0:
                os.setuid(65534)  # drops every capability
            set_system_clock(timedelta(0))
            code = b"set"
        except DeviceError as e:
            code = e.code.encode()
        finally:
            os.write(write, code)
            os._exit(0)
    os.close(write)
    try:
        said = os.read(read, 100).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert said == "clock.not_permitted"


def test_after_a_restart_with_the_clock_a_day_behind_sales_are_refused_until_it_is_mended(tmp_path):
    """A sale, then a restart whose clock reads a day earlier (a Pi without its battery clock): the journal's
    newest record is the floor, so the next sale is refused (clock.behind) and nothing is recorded."""
    runner = terminal(tmp_path, from_host=False)
    pad, reader = runner.devices.pinpad, runner.devices.reader
    pad.press("1250#")
    reader.swipe_card("unionpay_debit")
    pad.press("1234#", hold_for_pin=True)
    runner.run_until(lambda: runner.core.state is State.IDLE and runner.store.commits >= 2, 10)
    commits = runner.store.commits
    runner.close()

    config = Config().replace({"storage": {"data_dir": str(tmp_path / "data")}, "devices": {"link": "sim://"}})
    host = HostProcessor(config.host.profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                         ledger=Ledger(":memory:"), tmk=lab_key(KeyUsage.TMK))
    runner = build_runner(config, overrides=Overrides(host=host))
    runner.clock = lambda: datetime.now() - timedelta(days=1)
    runner.boot()
    try:
        runner.devices.pinpad.press("1")
        runner.run_until(lambda: bool(runner.alerts), 2)
        assert [c for c, _ in runner.alerts][-1:] == ["clock.behind"], runner.alerts
        assert runner.core.state is State.IDLE and runner.store.commits == 0  # a new run counts from 0
        assert len(runner.store.journal()) == 1
    finally:
        runner.close()
    assert commits >= 2
