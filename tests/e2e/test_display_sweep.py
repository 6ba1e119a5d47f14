"""Every screen whole on every display size (brief FX23): each example scenario and each flow below runs on
2 x 16, 4 x 16, 2 x 20 and 4 x 20 simulated displays, and no line may have been cut. So do a full disk's flows
(``storage.full``, on a real full file system: ``display_sweep_child.py``) and the screens no flow of the core
shows: UPDATING RECORDS while a start migrates the database, OUT OF SERVICE (MG25).

The assertion lists no screen: the display port records every line wider than the display
(``hal.display.Display._cut``; the simulator's ``cut``), so a screen a flow shows that does not fit fails
here whichever it is. A scenario's own display checks are written for 4 x 20 and may not read the same on a
smaller display (SUPERVISOR REFUSED over two lines on 16 columns); every other check must pass.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.app import UPDATING
from firmware.config import parse_config
from firmware.outofservice import GIVEN_UP, RESTARTING
from firmware.scenario import load_scenario, parse_scenario
from hal.base import DeviceContext
from hal.registry import make_device
from tests.engineer import tmpfs_prefix

from .conftest import SCENARIOS
from .test_display_width import SizedRunner

ROOT = Path(__file__).resolve().parents[2]
GEOMETRIES = ["sim://?rows=2&cols=16", "sim://?rows=4&cols=16", "sim://?rows=2&cols=20", "sim://?rows=4&cols=20"]
CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
SALE = [{"key": "1250#"}, *CARD]
FAST = {"host": {"response_timeout": 0.5, "connect_timeout": 0.5}}

# Flows the example scenarios do not reach, or not on every path: menus, faults, locks, the settlements.
FLOWS = {
    "menu pages": [{"key": "F"}, {"key": "0"}, {"key": "0"}, {"key": "X"}],
    "sign off, refused, sign on": [{"key": "F3"}, {"key": "1250#"}, {"key": "F2"}, *SALE],
    "upload with nothing queued": [{"key": "F1"}],
    "balanced settlement and reprints": [*SALE, {"settle": True}, {"key": "F8"}, {"key": "F9"}],
    "reprint a receipt by trace": [*SALE, {"key": "F8"}],
    "reversal pending on the status line": [
        {"host": {"behaviour": "drop", "times": 3}}, {"key": "1250#"}, *CARD, {"link": "down"}, {"key": "X"}],
    "declined": [{"host": {"behaviour": "decline", "code": "51", "times": 1}}, *SALE],
    "wrong amount answered": [{"host": {"behaviour": "wrong_amount", "times": 1}}, *SALE],
    "bad mac": [{"host": {"behaviour": "bad_mac", "times": 1}}, *SALE],
    "offline then forwarded": [{"link": "down"}, *SALE, {"link": "up"}, {"upload": True}],
    "printer faults": [{"printer": "open_cover"}, {"key": "1250#"}, {"printer": "resume"}, {"printer": "offline"},
                       *SALE, {"printer": "resume"}],
    "reader fault": [{"reader": "stop_answering"}, {"key": "1250#"}, {"reader": "resume"}],
    "pin pad fault": [{"pinpad": "stop_answering"}, {"key": "1250#"}, {"swipe": "unionpay_debit"},
                      {"pinpad": "resume"}],
    "keys locked": [{"tamper": "case opened"}, {"key": "1250#"}, {"key": "F"}],
    # the next step after a refusal (core/next_steps.py), where the rows allow one (UX25)
    "declines with their next step": [
        *[step for code in ("55", "05", "91") for step in (
            {"host": {"behaviour": "decline", "code": code, "times": 1}}, *SALE)]],
    "refused offline: try later": [{"link": "down"}, {"key": "60000#"}, *CARD],
    "a card to swap": [{"key": "1250#"}, {"swipe": "expired"}, {"key": "X"}],
    "a digit past the limit": [{"key": "999999999"}, {"key": "X"}],
    "reprint a report before any settlement": [{"key": "F9"}],
    "a PIN keyed": [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"key": "12"}, {"key": "X"}],
}
ISO87 = {"host": {"profile": "iso87", "pin_keys": "dukpt", "response_timeout": 0.5}}
ISO87_FLOWS = {  # iso87 takes no batch upload: an unbalanced settlement is left to the acquirer (by hand)
    "iso87 settled by hand": [*SALE, {"host": {"behaviour": "unbalanced", "times": 1}}, {"settle": True}],
}


def _cuts(display: str, scenario) -> list[tuple[str, int]]:
    runner = SizedRunner(display)
    result = runner.run(scenario)
    others = [f for f in result["failures"] if "display does not show" not in f]
    assert not others, others
    return runner.devices["display"].cut


@pytest.mark.parametrize("display", GEOMETRIES)
@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_scenario_shows_every_line_whole(path, display):
    assert _cuts(display, load_scenario(path)) == []


@pytest.mark.parametrize("display", GEOMETRIES)
@pytest.mark.parametrize("name", [*FLOWS, *ISO87_FLOWS])
def test_every_flow_shows_every_line_whole(name, display):
    steps, config = (FLOWS[name], FAST) if name in FLOWS else (ISO87_FLOWS[name], ISO87)
    assert _cuts(display, parse_scenario({"name": name, "config": config, "step": steps})) == []


MAX_AMOUNT = parse_config({}).sale.max_amount


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(1, MAX_AMOUNT), declined=st.booleans())
def test_any_amount_a_sale_takes_is_shown_whole_on_2x16(amount, declined):
    host = [{"host": {"behaviour": "decline", "code": "51", "times": 1}}] if declined else []
    steps = [*host, {"key": f"{amount}#"}, *CARD]
    scenario = parse_scenario({"name": "amounts", "config": FAST, "step": steps})
    assert _cuts("sim://?rows=2&cols=16", scenario) == []


@pytest.mark.parametrize("display", GEOMETRIES)
def test_a_full_disk_shows_every_line_whole(display, tmp_path, clean_env):
    """Sales refused until the disk has room (SALES SUSPENDED, CHECK AGAIN), whichever commit met it: a sale's
    first, its outcome's, a settlement's, the first after a start. In a child process with a small tmpfs of its
    own, so the disk is really full."""
    disk = tmp_path / "disk"
    disk.mkdir()
    child = Path(__file__).with_name("display_sweep_child.py")
    script = f"mount -t tmpfs -o size=3m tmpfs {disk} && exec {sys.executable} {child} {disk} {shlex.quote(display)}"
    out = subprocess.run(tmpfs_prefix() + [script], capture_output=True, text=True, timeout=120,
                         env={**clean_env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip(), out.stderr[-3000:]
    flows = json.loads(out.stdout.strip().splitlines()[-1])
    for name, flow in flows.items():  # each reached the full disk, and said so
        assert "storage.full" in [code for code, _ in flow["alerts"]], name
        assert any("STORAGE FULL" in screen for screen in flow["screens"]), name
        assert [f for f in flow["failures"] if "display does not show" not in f] == [], (name, flow["failures"])
    assert {name: flow["cut"] for name, flow in flows.items()} == {name: [] for name in flows}


@pytest.mark.parametrize("display", GEOMETRIES)
@pytest.mark.parametrize("screen", [UPDATING, RESTARTING, GIVEN_UP], ids=["updating", "restarting", "given-up"])
def test_the_screens_outside_the_core_show_every_line_whole(screen, display, tmp_path, caplog):
    """UPDATING RECORDS while a start migrates the database (``firmware.app``); OUT OF SERVICE as ``posterm run``
    ends on a bug, and once systemd gives up on it (``firmware.outofservice``). No line cut, none left out."""
    shown = make_device("display", display, DeviceContext(data_dir=tmp_path))
    shown.open()
    with caplog.at_level(logging.WARNING, logger="hal.display"):
        shown.show_final(screen)
    assert shown.cut == [] and caplog.records == []
