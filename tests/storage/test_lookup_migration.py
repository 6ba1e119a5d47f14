"""Schema 13 (``migration_steps._v13``): a database at schema 12 gains the look-ups' partial indexes and its settled
batches' spans in one transaction, and answers every look-up as schema-12 code answered it; a power cut in the
migration leaves schema 12 whole; and schema-12 code (``readable_by`` 11) still works on the result."""

from __future__ import annotations

import os
import sqlite3

from firmware.core.model import Counters
from storage import migrations
from storage.archive import EARLIER, archive_batch
from storage.db import transaction
from storage.migrations import Migration
from storage.store import DB_FILE, Store
from tests.forking import CUT, run_in_child
from tests.storage.test_lookup_plans import AUTH, DAY, book
from tests.storage.test_schema import database_at, digest_of, firmware, user_version

# Schema-12 code's SQL (storage/journal.py and settlements.py as of e09e645): what it answered, and how it closed
# a batch (the settlement's columns named, so a column it does not know is left NULL).
V12_BY_REFERENCE = ("SELECT txn_no FROM journal WHERE rrn=? AND substr(created_at, 6, 5)=? "
                    "ORDER BY txn_no DESC LIMIT 1")
V12_BY_AUTH = ("SELECT txn_no FROM journal WHERE kind=? AND auth_code=? AND substr(created_at, 6, 5)=? "
               "ORDER BY txn_no DESC LIMIT 1")
V12_BATCH_ROWS = "SELECT txn_no FROM journal WHERE txn_no >= 0 AND batch = ? ORDER BY txn_no"
V12_VOIDS = ("SELECT j.original_txn_no, j.txn_no FROM journal j WHERE j.txn_no > 0 AND j.original_txn_no IS NOT NULL "
             "AND j.state IN ('approved', 'offline_approved') AND j.kind IN ('void', 'preauth_void', "
             "'preauth_complete_void')")
V12_REFUNDS = ("SELECT j.original_txn_no, SUM(j.amount) FROM journal j WHERE j.txn_no > 0 AND j.original_txn_no IS NOT "
               "NULL AND j.state = 'approved' AND j.kind = 'refund' GROUP BY j.original_txn_no")
V12_IN_SETTLED = "SELECT 1 FROM journal j JOIN settlements s ON s.batch = j.batch WHERE j.stan = ? LIMIT 1"
V12_CLOSE = ("INSERT INTO settlements (batch, stan, debit_count, debit_amount, credit_count, credit_amount, "
             "result, uploaded, operator, settled_at, report_printed, refund_count, refund_amount, "
             "completion_count, completion_amount, completion_void_count, completion_void_amount) "
             "VALUES (?,?,0,0,0,0,'1',1,'01',?,0,0,0,0,0,0,0)")
STANS = range(1, 20)
BATCHES = (1 + EARLIER, 2, 1, 3, 77)


def v12_close(store, batch, txn_no, next_batch) -> None:
    """Schema-12 code's ``close_batch`` (the parts a look-up reads): its settlements row, the archive of a number
    that came round again, the next batch's counters."""
    with transaction(store.conn, "closing the batch") as c:
        c.execute(V12_CLOSE, (batch, txn_no, DAY.isoformat()))
        if next_batch != batch:
            archive_batch(c, next_batch)
        store._write_counters(c, Counters(stan=txn_no + 1, batch=next_batch, txn_no=txn_no))


def schema_12_database(tmp_path, monkeypatch) -> None:
    """The journal of ``test_lookup_plans.book`` as schema-12 firmware leaves it, then batch 1 settled and an empty
    batch 3 settled too; batch 4 open."""
    database_at(tmp_path, 12, monkeypatch).close()
    with firmware(monkeypatch, 12):
        store = Store.open(tmp_path)
        book(store, close=v12_close)
        v12_close(store, 1, 15, 3)
        v12_close(store, 3, 16, 4)
        store.close()
    assert user_version(tmp_path / DB_FILE) == 12


def v12_answers(conn: sqlite3.Connection) -> dict:
    one = lambda sql, args: (conn.execute(sql, args).fetchone() or (None,))[0]  # noqa: E731
    return {
        "by_reference": [one(V12_BY_REFERENCE, (f"{n:012d}", day)) for n in STANS for day in ("11-20", "11-21")],
        "by_auth": [one(V12_BY_AUTH, ("preauth", AUTH, day)) for day in ("11-20", "11-21")],
        "batches": {b: [r[0] for r in conn.execute(V12_BATCH_ROWS, (b,))] for b in BATCHES},
        "voided": dict(conn.execute(V12_VOIDS).fetchall()),
        "refunded": dict(conn.execute(V12_REFUNDS).fetchall()),
        "settled": [bool(conn.execute(V12_IN_SETTLED, (s,)).fetchall()) for s in (*STANS, 999)],
    }


