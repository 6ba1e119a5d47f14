"""Schema versions across firmware: who may open which version, the usable-by record, the
pre-migration snapshot and its restore. Real SQLite files in tmp_path; an older or newer
firmware is this one with ``MIGRATIONS``/``LATEST`` cut or extended.

Everything is said relative to this firmware's table, so the tests hold as migrations are
added: this firmware is schema ``LATEST``, and firmware B is this one plus a hypothetical
migration ``NEXT`` (``LATEST + 1``). Only facts about a given past migration (v2 moved
data, v3 and v4 stay usable by v2 code, v5 is not usable by v4 code, v6 not by v5 code) name its number.
``Store`` reads and writes this firmware's newest columns, so it runs only as this firmware
or as B; a database of an older schema is built by its first migrations on a raw
connection and written with that schema's own SQL."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core.model import Copy, Counters, JournalState, Kind, SaleRecord
from firmware.errors import StorageError
from storage import migrations
from storage.db import content_digest, open_database, restore_snapshot
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
LATEST = migrations.LATEST  # this firmware's schema
NEXT = LATEST + 1  # firmware B's
WHEN = datetime(2026, 11, 22, 9, 30, 0)


@contextlib.contextmanager
def firmware(monkeypatch, latest: int | None = None, *extra: Migration):
    """This code as the firmware whose migrations are the first ``latest`` ones, plus ``extra``."""
    table = ALL[: latest if latest is not None else len(ALL)] + extra
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", table)
        m.setattr(migrations, "LATEST", len(table))
        yield


B_COLUMN = "firmware_b_test_only"  # a name no real migration will take


def b_column(db) -> None:
    db["journal"].add_column(B_COLUMN, int)


B_NEW_MEANING = Migration(NEXT, b_column, readable_by=NEXT)  # B: this firmware must not use it
B_ADDITIVE = Migration(NEXT, b_column, readable_by=ALL[-1].readable_by)  # B': an ignorable column (keeps N)


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


def database_at(data_dir, version: int, monkeypatch) -> sqlite3.Connection:
    """A database as firmware of schema ``version`` leaves it (its first ``version`` migrations), on a raw
    connection: rows of that schema are then written with its own SQL, not through this firmware's ``Store``."""
    conn = open_database(data_dir / DB_FILE)
    with firmware(monkeypatch, version):
        migrations.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    return conn


@pytest.fixture
def ours(tmp_path):
    """This firmware's database (schema LATEST) with two sales, closed."""
    store = Store.open(tmp_path)
    sell(store, 1)
    sell(store, 2)
    store.close()
    assert user_version(tmp_path / DB_FILE) == LATEST
    return tmp_path


# -- who may use a version ---------------------------------------------------------------
def test_each_version_declares_how_far_back_it_stays_usable():
    """An audit, updated with each migration: its N is judged (against the code that had the previous
    LATEST) and the reason is written in its ``_vN``'s docstring."""
    assert [(m.version, m.readable_by) for m in ALL] == [(1, 1), (2, 2), (3, 2), (4, 2), (5, 5), (6, 6), (7, 6),
                                                          (8, 6), (9, 9), (10, 10), (11, 10), (12, 11), (13, 11)]
    assert LATEST == 13
    for m in ALL[1:]:
        assert f"Usable by schema {m.readable_by} " in (m.apply.__doc__ or ""), m.version


@pytest.mark.parametrize("table", [
    (Migration(1, b_column, 2),),  # above its own version
    (Migration(1, b_column, 1), Migration(2, b_column, 2), Migration(3, b_column, 1)),  # below the previous
    (Migration(1, b_column, 1), Migration(3, b_column, 1)),  # a gap
], ids=["above itself", "below the previous", "gap"])
def test_a_dishonest_table_is_refused(table):
    with pytest.raises(ValueError):
        check_migrations(table)


