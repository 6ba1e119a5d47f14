"""The journal's look-ups at scale (schema 13, ``migration_steps._v13``, ``storage.spans``): every look-up a sale,
void, refund, completion or report makes reads an index or a range of journal numbers, never every row ever
written (the journal is never emptied). Held by ``EXPLAIN QUERY PLAN`` of the statements each look-up runs, with
their own parameters (a partial index serves a query only when the query implies its condition, so a parameter
where a literal was, or a lost index, turns a seek into ``SCAN journal``); and by what each look-up answers."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from firmware.core.batch import Settlement, SettleResult
from firmware.core.model import Counters, JournalState, Kind, OriginalFacts, OriginalRef, SaleRecord
from firmware.reportcli import batch_report
from storage.archive import EARLIER

DAY = datetime(2026, 11, 20, 9, 30, 0)
AUTH = "654321"


def facts(r: SaleRecord) -> OriginalFacts:
    return OriginalFacts(r.txn_no, r.kind, r.amount, r.currency, r.stan, r.batch, r.when, r.masked_pan, r.rrn,
                         r.auth_code)


def write(store, txn_no, batch, when, kind=Kind.SALE, *, original=None, reference=None, rrn=None, auth=None,
          state=JournalState.APPROVED, amount=1250) -> SaleRecord:
    """One record through storage's own two commits (its trace is its journal number)."""
    r = SaleRecord(txn_no, amount, txn_no, batch, when, "620550*********0004", kind=kind, terminal_id="12345678",
                   merchant_id="123456789012345", operator="01", original=facts(original) if original else None,
                   reference=reference)
    store.open_request(r, pan_hash=b"h" * 32, card=b"S1card", reversal=b"S1rev",
                       counters=Counters(stan=txn_no + 1, batch=batch, txn_no=txn_no + 1))
    done = replace(r, state=state, response_code="00" if state is JournalState.APPROVED else "51",
                   rrn=(rrn or f"{txn_no:012d}") if state is JournalState.APPROVED else None,
                   auth_code=auth or f"{txn_no:06d}")
    store.record_outcome(done, copies=())  # no receipt owed: the journal's mark can pass it (storage.live)
    return done


def close(store, batch, txn_no, next_batch) -> None:
    """Settle ``batch`` (the settlement's trace is the next journal number's) and open ``next_batch``."""
    store.close_batch(Settlement(batch, store.batch_totals(batch), SettleResult.BALANCED, DAY, txn_no),
                      Counters(stan=txn_no + 1, batch=next_batch, txn_no=txn_no))


def book(store, close=close) -> dict[str, SaleRecord]:
    """A journal of every kind that names another, over three batches: batch 1 (settled, then archived when the
    number comes round again: stored as 1000001), batch 2 (settled), and the open batch, 1 again."""
    r: dict[str, SaleRecord] = {}
    r["a"] = write(store, 1, 1, DAY)
    r["b"] = write(store, 2, 1, DAY)
    write(store, 3, 1, DAY, Kind.VOID, original=r["b"])
    r["p"] = write(store, 4, 1, DAY, Kind.PREAUTH, auth=AUTH)
    write(store, 5, 1, DAY, Kind.REFUND, original=r["a"], reference=OriginalRef(r["a"].rrn, "1120"), amount=200)
    write(store, 6, 1, DAY, state=JournalState.DECLINED)
    close(store, 1, 7, 2)
    day2 = DAY + timedelta(days=1)
    ref = OriginalRef("", "1120", AUTH)
    r["c"] = write(store, 8, 2, day2, Kind.PREAUTH_COMPLETE, original=r["p"], reference=ref, amount=1000)
    write(store, 9, 2, day2, Kind.PREAUTH_COMPLETE_VOID, original=r["c"], amount=1000)
    write(store, 10, 2, day2)
    write(store, 11, 2, day2, Kind.REFUND, original=r["a"], reference=OriginalRef(r["a"].rrn, "1120"), amount=300)
    close(store, 2, 12, 1)  # the counter comes round to 1: the earlier batch 1 is archived in this commit
    day3 = DAY + timedelta(days=2)
    r["d"] = write(store, 13, 1, day3)
    write(store, 14, 1, day3, Kind.VOID, original=r["d"])
    return r


