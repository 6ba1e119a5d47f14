"""The README says what the code does: its tables are generated, its example runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from firmware.tools.system import drivers_table
from firmware.config import config_docs
from firmware.scenario import STEP_KINDS, ScenarioRunner, parse_scenario

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_opens_with_exactly_the_two_setup_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    assert README.index("```sh") < README.index("## ")


def test_configuration_table_is_the_generated_one():
    assert config_docs() in README


def test_driver_table_is_the_generated_one():
    assert drivers_table() in README


def test_every_scenario_step_is_documented():
    for kind, text in STEP_KINDS.items():
        assert f"| `{kind}` | {text} |" in README


def test_the_scenario_example_runs_and_passes():
    example = re.search(r"```toml\n(.*?)```", README, re.S).group(1)
    result = ScenarioRunner().run(parse_scenario(tomllib.loads(example), source="README"))
    assert result["ok"], result["failures"]
