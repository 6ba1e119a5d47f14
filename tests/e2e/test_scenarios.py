"""Every example scenario passes, in-process and through the real command."""

from __future__ import annotations

import json
import subprocess

import pytest

from firmware.scenario import ScenarioRunner, load_scenario

from .conftest import SCENARIOS

FILES = sorted(SCENARIOS.glob("*.toml"))


def test_there_are_example_scenarios():
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_example_scenario_passes(path):
    result = ScenarioRunner().run(load_scenario(path))
    assert result["ok"], result["failures"]


def test_sim_command_prints_json_with_outcomes_codes_and_receipts(posterm_cmd, clean_env):
    out = subprocess.run(
        posterm_cmd + ["sim", "--scenario", str(SCENARIOS / "approved_sale.toml"), "--json"],
        capture_output=True, text=True, env=clean_env, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    (txn,) = result["transactions"]
    assert txn["outcome"] == "approved" and txn["response_code"] == "00"
    assert txn["stan"] == "000001" and len(txn["rrn"]) == 12
    assert len(txn["receipts"]) == 2 and "TRACE NO:" in txn["receipts"][0]
    assert result["host_ledger"]["summary"]["approved"] == 1
    assert "6205500000000000004" not in out.stdout  # only masked PANs in the result


def test_a_failing_expectation_fails_the_command(posterm_cmd, clean_env, tmp_path):
    bad = tmp_path / "wrong.toml"
    bad.write_text('[[step]]\nkey = "100#"\n[[step]]\nswipe = "visa"\n[[step]]\npin = "1234"\n'
                   '[[step]]\nexpect = { outcome = "declined" }\n')
    out = subprocess.run(posterm_cmd + ["sim", "--scenario", str(bad)], capture_output=True, text=True,
                         env=clean_env, timeout=60)
    assert out.returncode == 1
    assert "FAILED step 4: last transaction outcome is 'approved', expected 'declined'" in out.stdout


@pytest.mark.parametrize(
    "text, code",
    [
        ('[[step]]\nbogus = 1\n', "scenario.unknown_key"),
        ('[[step]]\nprinter = "on_fire"\n', "scenario.bad_value"),
        ('name = "x"\ncolour = "red"\n', "scenario.unknown_key"),
        ("step = 3\n", "scenario.bad_value"),  # each of these was "internal error (TypeError ...)"
        ("[[step]]\nexpect = { printed = [1,2] }\n", "scenario.bad_value"),
        ("[[step]]\nwait = 1e308\n", "scenario.bad_value"),
        ('[[step]]\nswipe = { 2 = "x" }\n', "scenario.unknown_key"),
        ("[[step]\n", "scenario.syntax"),
    ],
)
def test_bad_scenarios_name_the_problem_without_a_traceback(posterm_cmd, clean_env, tmp_path, text, code):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = subprocess.run(posterm_cmd + ["sim", "--scenario", str(path)], capture_output=True, text=True,
                         env=clean_env, timeout=60)
    assert out.returncode == 2
    assert f"[{code}]" in out.stderr and "internal error" not in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_sim_against_an_external_host_uses_the_configured_keys(posterm_cmd, clean_env, tmp_path):
    import sys

    host = subprocess.Popen([sys.executable, "-m", "firmware.hostsim", "--port", "0", "--ledger", ":memory:"],
                            stdout=subprocess.PIPE, text=True, env=clean_env)
    try:
        address = host.stdout.readline().split()[-1]
        data = tmp_path / "data"
        assert subprocess.run(posterm_cmd + ["provision", "--data-dir", str(data), "--lab"], env=clean_env,
                              capture_output=True).returncode == 0
        config = tmp_path / "posterm.toml"
        config.write_text(f'[storage]\ndata_dir = "{data}"\n')
        out = subprocess.run(
            posterm_cmd + ["sim", "--scenario", str(SCENARIOS / "approved_sale.toml"), "--host", f"tcp://{address}",
                           "--config", str(config), "--json"],
            capture_output=True, text=True, env=clean_env, timeout=60,
        )
    finally:
        host.terminate()
        host.wait(timeout=10)
        host.stdout.close()
    assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-1500:]
    result = json.loads(out.stdout)
    assert result["transactions"][0]["outcome"] == "approved"
    assert result["host_ledger"] is None
    assert result["skipped_checks"] == ["step 4: ledger_postings (external host)"]


def test_host_rules_need_the_built_in_host(posterm_cmd, clean_env, tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text('[[step]]\nhost = "decline"\n')
    config = tmp_path / "c.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "d"}"\n')
    subprocess.run(posterm_cmd + ["provision", "--data-dir", str(tmp_path / "d"), "--lab"], env=clean_env,
                   capture_output=True)
    out = subprocess.run(posterm_cmd + ["sim", "--scenario", str(scenario), "--host", "tcp://127.0.0.1:9",
                                        "--config", str(config)], capture_output=True, text=True, env=clean_env,
                         timeout=60)
    assert out.returncode == 2 and "[scenario.invalid]" in out.stderr and "built-in host" in out.stderr


def test_a_check_reads_only_what_came_after_the_previous_check():
    """completion_advice.toml checks its settlement's report with printed = "COMPLETE", which the
    advice's own receipt (AUTH COMPLETE (OFFLINE)) printed earlier: a check that read everything
    ever printed passed with the settlement left out. (Found by the session-6 audit.)"""
    from firmware.scenario import ScenarioRunner, load_scenario, parse_scenario

    scenario = load_scenario(SCENARIOS / "completion_advice.toml")
    steps = [{s.kind: s.value} for s in scenario.steps if s.kind != "settle"]
    assert len(steps) == len(scenario.steps) - 1
    result = ScenarioRunner().run(parse_scenario({"name": "no settle", "config": dict(scenario.config),
                                                  "step": steps}))
    assert not result["ok"] and any("since the last check" in f for f in result["failures"]), result["failures"]
