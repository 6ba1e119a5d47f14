"""Every screen whole on every display size (brief FX23): each example scenario and each flow below runs on
2 x 16, 4 x 16, 2 x 20 and 4 x 20 simulated displays, and no line may have been cut.

The assertion lists no screen: the display port records every line wider than the display
(``hal.display.Display._cut``; the simulator's ``cut``), so a screen a flow shows that does not fit fails
here whichever it is. A scenario's own display checks are written for 4 x 20 and may not read the same on a
smaller display (SUPERVISOR REFUSED over two lines on 16 columns); every other check must pass.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.config import parse_config
from firmware.scenario import load_scenario, parse_scenario

from .conftest import SCENARIOS
from .test_display_width import SizedRunner

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
