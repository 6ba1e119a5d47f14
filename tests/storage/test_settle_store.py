"""The store's side of settlement: totals and upload entries from the journal (a property), the
upload's commit, what a restart resumes, the reprints' sources, and the read-only opening."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.core.batch import Settlement, SettleResult, Totals, UploadEntry
from firmware.core.model import (
    Copy,
    Counters,
    JournalState,
    Kind,
    OriginalFacts,
    SaleRecord,
)
from firmware.errors import StorageError
from storage import migrations
from storage.store import DB_FILE, Store

WHEN = datetime(2026, 11, 22, 9, 30, 0)
_numbers = itertools.count(1)  # journal numbers and batches never repeat across examples


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    s = Store.open(tmp_path_factory.mktemp("settle"))
    yield s
    s.close()


def _open(store: Store, batch: int, amount: int, kind: Kind = Kind.SALE, original: SaleRecord | None = None,
          txn_no: int | None = None) -> SaleRecord:
    n = txn_no if txn_no is not None else next(_numbers)
    facts = None
    if original is not None:
        facts = OriginalFacts(original.txn_no, Kind.SALE, original.amount, "156", original.stan, batch, WHEN,
                              original.masked_pan)
    rec = SaleRecord(n, amount, n % 999999 + 1, batch, WHEN + timedelta(seconds=n), "620550*********0004",
                     kind=kind, terminal_id="12345678", merchant_id="123456789012345", operator="01", original=facts)
    store.open_request(rec, pan_hash=b"h" * 16, card=b"S1sealed-card", reversal=b"S1sealed-reversal",
                       counters=Counters(stan=rec.stan % 999999 + 1, batch=batch, txn_no=n + 1))
    return rec


# What each kind of journal row adds to (debit, credit, unsent) and whether (and how) it is uploaded.
ROWS = {
    "sale approved": ((1, 0, 0), "online"),
    "sale declined": ((0, 0, 0), None),
    "sale reversed": ((0, 0, 0), None),
    "sale reversal due": ((0, 0, 1), None),
    "sale request open": ((0, 0, 1), None),  # its reversal armed in the row (a power cut before the answer)
    "offline not sent": ((0, 0, 1), None),
    "offline sent, unanswered": ((0, 0, 1), None),
    "offline accepted 00": ((1, 0, 0), "offline"),
    "offline accepted 94": ((1, 0, 0), "offline"),
    "offline declined by the host": ((0, 0, 0), None),
    "void approved": ((0, 1, 0), "online"),
    "void declined": ((0, 0, 0), None),
    "void reversed": ((0, 0, 0), None),
}


def _add(store: Store, what: str, batch: int, amount: int, last_sale: SaleRecord | None) -> SaleRecord:
    void = what.startswith("void")
    rec = _open(store, batch, amount, Kind.VOID if void else Kind.SALE, last_sale if void else None)
    approved = replace(rec, state=JournalState.APPROVED, response_code="00", rrn=f"{rec.txn_no:012d}",
                       auth_code="123456")
    if what == "sale request open":
        pass
    elif what in ("sale approved", "void approved"):
        store.record_outcome(approved, copies=(Copy.MERCHANT,))
    elif what in ("sale declined", "void declined"):
        store.record_outcome(replace(rec, state=JournalState.DECLINED, response_code="51", reason="51"))
    elif what in ("sale reversed", "void reversed", "sale reversal due"):
        store.record_outcome(replace(rec, state=JournalState.REVERSING, reason="98"), reversal_reason="98")
        if what != "sale reversal due":
            store.reversal_done(rec.txn_no, "00", "98")
    else:
        store.record_outcome(replace(rec, state=JournalState.OFFLINE_APPROVED, reason="offline"),
                             advice=b"S1sealed-advice")
        if what != "offline not sent":
            store.advice_sending(rec.txn_no)
        code = {"offline accepted 00": "00", "offline accepted 94": "94", "offline declined by the host": "05"}
        if what in code:
            store.advice_done(rec.txn_no, code[what], accepted=code[what] != "05")
    return rec


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(sorted(ROWS)), st.integers(1, 10**9)), max_size=7),
       st.lists(st.tuples(st.sampled_from(sorted(ROWS)), st.integers(1, 10**9)), max_size=3))
def test_totals_and_the_upload_are_the_sum_over_the_journal_rows_that_count(shared, rows, other_batch_rows):
    batch, other = next(_numbers), next(_numbers)
    expected = [0, 0, 0, 0, 0]  # debit count, debit amount, credit count, credit amount, unsent
    uploaded: list[UploadEntry] = []
    last_sale = None
    for (what, amount), (other_what, other_amount) in itertools.zip_longest(rows, other_batch_rows,
                                                                           fillvalue=(None, 0)):
        if other_what is not None:  # interleaved rows of another batch never count
            _add(shared, other_what, other, other_amount, None)
        if what is None:
            continue
        rec = _add(shared, what, batch, amount, last_sale)
        if rec.kind is Kind.SALE:
            last_sale = rec
        (debit, credit, unsent), upload = ROWS[what]
        expected[0] += debit
        expected[1] += debit * amount
        expected[2] += credit
        expected[3] += credit * amount
        expected[4] += unsent
        if upload is not None:
            uploaded.append(UploadEntry(rec.txn_no, rec.kind, rec.stan, amount, upload == "offline"))
    totals = shared.batch_totals(batch)
    assert totals == Totals(*expected)
    assert shared.upload_entries(batch) == uploaded
    assert len(uploaded) == totals.debit_count + totals.credit_count  # the upload carries what the totals count
    # what the core bounds a batch by (CoreSettings.batch_capacity): every row not declined or reversed, so
    # at least what the totals count (an offline sale is counted before the host accepts it, and after it refused)
    live = [what for what, _ in rows if not what.endswith(("declined", "reversed"))]
    held = shared.batch_held(batch)
    assert held.count == len(live) >= totals.debit_count + totals.credit_count
    assert held.debit_amount + held.credit_amount == sum(
        amount for what, amount in rows if not what.endswith(("declined", "reversed")))
    assert held.debit_count >= totals.debit_count and held.debit_amount >= totals.debit_amount  # each side
    assert held.credit_count >= totals.credit_count and held.credit_amount >= totals.credit_amount


# -- the upload's commit and what a restart resumes ---------------------------------------------------
def _settle(store: Store, batch: int, result: SettleResult, when: datetime = WHEN) -> Settlement:
    s = Settlement(batch, Totals(2, 2500, 1, 1250), result, when, 40 + batch, "01")
    store.close_batch(s, Counters(stan=50, batch=batch + 1, txn_no=9))
    return s


def test_an_unbalanced_settlement_owes_its_upload_and_its_report_waits_for_it(store):
    s = _settle(store, 1, SettleResult.UNBALANCED)
    assert store.upload_owed() == s
    boot = store.boot_state()
    assert boot.report is None and boot.last_report == s  # not printed before the upload completes
    before = store.commits
    store.upload_done(1)
    assert store.commits == before + 1
    assert store.upload_owed() is None
    done = replace(s, uploaded=True)
    assert store.settlement(1) == done and store.boot_state().report == done  # now owed: printed next
    store.mark_report_printed(1)
    assert store.boot_state().report is None and store.boot_state().last_report == done


@pytest.mark.parametrize("result, owes", [(SettleResult.BALANCED, False), (SettleResult.UNBALANCED, True),
                                          (SettleResult.ERROR, True)])
def test_only_a_settlement_not_balanced_owes_an_upload(store, result, owes):
    s = _settle(store, 3, result)
    assert (store.upload_owed() == s) is owes
    assert (store.boot_state().report == s) is not owes


def test_the_oldest_owed_upload_goes_first(store):
    older = _settle(store, 7, SettleResult.UNBALANCED, WHEN)
    _settle(store, 8, SettleResult.UNBALANCED, WHEN + timedelta(hours=1))
    assert store.upload_owed() == older


def test_upload_done_for_a_batch_never_settled_is_an_error(store):
    with pytest.raises(StorageError) as e:
        store.upload_done(5)
    assert e.value.code == "storage.missing_record"


def test_the_reprints_read_the_newest_settlement_and_the_newest_printed_transaction(store):
    assert store.boot_state().last_report is None and store.boot_state().last_receipt is None
    first = _open(store, 1, 500, txn_no=1)
    store.record_outcome(replace(first, state=JournalState.APPROVED), copies=(Copy.MERCHANT,))
    declined = _open(store, 1, 600, txn_no=2)
    store.record_outcome(replace(declined, state=JournalState.DECLINED, reason="51"))
    assert store.boot_state().last_receipt.txn_no == 1  # a declined sale prints nothing
    _settle(store, 1, SettleResult.BALANCED, WHEN)
    newest = _settle(store, 2, SettleResult.BALANCED, WHEN + timedelta(minutes=5))
    assert store.last_settlement() == newest


def test_batch_records_are_one_batch_in_journal_order(store):
    for n, batch in enumerate((1, 2, 1), start=1):
        _open(store, batch, 100 * n, txn_no=n)
    assert [r.txn_no for r in store.batch_records(1)] == [1, 3]
    assert store.batch_records(9) == []


# -- read-only, beside the running terminal ---------------------------------------------------------------
def _digest(directory) -> str:
    """The database and its write-ahead log, byte for byte."""
    return hashlib.sha256(b"".join((directory / name).read_bytes() for name in (DB_FILE, f"{DB_FILE}-wal"))).hexdigest()


def test_read_only_store_reads_beside_a_writer_holding_the_lock_and_changes_nothing(tmp_path):
    writer = Store.open(tmp_path)
    _settle(writer, 1, SettleResult.UNBALANCED)
    writer.conn.execute("BEGIN IMMEDIATE")  # the terminal in the middle of a commit: it holds the write lock
    try:
        before = _digest(tmp_path)
        reader = Store.open_read_only(tmp_path)
        try:
            assert reader.settlement(1).result is SettleResult.UNBALANCED
            assert reader.batch_totals(2) == Totals()
            assert reader.upload_owed() is not None and reader.boot_state().last_report is not None
            with pytest.raises(StorageError) as e:
                reader.upload_done(1)
            assert e.value.code == "storage.read_only"
        finally:
            reader.close()
        assert _digest(tmp_path) == before
    finally:
        writer.conn.execute("ROLLBACK")
        writer.close()


def test_read_only_store_sees_what_the_terminal_committed_in_its_log(tmp_path):
    writer = Store.open(tmp_path)
    _settle(writer, 4, SettleResult.BALANCED)  # in the log, not checkpointed
    reader = Store.open_read_only(tmp_path)
    try:
        assert reader.settled_batches() == [4]
    finally:
        reader.close()
        writer.close()


@pytest.mark.parametrize("version, code", [(migrations.LATEST + 1, "storage.schema_newer"),
                                           (migrations.LATEST - 1, "storage.schema_older")])
def test_read_only_store_refuses_another_schema(tmp_path, version, code):
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_FILE)
    conn.execute(f"PRAGMA user_version={version}")
    conn.close()
    with pytest.raises(StorageError) as e:
        Store.open_read_only(tmp_path)
    assert e.value.code == code


def test_read_only_store_reads_a_newer_schema_its_record_admits(tmp_path):
    """A newer firmware's database whose usable-by record admits this firmware (A/B rollback)."""
    import json

    writer = Store.open(tmp_path)
    _settle(writer, 4, SettleResult.BALANCED)
    writer.close()
    conn = sqlite3.connect(tmp_path / DB_FILE)
    newer = migrations.LATEST + 1
    conn.execute(f"PRAGMA user_version={newer}")
    conn.execute("UPDATE settings SET value = ? WHERE key = ?",
                 (json.dumps({"version": newer, "usable_by": migrations.LATEST}), migrations.RECORD_KEY))
    conn.commit()
    conn.close()
    reader = Store.open_read_only(tmp_path)
    try:
        assert reader.settled_batches() == [4]
    finally:
        reader.close()