@pytest.fixture
def booked(store):
    return store, book(store)


# -- the plans -------------------------------------------------------------------------------------------
class Recording:
    """The store's connection, noting each statement with its parameters (what ``EXPLAIN QUERY PLAN`` needs:
    a plan may depend on them, the trace callback's expanded text would put literals in their place)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.seen = conn, []

    def execute(self, sql, parameters=()):
        self.seen.append((sql, parameters))
        return self.conn.execute(sql, parameters)

    def __getattr__(self, name):
        return getattr(self.conn, name)


# The names a journal row goes by in a FROM clause (the table itself, or its alias).
_ALIAS = re.compile(r"\bjournal\b(?:\s+(?:AS\s+)?(?!WHERE|JOIN|LEFT|USING|ON|ORDER|GROUP|LIMIT)(\w+))?", re.I)
# A walk back from the newest row (the counters a report reads): one row, however old the journal.
_NEWEST = "SELECT txn_no, stan, batch FROM journal ORDER BY txn_no DESC LIMIT 1"


def plans(store, call) -> list[tuple[str, list[str]]]:
    """Each statement ``call`` ran on the store, with its query plan's lines."""
    recording = Recording(store.conn)
    store.conn = recording
    try:
        call(store)
    finally:
        store.conn = recording.conn
    out = []
    for sql, parameters in recording.seen:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            out.append((sql, [row[3] for row in recording.conn.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)]))
    assert out, "the look-up ran no query"
    return out


def scans_of_the_journal(found: list[tuple[str, list[str]]]) -> list[str]:
    bad = []
    for sql, lines in found:
        if sql == _NEWEST:
            continue
        names = {m.group(1) or "journal" for m in _ALIAS.finditer(sql)}
        bad += [f"{line}   <- {sql[:90]}" for line in lines
                if line.startswith("SCAN ") and line.split()[1] in names]
    return bad


SETTLED, ARCHIVED, OPEN = 2, 1 + EARLIER, 1
LOOKUPS = {  # what each look-up runs, and the index its plan must name (None: rowid ranges only)
    "refund's original (RRN, date)": (lambda s: s.find_by_reference("000000000001", "1120"), "journal_rrn"),
    "refund's original, none": (lambda s: s.find_by_reference("999999999999", "1120"), "journal_rrn"),
    "pre-auth's (auth code, date)": (lambda s: s.find_by_auth(AUTH, "1120"), "journal_preauth"),
    "void's original (open batch)": (lambda s: s.find_original(13, OPEN), "journal_original"),
    "void of a settled trace": (lambda s: s.in_settled_batch(2), None),
    "void of an unknown trace": (lambda s: s.in_settled_batch(999), None),
    "reprint by trace": (lambda s: s.record_by_trace(13, OPEN), "journal_original"),
    "records of a settled batch": (lambda s: s.batch_records(SETTLED), None),
    "records of an archived batch": (lambda s: s.batch_records(ARCHIVED), None),
    "voids of a batch": (lambda s: s.voided(SETTLED), "journal_original"),
    "refunds of a batch": (lambda s: s.refunded(ARCHIVED), "journal_original"),
    "earlier batches of a number": (lambda s: s.earlier_batches(OPEN), "journal_archived"),
    "report --batch (settled)": (lambda s: batch_report(s, SETTLED), "journal_original"),
    "report --batch (archived)": (lambda s: batch_report(s, ARCHIVED), "journal_original"),
    "report (open batch)": (lambda s: batch_report(s), "journal_archived"),
    "journal --batch (settled)": (lambda s: list(s.listing(batch=SETTLED)), "journal_original"),
    "journal --batch --last": (lambda s: list(s.listing(batch=ARCHIVED, last=2)), "journal_original"),
    "journal --last": (lambda s: list(s.listing(last=3)), "journal_original"),
}


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_each_look_up_seeks_and_never_scans_the_journal(booked, lookup):
    store, _ = booked
    call, index = LOOKUPS[lookup]
    found = plans(store, call)
    assert scans_of_the_journal(found) == []
    if index is not None:
        assert any(index in line for _, lines in found for line in lines), found


