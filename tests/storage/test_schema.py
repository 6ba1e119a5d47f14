"""Schema versions across firmware: who may open which version, the usable-by record, the
pre-migration snapshot and its restore. Real SQLite files in tmp_path; an older or newer
firmware is this one with ``MIGRATIONS``/``LATEST`` cut or extended."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.core.model import Copy, Counters, JournalState, Kind, SaleRecord
from firmware.errors import StorageError
from storage import migrations
from storage.db import content_digest, restore_snapshot
from storage.migrations import (
    Migration,
    check_migrations,
    read_schema,
    read_snapshot_record,
    snapshot_path,
)
from storage.store import DB_FILE, Store
from tests.forking import CUT, run_in_child

ALL = migrations.MIGRATIONS
WHEN = datetime(2026, 11, 22, 9, 30, 0)


@contextlib.contextmanager
def firmware(monkeypatch, latest: int | None = None, *extra: Migration):
    """This code as the firmware whose migrations are the first ``latest`` ones, plus ``extra``."""
    table = ALL[: latest if latest is not None else len(ALL)] + extra
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", table)
        m.setattr(migrations, "LATEST", len(table))
        yield


def tip_column(db) -> None:
    db["journal"].add_column("tip", int)


V5_NEW_MEANING = Migration(5, tip_column, readable_by=5)  # B: v4 firmware must not use it
V5_ADDITIVE = Migration(5, tip_column, readable_by=4)  # B': an ignorable column


def sell(store: Store, txn_no: int, *, approve: bool = True, kind: Kind = Kind.SALE) -> SaleRecord:
    rec = SaleRecord(txn_no, 1000 + txn_no, txn_no, 1, WHEN, "620550*********0004", kind=kind)
    store.open_request(rec, pan_hash=b"h" * 16, card=b"S1card", reversal=b"S1reversal",
                       counters=Counters(stan=txn_no + 1, txn_no=txn_no + 1))
    if approve:
        rec = replace(rec, state=JournalState.APPROVED, rrn="000000000001", auth_code="123456")
        store.record_outcome(rec, copies=[Copy.MERCHANT])
    return rec


def user_version(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def digest_of(path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return content_digest(conn)
    finally:
        conn.close()


@pytest.fixture
def v4(tmp_path):
    """A v4 database (this firmware's) with two sales, closed."""
    store = Store.open(tmp_path)
    sell(store, 1)
    sell(store, 2)
    store.close()
    return tmp_path


# -- who may use a version ---------------------------------------------------------------
def test_each_version_declares_how_far_back_it_stays_usable():
    assert [(m.version, m.readable_by) for m in ALL] == [(1, 1), (2, 2), (3, 2), (4, 2)]
    assert migrations.LATEST == 4


@pytest.mark.parametrize("table", [
    (Migration(1, tip_column, 2),),  # above its own version
    (Migration(1, tip_column, 1), Migration(2, tip_column, 2), Migration(3, tip_column, 1)),  # below the previous
    (Migration(1, tip_column, 1), Migration(3, tip_column, 1)),  # a gap
], ids=["above itself", "below the previous", "gap"])
def test_a_dishonest_table_is_refused(table):
    with pytest.raises(ValueError):
        check_migrations(table)


# (version of the database, LATEST of the firmware opening it): opens?
CASES = [(2, 1, False), (3, 1, False), (3, 2, True), (4, 1, False), (4, 2, True), (4, 3, True)]


@pytest.mark.parametrize("db_version, latest, opens", CASES, ids=[f"v{d} by {f}" for d, f, _ in CASES])
def test_an_older_firmware_opens_exactly_the_versions_declared_usable_by_it(tmp_path, monkeypatch, db_version,
                                                                           latest, opens):
    with firmware(monkeypatch, db_version):
        Store.open(tmp_path).close()
    before = digest_of(tmp_path / DB_FILE)
    with firmware(monkeypatch, latest):
        if opens:
            store = Store.open(tmp_path)
            assert read_schema(store.conn) == migrations.DbSchema(db_version, ALL[db_version - 1].readable_by, True)
            store.close()
        else:
            with pytest.raises(StorageError) as err:
                Store.open(tmp_path)
            assert err.value.code == "storage.schema_newer"
            assert f"schema version {db_version}" in err.value.text and f"this firmware's is {latest}" in err.value.text
            assert "posterm update rollback" in err.value.text
    assert user_version(tmp_path / DB_FILE) == db_version  # never lowered, nothing migrated
    assert digest_of(tmp_path / DB_FILE) == before


def test_a_record_for_another_version_is_stale_and_ignored(v4):
    conn = sqlite3.connect(v4 / DB_FILE)
    conn.execute("PRAGMA user_version=5")  # as if some firmware had moved on without writing its own record
    conn.commit()
    conn.close()
    with pytest.raises(StorageError) as err:
        Store.open(v4)
    assert err.value.code == "storage.schema_newer" and "usable by firmware of schema 5" in err.value.text


def test_a_database_at_latest_without_the_record_gets_it_once(v4):
    conn = sqlite3.connect(v4 / DB_FILE)
    conn.execute("DELETE FROM settings WHERE key = 'schema.usable_by'")  # as firmware from before the records left it
    conn.commit()
    conn.close()
    store = Store.open(v4)
    assert read_schema(store.conn) == migrations.DbSchema(4, 2, True)
    commits = store.conn.total_changes
    store.close()
    store = Store.open(v4)
    assert store.conn.total_changes == 0 and commits == 1  # written once, then only read
    store.close()


# -- honest: what the code of each era does on a newer database ------------------------------
V1_DUE_REVERSALS = "SELECT r.txn_no FROM reversals r WHERE r.state IN ('armed', 'due') ORDER BY r.txn_no"
V2_DUE_REVERSALS = ("SELECT r.txn_no FROM reversals r WHERE r.state = 'due' "
                    "UNION ALL SELECT txn_no FROM journal WHERE reversal IS NOT NULL ORDER BY 1")
V2_INSERT = ("INSERT INTO journal (txn_no, kind, state, amount, currency, stan, batch, created_at, terminal_id, "
             "merchant_id, operator, masked_pan, pan_hash, card, entry_mode, pin_entered, updated_at, reversal) "
             "VALUES (9, 'sale', 'requested', 500, '156', 9, 2, '2026-11-23T10:00:00', '', '', '', "
             "'620550*********0004', x'00', x'00', 'swipe', 0, '2026-11-23T10:00:00', x'5331')")
V2_OWED_RECEIPTS = ("SELECT txn_no, kind FROM journal WHERE (merchant_copy = 0 OR cardholder_copy = 0) "
                    "AND state IN ('approved', 'offline_approved') ORDER BY txn_no")


def test_v2_is_not_usable_by_v1_code_it_would_miss_an_armed_reversal(tmp_path, monkeypatch):
    with firmware(monkeypatch, 2):
        store = Store.open(tmp_path)
        store.conn.execute(V2_INSERT)  # an interrupted request: its reversal waits in its row
        assert store.conn.execute(V2_DUE_REVERSALS).fetchall() == [(9,)]
        assert store.conn.execute(V1_DUE_REVERSALS).fetchall() == []  # v1's recovery would never send it
        store.close()
    assert ALL[1].readable_by == 2


def test_v4_with_voids_and_a_settlement_stays_usable_by_v2_era_code(v4):
    from firmware.core.model import Settlement, SettleResult, Totals

    store = Store.open(v4)
    original = store.record(1)
    void = replace(sell(store, 3, approve=False, kind=Kind.VOID), original=store.find_original(1, 1).facts)
    store.conn.execute("UPDATE journal SET original_txn_no = 1 WHERE txn_no = 3")
    store.record_outcome(replace(void, state=JournalState.APPROVED), copies=[Copy.MERCHANT])
    store.close_batch(Settlement(1, Totals(2, 2003, 1, 1003), SettleResult.BALANCED, WHEN, 4), Counters(5, 2, 4))
    conn = store.conn
    # what a v2-era firmware runs at boot and at a sale, on this v4 file
    assert conn.execute(V2_DUE_REVERSALS).fetchall() == []
    kinds = [Kind(k) for _, k in conn.execute(V2_OWED_RECEIPTS)]  # its Kind parses every row, voids included
    assert Kind.VOID in kinds
    conn.execute(V2_INSERT)  # a sale in the next batch, written without the v3 column
    assert conn.execute(V2_DUE_REVERSALS).fetchall() == [(9,)]
    # and v4 code reads what it wrote
    assert store.record(9).original is None and store.voided() == {1: 3} and original.txn_no == 1
    assert store.counters().batch == 2
    store.close()


# -- the snapshot ------------------------------------------------------------------------------
def test_a_migration_takes_a_private_snapshot_first_and_records_it(v4, monkeypatch):
    before = digest_of(v4 / DB_FILE)
    with firmware(monkeypatch, None, V5_NEW_MEANING):
        store = Store.open(v4)
        snap = read_snapshot_record(store.conn)
        assert read_schema(store.conn) == migrations.DbSchema(5, 5, True)
        assert (snap.file, snap.version, snap.usable_by, snap.migrated_to) == ("posterm.db.snapshot", 4, 2, 5)
        assert snap.before == before and snap.after == content_digest(store.conn)
        store.close()
    path = snapshot_path(v4 / DB_FILE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert user_version(path) == 4 and digest_of(path) == before
    assert sorted(p.name for p in v4.iterdir()) == ["posterm.db", "posterm.db.snapshot"]  # no leftovers


def test_a_new_database_needs_no_snapshot(tmp_path):
    store = Store.open(tmp_path)
    assert read_snapshot_record(store.conn) is None and read_schema(store.conn).version == migrations.LATEST
    store.close()
    assert not snapshot_path(tmp_path / DB_FILE).exists()


def test_without_a_snapshot_there_is_no_migration(v4, monkeypatch):
    (v4 / ".posterm.db.snapshot.tmp").mkdir()  # the copy cannot be written
    before = digest_of(v4 / DB_FILE)
    with firmware(monkeypatch, None, V5_NEW_MEANING), pytest.raises(StorageError) as err:
        Store.open(v4)
    assert err.value.code == "storage.snapshot" and "nothing was changed" in err.value.text
    assert user_version(v4 / DB_FILE) == 4 and digest_of(v4 / DB_FILE) == before


def test_a_power_cut_during_a_migration_leaves_the_version_it_had(v4, monkeypatch):
    def cut_mid_step(db) -> None:
        db["journal"].add_column("tip", int)
        os._exit(CUT)  # half the step done, not committed

    before = digest_of(v4 / DB_FILE)
    with firmware(monkeypatch, None, Migration(5, cut_mid_step, readable_by=5)):
        assert run_in_child(lambda hook: Store.open(v4), None) == CUT
    assert user_version(v4 / DB_FILE) == 4 and digest_of(v4 / DB_FILE) == before
    store = Store.open(v4)  # the old firmware still runs
    assert [r.txn_no for r in store.journal()] == [1, 2]
    store.close()
    with firmware(monkeypatch, None, V5_NEW_MEANING):  # and the new one migrates at its next start
        Store.open(v4).close()
    assert user_version(v4 / DB_FILE) == 5


# -- "nothing happened since": the digest -----------------------------------------------------------
CHANGES = {
    "a sale": lambda s: sell(s, 3),
    "a receipt printed": lambda s: s.mark_printed(1, Copy.MERCHANT),
    "a counter moved": lambda s: s.save_counters(Counters(stan=40, batch=1, txn_no=3)),
    "a reversal due": lambda s: s.record_outcome(sell(s, 3, approve=False), reversal_reason="98"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_digest_sees_every_change_of_state(v4, change):
    store = Store.open(v4)
    before = content_digest(store.conn)
    store.check()  # the idle heartbeat is housekeeping, not state
    assert content_digest(store.conn) == before
    CHANGES[change](store)
    assert content_digest(store.conn) != before
    store.close()


@pytest.fixture
def migrated(v4, monkeypatch):
    """v4 -> v5 by firmware B (not usable by v4 firmware): the data directory, and the snapshot's record."""
    with firmware(monkeypatch, None, V5_NEW_MEANING):
        store = Store.open(v4)
        record = read_snapshot_record(store.conn)
        store.close()
    return v4, record


def restore(data_dir, record, **kw):
    return restore_snapshot(data_dir / DB_FILE, data_dir / record.file, unchanged_since=record.after,
                            snapshot_digest=record.before, **kw)


def test_restoring_the_snapshot_puts_the_pre_migration_database_back(migrated):
    data_dir, record = migrated
    steps = []
    restore(data_dir, record, step=lambda: steps.append(1))
    assert steps and user_version(data_dir / DB_FILE) == 4 and digest_of(data_dir / DB_FILE) == record.before
    store = Store.open(data_dir)  # this (v4) firmware runs on it
    assert [r.txn_no for r in store.journal()] == [1, 2] and store.counters() == Counters(stan=3, batch=1, txn_no=3)
    store.close()


def test_a_restore_refuses_a_changed_database_an_open_one_and_a_foreign_snapshot(migrated, monkeypatch):
    data_dir, record = migrated
    with firmware(monkeypatch, None, V5_NEW_MEANING):
        store = Store.open(data_dir)
        with pytest.raises(StorageError) as err:
            restore(data_dir, record)
        assert err.value.code == "storage.in_use"  # posterm has it open
        sell(store, 3)  # B took a sale
        store.close()
    with pytest.raises(StorageError) as err:
        restore(data_dir, record)
    assert err.value.code == "storage.changed_since_snapshot"
    with pytest.raises(StorageError) as err:
        restore(data_dir, replace(record, after=digest_of(data_dir / DB_FILE), before="0" * 64))
    assert err.value.code == "storage.bad_snapshot"
    assert user_version(data_dir / DB_FILE) == 5  # every refusal left B's database as it was


@pytest.mark.parametrize("die_at", [1, 2, 3])
def test_a_power_cut_during_a_restore_leaves_the_database_whole(migrated, monkeypatch, die_at):
    """The copy goes into the live database in one transaction: a cut at any step of it changes nothing."""
    monkeypatch.setattr("storage.db.RESTORE_PAGES", 1)  # one page per step: several steps on a small file
    data_dir, record = migrated
    after = digest_of(data_dir / DB_FILE)
    assert run_in_child(lambda hook: restore(data_dir, record, step=lambda: hook("restoring")), die_at) == CUT
    assert user_version(data_dir / DB_FILE) == 5 and digest_of(data_dir / DB_FILE) == after
    restore(data_dir, record)  # and it can simply be done again
    assert user_version(data_dir / DB_FILE) == 4 and digest_of(data_dir / DB_FILE) == record.before


def test_an_in_memory_database_migrates_without_a_snapshot():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert migrations.migrate(conn) == 0 and read_schema(conn).version == migrations.LATEST
    conn.close()


@given(st.one_of(st.text(max_size=80), st.builds(
    lambda v, u: json.dumps({"version": v, "usable_by": u}), st.integers(-3, 9), st.one_of(st.integers(-3, 9), st.text(max_size=2)))))
def test_a_damaged_record_counts_as_none(text):
    """Whatever the settings rows hold, the schema is the honest record or this firmware's own table."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations.migrate(conn)
    conn.execute("UPDATE settings SET value = ? WHERE key = 'schema.usable_by'", (text,))
    conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('schema.snapshot', ?)", (text,))
    schema = read_schema(conn)
    if schema.recorded:
        assert json.loads(text) == {"version": 4, "usable_by": schema.usable_by} and 0 <= schema.usable_by <= 4
    else:
        assert schema == migrations.DbSchema(4, 2, False)
    assert read_snapshot_record(conn) is None
    conn.close()