def answers(store: Store) -> dict:
    txn = lambda m: m.facts.txn_no if m is not None else None  # noqa: E731
    return {
        "by_reference": [txn(store.find_by_reference(f"{n:012d}", day)) for n in STANS for day in ("1120", "1121")],
        "by_auth": [txn(store.find_by_auth(AUTH, day)) for day in ("1120", "1121")],
        "batches": {b: [r.txn_no for r in store.batch_records(b)] for b in BATCHES},
        "voided": store.voided(),
        "refunded": store.refunded(),
        "settled": [store.in_settled_batch(s) for s in (*STANS, 999)],
    }


def journal_indexes(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = "
                                           "'journal' AND sql IS NOT NULL")}
    finally:
        conn.close()


def test_a_schema_12_database_upgrades_and_answers_as_schema_12_code_did(tmp_path, monkeypatch):
    schema_12_database(tmp_path, monkeypatch)
    conn = sqlite3.connect(tmp_path / DB_FILE)
    before = v12_answers(conn)
    conn.close()
    assert before["batches"][1 + EARLIER] == [1, 2, 3, 4, 5, 6] and before["by_auth"] == [4, None]  # not vacuous
    assert journal_indexes(tmp_path / DB_FILE) == set()
    store = Store.open(tmp_path)
    try:
        assert user_version(tmp_path / DB_FILE) == migrations.LATEST == 13
        assert answers(store) == before
        spans = store.conn.execute("SELECT batch, first_txn_no, last_txn_no, low_stan, high_stan FROM settlements "
                                   "ORDER BY batch").fetchall()
        assert spans == [(1, 13, 14, 13, 14), (2, 8, 11, 8, 11), (3, 1, 0, 1, 0), (1 + EARLIER, 1, 6, 1, 6)]
        assert [r.txn_no for r in store.batch_records(4)] == [] and store.earlier_batches(1) == [1 + EARLIER]
    finally:
        store.close()
    assert journal_indexes(tmp_path / DB_FILE) == {"journal_original", "journal_rrn", "journal_preauth",
                                                   "journal_archived"}


def test_a_power_cut_in_the_migration_leaves_schema_12_whole_and_the_next_start_migrates(tmp_path, monkeypatch):
    """The step's indexes, columns and spans are one transaction with the version (``storage.migrations``): cut
    after the step, before its commit, and the file is schema 12 as it was; the next start runs the step again."""
    step = migrations.MIGRATIONS[12].apply  # v13's own

    def cut_after_the_step(db) -> None:
        step(db)
        os._exit(CUT)

    schema_12_database(tmp_path, monkeypatch)
    before = digest_of(tmp_path / DB_FILE)
    with firmware(monkeypatch, 12, Migration(13, cut_after_the_step, readable_by=11)):
        assert run_in_child(lambda hook: Store.open(tmp_path), None) == CUT
    assert user_version(tmp_path / DB_FILE) == 12 and digest_of(tmp_path / DB_FILE) == before
    assert journal_indexes(tmp_path / DB_FILE) == set()
    store = Store.open(tmp_path)
    try:
        assert store.conn.execute("SELECT first_txn_no, last_txn_no FROM settlements WHERE batch = 2").fetchone() \
            == (8, 11)
        assert store.find_by_auth(AUTH, "1120").facts.txn_no == 4
    finally:
        store.close()
    assert user_version(tmp_path / DB_FILE) == 13 and len(journal_indexes(tmp_path / DB_FILE)) == 4


def test_schema_12_code_still_works_on_schema_13_and_this_firmware_reads_what_it_settled(tmp_path):
    """``readable_by`` 11: schema-12 code closes a batch naming its columns (the span is left NULL) and runs its own
    look-ups (a parameter for the kind: no index, a scan, as it always did); this firmware reads that batch
    by a scan, as schema-12 code did."""
    store = Store.open(tmp_path)
    try:
        book(store)
        v12_close(store, 1, 15, 3)  # as schema-12 firmware after a rollback
        assert store.conn.execute("SELECT first_txn_no FROM settlements WHERE batch = 1").fetchone() == (None,)
        assert store.conn.execute(V12_BY_AUTH, ("preauth", AUTH, "11-20")).fetchone() == (4,)
        assert [r.txn_no for r in store.batch_records(1)] == [13, 14]
        assert store.in_settled_batch(13) and store.in_settled_batch(2) and not store.in_settled_batch(15)
        assert [x.record.txn_no for x in store.listing(batch=1)] == [13, 14] and store.voided(1)[13] == 14
    finally:
        store.close()
    assert migrations.MIGRATIONS[12].readable_by == 11
