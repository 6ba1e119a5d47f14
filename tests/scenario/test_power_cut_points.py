"""A scenario's ``power_cut`` names a point the runner really has, and an armed cut that never fires fails.

AU7 (medium): a misspelt point (``after:send_requets``) was accepted by its pattern alone, the power
was never cut and ``posterm sim --json`` said ok: a power-cut scenario silently tested a plain sale.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from firmware.core import actions
from firmware.errors import ScenarioError
from firmware.scenario import ScenarioRunner, parse_scenario
from firmware.scenario.steps import crash_points

STEPS = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}, {"restart": True}]


def scenario(steps):
    return parse_scenario({"name": "t", "step": steps})


@pytest.mark.parametrize("point, near", [
    ("after:send_requets", "after:send_request"),
    ("before:nothing_like_this", None),
    ("after:answr", "after:answer"),
    ("befor:open_request", "before:open_request"),
    ("before:answer", "after:answer"),  # the runner checks the answer only after it arrived
    ("sometime", None),
])
def test_a_point_the_runner_does_not_have_is_refused_naming_the_step_and_the_point(point, near):
    with pytest.raises(ScenarioError) as caught:
        scenario([{"key": "1#"}, {"power_cut": point}] + STEPS)
    e = caught.value
    assert e.code == "scenario.bad_value"
    assert e.text.startswith("step 2: power_cut must be a crash point")
    assert repr(point) in e.text
    if near is not None:
        assert "did you mean" in e.text and near in e.text.partition("did you mean")[2]
    else:  # some valid points to copy
        assert any(p in e.text.partition("; ")[2] for p in crash_points())


def test_a_value_that_could_be_card_data_is_not_repeated():
    with pytest.raises(ScenarioError) as caught:
        scenario([{"power_cut": "after:6212345678901234"}])
    assert "6212345678901234" not in caught.value.text


def test_every_action_of_the_core_is_a_point_before_and_after_and_nothing_else_but_the_answer():
    names = {getattr(actions, n).name for n in actions.__all__
             if isinstance(getattr(actions, n), type) and getattr(actions, n) is not actions.Action}
    assert "send_request" in names and "close_batch" in names
    assert crash_points() == {f"{w}:{n}" for n in names for w in ("before", "after")} | {"after:answer"}
    for point in sorted(crash_points()):
        assert scenario([{"power_cut": point}]).steps[0].value == point


def test_an_armed_cut_the_flow_never_reaches_is_a_failure():
    # a sale never closes a batch: the cut cannot fire
    r = ScenarioRunner().run(scenario([{"power_cut": "after:close_batch"}] + STEPS))
    assert not r["ok"] and r["power_cuts"] == []
    assert r["failures"] == ["step 1: power cut at after:close_batch never happened"]


def test_a_cut_armed_while_the_power_is_off_and_never_reached_is_a_failure():
    steps = [{"power_cut": "after:send_request"}] + STEPS[:3] + [{"power_cut": "after:close_batch"}, {"restart": True}]
    r = ScenarioRunner().run(scenario(steps))
    assert r["power_cuts"] == ["after:send_request"]
    assert r["failures"] == ["step 5: power cut at after:close_batch never happened"]


def test_a_cut_that_fired_passes():
    r = ScenarioRunner().run(scenario([{"power_cut": "after:send_request"}] + STEPS
                                      + [{"expect": {"state": "idle"}}]))
    assert r["ok"], r["failures"]
    assert r["power_cuts"] == ["after:send_request"]


def test_posterm_sim_json_says_not_ok_for_a_cut_that_never_happened(posterm_cmd, clean_env, tmp_path):
    path = tmp_path / "cut.toml"
    path.write_text('name = "cut"\n[[step]]\npower_cut = "after:close_batch"\n[[step]]\nkey = "1250#"\n'
                    '[[step]]\nswipe = "unionpay_debit"\n[[step]]\npin = "1234"\n')
    out = subprocess.run(posterm_cmd + ["sim", "--scenario", str(path), "--data-dir", str(tmp_path / "d"), "--json"],
                         capture_output=True, text=True, env=clean_env, timeout=120)
    result = json.loads(out.stdout)
    assert out.returncode != 0
    assert result["ok"] is False and "step 1: power cut at after:close_batch never happened" in result["failures"]


def test_posterm_sim_refuses_a_misspelt_point_in_one_line(posterm_cmd, clean_env, tmp_path):
    path = tmp_path / "cut.toml"
    path.write_text('name = "cut"\n[[step]]\npower_cut = "after:send_requets"\n')
    out = subprocess.run(posterm_cmd + ["sim", "--scenario", str(path), "--data-dir", str(tmp_path / "d"), "--json"],
                         capture_output=True, text=True, env=clean_env, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "scenario.bad_value" in out.stderr and "after:send_request" in out.stderr
