"""Shared fixtures. Simulators are passed in explicitly; nothing patches a global."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS_PATH = ROOT.parent / "shared" / "vectors" / "vectors.json"
LOCAL_VECTORS = Path(__file__).resolve().parent / "vectors.json"


def pytest_configure(config):
    """posterm's bytecode compiled before the tests start it (hundreds of times), as an install would: however
    pytest was started, under PYTHONDONTWRITEBYTECODE too (firmware.bytecode). Cheap when up to date."""
    from firmware.bytecode import compile_bytecode
    from firmware.errors import TerminalError

    try:
        compile_bytecode(ROOT)
    except TerminalError:  # a file that does not compile: its own tests say so
        pass


@pytest.fixture(scope="session")
def vectors() -> dict:
    """Published test vectors (../shared/vectors, with a copy kept in tests/ for clean clones)."""
    path = VECTORS_PATH if VECTORS_PATH.exists() else LOCAL_VECTORS
    return json.loads(path.read_text())


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


@pytest.fixture
def root_logging():
    """``posterm run`` configures the root logger for its process (firmware.logs.setup_logging), replacing
    pytest's handlers with one on this test's captured stderr: put them back, or later tests log to a closed
    stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        try:
            handler.close()
        except OSError:  # its last flush to a full disk (logging.shutdown ignores it at exit too)
            pass
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module")
def lab_sale_dir(tmp_path_factory) -> Path:
    """A lab data directory holding one approved sale (tests.engineer); copy it before changing it."""
    from tests.engineer import make_lab_sale_dir

    return make_lab_sale_dir(tmp_path_factory.mktemp("lab") / "data")