def test_read_only_store_never_creates_a_database(tmp_path):
    with pytest.raises(StorageError) as e:
        Store.open_read_only(tmp_path / "nothing")
    assert e.value.code == "storage.missing"
    assert not (tmp_path / "nothing").exists()


def test_closing_the_batch_ends_the_cashier_s_shift_in_the_same_commit(store):
    """UnionPay terminals sign the cashier out with the settlement: no power cut can close the batch and
    leave its cashier signed in for the next one."""
    from crypto.passwords import KdfCost, Password
    from storage.operators import OperatorBook

    book = OperatorBook(store.conn, cost=KdfCost(4, 8, 1))
    book.add("07", Password(b"80462917"), WHEN)
    book.set_signed_in("07", WHEN)
    assert book.signed_in().number == "07"
    before = store.commits
    _settle(store, 1, SettleResult.BALANCED)
    assert store.commits == before + 1 and book.signed_in() is None


def test_a_settlement_under_way_survives_a_restart_until_it_is_answered(store, tmp_path):
    assert store.boot_state().settle_interrupted is False
    before = store.commits
    store.settle_sending(1)
    assert store.commits == before + 1  # durable before the 0500 leaves
    assert store.boot_state().settle_interrupted is True
    store.close()
    reopened = Store.open(tmp_path)  # a power cut: what was committed is what there is
    try:
        assert reopened.boot_state().settle_interrupted is True
        _settle(reopened, 1, SettleResult.BALANCED)  # the 0510 at last: the batch closes, the mark goes with it
        assert reopened.boot_state().settle_interrupted is False
        reopened.settle_sending(2)
        reopened.settle_sending(2, sending=False)  # a refusal is an answer too
        assert reopened.boot_state().settle_interrupted is False
    finally:
        reopened.close()


def test_an_upload_goes_on_from_its_noted_progress_only_for_the_same_batch_and_plan(store):
    from firmware.core.batch import UploadPlan

    plan = UploadPlan((41, None, None), 10)
    _settle(store, 1, SettleResult.UNBALANCED)
    assert store.upload_resume(1, plan) == 0  # nothing noted: from the first message
    before = store.commits
    store.upload_progress(1, 2, plan)
    assert store.commits == before  # a note, not a durable step
    assert store.upload_resume(1, plan) == 2
    assert store.upload_resume(2, plan) == 0  # another batch
    assert store.upload_resume(1, UploadPlan((41, None), 10)) == 0  # another plan: the whole upload again
    assert store.upload_resume(1, UploadPlan((41, None, None), 9)) == 0
    assert store.upload_resume(1, UploadPlan((41, None, None), 10, "other")) == 0  # same shape, other messages
    store.upload_done(1)
    assert store.upload_resume(1, plan) == 0  # the end answered: the note goes with the upload
