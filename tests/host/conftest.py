"""Fixtures for the host protocol tests: profiles, lab keys, a TPDU."""

from __future__ import annotations

import pytest

from crypto.keys import KeyUsage
from crypto.provision import lab_key
from firmware.host.codec import Tpdu
from firmware.host.profiles import get_profile


@pytest.fixture(params=["cup", "iso87"])
def profile(request):
    return get_profile(request.param)


@pytest.fixture
def cup():
    return get_profile("cup")


@pytest.fixture
def iso87():
    return get_profile("iso87")


@pytest.fixture
def mac_key():
    return lab_key(KeyUsage.MAC)


@pytest.fixture
def pin_key():
    return lab_key(KeyUsage.PIN)


@pytest.fixture
def tpdu():
    return Tpdu("60", "0003", "0000")


@pytest.fixture
def tpdu_of():
    """The TPDU a profile takes (None when it has none)."""
    return lambda profile: Tpdu("60", "0003", "0000") if profile.tpdu else None
