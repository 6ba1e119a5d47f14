"""A database that archived a batch (``storage.archive``) is refused by firmware from before the archive:
its usable-by record is raised to ``ARCHIVE_SCHEMA`` in the archive's own commit, and stays raised."""

from __future__ import annotations

import sqlite3

from firmware.core.model import Counters
from firmware.update.schema import SlotSchema, Verdict, judge
from storage import migrations
from storage.archive import EARLIER
from storage.migrations import ARCHIVE_SCHEMA, Migration, opens, read_schema
from storage.store import DB_FILE, Store
from tests.storage.test_batch_reuse_store import sale, settle
from tests.storage.test_schema import b_column, database_at, firmware

BEFORE_ARCHIVE = SlotSchema(latest=ARCHIVE_SCHEMA - 1, readable_by=10, reads_record=True)  # schema 11 firmware


def _archive(store: Store) -> None:
    sale(store, 1, 1, 1)
    settle(store, 1, 2, 2, 2)
    store.save_counters(Counters(stan=4, batch=1, txn_no=2))  # a sign-on names batch 1 again: archived


def test_archive_schema_is_12_and_usable_by_the_one_before_until_something_is_archived():
    assert ARCHIVE_SCHEMA == 12 <= migrations.LATEST
    assert migrations.usable_by(ARCHIVE_SCHEMA) == ARCHIVE_SCHEMA - 1
    assert migrations.usable_by(migrations.LATEST) == ARCHIVE_SCHEMA - 1  # v13's indexes change nothing of that


def test_a_database_that_archived_a_batch_is_refused_by_firmware_from_before_the_archive(tmp_path):
    store = Store.open(tmp_path)
    try:
        _archive(store)
        assert store.conn.execute("SELECT batch FROM journal").fetchone()[0] == 1 + EARLIER
        schema = read_schema(store.conn)
    finally:
        store.close()
    assert (schema.version, schema.usable_by, schema.recorded) == (migrations.LATEST, ARCHIVE_SCHEMA, True)
    assert not opens(schema, ARCHIVE_SCHEMA - 1)
    assert opens(schema, ARCHIVE_SCHEMA)
    assert judge(tmp_path / DB_FILE, "slot a", BEFORE_ARCHIVE).verdict is Verdict.BLOCKED


def test_a_database_that_archived_nothing_stays_usable_by_firmware_from_before_the_archive(tmp_path):
    store = Store.open(tmp_path)
    try:
        sale(store, 1, 1, 1)
        settle(store, 1, 2, 2, 2)
        store.save_counters(Counters(stan=4, batch=3, txn_no=2))  # a new number: nothing to archive
        schema = read_schema(store.conn)
    finally:
        store.close()
    assert schema.usable_by == ARCHIVE_SCHEMA - 1
    assert opens(schema, ARCHIVE_SCHEMA - 1)
    assert judge(tmp_path / DB_FILE, "slot a", BEFORE_ARCHIVE).verdict is Verdict.USABLE


def test_a_schema_11_database_that_already_archived_is_recorded_so_when_migrated(tmp_path, monkeypatch):
    conn = database_at(tmp_path, ARCHIVE_SCHEMA - 1, monkeypatch)  # archived by schema 11 firmware with the archive
    conn.execute("INSERT INTO settlements (batch, stan, debit_count, debit_amount, credit_count, credit_amount, "
                 "result, uploaded, settled_at) VALUES (?, 1, 0, 0, 0, 0, '1', 1, '2026-11-22T09:30:00')",
                 (1 + EARLIER,))
    migrations.migrate(conn)
    assert read_schema(conn).usable_by == ARCHIVE_SCHEMA
    conn.close()


def test_a_later_migration_keeps_the_raised_record(tmp_path, monkeypatch):
    store = Store.open(tmp_path)
    _archive(store)
    store.close()
    additive = Migration(migrations.LATEST + 1, b_column, readable_by=migrations.MIGRATIONS[-1].readable_by)
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    with firmware(monkeypatch, None, additive):
        migrations.migrate(conn)
        schema = read_schema(conn)
        snapshot = migrations.read_snapshot_record(conn)
    conn.close()
    assert (schema.version, schema.usable_by) == (migrations.LATEST + 1, ARCHIVE_SCHEMA)
    assert snapshot is not None and snapshot.usable_by == ARCHIVE_SCHEMA  # the copy holds the archive too


def test_a_record_read_back_from_an_archived_batch_says_it_is_earlier(tmp_path):
    """The core takes a declined record's room back from the open batch only when it is not an earlier one
    (``SaleRecord.earlier``): the number it carries is the host's, which the open batch may carry again."""
    store = Store.open(tmp_path)
    try:
        _archive(store)
        sale(store, 2, 4, 1)
        old, new = store.record(1), store.record(2)
    finally:
        store.close()
    assert (old.batch, old.earlier) == (1, True)
    assert (new.batch, new.earlier) == (1, False)


def test_the_snapshot_of_a_database_that_already_archived_says_so(tmp_path, monkeypatch):
    """AU12 F5: a schema-11 database holding archived rows (archived by schema-11 firmware that had the archive,
    before it raised the record) is migrated to 12 and its live record raised to 12; the snapshot's record kept
    usable-by 10, so an updater going back to a schema-11 firmware from before the archive restored a copy
    holding 7-digit batch numbers (Verdict.RESTORE) that it reads raw. The floor is taken before the steps."""
    conn = database_at(tmp_path, ARCHIVE_SCHEMA - 1, monkeypatch)
    conn.execute("INSERT INTO settlements (batch, stan, debit_count, debit_amount, credit_count, credit_amount, "
                 "result, uploaded, settled_at) VALUES (?, 1, 0, 0, 0, 0, '1', 1, '2026-11-22T09:30:00')",
                 (1 + EARLIER,))
    conn.close()
    store = Store.open(tmp_path)
    try:
        snapshot = migrations.read_snapshot_record(store.conn)
        live = read_schema(store.conn)
    finally:
        store.close()
    assert snapshot is not None and snapshot.usable_by == ARCHIVE_SCHEMA, snapshot
    assert live.usable_by == ARCHIVE_SCHEMA
    assert judge(tmp_path / DB_FILE, "slot a", BEFORE_ARCHIVE).verdict is Verdict.BLOCKED


def test_the_snapshot_of_a_database_without_an_archive_stays_usable_by_its_own_readers(tmp_path, monkeypatch):
    """The floor counts only what the content holds: a plain schema-11 database's snapshot is usable by 10."""
    database_at(tmp_path, ARCHIVE_SCHEMA - 1, monkeypatch).close()
    store = Store.open(tmp_path)
    try:
        snapshot = migrations.read_snapshot_record(store.conn)
    finally:
        store.close()
    assert snapshot is not None and snapshot.usable_by == migrations.usable_by(ARCHIVE_SCHEMA - 1), snapshot
