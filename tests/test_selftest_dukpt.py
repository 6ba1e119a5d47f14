"""``posterm selftest`` with DUKPT PIN keys: refused without a key or with one the profile cannot carry, the
counters left shown, a warning when few are left; it spends and reserves no counter."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.dukpt_device import STATE_FILE, DukptDevice, DukptScheme
from crypto.dukpt_lab import provision_lab_dukpt
from crypto.provision import provision
from firmware.selftest import Status, Target, run_selftest


def _config(tmp_path: Path, data: Path, pin_keys: str) -> Path:
    path = tmp_path / "posterm.toml"
    path.write_text(f'[storage]\ndata_dir = "{data}"\n[host]\nprofile = "iso87"\npin_keys = "{pin_keys}"\n')
    return path


def _keys(tmp_path, pin_keys="dukpt", scheme=DukptScheme.TDES):
    data = tmp_path / "data"
    provision(data, lab=True)
    if scheme is not None:
        provision_lab_dukpt(data, scheme)
    results = {r.name: r for r in run_selftest(Target(config_path=_config(tmp_path, data, pin_keys)))}
    return results["keys"], data


def test_dukpt_keys_pass_and_show_the_counters_left_without_spending_one(tmp_path):
    result, data = _keys(tmp_path)
    before = (data / STATE_FILE).read_bytes()
    assert result.status is Status.PASS and "DUKPT tdes: 1,048,575 counters left" in result.detail
    again = {r.name: r for r in run_selftest(Target(config_path=tmp_path / "posterm.toml"))}["keys"]
    assert again.detail == result.detail and (data / STATE_FILE).read_bytes() == before


@pytest.mark.parametrize(("scheme", "status", "code"), [
    (None, Status.FAIL, "keys.no_dukpt"),
    (DukptScheme.AES128, Status.FAIL, "keys.dukpt_pin_field"),  # 16-byte format 4 blocks, iso87's 52 is b8
])
def test_dukpt_that_cannot_work_fails_with_its_code(tmp_path, scheme, status, code):
    result, _ = _keys(tmp_path, scheme=scheme)
    assert (result.status, result.code) == (status, code)


def test_few_counters_left_warn(tmp_path, monkeypatch):
    import crypto.dukpt_reserve as reserve

    monkeypatch.setattr(reserve, "LOW_COUNTERS", 2_000_000)  # more than a TDES key has: "few" left
    result, _ = _keys(tmp_path)
    assert (result.status, result.code) == (Status.WARN, "keys.dukpt_low")
    assert "1,048,575 DUKPT counters left" in result.text


def test_session_keys_only_mention_a_loaded_dukpt_key(tmp_path):
    result, _ = _keys(tmp_path, pin_keys="session")
    assert result.status is Status.PASS and "not used: pin_keys session" in result.detail
    assert DukptDevice.exists(tmp_path / "data")