# (version of the database, LATEST of the firmware opening it): opens? Every older firmware, every newer database.
CASES = [(d, f, ALL[d - 1].readable_by <= f) for d in range(2, LATEST + 1) for f in range(1, d)]
assert {o for _, _, o in CASES} == {True, False}  # both answers are exercised


@pytest.mark.parametrize("db_version, latest, opens", CASES, ids=[f"v{d} by {f}" for d, f, _ in CASES])
def test_an_older_firmware_opens_exactly_the_versions_declared_usable_by_it(tmp_path, monkeypatch, db_version,
                                                                           latest, opens):
    database_at(tmp_path, db_version, monkeypatch).close()
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


def test_a_record_for_another_version_is_stale_and_ignored(ours):
    conn = sqlite3.connect(ours / DB_FILE)
    conn.execute(f"PRAGMA user_version={NEXT}")  # as if some firmware had moved on without writing its own record
    conn.commit()
    conn.close()
    with pytest.raises(StorageError) as err:  # the record (of LATEST, usable by this firmware) would have let it in
        Store.open(ours)
    assert err.value.code == "storage.schema_newer" and f"usable by firmware of schema {NEXT}" in err.value.text


def test_a_database_at_latest_without_the_record_gets_it_once(ours):
    conn = sqlite3.connect(ours / DB_FILE)
    conn.execute("DELETE FROM settings WHERE key = 'schema.usable_by'")  # as firmware from before the records left it
    conn.commit()
    conn.close()
    store = Store.open(ours)
    assert read_schema(store.conn) == migrations.DbSchema(LATEST, ALL[-1].readable_by, True)
    commits = store.conn.total_changes
    store.close()
    store = Store.open(ours)
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
    conn = database_at(tmp_path, 2, monkeypatch)
    conn.execute(V2_INSERT)  # an interrupted request: its reversal waits in its row
    assert conn.execute(V2_DUE_REVERSALS).fetchall() == [(9,)]
    assert conn.execute(V1_DUE_REVERSALS).fetchall() == []  # v1's recovery would never send it
    conn.close()
    assert ALL[1].readable_by == 2


# v4 as v4 code wrote it: two sales and a void naming the first, approved, receipts owed; the batch closed.
V4_JOURNAL = ("INSERT INTO journal (txn_no, kind, state, amount, currency, stan, batch, created_at, terminal_id, "
              "merchant_id, operator, masked_pan, pan_hash, card, entry_mode, pin_entered, response_code, rrn, "
              "auth_code, merchant_copy, updated_at, original_txn_no) VALUES (?, ?, 'approved', ?, '156', ?, 1, "
              "'2026-11-22T09:30:00', '', '', '', '620550*********0004', x'00', x'00', 'swipe', 0, '00', "
              "'000000000001', '123456', 0, '2026-11-22T09:30:00', ?)")
V4_SETTLEMENT = ("INSERT INTO settlements (batch, stan, debit_count, debit_amount, credit_count, credit_amount, "
                 "result, uploaded, operator, settled_at, report_printed) "
                 "VALUES (1, 4, 2, 2003, 1, 1001, '1', 0, '', '2026-11-22T09:30:00', 0)")
V4_COUNTERS = "INSERT INTO counters (name, value) VALUES ('stan', 5), ('batch', 2), ('txn_no', 4)"


