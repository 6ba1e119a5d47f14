from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def posterm_cmd():
    """The installed console script, run as an operator would."""
    exe = Path(sys.executable).with_name("posterm")
    assert exe.exists(), "posterm is not installed in this environment"
    return [str(exe)]


@pytest.fixture
def clean_env(tmp_path):
    env = dict(os.environ)
    env["HOME"] = str(tmp_path / "home")
    return env
