"""The README says what the code does: its tables are generated, its example runs."""

from __future__ import annotations

import re
import tomllib

from firmware.tools.system import drivers_table
from firmware.config import config_docs
from firmware.scenario import STEP_KINDS, ScenarioRunner, parse_scenario
from tests import readme_claims as claims

README = claims.README


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


# -- what a field engineer types (tests/readme_claims.py reads the claims out of the README) ----------
def _parser():
    from firmware.cli import build_parser

    return build_parser()


def _commands_table() -> str:
    section = README[README.index("## Commands"):]
    return section[:section.index("\n## ", 1)]


def test_every_command_line_the_readme_shows_is_one_posterm_takes():
    parser = _parser()
    lines = claims.synopses(parser=parser)
    assert len(lines) > 60  # the extraction still finds the README's command lines
    problems = [p for line in lines for p in claims.check_synopsis(line, parser)]
    assert not problems, "\n".join(problems)


def test_every_posterm_line_in_a_shell_block_or_a_unit_parses():
    parser = _parser()
    lines = claims.sh_lines() + claims.unit_lines()
    assert sum("posterm " in line for line in lines) >= 8
    problems = [p for line in lines for p in claims.check_concrete(line, parser)]
    assert not problems, "\n".join(problems)


def test_every_option_the_readme_names_alone_is_one_some_command_takes():
    named = {s.split()[0].split("=")[0] for s in claims.SPANS if re.match(r"--[a-z]", s)}
    assert "--password-stdin" in named
    assert named - claims.every_option(_parser()) == set()


def test_every_posterm_command_is_in_the_commands_table():
    parser = _parser()
    table = _commands_table().replace("\\|", "|")
    named = set()
    for row in table.splitlines():
        if row.startswith("| `posterm"):
            for node in claims.resolve(" ".join(row.split("`")[1].split()), parser)[0]:
                words = node.name.split()
                named |= {" ".join(words[:n]) for n in range(2, len(words) + 1)}
    assert set(claims.command_paths(parser)) - named == set()


def test_every_code_the_readme_names_is_in_the_source():
    keys = set(re.findall(r"^\| `([a-z_.]+)` \|", config_docs(), re.M))
    names = claims.dotted_names()
    assert {"void.advice_declined", "storage.in_use", "config.bad_url"} <= set(names)
    assert claims.unknown_names(names, keys) == []


def test_every_repository_path_the_readme_names_exists():
    paths = claims.repo_paths()
    assert "deploy/posterm.service" in paths and "./scripts/demo" in paths
    assert [p for p in paths if not (claims.ROOT / p).exists()] == []
    pairs = claims.layout_files()
    assert ("firmware/core/", "table.py") in pairs
    assert claims.missing_layout_files(pairs) == []


def test_every_device_url_the_readme_gives_is_one_a_driver_takes():
    urls = claims.device_urls()
    assert "serial:///dev/ttyUSB0?baud=19200&profile=TM-T20II&columns=48" in urls
    assert claims.refused_urls(urls) == []