def test_v4_with_voids_and_a_settlement_stays_usable_by_v2_era_code(tmp_path, monkeypatch):
    from firmware.core.batch import Totals

    conn = database_at(tmp_path, 4, monkeypatch)
    conn.execute("BEGIN")
    conn.executemany(V4_JOURNAL, [(1, "sale", 1001, 1, None), (2, "sale", 1002, 2, None), (3, "void", 1001, 3, 1)])
    conn.execute(V4_SETTLEMENT)
    conn.execute(V4_COUNTERS)
    conn.execute("COMMIT")
    # what a v2-era firmware runs at boot and at a sale, on this v4 file
    assert conn.execute(V2_DUE_REVERSALS).fetchall() == []
    kinds = [Kind(k) for _, k in conn.execute(V2_OWED_RECEIPTS)]  # its Kind parses every row, voids included
    assert kinds == [Kind.SALE, Kind.SALE, Kind.VOID]
    conn.execute(V2_INSERT)  # a sale in the next batch, written without the v3 column
    assert conn.execute(V2_DUE_REVERSALS).fetchall() == [(9,)]
    conn.close()
    assert (ALL[2].readable_by, ALL[3].readable_by) == (2, 2)
    # and newer code (this firmware, which migrates the file) reads what each of them wrote
    store = Store.open(tmp_path)
    assert store.record(9).original is None and store.voided() == {1: 3}
    assert store.counters().batch == 2 and [r.txn_no for r in store.boot_state().reversals] == [9]
    assert store.settled_batches() == [1] and store.settlement(1).totals == Totals(2, 2003, 1, 1001)
    store.close()


# v4 code's credits in its batch totals (storage/store.py ``_CREDIT`` as of e14bb77, schema 4): voids only.
V4_CREDITS = ("SELECT COUNT(*), COALESCE(SUM(j.amount), 0) FROM journal j LEFT JOIN offline_queue q USING (txn_no) "
              "WHERE j.batch = ? AND j.kind = 'void' AND j.state = 'approved'")


def test_v5_is_not_usable_by_v4_code_it_would_count_an_approved_refund_as_nothing(tmp_path):
    from tests.storage.test_refund_store import open_refund
    from tests.storage.test_refund_store import sale as refund_store_sale

    store = Store.open(tmp_path)
    refund = open_refund(store, refund_store_sale(store), 2, 2, 500)
    store.record_outcome(replace(refund, state=JournalState.APPROVED, response_code="00"), close_advice=True)
    totals = store.batch_totals(1)
    assert (totals.credit_count, totals.credit_amount, totals.refund_count) == (1, 500, 1)  # a credit, to settle
    assert store.conn.execute(V4_CREDITS, (1,)).fetchone() == (0, 0)  # v4's settlement would leave it out
    store.close()
    assert ALL[4].readable_by == 5


# v5 code's debits in its batch totals (storage/store.py ``_DEBIT`` as of c4ddb89, schema 5): sales only.
V5_DEBITS = ("SELECT COUNT(*), COALESCE(SUM(j.amount), 0) FROM journal j LEFT JOIN offline_queue q USING (txn_no) "
             "WHERE j.batch = ? AND (j.kind = 'sale' AND (j.state = 'approved' OR (j.state = 'offline_approved' "
             "AND q.state = 'done' AND q.response_code IN ('00', '94'))))")


def test_v6_is_not_usable_by_v5_code_it_would_count_an_approved_completion_as_nothing(tmp_path):
    from tests.storage.test_preauth_store import naming, preauth

    store = Store.open(tmp_path)
    naming(store, preauth(store), Kind.PREAUTH_COMPLETE, 2, 11000)
    totals = store.batch_totals(1)
    assert (totals.debit_count, totals.debit_amount) == (1, 11000)  # a debit, to settle
    assert store.conn.execute(V5_DEBITS, (1,)).fetchone() == (0, 0)  # v5's settlement would leave it out
    store.close()
    assert ALL[5].readable_by == 6


def _shape(conn: sqlite3.Connection) -> dict:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in tables}


def test_v7_stays_usable_by_v6_code_it_only_adds_a_table_v6_never_names(tmp_path, monkeypatch):
    """Every table and column schema-6 code reads is as v6 left it; the one new table is ``operators``,
    and no v6 SQL names it (so v6 code neither reads nor writes it)."""
    (tmp_path / "six").mkdir()
    (tmp_path / "seven").mkdir()
    six = _shape(database_at(tmp_path / "six", 6, monkeypatch))
    seven = _shape(database_at(tmp_path / "seven", 7, monkeypatch))
    assert set(seven) - set(six) == {"operators"}
    assert {t: seven[t] for t in six} == six
    assert [r[1] for r in seven["operators"]] == ["number", "password_hash", "active", "updated_at"]
    assert ALL[6].readable_by == 6


