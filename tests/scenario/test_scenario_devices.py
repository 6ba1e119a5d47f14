"""A scenario's own simulated devices (UX24): ``[config] devices = { display = "sim://?rows=2&cols=16" }`` ran on
a 4 x 20 display without a word, so a merchant's day "played on a 2 x 16 pole display" was read on another.
The scenario's sim:// URL is used; any other scheme, or a link, is refused with the reason."""

from __future__ import annotations

import pytest

from firmware.errors import ScenarioError
from firmware.scenario import ScenarioRunner, parse_scenario

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]


def _run(devices: dict, tmp_path) -> dict:
    doc = {"name": "devices", "config": {"devices": devices}, "step": [*SALE, {"expect": {"outcome": "approved"}}]}
    return ScenarioRunner(data_dir=tmp_path / "data").run(parse_scenario(doc))


def test_a_scenario_plays_on_the_display_it_names(tmp_path):
    result = _run({"display": "sim://?rows=2&cols=16"}, tmp_path)
    assert result["ok"], result["failures"]
    assert len(result["display"]) == 2 and {len(line) for line in result["display"]} == {16}, result["display"]


@pytest.mark.parametrize("kind, url", [("printer", "serial:///dev/ttyS0"), ("display", "console://"),
                                       ("link", "sim://")])
def test_a_device_a_scenario_cannot_drive_is_refused_not_replaced(kind, url, tmp_path):
    with pytest.raises(ScenarioError) as e:
        _run({kind: url}, tmp_path)
    assert e.value.code == "scenario.bad_value" and kind in e.value.text
