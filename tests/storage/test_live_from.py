"""The journal's low-water mark (storage.live): start-up and settlement read only the rows from it on, the mark
never passes a row with work owed, and what storage answers with the mark is what it answered without it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from firmware.core.batch import Settlement, SettleResult, Totals
from firmware.core.model import Copy, Counters, JournalState, Kind, SaleRecord
from firmware.errors import StorageError
from storage.archive import EARLIER
from storage.live import LIVE_FROM, ORPHANS, UNFINISHED, UPLOAD_OWED, batch_used, live_from, orphans
from storage.migrations import snapshot_path
from storage.store import Store

WHEN = datetime(2026, 11, 22, 9, 30, 0)


class Till:
    """A store driven the way the runner drives it, one durable step at a time, with the counters it keeps."""

    def __init__(self, store: Store, batch: int = 1) -> None:
        self.store = store
        c = store.counters()
        self.txn_no, self.stan, self.batch = c.txn_no, c.stan, batch
        if batch != c.batch:
            store.save_counters(Counters(stan=self.stan, batch=batch, txn_no=self.txn_no))

    def open(self, kind: Kind = Kind.SALE, amount: int = 1250, original: SaleRecord | None = None) -> SaleRecord:
        facts = None
        if original is not None:
            facts = self.store.find_original(original.stan, original.batch).facts
        rec = SaleRecord(self.txn_no, amount, self.stan, self.batch, WHEN + timedelta(seconds=self.txn_no),
                         "620550*********0004", kind=kind, original=facts)
        self.txn_no, self.stan = self.txn_no + 1, self.stan % 999999 + 1
        self.store.open_request(rec, pan_hash=b"h" * 16, card=None if kind is Kind.BALANCE else b"S1card",
                                reversal=None if kind is Kind.BALANCE else b"S1reversal",
                                counters=Counters(stan=self.stan, batch=self.batch, txn_no=self.txn_no))
        return rec

    def approve(self, rec: SaleRecord, copies=(Copy.MERCHANT, Copy.CARDHOLDER)) -> SaleRecord:
        done = replace(rec, state=JournalState.APPROVED, response_code="00", rrn=f"{rec.txn_no:012d}", auth_code="1")
        self.store.record_outcome(done, copies=copies)
        return done

    def print_all(self, rec: SaleRecord) -> None:
        for copy in Copy:
            self.store.mark_printed(rec.txn_no, copy)

    def sale(self, amount: int = 1250) -> SaleRecord:
        rec = self.approve(self.open(amount=amount))
        self.print_all(rec)
        return rec

    def settle(self, result: SettleResult = SettleResult.BALANCED, next_batch: int | None = None) -> None:
        settlement = Settlement(self.batch, self.store.batch_totals(self.batch), result, WHEN, self.stan)
        self.batch = self.batch + 1 if next_batch is None else next_batch
        self.store.close_batch(settlement, Counters(stan=self.stan, batch=self.batch, txn_no=self.txn_no))

    def sign_on(self, batch: int) -> None:
        self.store.save_counters(Counters(stan=self.stan, batch=batch, txn_no=self.txn_no))
        self.batch = batch


def _advance_all(store: Store) -> int:
    while True:
        before = live_from(store.conn)
        if store.advance_live_from() == before:
            return before


def test_a_new_database_has_no_mark_and_reads_as_before(store):
    assert live_from(store.conn) == 0 and orphans(store.conn) == frozenset()
    store.boot_state()  # reads from 0: every row, as firmware before the mark did
    assert store.advance_live_from() == 1  # past the newest row (none): the next request is journal number 1
    assert Till(store).open().txn_no == 1


def _settled_then_open(store: Store, settled: int = 3) -> tuple[Till, SaleRecord]:
    """A settled batch of ``settled`` sales, then a sale in the open batch (returned), the mark advanced."""
    till = Till(store)
    for _ in range(settled):
        till.sale()
    till.settle()
    first_open = till.sale()
    _advance_all(store)
    return till, first_open


def test_the_mark_passes_settled_batches_and_stops_at_the_open_one(store):
    till, first_open = _settled_then_open(store)
    assert live_from(store.conn) == first_open.txn_no
    till.sale()
    assert _advance_all(store) == first_open.txn_no  # the open batch stays live


def _copy_owed(till: Till) -> None:  # a settled batch whose receipt never printed (the printer was out of paper)
    till.approve(till.open(), copies=(Copy.CARDHOLDER,))


def _request_open(till: Till) -> None:  # a power cut between the request's commit and its answer
    rec = till.open()
    till.settle()  # (the core would refuse; storage must not trust that it did)
    del rec


def _reversal_due(till: Till) -> None:
    rec = till.open()
    till.store.record_outcome(replace(rec, state=JournalState.REVERSING, reason="98"), reversal_reason="98")


def _advice_pending(till: Till) -> None:
    rec = till.open()
    till.store.record_outcome(replace(rec, state=JournalState.OFFLINE_APPROVED, reason="offline"), advice=b"S1advice")
    till.print_all(rec)


def _inquiry_open(till: Till) -> None:
    till.open(Kind.BALANCE)


OWED = {
    "a receipt copy owed in a settled batch": (_copy_owed, lambda till, n: till.print_all(till.store.record(n))),
    "a request left open by a power cut": (
        _request_open, lambda till, n: till.store.reversal_done(n, "00", "98")),
    "a reversal due": (_reversal_due, lambda till, n: till.store.reversal_done(n, "00", "98")),
    "an advice not yet forwarded": (_advice_pending, lambda till, n: till.store.advice_done(n, "00", accepted=True)),
    "an inquiry left open": (_inquiry_open, lambda till, n: till.store.end_unanswered(["balance"])),
}


@pytest.mark.parametrize("owed", sorted(OWED))
def test_the_mark_never_passes_a_row_with_work_owed(store, owed):
    make, resolve = OWED[owed]
    till = Till(store)
    till.sale()
    n = till.txn_no
    make(till)
    till.sale()
    if till.batch == 1:
        till.settle()
    till.sale()
    assert _advance_all(store) == n
    boot = store.boot_state()
    assert n in ({r.txn_no for r in boot.reversals} | {a.txn_no for a in boot.advices}
                 | {j.record.txn_no for j in boot.receipts} | set(boot.interrupted)), boot
    resolve(till, n)
    assert _advance_all(store) > n


def test_an_owed_upload_holds_the_mark_at_its_batch_until_it_is_done(store):
    till = Till(store)
    first = till.sale()
    till.settle(SettleResult.UNBALANCED)
    till.sale()
    assert _advance_all(store) == first.txn_no
    assert [e.txn_no for e in store.upload_entries(1)] == [first.txn_no]  # the upload reads its batch from the mark
    store.upload_done(1)
    assert _advance_all(store) == first.txn_no + 1


def test_an_advance_reads_a_bounded_slice_and_a_checkpoint_moves_it(store):
    till = Till(store)
    for _ in range(5):
        till.sale()
    till.settle()
    till.sale()
    assert store.advance_live_from(rows=2) == 2  # rows 0..1 read (1 exists)
    assert store.advance_live_from(rows=2) == 4
    store.checkpoint()
    assert live_from(store.conn) == 6


def test_a_mark_that_cannot_be_written_still_lets_the_log_be_copied_back_and_reused(store, monkeypatch):
    """AU19: the chores' commits come before the copy back. When the disk is full they fail, and the
    log must still be checkpointed and restarted (reused, not grown); the error is still told."""
    till = Till(store)
    till.sale()
    till.settle()
    till.sale()

    def full(*_a, **_k):
        raise StorageError("storage is full while moving the journal's mark; free space to resume sales",
                           code="storage.full")

    monkeypatch.setattr(store, "advance_live_from", full)
    ran: list[str] = []
    store.conn.set_trace_callback(ran.append)
    with pytest.raises(StorageError) as e:
        store.checkpoint()
    store.conn.set_trace_callback(None)
    assert e.value.code == "storage.full"
    assert "PRAGMA wal_checkpoint(RESTART)" in ran
    monkeypatch.undo()  # space freed: the next idle checkpoint moves the mark
    store.checkpoint()
    assert live_from(store.conn) == 2


def test_no_mark_is_written_while_a_migration_s_copy_can_be_restored(store):
    till = Till(store)
    till.sale()
    till.settle()
    till.sale()
    snapshot_path(store.path).write_bytes(b"")  # (its digest covers the settings: a new mark would end the rollback)
    store.checkpoint()
    assert live_from(store.conn) == 0
    assert not snapshot_path(store.path).exists()  # a copy without its record is stale: dropped at that checkpoint
    store.checkpoint()
    assert live_from(store.conn) == 2


def _orphan_of_5(store: Store) -> tuple[Till, SaleRecord]:
    """Batch 5 holds only a declined sale when a sign-on moves the terminal to 6, which takes a sale and settles."""
    till = Till(store, batch=5)
    rec = till.open()
    store.record_outcome(replace(rec, state=JournalState.DECLINED, response_code="51", reason="51"))
    till.sign_on(6)
    till.sale()
    till.settle()
    return till, rec


def test_a_batch_number_used_again_finds_the_unsettled_rows_the_mark_passed(store):
    """A sign-on moves the terminal to another batch while the open one holds no counted record (a declined sale):
    that batch is never settled. Once the mark passes its rows, the archive still finds them under its number."""
    till, rec = _orphan_of_5(store)
    till.sale()
    _advance_all(store)
    assert live_from(store.conn) > rec.txn_no and orphans(store.conn) == {5}
    assert batch_used(store.conn, 5)
    till.sign_on(5)  # the host names it again: its history is archived, the orphan noted under the new number
    assert orphans(store.conn) == {5 + EARLIER}
    assert store.batch_records(5) == [] and store.batch_held(5).count == 0
    assert [r.txn_no for r in store.batch_records(5 + EARLIER)] == [rec.txn_no]
    assert batch_used(store.conn, 5 + EARLIER) and not batch_used(store.conn, 5)


def test_an_archive_number_taken_below_the_mark_by_older_firmware_is_never_given_twice(store):
    """Audit AU19 M1. Firmware from before the mark opens this database (same schema) and archives an orphan it
    passed: the rows move to 1000005 below the mark, and the orphan list, which that firmware knows nothing of,
    still says 5. Back here, a settled batch 5 archived later must not be given 1000005 too (the two batches'
    rows mixed under one number, in the report and the listing a merchant reconciles by hand)."""
    till, orphan = _orphan_of_5(store)
    _advance_all(store)
    assert live_from(store.conn) > orphan.txn_no
    with store.conn:  # the older firmware's sign-on naming 5: its archive moves the rows (no more), then 5 is open
        store.conn.execute("UPDATE journal SET batch = ? WHERE batch = 5", (5 + EARLIER,))
        store._write_counters(store.conn, Counters(stan=till.stan, batch=5, txn_no=till.txn_no))
    till.batch = 5
    later = till.sale()
    till.settle()
    till.sign_on(5)  # the host names 5 again while 6 is empty: the settled 5 is archived
    (first,), (second,) = (store.conn.execute("SELECT batch FROM journal WHERE txn_no = ?", (r.txn_no,)).fetchone()
                           for r in (orphan, later))
    assert first == 5 + EARLIER and second == 5 + 2 * EARLIER


PLAN_SCAN = re.compile(r"SCAN (journal|j|v)\b(?! USING)")


def _journal_scans(store: Store, statements: list[str]) -> list[str]:
    scans = []
    for sql in statements:
        flat = " ".join(sql.split())
        if not flat.upper().startswith(("SELECT", "UPDATE")) or "journal" not in flat:
            continue
        if "ORDER BY txn_no DESC LIMIT 1" in flat:
            continue  # the newest row that matches, walking back along the rowid: stops at once
        plan = [r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + flat)]
        if any(PLAN_SCAN.match(p) for p in plan):
            scans.append(f"{flat[:140]} {plan}")
    return scans


def test_boot_and_settlement_read_the_journal_from_the_mark_never_the_whole_of_it(store):
    """Audit AU17 M2: each start-up and settlement read was a scan of every row ever written."""
    till, sale = _settled_then_open(store)
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    try:
        store.boot_state()
        store.end_unanswered(["balance"])
        store.find_original(sale.stan, sale.batch)
        store.batch_records(till.batch)
        till.settle(SettleResult.UNBALANCED)  # totals, the archive's "is the next number used", dropping cards
        store.upload_entries(till.batch - 1)
        store.upload_done(till.batch - 1)
        till.sign_on(till.batch + 5)
    finally:
        store.conn.set_trace_callback(None)
    assert _journal_scans(store, seen) == []
    assert any("journal WHERE txn_no >= " in " ".join(s.split()) for s in seen)
    plan = [r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN SELECT txn_no FROM journal "
                                             "WHERE txn_no >= 5 AND state = 'requested'")]
    assert plan == ["SEARCH journal USING INTEGER PRIMARY KEY (rowid>?)"]


def test_a_reprint_by_trace_reads_the_open_batch_from_the_mark_and_finds_its_void(store):
    """AU20 M6: F 8 and a trace; the record of the open batch and the void that undid it, never a scan. A trace
    only a settled batch holds is not found (the reprint covers the open batch)."""
    till, sale = _settled_then_open(store)
    other = till.sale()
    void = till.approve(till.open(Kind.VOID, original=sale))
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    try:
        found, voided_by = store.record_by_trace(sale.stan, till.batch)
        plain, not_voided = store.record_by_trace(other.stan, till.batch)
        settled = store.record_by_trace(1, till.batch)
    finally:
        store.conn.set_trace_callback(None)
    assert (found.txn_no, found.state, voided_by) == (sale.txn_no, JournalState.APPROVED, void.stan)
    assert (plain.txn_no, not_voided) == (other.txn_no, None)
    assert settled is None  # trace 1 is the settled batch's
    assert _journal_scans(store, seen) == []


def test_the_sale_s_commits_neither_read_nor_write_the_mark(store):
    """The per-sale path gains no statement: the mark is read at start-up and settlement, written at checkpoints."""
    till = Till(store)
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    try:
        till.sale()
    finally:
        store.conn.set_trace_callback(None)
    assert not [s for s in seen if "settings" in s or LIVE_FROM in s]


# -- random histories: with the mark, storage answers what it answered without one ------------------------------

OPS = st.sampled_from(["sale", "sale", "copy owed", "print", "declined", "declined", "open", "reversal due",
                       "reversal done", "offline", "advice done", "void", "inquiry", "end inquiries", "settle",
                       "settle", "settle unbalanced", "upload done", "sign on", "sign on", "advance", "advance",
                       "restart"])


def _truth(store: Store) -> dict:
    """Everything the mark bounds, as storage answers it now."""
    c = store.conn
    batches = sorted({b for (b,) in c.execute("SELECT batch FROM journal UNION SELECT batch FROM settlements")})
    traces = c.execute("SELECT stan, batch FROM journal ORDER BY txn_no").fetchall()
    return {
        "boot": store.boot_state(),
        "totals": {b: store.batch_totals(b) for b in batches},
        "held": {b: store.batch_held(b) for b in batches},
        "upload": {b: store.upload_entries(b) for b in batches},
        "records": {b: store.batch_records(b) for b in batches},
        "originals": {t: store.find_original(*t) for t in traces},
        "used": {b: batch_used(c, b) for b in range(1, 9)} | {b: batch_used(c, b) for b in batches},
    }


def _unmarked_truth(store: Store) -> dict:
    c = store.conn
    c.execute("BEGIN")
    try:
        c.execute("DELETE FROM settings WHERE key IN (?, ?)", (LIVE_FROM, ORPHANS))
        return _truth(store)
    finally:
        c.execute("ROLLBACK")


def _check(store: Store, open_batch: int) -> None:
    c = store.conn
    mark = live_from(c)
    below = c.execute(f"SELECT txn_no FROM journal WHERE txn_no < :mark AND {UNFINISHED}",
                      {"mark": mark, "open": open_batch}).fetchall()
    assert below == [], f"rows below the mark {mark} still owe work"
    unsettled = {b for (b,) in c.execute(
        "SELECT batch FROM journal WHERE txn_no < ? AND NOT EXISTS (SELECT 1 FROM settlements s WHERE s.batch = "
        f"journal.batch AND NOT ({UPLOAD_OWED}))", (mark,))}
    assert unsettled <= orphans(c)
    assert _truth(store) == _unmarked_truth(store)


def _wind_down(till: Till) -> None:
    s = till.store
    for n in s.boot_state().interrupted:
        s.reversal_done(n, "00", "98")  # armed in its row, or an inquiry's (none armed): both end
    for job in s.boot_state().receipts:
        s.mark_printed(job.record.txn_no, job.copy)
    for r in s.boot_state().reversals:
        s.reversal_done(r.txn_no, "00", "98")
    for a in s.boot_state().advices:
        s.advice_done(a.txn_no, "00", accepted=True)
    while (owed := s.upload_owed()) is not None:
        s.upload_done(owed.batch)
    till.settle()
    opened = till.txn_no
    till.sale()
    assert _advance_all(s) == opened


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(OPS, st.integers(0, 7)), min_size=1, max_size=30))
# a settled batch's number named again, and an unsettled one's after the mark passed it (orphan, then archived)
@example([("sale", 0), ("settle", 0), ("advance", 7), ("sign on", 0), ("sale", 1), ("advance", 7)])
# a sale, its batch settled, then named again by a sign-on (archived), then a void of that sale
@example([("sale", 0), ("settle", 0), ("sign on", 0), ("void", 0)])
# a sign-on back to a batch whose upload is owed, then a settlement that would take its number again
@example([("settle", 0), ("settle unbalanced", 0), ("sign on", 0), ("settle", 0)])
@example([("declined", 0), ("sign on", 4), ("sale", 0), ("settle", 0), ("advance", 7), ("sign on", 0),
          ("advance", 7), ("sign on", 5), ("inquiry", 0), ("restart", 0), ("sign on", 4), ("advance", 7)])
def test_with_the_mark_storage_answers_as_without_it(tmp_path_factory, history):
    data = tmp_path_factory.mktemp("live")
    store = Store.open(data)
    till = Till(store)
    approved: list[SaleRecord] = []
    try:
        for op, n in history:
            s = till.store
            if op in ("sale", "copy owed"):
                rec = till.approve(till.open(amount=100 + n))
                approved.append(rec)
                if op == "sale":
                    till.print_all(rec)
            elif op == "print":
                owed = [j for j in s.boot_state().receipts]
                if owed:
                    job = owed[n % len(owed)]
                    s.mark_printed(job.record.txn_no, job.copy, skipped=n % 3 == 0)
            elif op == "declined":
                rec = till.open()
                s.record_outcome(replace(rec, state=JournalState.DECLINED, response_code="51", reason="51"))
            elif op == "open":
                till.open()
            elif op == "reversal due":
                rec = till.open()
                s.record_outcome(replace(rec, state=JournalState.REVERSING, reason="98"), reversal_reason="98")
            elif op == "reversal done":
                due = s.boot_state().reversals
                if due:
                    s.reversal_done(due[n % len(due)].txn_no, "00", "98")
            elif op == "offline":
                rec = till.open()
                s.record_outcome(replace(rec, state=JournalState.OFFLINE_APPROVED, reason="offline"),
                                 advice=b"S1advice", copies=(Copy.MERCHANT,))
            elif op == "advice done":
                queued = s.boot_state().advices
                if queued:
                    s.advice_done(queued[n % len(queued)].txn_no, "00" if n % 2 else "05", accepted=bool(n % 2))
            elif op == "void":
                # (a sale of a batch archived since, its number used again, is not found: the core refuses it)
                mine = [r for r in approved if r.batch == till.batch and s.find_original(r.stan, r.batch) is not None]
                if mine:
                    till.approve(till.open(Kind.VOID, original=mine[n % len(mine)]), copies=(Copy.MERCHANT,))
            elif op == "inquiry":
                till.open(Kind.BALANCE)
            elif op == "end inquiries":
                s.end_unanswered(["balance"])
            elif op in ("settle", "settle unbalanced"):
                before = till.batch
                try:
                    till.settle(SettleResult.BALANCED if op == "settle" else SettleResult.UNBALANCED)
                except StorageError as e:  # the next number's upload is owed: the whole settlement rolls back
                    assert e.code == "storage.batch_owed"
                    till.batch = before
            elif op == "upload done":
                owed = s.upload_owed()
                if owed is not None:
                    s.upload_done(owed.batch)
            elif op == "sign on":
                if s.batch_held(till.batch).count == 0:  # the core adopts a host's number only then
                    try:
                        till.sign_on(1 + n)  # small numbers: they come round again
                    except StorageError as e:
                        assert e.code == "storage.batch_owed"
            elif op == "advance":
                s.advance_live_from(rows=1 + n)
            elif op == "restart":
                s.close()
                till.store = Store.open(data)
            _check(till.store, till.batch)
        _wind_down(till)  # then every debt is paid: the mark passes all but the open batch
        _check(till.store, till.batch)
    finally:
        till.store.close()


def test_totals_and_held_read_only_the_open_batch_from_the_mark(tmp_path):
    store = Store.open(Path(tmp_path))
    try:
        _settled_then_open(store, settled=2)
        assert store.batch_totals(2) == Totals(1, 1250, 0, 0)
        assert store.batch_held(2).count == 1
        assert store.batch_totals(1) == Totals(2, 2500, 0, 0)  # a settled batch's: a scan, off the boot path
    finally:
        store.close()
