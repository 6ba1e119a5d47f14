"""Fixtures shared by the storage tests."""

from __future__ import annotations

import pytest

from storage.store import Store


@pytest.fixture
def store(tmp_path):
    """A fresh store (schema LATEST) in the test's own directory, closed afterwards."""
    s = Store.open(tmp_path)
    yield s
    s.close()