def steps(store, call) -> int:
    """SQLite's virtual-machine instructions ``call`` runs: rows read, counted exactly (no clock involved)."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    store.conn.set_progress_handler(tick, 1)
    try:
        call(store)
    finally:
        store.conn.set_progress_handler(None, 1)
    return count


# The look-ups of what ``book`` settled, whose work must not grow with the batches settled after them.
SETTLED_LOOKUPS = [name for name in LOOKUPS if "open batch" not in name and "--last" not in name
                   and name != "reprint by trace"] + ["report (open batch)"]


def test_a_look_up_reads_as_much_however_many_batches_were_settled_since(booked):
    """A plan can say ``SEARCH`` and still read from the journal's first row to its last (``rowid>?`` from 0):
    here each look-up's work is counted before and after 400 more sales in batches settled since."""
    store, _ = booked
    close(store, OPEN, 15, 5)
    store.advance_live_from()  # as the idle checkpoints do
    before = {name: steps(store, LOOKUPS[name][0]) for name in SETTLED_LOOKUPS}
    txn_no = 16
    for batch in (5, 6):
        for _ in range(200):
            write(store, txn_no, batch, DAY + timedelta(days=3))
            txn_no += 1
        close(store, batch, txn_no, batch + 1)
        txn_no += 1
    store.advance_live_from()
    after = {name: steps(store, LOOKUPS[name][0]) for name in SETTLED_LOOKUPS}
    grew = {name: (before[name], after[name]) for name in SETTLED_LOOKUPS if after[name] > before[name] + 40}
    assert grew == {}  # (a read of 400 rows is thousands of instructions; an index's deeper tree a few)


def test_the_plan_check_sees_a_scan_when_an_index_is_lost(booked):
    """The check above is not vacuous: without ``journal_rrn`` the refund's look-up reads every row."""
    store, _ = booked
    store.conn.execute("DROP INDEX journal_rrn")
    found = plans(store, LOOKUPS["refund's original (RRN, date)"][0])
    assert scans_of_the_journal(found) and not any("journal_rrn" in line for _, lines in found for line in lines)


# -- what they answer --------------------------------------------------------------------------------------
def test_the_refund_s_original_is_the_newest_with_that_rrn_made_that_day(store):
    first = write(store, 1, 1, DAY, rrn="000000004242")
    newer = write(store, 2, 1, DAY, rrn="000000004242")  # the host gave the number again, the same day
    other_day = write(store, 3, 1, DAY + timedelta(days=1), rrn="000000004242")
    assert store.find_by_reference("000000004242", "1120").facts.txn_no == newer.txn_no != first.txn_no
    assert store.find_by_reference("000000004242", "1121").facts.txn_no == other_day.txn_no
    assert store.find_by_reference("000000004242", "1122") is None  # another date: not found
    assert store.find_by_reference("000000004243", "1120") is None


def test_the_pre_auth_is_the_newest_pre_auth_with_that_code_made_that_day(store):
    write(store, 1, 1, DAY, Kind.PREAUTH, auth=AUTH)
    newer = write(store, 2, 1, DAY, Kind.PREAUTH, auth=AUTH)
    write(store, 3, 1, DAY, auth=AUTH)  # a sale with the same code is no pre-auth
    assert store.find_by_auth(AUTH, "1120").facts.txn_no == newer.txn_no
    assert store.find_by_auth(AUTH, "1121") is None and store.find_by_auth("111111", "1120") is None


def test_originals_in_an_archived_batch_are_found_as_before(booked):
    store, r = booked
    sale = store.find_by_reference(r["a"].rrn, "1120")
    assert (sale.facts.txn_no, sale.facts.batch, sale.facts.refunded) == (1, 1, 500)  # both refunds, either batch
    held = store.find_by_auth(AUTH, "1120")
    assert held.facts.txn_no == 4 and held.completions == ()  # its completion was voided: it holds again
    assert store.record(1).earlier and not store.record(13).earlier


