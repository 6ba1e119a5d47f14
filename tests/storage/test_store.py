"""The durable store: settings checked at open, one commit per step, recovery queries, full disk."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime

import pytest

from firmware.core.model import AdviceAnswer, Copy, Counters, JournalState, SaleRecord
from firmware.errors import StorageError
from storage import migrations
from storage.db import open_database
from storage.store import DB_FILE, Store

WHEN = datetime(2026, 11, 22, 9, 30, 0)


def record(txn_no: int = 1, stan: int = 1, amount: int = 1250, **kw) -> SaleRecord:
    return SaleRecord(txn_no, amount, stan, 1, WHEN, "620550*********0004", terminal_id="12345678",
                      merchant_id="123456789012345", operator="01", **kw)


def opened(store: Store, txn_no: int = 1, stan: int = 1, amount: int = 1250) -> SaleRecord:
    rec = record(txn_no, stan, amount)
    store.open_request(rec, pan_hash=b"h" * 16, card=b"S1sealed-card", reversal=b"S1sealed-reversal",
                       counters=Counters(stan=stan + 1, txn_no=txn_no + 1))
    return rec


def test_open_checks_the_durable_settings(store):
    c = store.conn
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert c.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert c.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST


def test_database_files_are_private(tmp_path):
    import stat

    s = Store.open(tmp_path)
    opened(s)
    for name in ("posterm.db", "posterm.db-wal", "posterm.db-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    s.close()


def test_a_file_system_without_wal_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(
        __import__("storage.db", fromlist=["DURABLE_PRAGMAS"]).DURABLE_PRAGMAS, "journal_mode", ("wal", "impossible")
    )
    with pytest.raises(StorageError) as e:
        open_database(tmp_path / "x.db")
    assert e.value.code == "storage.not_durable"


def test_newer_schema_is_refused(tmp_path):
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_FILE)
    conn.execute(f"PRAGMA user_version={migrations.LATEST + 1}")
    conn.close()
    with pytest.raises(StorageError) as e:
        Store.open(tmp_path)
    assert e.value.code == "storage.schema_newer"


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path):
    s = Store.open(tmp_path)
    opened(s)
    s.close()
    s = Store.open(tmp_path)
    assert s.counters() == Counters(stan=2, batch=1, txn_no=2)
    assert [r.txn_no for r in s.journal()] == [1]
    s.close()


def test_request_then_outcome_disarms_the_reversal(store):
    rec = opened(store)
    boot = store.boot_state()
    assert boot.interrupted == (1,)
    assert [r.txn_no for r in boot.reversals] == [1]  # armed: due if we restarted now
    store.record_outcome(replace(rec, state=JournalState.APPROVED, rrn="000000000001", auth_code="123456"),
                         copies=(Copy.MERCHANT, Copy.CARDHOLDER))
    boot = store.boot_state()
    assert boot.reversals == () and boot.interrupted == ()
    assert [(j.copy, j.recovered) for j in boot.receipts] == [(Copy.MERCHANT, True), (Copy.CARDHOLDER, True)]
    store.mark_printed(1, Copy.MERCHANT)
    store.mark_printed(1, Copy.CARDHOLDER, skipped=True)
    assert store.boot_state().receipts == ()
    assert store.record(1).state is JournalState.APPROVED
    assert store.commits == 2  # mark_printed does not count: it has no fsync of its own


def test_outcome_with_a_reason_makes_the_reversal_due(store):
    rec = opened(store)
    store.record_outcome(replace(rec, state=JournalState.REVERSING, reason="A0"), reversal_reason="A0")
    (rev,) = store.boot_state().reversals
    assert (rev.txn_no, rev.stan, rev.amount, rev.reason) == (1, 1, 1250, "A0")
    assert store.reversal_message(1) == b"S1sealed-reversal"
    store.reversal_done(1, "00", "A0")
    assert store.boot_state().reversals == ()
    assert store.record(1).state is JournalState.REVERSED and store.record(1).reason == "A0"
    with pytest.raises(StorageError) as e:
        store.reversal_message(1)
    assert e.value.code == "storage.missing_record"


def test_offline_advice_is_queued_marked_sent_and_done(store):
    rec = opened(store, amount=800)
    store.record_outcome(replace(rec, state=JournalState.OFFLINE_APPROVED), advice=b"S1sealed-advice")
    (adv,) = store.boot_state().advices
    assert (adv.txn_no, adv.amount, adv.sent_before) == (1, 800, False)
    store.advice_sending(1)
    assert store.boot_state().advices[0].sent_before
    store.advice_done(1, "00", accepted=True)
    assert store.boot_state().advices == ()
    # forwarded records are kept, never dropped: only the sealed payload is erased
    assert store.conn.execute("SELECT state, message FROM offline_queue").fetchall() == [("done", None)]



@pytest.mark.parametrize("code, accepted", [("00", True), ("11", True), ("94", True), ("51", False)])
def test_a_reprint_reads_the_core_s_verdict_on_an_advice_not_its_code(store, code, accepted):
    """cup approves with 11 (and A2 to A6) too: an advice the core accepted with one is not reprinted as
    DECLINED BY HOST; storage once counted 00 and 94 only."""
    rec = opened(store, amount=800)
    store.record_outcome(replace(rec, state=JournalState.OFFLINE_APPROVED), copies=(Copy.MERCHANT,),
                         advice=b"S1sealed-advice")
    store.advice_done(1, code, accepted=accepted)
    assert store.last_receipt().advice == AdviceAnswer(code, accepted)

@pytest.mark.parametrize("code, accepted", [(None, None), ("00", True), ("11", True), ("05", False)])
def test_the_look_up_of_an_offline_sale_says_whether_the_host_declined_its_advice(store, code, accepted):
    """A void of it is refused as declined by host, not as not yet uploaded (AU14): the look-up reads the
    advice's fate by the rule the totals use (``ADVICE_REFUSED``), the core's verdict, not the code."""
    rec = opened(store, amount=800)
    store.record_outcome(replace(rec, state=JournalState.OFFLINE_APPROVED), advice=b"S1sealed-advice")
    if code is not None:
        store.advice_done(1, code, accepted=accepted)
    match = store.find_original(rec.stan, rec.batch)
    assert (match.advice[1], match.advice_refused) == (bool(accepted), accepted is False)


def test_outcome_for_a_missing_record_is_an_error(store):
    with pytest.raises(StorageError) as e:
        store.record_outcome(record(txn_no=99, state=JournalState.APPROVED))
    assert e.value.code == "storage.missing_record"


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tmp_path):
    store = Store.open(tmp_path)
    opened(store, 1, 1)
    store.conn.execute("PRAGMA max_page_count=" + str(store.conn.execute("PRAGMA page_count").fetchone()[0]))
    big = b"S1" + b"x" * 20000
    with pytest.raises(StorageError) as e:
        store.open_request(record(2, 2), pan_hash=b"h" * 16, card=big, reversal=big, counters=Counters(stan=3, txn_no=3))
    assert e.value.code == "storage.full"
    assert "full" in e.value.text
    # nothing half-written; what was there is intact and the counters did not move
    assert [r.txn_no for r in store.journal()] == [1]
    assert store.counters() == Counters(stan=2, txn_no=2)
    store.close()
    again = Store.open(tmp_path)
    assert [r.txn_no for r in again.journal()] == [1]
    again.close()


def test_duplicate_journal_number_fails_atomically(store):
    opened(store, 1, 1)
    with pytest.raises(StorageError):
        opened(store, 1, 2)
    assert store.reversal_message(1) == b"S1sealed-reversal"  # the first request's row is untouched
    assert store.counters().stan == 2


def test_check_writes_a_heartbeat(store):
    store.check()
    assert store.conn.execute("SELECT COUNT(*) FROM settings WHERE key='heartbeat'").fetchone()[0] == 1


def test_an_armed_reversal_waits_in_its_row_and_can_be_sent_from_there(store):
    """A power cut before the answer: the reversal is sent from the journal row itself."""
    opened(store)
    assert store.conn.execute("SELECT COUNT(*) FROM reversals").fetchone()[0] == 0  # not queued: armed
    (rev,) = store.boot_state().reversals
    assert (rev.txn_no, rev.reason) == (1, "98")
    assert store.reversal_message(1) == b"S1sealed-reversal"
    store.reversal_done(1, "00", "98")
    assert store.boot_state().reversals == ()
    assert store.conn.execute("SELECT state, message FROM reversals").fetchall() == [("done", None)]
    assert store.conn.execute("SELECT reversal FROM journal").fetchall() == [(None,)]
    assert store.record(1).state is JournalState.REVERSED


def test_a_reversal_sent_from_its_row_is_noted_and_comes_back_as_a_repeat(store):
    """The first transmission of a reversal is noted (without an fsync of its own), so that after a
    restart it goes as a repeat (0401): one still armed in its row moves to the queue as due."""
    opened(store)
    commits = store.commits
    store.reversal_sending(1, "98")
    assert store.commits == commits  # not a durable step of its own
    (rev,) = store.boot_state().reversals
    assert (rev.txn_no, rev.reason, rev.sent_before) == (1, "98", True)
    assert store.reversal_message(1) == b"S1sealed-reversal"
    assert store.record(1).state is JournalState.REVERSING
    assert store.conn.execute("SELECT reversal FROM journal").fetchall() == [(None,)]
    store.reversal_done(1, "00", "98")
    assert store.boot_state().reversals == () and store.record(1).state is JournalState.REVERSED


def test_a_due_reversal_is_noted_sent_and_a_never_sent_one_is_not(store):
    opened(store)
    opened(store, 2, 2)
    for txn in (1, 2):
        store.record_outcome(replace(store.record(txn), state=JournalState.REVERSING, reason="A0"),
                             reversal_reason="A0")
    store.reversal_sending(2, "A0")
    store.reversal_sending(2, "A0")  # (noted again: harmless)
    assert [(r.txn_no, r.sent_before) for r in store.boot_state().reversals] == [(1, False), (2, True)]


def test_a_lost_reversal_is_kept_as_lost_with_its_message_erased(store):
    opened(store)
    store.mark_lost(1, "reversal")
    assert store.boot_state().reversals == ()
    assert store.conn.execute("SELECT state, message FROM reversals").fetchall() == [("lost", None)]
    assert store.record(1).state is JournalState.LOST


def test_counters_follow_the_newest_row_unless_saved_later(store):
    store.open_request(record(1, 999999), pan_hash=b"h" * 16, card=b"S1c", reversal=b"S1r",
                       counters=Counters(stan=1, txn_no=2))  # the STAN wraps after this one
    assert store.counters() == Counters(stan=1, batch=1, txn_no=2)
    assert store.conn.execute("SELECT COUNT(*) FROM counters").fetchone()[0] == 0  # implied, not written
    store.save_counters(Counters(stan=5, batch=1, txn_no=2))  # e.g. a sign-on took STANs 1..4
    assert store.counters() == Counters(stan=5, batch=1, txn_no=2)
    rec = record(2, 5)
    store.open_request(rec, pan_hash=b"h" * 16, card=b"S1c", reversal=b"S1r", counters=Counters(stan=6, txn_no=3))
    assert store.counters() == Counters(stan=6, batch=1, txn_no=3)


def test_a_stan_saved_during_a_transaction_is_not_given_out_again_after_its_request(store):
    """A sign-on while sale 54 waits to go online (an answer had failed its MAC) saves the counters with
    that sale's journal number already taken (55); the sale then opens its request with STAN 39.
    Its counters are the row's (40, 55), yet the saved row (39, 55) names a later journal number,
    so unless the request writes them, the next boot takes the saved ones and gives STAN 39 out
    again (found by the crash test)."""
    store.open_request(record(53, 37), pan_hash=b"h" * 16, card=b"S1c", reversal=b"S1r",
                       counters=Counters(stan=38, txn_no=54))
    store.save_counters(Counters(stan=39, batch=1, txn_no=55))  # the sign-on took 38; sale 54 under way
    store.open_request(record(54, 39), pan_hash=b"h" * 16, card=b"S1c", reversal=b"S1r",
                       counters=Counters(stan=40, txn_no=55))
    assert store.counters() == Counters(stan=40, batch=1, txn_no=55)


def test_counters_not_implied_by_the_row_are_written_with_it(store):
    rec = record(1, 7)
    store.open_request(rec, pan_hash=b"h" * 16, card=b"S1c", reversal=b"S1r", counters=Counters(stan=9, batch=3, txn_no=2))
    assert store.counters() == Counters(stan=9, batch=3, txn_no=2)


def _wal_frames(store) -> int:
    """Frames in the log since it last restarted (a PASSIVE checkpoint copies, never restarts)."""
    return store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]


@pytest.mark.parametrize("rrn, pages", [(None, 2.5), ("000000000001", 3.5)], ids=["declined", "approved"])
def test_a_sale_writes_about_one_page_per_commit(store, rrn, pages):
    """Each page a commit touches is written to the log and synced: a sale touches its row only, and with an
    RRN (what a refund names it by) the leaf of ``journal_rrn``; schema 13's other indexes are partial, on rows
    no sale writes (``migration_steps._v13``).

    Version 1 wrote about seven pages per sale (reversal row, counters, two indexes).
    """
    opened(store)
    store.checkpoint()
    start, sales = _wal_frames(store), 60
    for n in range(2, 2 + sales):
        rec = opened(store, n, n)
        store.record_outcome(replace(rec, state=JournalState.APPROVED, rrn=rrn, auth_code="123456"))
    per_sale = (_wal_frames(store) - start) / sales
    assert per_sale <= pages, per_sale  # two leaf pages (three with the RRN's), and now and then a split


def test_version_1_armed_reversals_move_into_their_rows(tmp_path):
    conn = open_database(tmp_path / DB_FILE)
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    migrations.MIGRATIONS[0](db)
    conn.execute("PRAGMA user_version=1")
    conn.execute(
        "INSERT INTO journal (txn_no, kind, state, amount, currency, stan, batch, created_at, masked_pan, entry_mode) "
        "VALUES (1, 'sale', 'requested', 100, '156', 1, 1, '2026-11-22T09:30:00', '620550*********0004', 'swipe')"
    )
    conn.execute("INSERT INTO reversals (txn_no, state, message, created_at) VALUES (1, 'armed', x'5331', 'now')")
    conn.close()
    store = Store.open(tmp_path)
    assert store.reversal_message(1) == b"S1"
    assert [r.txn_no for r in store.boot_state().reversals] == [1]
    assert store.conn.execute("SELECT COUNT(*) FROM reversals").fetchone()[0] == 0
    names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert not {"journal_batch_stan", "journal_pan_hash"} & names
    store.close()


def test_the_reused_log_is_cut_back_to_its_cap_at_a_checkpoint(store):
    from storage.db import WAL_KEPT_BYTES

    store.conn.execute("CREATE TABLE filler (a BLOB)")
    for _ in range(1600):
        store.conn.execute("INSERT INTO filler VALUES (zeroblob(3000))")
    assert store.wal_bytes() > WAL_KEPT_BYTES
    store.checkpoint()
    assert store.wal_bytes() == WAL_KEPT_BYTES


def test_the_first_checkpoint_reserves_the_log_and_sales_then_never_grow_it(store):
    """The log file is grown to its kept size once, so a sale's commits overwrite blocks it
    already has (the cheap ``fdatasync``) from the first sale on, not after a reuse."""
    from storage.db import WAL_KEPT_BYTES

    opened(store)
    assert store.wal_bytes() < WAL_KEPT_BYTES
    store.checkpoint()
    assert store.wal_bytes() == WAL_KEPT_BYTES
    for n in range(2, 40):
        rec = opened(store, n, n)
        store.record_outcome(replace(rec, state=JournalState.APPROVED, rrn="000000000001", auth_code="123456"))
        assert store.wal_bytes() == WAL_KEPT_BYTES


def test_the_zeros_of_a_reserved_log_are_never_read_as_data(tmp_path):
    """What a power cut leaves (the files as synced, never checkpointed again) opens with every
    committed row and nothing else, whether or not frames were written over the zeros."""
    import shutil

    live = tmp_path / "live"
    s = Store.open(live)
    opened(s)
    s.checkpoint()
    cut_before = tmp_path / "cut_before"  # the reserved log, no frame since its restart
    cut_before.mkdir()
    for name in (DB_FILE, f"{DB_FILE}-wal"):
        shutil.copy2(live / name, cut_before / name)
    for n in range(2, 12):
        opened(s, n, n)
    cut_after = tmp_path / "cut_after"  # ten commits written over the zeros
    cut_after.mkdir()
    for name in (DB_FILE, f"{DB_FILE}-wal"):
        shutil.copy2(live / name, cut_after / name)
    s.close()
    for where, rows in ((cut_before, 1), (cut_after, 11)):
        r = Store.open(where)
        assert r.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [rec.txn_no for rec in r.journal()] == list(range(1, rows + 1))
        r.close()


def test_no_log_is_reserved_on_a_disk_without_room_for_it(store, monkeypatch):
    import storage.db

    monkeypatch.setattr(storage.db, "RESERVE_MARGIN_BYTES", 2**62)  # "free space" no disk has
    opened(store)
    store.checkpoint()
    assert store.wal_bytes() < storage.db.WAL_KEPT_BYTES
