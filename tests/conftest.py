"""Shared fixtures. Simulators are passed in explicitly; nothing patches a global."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS_PATH = ROOT.parent / "shared" / "vectors" / "vectors.json"
LOCAL_VECTORS = Path(__file__).resolve().parent / "vectors.json"


@pytest.fixture(scope="session")
def vectors() -> dict:
    """Published test vectors (../shared/vectors, with a copy kept in tests/ for clean clones)."""
    path = VECTORS_PATH if VECTORS_PATH.exists() else LOCAL_VECTORS
    return json.loads(path.read_text())