# schema-7 code's operators SQL (storage/operators.py as of 966c0fb): reads and inserts by column name.
V7_READ = "SELECT number, active, password_hash FROM operators ORDER BY number"
V7_ADD = "INSERT INTO operators (number, password_hash, active, updated_at) VALUES (?, ?, 1, ?)"


def test_v8_stays_usable_by_v7_code_it_only_adds_columns_with_defaults_to_operators(tmp_path, monkeypatch):
    """v8 adds the lock-out's and the sign-in's columns to ``operators`` and touches no other table; v7's own
    SQL still reads and adds operators on it (the defaults fill the new columns), and v6 never names the table."""
    (tmp_path / "seven").mkdir()
    (tmp_path / "eight").mkdir()
    seven = _shape(database_at(tmp_path / "seven", 7, monkeypatch))
    conn = database_at(tmp_path / "eight", 8, monkeypatch)
    eight = _shape(conn)
    assert {t: eight[t] for t in seven if t != "operators"} == {t: seven[t] for t in seven if t != "operators"}
    assert eight["operators"][:len(seven["operators"])] == seven["operators"]
    assert [r[1] for r in eight["operators"][len(seven["operators"]):]] == ["failed_tries", "locked_at",
                                                                            "signed_in_at"]
    conn.execute(V7_ADD, ("07", "scrypt$4$8$1$00$00", "2026-11-22T09:30:00"))
    conn.commit()
    assert [r[0] for r in conn.execute(V7_READ)] == ["00", "07"]
    assert conn.execute("SELECT failed_tries, locked_at, signed_in_at FROM operators WHERE number = '07'"
                        ).fetchone() == (0, None, None)
    conn.close()
    assert ALL[7].readable_by == ALL[6].readable_by == 6


# schema-10 code's SQL for an advice's answer (storage/queues.py as of b1869f4): it names no verdict.
V10_ADVICE_DONE = "UPDATE offline_queue SET state='done', message=NULL, response_code=?, updated_at=? WHERE txn_no=?"


def test_v11_keeps_the_verdicts_schema_10_gave_and_reads_its_answers_as_it_did(tmp_path, monkeypatch):
    """v11 records the core's verdict on an advice's answer beside the code (an advice accepted with cup's 11 is
    counted in the totals). Answers recorded before it keep the verdict schema 10 gave them (00 or 94), so no
    batch's totals change by the migration; an answer schema-10 code records after a rollback (no verdict) is
    read the same way."""
    def offline(store: Store, txn_no: int) -> None:
        rec = sell(store, txn_no, approve=False)
        store.record_outcome(replace(rec, state=JournalState.OFFLINE_APPROVED), advice=b"S1advice")

    codes = {1: "00", 2: "94", 3: "11", 4: "05"}
    database_at(tmp_path, 10, monkeypatch).close()
    with firmware(monkeypatch, 10):
        store = Store.open(tmp_path)
        for txn_no, code in codes.items():
            offline(store, txn_no)
            store.conn.execute(V10_ADVICE_DONE, (code, "2026-11-22T09:31:00", txn_no))
        offline(store, 5)  # not answered yet
        store.conn.commit()
        store.close()
    store = Store.open(tmp_path)  # schema 11
    rows = store.conn.execute("SELECT txn_no, accepted FROM offline_queue ORDER BY txn_no").fetchall()
    assert rows == [(1, 1), (2, 1), (3, 0), (4, 0), (5, None)]
    assert store.batch_totals(1).debit_count == 2  # 00 and 94: what schema 10 counted
    store.advice_done(5, "11", accepted=True)  # this firmware: the core's verdict counts, whatever the code
    assert store.batch_totals(1).debit_count == 3
    store.conn.execute("UPDATE offline_queue SET accepted = NULL")  # as if schema-10 code had recorded them all
    store.conn.commit()
    assert store.batch_totals(1).debit_count == 2  # 00 and 94, as that code counted
    store.close()
    assert ALL[10].readable_by == 10


