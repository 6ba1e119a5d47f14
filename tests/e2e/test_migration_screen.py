"""The display while the terminal starts slowly: a schema migration after an update (its snapshot, digests and
steps read the whole database: minutes on a Pi Zero with a long journal) shows UPDATING RECORDS / DO NOT POWER
OFF for the whole of it, then READY; a blank or stale screen got the terminal switched off and on, and the
migration started again from scratch (MG25).

The display is opened before the database, alone; what becomes of it when the migration fails, when it does
not answer, or when it cannot be opened at all."""

from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess

import pytest

from crypto.provision import provision
from firmware.app import UPDATING, Overrides, build_runner
from firmware.config import Config
from firmware.errors import DisplayError, StorageError
from firmware.hostsim.processor import HostProcessor
from hal.base import DeviceContext
from hal.display import fit_screen
from hal.display.dmd import Op
from hal.display.ptysim import PtyDisplaySim
from hal.registry import make_device
from storage.migrations import LATEST, snapshot_path
from storage.store import DB_FILE
from tests.storage.test_schema import database_at


def schema_before(data, monkeypatch) -> None:
    """A provisioned terminal whose database the firmware before this one left (one migration due)."""
    provision(data, lab=True)
    database_at(data, LATEST - 1, monkeypatch).close()


def version(data) -> int:
    conn = sqlite3.connect(data / DB_FILE)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("rows, cols", [(4, 20), (2, 16)])
def test_posterm_run_shows_updating_for_the_whole_migration_then_ready(
        tmp_path, posterm_cmd, clean_env, monkeypatch, rows, cols):
    """A real ``posterm run`` on a real serial display (the display simulator on a pseudo-terminal). The test
    holds the database's write lock, so the migration waits at its start for it (SQLite's 5 s busy wait): the
    screen up then is the one the cashier sees for the whole migration."""
    data = tmp_path / "data"
    schema_before(data, monkeypatch)
    with PtyDisplaySim(rows=rows, cols=cols) as sim:
        config = tmp_path / "posterm.toml"
        config.write_text(f'[storage]\ndata_dir = "{data}"\n[devices]\ndisplay = "{sim.url}"\n'
                          '[log]\nlevel = "warning"\n')
        lock = sqlite3.connect(data / DB_FILE, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the migration cannot start its transaction until this ends
        proc = subprocess.Popen(posterm_cmd + ["run", "--config", str(config)], env=clean_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            sim.wait_for_screen(fit_screen(UPDATING, rows, cols), timeout=30)
            assert version(data) == LATEST - 1  # shown before the migration, not after it
            lock.execute("ROLLBACK")
            sim.wait_until(lambda s: s.shows("READY"), timeout=30)
            assert version(data) == LATEST
            assert sim.count(Op.INITIALISE) == 1  # the display was opened once, not again with the other devices
            assert sim.errors == []
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            lock.close()
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate(timeout=10)
    assert "Traceback" not in err, err


# -- in-process: the display and the database's failures ---------------------------------
def terminal_config(data, display: str = "sim://") -> Config:
    return Config().replace({"storage": {"data_dir": str(data)}, "devices": {"link": "sim://", "display": display}})


def sim_display(data, url: str = "sim://?rows=2&cols=16"):
    return make_device("display", url, DeviceContext(data_dir=data))


def build(data, display, **kw):
    return build_runner(terminal_config(data), overrides=Overrides({"display": display}, HostProcessor("cup")), **kw)


def test_a_start_without_a_migration_never_shows_updating(tmp_path):
    """The usual start adds nothing: a new database, then one already at this firmware's schema."""
    data = tmp_path / "data"
    provision(data, lab=True)
    for _ in range(2):
        display = sim_display(data)
        runner = build(data, display)
        try:
            runner.boot()
        finally:
            runner.close()
        assert not display.showed("UPDATING RECORDS")
        assert display.showed("READY")


def test_a_migration_that_fails_leaves_its_database_as_it_was_and_every_device_closed(tmp_path, monkeypatch):
    """Its snapshot cannot be written (a directory where it goes): no migration, and the display that said
    UPDATING is closed again (a serial one is cleared: it no longer says DO NOT POWER OFF); no other device
    was opened."""
    data = tmp_path / "data"
    schema_before(data, monkeypatch)
    (snapshot_path(data / DB_FILE) / "in-the-way").mkdir(parents=True)
    display = sim_display(data)
    printer = make_device("printer", "sim://", DeviceContext(data_dir=data))
    with pytest.raises(StorageError) as caught:
        build_runner(terminal_config(data), overrides=Overrides({"display": display, "printer": printer},
                                                                HostProcessor("cup")))
    assert caught.value.code == "storage.snapshot"
    assert display.history == [fit_screen(UPDATING, 2, 16)]
    assert not display.is_open and not printer.is_open
    assert version(data) == LATEST - 1


def test_a_display_that_does_not_answer_does_not_stop_the_migration(tmp_path, monkeypatch, caplog):
    """The runner meets the fault at its first screen and handles it as any display fault; the migration runs."""
    data = tmp_path / "data"
    schema_before(data, monkeypatch)
    display = sim_display(data)
    display.stop_answering()
    with caplog.at_level(logging.WARNING, logger="firmware.app"):
        runner = build(data, display)
    runner.close()
    assert version(data) == LATEST
    assert "did not take the UPDATING screen (display.not_responding)" in caplog.text


def test_a_display_that_cannot_be_opened_stops_the_start_before_the_database_is_touched(tmp_path, monkeypatch):
    """The terminal cannot run without its display (every device is opened before ready); the database is
    left as the firmware before the update uses it, snapshot-free, so a rollback needs nothing put back."""
    data = tmp_path / "data"
    schema_before(data, monkeypatch)
    with pytest.raises(DisplayError) as caught:
        build_runner(terminal_config(data, f"serial://{tmp_path}/no-such-port"),
                     overrides=Overrides(host=HostProcessor("cup")))
    assert caught.value.code == "display.open_failed"
    assert version(data) == LATEST - 1 and not snapshot_path(data / DB_FILE).exists()
