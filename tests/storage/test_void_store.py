"""Storage for voids: schema version 3, the look-up by trace, voided derived from the void's row."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime


from firmware.core.model import Copy, Counters, JournalState, Kind, OriginalFacts, SaleRecord
from storage import migrations
from storage.db import open_database
from storage.store import DB_FILE, Store

WHEN = datetime(2026, 11, 22, 9, 30, 0)
HASH = b"h" * 32


def rec(txn_no, stan, **kw) -> SaleRecord:
    return SaleRecord(txn_no, 1250, stan, 1, WHEN, "620550*********0004", terminal_id="12345678",
                      merchant_id="123456789012345", operator="01", **kw)


def open_(store, r, pan_hash=HASH):
    store.open_request(r, pan_hash=pan_hash, card=b"S1card", reversal=b"S1rev",
                       counters=Counters(stan=r.stan + 1, txn_no=r.txn_no + 1))


def approve(store, r, **kw):
    if store.conn.execute("SELECT 1 FROM journal WHERE txn_no=?", (r.txn_no,)).fetchone() is None:
        open_(store, r)
    done = replace(r, state=JournalState.APPROVED, response_code="00", rrn=f"{r.stan:012d}", auth_code="123456", **kw)
    store.record_outcome(done, copies=(Copy.MERCHANT,))
    return done


def facts(r: SaleRecord) -> OriginalFacts:
    return OriginalFacts(r.txn_no, r.kind, r.amount, r.currency, r.stan, r.batch, r.when, r.masked_pan, r.rrn,
                         r.auth_code)


def test_version_2_database_gains_the_link_and_keeps_its_rows(tmp_path):
    conn = open_database(tmp_path / DB_FILE)
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    migrations.MIGRATIONS[0](db)
    migrations.MIGRATIONS[1](db)
    conn.execute("PRAGMA user_version=2")
    conn.execute(
        "INSERT INTO journal (txn_no, kind, state, amount, currency, stan, batch, created_at, masked_pan, entry_mode) "
        "VALUES (1, 'sale', 'approved', 100, '156', 1, 1, '2026-11-22T09:30:00', '620550*********0004', 'swipe')"
    )
    conn.close()
    store = Store.open(tmp_path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST >= 3
    assert store.record(1).original is None
    assert store.find_original(1, 1).state is JournalState.APPROVED
    indexes = dict(store.conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='journal' "
                                      "AND sql IS NOT NULL"))
    # none on batch and trace (v2 dropped it): schema 13's, each partial, on the rows its look-up reads (test_lookup_plans)
    assert set(indexes) == {"journal_original", "journal_rrn", "journal_preauth", "journal_archived"}
    assert all(" WHERE " in sql for sql in indexes.values())
    store.close()


def test_find_original_returns_safe_facts_the_hash_and_the_claims(store):
    sale = approve(store, rec(1, 1))
    assert store.find_original(2, 1) is None and store.find_original(1, 2) is None  # trace, batch
    match = store.find_original(1, 1)
    assert match.facts == facts(sale) and match.pan_hash == HASH and match.claims == () and match.advice is None
    assert "hhhh" not in repr(match)
    void = rec(2, 2, kind=Kind.VOID, original=facts(sale))
    open_(store, void)
    assert store.find_original(1, 1).claims == (JournalState.REQUESTED,)
    assert store.voided() == {}
    approve(store, void)
    assert store.find_original(1, 1).claims == (JournalState.APPROVED,)
    assert store.voided() == {1: 2}
    back = store.record(2)
    assert back.kind is Kind.VOID and back.original.stan == 1 and back.original.rrn == sale.rrn
    # a reversed void gives the sale back without touching its row
    store.reversal_done(2, "00")
    assert store.voided() == {} and store.find_original(1, 1).claims == (JournalState.REVERSED,)


def test_a_void_costs_two_commits_and_touches_only_its_own_row(store):
    sale = approve(store, rec(1, 1))
    before = store.conn.execute("SELECT * FROM journal WHERE txn_no=1").fetchone()
    commits = store.commits
    void = rec(2, 2, kind=Kind.VOID, original=facts(sale))
    open_(store, void)
    approve(store, void)
    assert store.commits - commits == 2
    assert store.conn.execute("SELECT * FROM journal WHERE txn_no=1").fetchone() == before


def test_owed_receipts_of_a_void_carry_its_original(store):
    sale = approve(store, rec(1, 1))
    store.mark_printed(1, Copy.MERCHANT)
    void = rec(2, 2, kind=Kind.VOID, original=facts(sale))
    open_(store, void)
    approve(store, void)
    (job,) = store.boot_state().receipts
    assert job.record.txn_no == 2 and job.record.original.stan == 1 and job.recovered