# -- the snapshot ------------------------------------------------------------------------------
def test_a_migration_takes_a_private_snapshot_first_and_records_it(ours, monkeypatch):
    before = digest_of(ours / DB_FILE)
    with firmware(monkeypatch, None, B_NEW_MEANING):
        store = Store.open(ours)
        snap = read_snapshot_record(store.conn)
        assert read_schema(store.conn) == migrations.DbSchema(NEXT, NEXT, True)
        assert (snap.file, snap.version, snap.usable_by, snap.migrated_to) == (
            "posterm.db.snapshot", LATEST, ALL[-1].readable_by, NEXT)
        assert snap.before == before and snap.after == content_digest(store.conn)
        store.close()
    path = snapshot_path(ours / DB_FILE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert user_version(path) == LATEST and digest_of(path) == before
    assert sorted(p.name for p in ours.iterdir()) == ["posterm.db", "posterm.db.snapshot"]  # no leftovers


def test_a_new_database_needs_no_snapshot(tmp_path):
    store = Store.open(tmp_path)
    assert read_snapshot_record(store.conn) is None and read_schema(store.conn).version == migrations.LATEST
    store.close()
    assert not snapshot_path(tmp_path / DB_FILE).exists()


def test_without_a_snapshot_there_is_no_migration(ours, monkeypatch):
    (ours / ".posterm.db.snapshot.tmp").mkdir()  # the copy cannot be written
    before = digest_of(ours / DB_FILE)
    with firmware(monkeypatch, None, B_NEW_MEANING), pytest.raises(StorageError) as err:
        Store.open(ours)
    assert err.value.code == "storage.snapshot" and "nothing was changed" in err.value.text
    assert user_version(ours / DB_FILE) == LATEST and digest_of(ours / DB_FILE) == before


def test_a_power_cut_during_a_migration_leaves_the_version_it_had(ours, monkeypatch):
    def cut_mid_step(db) -> None:
        db["journal"].add_column(B_COLUMN, int)
        os._exit(CUT)  # half the step done, not committed

    before = digest_of(ours / DB_FILE)
    with firmware(monkeypatch, None, Migration(NEXT, cut_mid_step, readable_by=NEXT)):
        assert run_in_child(lambda hook: Store.open(ours), None) == CUT
    assert user_version(ours / DB_FILE) == LATEST and digest_of(ours / DB_FILE) == before
    store = Store.open(ours)  # the old firmware still runs
    assert [r.txn_no for r in store.journal()] == [1, 2]
    store.close()
    with firmware(monkeypatch, None, B_NEW_MEANING):  # and the new one migrates at its next start
        Store.open(ours).close()
    assert user_version(ours / DB_FILE) == NEXT


# -- "nothing happened since": the digest -----------------------------------------------------------
CHANGES = {
    "a sale": lambda s: sell(s, 3),
    "a receipt printed": lambda s: s.mark_printed(1, Copy.MERCHANT),
    "a counter moved": lambda s: s.save_counters(Counters(stan=40, batch=1, txn_no=3)),
    "a reversal due": lambda s: s.record_outcome(sell(s, 3, approve=False), reversal_reason="98"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_digest_sees_every_change_of_state(ours, change):
    store = Store.open(ours)
    before = content_digest(store.conn)
    store.check()  # the idle heartbeat is housekeeping, not state
    assert content_digest(store.conn) == before
    CHANGES[change](store)
    assert content_digest(store.conn) != before
    store.close()


@pytest.fixture
def migrated(ours, monkeypatch):
    """LATEST -> NEXT by firmware B (not usable by this firmware): the data directory, and the snapshot's record."""
    with firmware(monkeypatch, None, B_NEW_MEANING):
        store = Store.open(ours)
        record = read_snapshot_record(store.conn)
        store.close()
    return ours, record


def restore(data_dir, record, **kw):
    return restore_snapshot(data_dir / DB_FILE, data_dir / record.file, unchanged_since=record.after,
                            snapshot_digest=record.before, **kw)


def test_restoring_the_snapshot_puts_the_pre_migration_database_back(migrated):
    data_dir, record = migrated
    steps = []
    restore(data_dir, record, step=lambda: steps.append(1))
    assert steps and user_version(data_dir / DB_FILE) == LATEST and digest_of(data_dir / DB_FILE) == record.before
    store = Store.open(data_dir)  # this firmware runs on it
    assert [r.txn_no for r in store.journal()] == [1, 2] and store.counters() == Counters(stan=3, batch=1, txn_no=3)
    store.close()


def test_a_restore_refuses_a_changed_database_an_open_one_and_a_foreign_snapshot(migrated, monkeypatch):
    data_dir, record = migrated
    with firmware(monkeypatch, None, B_NEW_MEANING):
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
    assert user_version(data_dir / DB_FILE) == NEXT  # every refusal left B's database as it was


@pytest.mark.parametrize("die_at", [1, 2, 3])
def test_a_power_cut_during_a_restore_leaves_the_database_whole(migrated, monkeypatch, die_at):
    """The copy goes into the live database in one transaction: a cut at any step of it changes nothing."""
    monkeypatch.setattr("storage.db.RESTORE_PAGES", 1)  # one page per step: several steps on a small file
    data_dir, record = migrated
    after = digest_of(data_dir / DB_FILE)
    assert run_in_child(lambda hook: restore(data_dir, record, step=lambda: hook("restoring")), die_at) == CUT
    assert user_version(data_dir / DB_FILE) == NEXT and digest_of(data_dir / DB_FILE) == after
    restore(data_dir, record)  # and it can simply be done again
    assert user_version(data_dir / DB_FILE) == LATEST and digest_of(data_dir / DB_FILE) == record.before


def test_an_in_memory_database_migrates_without_a_snapshot():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert migrations.migrate(conn) == 0 and read_schema(conn).version == migrations.LATEST
    conn.close()


@settings(deadline=None)  # each example migrates a database: slow on a loaded machine, never a speed test
@given(st.one_of(st.text(max_size=80), st.builds(
    lambda v, u: json.dumps({"version": v, "usable_by": u}), st.integers(-3, NEXT + 3),
    st.one_of(st.integers(-3, NEXT + 3), st.text(max_size=2)))))
def test_a_damaged_record_counts_as_none(text):
    """Whatever the settings rows hold, the schema is the honest record or this firmware's own table."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations.migrate(conn)
    conn.execute("UPDATE settings SET value = ? WHERE key = 'schema.usable_by'", (text,))
    conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('schema.snapshot', ?)", (text,))
    schema = read_schema(conn)
    if schema.recorded:
        assert json.loads(text) == {"version": LATEST, "usable_by": schema.usable_by}
        assert 0 <= schema.usable_by <= LATEST
    else:
        assert schema == migrations.DbSchema(LATEST, ALL[-1].readable_by, False)
    assert read_snapshot_record(conn) is None
    conn.close()


def test_the_snapshot_is_kept_while_it_can_be_restored_and_removed_at_the_first_checkpoint_after_a_change(
        ours, monkeypatch):
    """It holds the journal's sealed card data: kept exactly as long as a rollback could still restore it."""
    path = snapshot_path(ours / DB_FILE)
    with firmware(monkeypatch, None, B_NEW_MEANING):
        store = Store.open(ours)
        store.checkpoint()  # idle housekeeping with nothing changed since the migration: still restorable
        assert path.exists()
        sell(store, 3)
        assert path.exists()  # never on a sale's path
        store.checkpoint()
        assert not path.exists()
        store.checkpoint()  # and nothing to do any more
        store.close()