def test_a_batch_s_records_voids_and_refunds_are_its_own(booked):
    store, _ = booked
    assert [x.txn_no for x in store.batch_records(ARCHIVED)] == [1, 2, 3, 4, 5, 6]
    assert [x.txn_no for x in store.batch_records(SETTLED)] == [8, 9, 10, 11]
    assert [x.txn_no for x in store.batch_records(OPEN)] == [13, 14]
    assert store.voided(ARCHIVED) == {2: 3} and store.voided(SETTLED) == {8: 9}
    assert store.voided() == {2: 3, 8: 9, 13: 14}
    # the open batch's span runs from the journal's mark, here still 0: other batches' entries are left in
    assert store.voided(OPEN).items() >= {13: 14}.items() and store.voided(OPEN).items() <= store.voided().items()
    assert store.refunded(ARCHIVED) == {1: 500} == store.refunded() and store.refunded(SETTLED) == {}
    assert store.earlier_batches(OPEN) == [ARCHIVED] and store.earlier_batches(SETTLED) == []
    report = batch_report(store, ARCHIVED)
    assert [x.txn_no for x in report.records] == [1, 2, 3, 4, 5, 6] and report.voided == {2: 3}


def test_the_listing_of_a_batch_is_the_whole_listing_s_rows_of_it(booked):
    store, _ = booked
    whole = list(store.listing())
    assert [x.record.txn_no for x in whole] == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14]
    for batch in (ARCHIVED, SETTLED, OPEN, 77):
        mine = [x for x in whole if (x.earlier_batch or x.record.batch) == batch]
        assert list(store.listing(batch=batch)) == mine, batch
        assert list(store.listing(batch=batch, last=2)) == mine[-2:], batch
    assert list(store.listing(last=3)) == whole[-3:]
    named = {x.record.txn_no: (x.voided_by, x.refunded, x.completed_by) for x in whole}
    assert named[1] == (None, 500, None) and named[2] == (3, 0, None) and named[4] == (None, 0, None)


def test_a_void_of_a_trace_settled_before_is_told_so(booked):
    store, _ = booked
    assert store.in_settled_batch(2) and store.in_settled_batch(10)  # archived batch 1, batch 2
    assert not store.in_settled_batch(13) and not store.in_settled_batch(999)  # the open batch's, nobody's
    found, reprint = store.find_original(13, OPEN), store.record_by_trace(13, OPEN)
    assert found.facts.txn_no == 13 and found.claims == (JournalState.APPROVED,)
    assert reprint[0].txn_no == 13 and reprint[1] == 14


def test_a_batch_settled_by_firmware_without_spans_is_read_by_a_scan(booked):
    """A rollback to schema-12 firmware settles without a span (NULL): its batch is still read whole."""
    store, _ = booked
    store.conn.execute("UPDATE settlements SET first_txn_no = NULL, last_txn_no = NULL, low_stan = NULL, "
                       "high_stan = NULL WHERE batch = ?", (SETTLED,))
    assert [x.txn_no for x in store.batch_records(SETTLED)] == [8, 9, 10, 11]
    assert store.in_settled_batch(10) and not store.in_settled_batch(13)
    assert [x.record.txn_no for x in store.listing(batch=SETTLED)] == [8, 9, 10, 11]


def test_a_settlement_records_the_span_of_its_batch(booked):
    store, _ = booked
    spans = store.conn.execute("SELECT batch, first_txn_no, last_txn_no, low_stan, high_stan FROM settlements "
                               "ORDER BY batch").fetchall()
    assert spans == [(SETTLED, 8, 11, 8, 11), (ARCHIVED, 1, 6, 1, 6)]
    close(store, OPEN, 15, 3)
    close(store, 3, 16, 4)  # a batch with no record: an empty span
    assert store.conn.execute("SELECT first_txn_no > last_txn_no, low_stan > high_stan FROM settlements "
                              "WHERE batch = 3").fetchone() == (1, 1)
    assert store.batch_records(3) == [] and not store.in_settled_batch(16)
