"""A host profile changed while work is owed to the old host is refused at start and by selftest
(``storage.profile``); with nothing owed the change is recorded. Real lab terminals on simulators."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from firmware.errors import ConfigError
from firmware.scenario import ScenarioRunner, parse_scenario
from firmware.selftest import Status, Target, run_selftest
from storage.profile import PROFILE_KEY, HostDebt
from storage.store import DB_FILE, Store
from tests.engineer import FAST, SALE, booted

ISO87 = {**FAST, "host": {**FAST["host"], "profile": "iso87"}}


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(src, dst)
    return dst


def _recorded(data: Path) -> str | None:
    conn = sqlite3.connect(data / DB_FILE)
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (PROFILE_KEY,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def _run(data: Path, steps: list, config: dict = FAST) -> dict:
    result = ScenarioRunner(data_dir=data).run(parse_scenario({"name": "t", "config": config, "step": steps}))
    assert result["ok"], result["failures"]
    return result


def test_profile_change_with_an_unsettled_batch_is_refused_naming_both_profiles(lab_sale_dir, tmp_path):
    data = _copy(lab_sale_dir, tmp_path)
    assert _recorded(data) == "cup"  # the lab terminal recorded the profile it ran with
    with pytest.raises(ConfigError) as e, booted(data, ISO87):
        pass
    assert e.value.code == "config.profile_changed"
    assert "iso87" in e.value.text and "used with cup" in e.value.text
    assert "an unsettled batch (1 record) is owed to the cup host: set host.profile back to cup" in e.value.text
    assert _recorded(data) == "cup"
    with booted(data):  # the old profile still starts
        pass


def test_profile_change_with_a_due_reversal_names_it(tmp_path):
    data = tmp_path / "data"
    _run(data, [{"host": {"behaviour": "drop", "times": 99}}, *SALE])  # its reversal too goes unanswered
    with pytest.raises(ConfigError) as e, booted(data, ISO87):
        pass
    assert e.value.code == "config.profile_changed"
    assert "1 reversal" in e.value.text and "are owed to the cup host" in e.value.text, e.value.text


def test_profile_change_after_settling_is_accepted_and_recorded(lab_sale_dir, tmp_path):
    data = _copy(lab_sale_dir, tmp_path)
    _run(data, [{"settle": True}])
    with booted(data, ISO87) as sim:
        assert ("config.profile", "host profile changed from cup to iso87: nothing was owed to the cup host") \
            in sim.runner.notes
    assert _recorded(data) == "iso87"


def test_a_database_from_before_the_record_takes_the_configured_profile(lab_sale_dir, tmp_path):
    data = _copy(lab_sale_dir, tmp_path)
    conn = sqlite3.connect(data / DB_FILE)
    conn.execute("DELETE FROM settings WHERE key = ?", (PROFILE_KEY,))
    conn.commit()
    conn.close()
    with booted(data, ISO87) as sim:
        assert any(code == "config.profile" and "taken to be the configured iso87" in text
                   for code, text in sim.runner.notes)
    assert _recorded(data) == "iso87"


def test_selftest_reports_the_changed_profile(lab_sale_dir, tmp_path):
    data = _copy(lab_sale_dir, tmp_path)
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[host]\nprofile = "iso87"\n')
    storage = {r.name: r for r in run_selftest(Target(config_path=config))}["storage"]
    assert (storage.status, storage.code) == (Status.FAIL, "config.profile_changed")
    assert "unsettled batch" in storage.text


def test_nothing_owed_describes_nothing(tmp_path):
    store = Store.open(tmp_path)
    try:
        from storage.profile import host_debt

        assert not host_debt(store)
    finally:
        store.close()


@pytest.mark.parametrize("debt, text", [
    (HostDebt(reversals=3, advices=1, batch_records=2),
     "3 reversals, 1 advice and an unsettled batch (2 records) are"),
    (HostDebt(advices=1), "1 advice is"),
    (HostDebt(repeats=2), "2 refund repeats are"),
    (HostDebt(upload=True, settlement=True), "a batch upload and an unanswered settlement are"),
    (HostDebt(preauths=2), "2 open pre-authorisations are"),
    (HostDebt(preauths=1), "1 open pre-authorisation is"),
    (HostDebt(reversals=1, preauths=1), "1 reversal and 1 open pre-authorisation are"),
])
def test_what_is_owed_reads_as_a_sentence(debt, text):
    assert f"{debt.describe()} {debt.verb}" == text


PREAUTH = [{"preauth": 10000}, {"swipe": "unionpay_debit"}, {"pin": "1234"}, {"expect": {"outcome": "approved"}}]


def _open_preauths(data: Path, now=None) -> int:
    from storage.profile import open_preauths

    store = Store.open(data)
    try:
        return open_preauths(store, now)
    finally:
        store.close()


def test_an_open_preauth_is_owed_to_the_old_host(tmp_path):
    """AU12 F1: a pre-auth waiting for its completion is not in the batch's totals, yet its hold sits at the old
    acquirer and its completion or cancel must go there: the change is refused, naming it."""
    data = tmp_path / "data"
    _run(data, PREAUTH)
    with pytest.raises(ConfigError) as e, booted(data, ISO87):
        pass
    assert e.value.code == "config.profile_changed"
    assert "1 open pre-authorisation is owed to the cup host" in e.value.text, e.value.text


@pytest.mark.parametrize("closing", [
    [{"preauth_cancel": {"auth": "000001", "amount": 10000}}, {"swipe": "unionpay_debit"}, {"pin": "1234"},
     {"expect": {"outcome": "approved", "printed": "PREAUTH CANCEL"}}],
    [{"preauth_complete": {"auth": "000001", "amount": 10000}}, {"swipe": "unionpay_debit"}, {"pin": "1234"},
     {"expect": {"outcome": "approved", "printed": "AUTH COMPLETE"}}],
], ids=["cancelled", "completed"])
def test_a_cancelled_or_completed_preauth_is_no_longer_open(tmp_path, closing):
    data = tmp_path / "data"
    _run(data, PREAUTH + closing)  # one run: the host simulator holds the pre-auth it approved
    assert _open_preauths(data) == 0


def test_a_preauth_older_than_its_hold_is_not_owed(tmp_path):
    """A hold the host has let lapse (``PREAUTH_HOLD_DAYS``) pins nothing: an old, never-completed pre-auth
    would otherwise refuse every profile change for ever."""
    from datetime import datetime, timedelta

    from storage.profile import PREAUTH_HOLD_DAYS

    data = tmp_path / "data"
    _run(data, PREAUTH)
    assert _open_preauths(data, datetime.now() + timedelta(days=PREAUTH_HOLD_DAYS - 1)) == 1
    assert _open_preauths(data, datetime.now() + timedelta(days=PREAUTH_HOLD_DAYS, minutes=1)) == 0


def test_a_lab_directory_reused_with_another_profile_is_refused_naming_a_new_data_dir(capsys, tmp_path,
                                                                                     root_logging):
    """AU12 F6: ``posterm demo --data-dir X``, then a scenario of another profile on the same X. The refusal
    stays (what is queued is real even in a lab), and the scenario runner's text says how to start afresh;
    ``posterm run`` on a terminal's own directory is not told to use another."""
    from tests.engineer import cli

    data = tmp_path / "X"
    code, out, err = cli(capsys, "demo", "--data-dir", str(data))
    assert code == 0, (out, err)
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "dukpt_sale.toml"  # profile iso87
    code, out, err = cli(capsys, "sim", "--scenario", str(scenario), "--data-dir", str(data))
    assert code == 2 and "[config.profile_changed]" in err, (out, err)
    assert err.rstrip().endswith("set host.profile back to cup and settle first, or use a new --data-dir"), err
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[host]\nprofile = "iso87"\n')
    code, out, err = cli(capsys, "run", "--config", str(config), "--exit-when-ready")
    assert code == 2 and "[config.profile_changed]" in err and "--data-dir" not in err, (out, err)
