"""A settled batch's rows as a range of journal numbers, kept in its settlements row: an old batch is read
without a scan of the journal.

Why: the journal is never emptied and has no index on ``batch`` (one would cost a page write at every
sale, ``migration_steps._v2``). The open batch's rows are all from the journal's mark on (``storage.live``),
but a settled batch's lie anywhere below it, so the report or listing of an old batch (``posterm report
--batch N``, ``posterm journal --batch N``), and a void's "is this trace in a settled batch?", read every
row ever written. Every row of a batch is written while it is the open batch, and a batch closes once
(a number that comes round again has its history archived first, rows and settlements row together,
``storage.archive``): so when it closes, its rows all lie between its first and last journal numbers,
and none joins it later. ``close_batch`` records that span, and the lowest and highest trace among the
rows, in the settlements row of the same commit (``SPAN_OF``); schema 13 fills them in for the batches
settled before it (``migration_steps._v13``). A sale's commits never read or write them.

A settlements row without a span (closed by firmware from before schema 13, after a rollback) is read
as before, by a scan. An empty batch's span is empty (first above last).
"""

from __future__ import annotations

import sqlite3

from storage.live import batch_floor

__all__ = ["SPAN_COLUMNS", "SPAN_OF", "LAST", "batch_span", "stan_settled"]

# settlements columns (schema 13): journal numbers first..last, traces low..high, of the batch's rows
SPAN_COLUMNS = ("first_txn_no", "last_txn_no", "low_stan", "high_stan")
# The span of batch ?1's rows from journal number ?2 on (its floor, ``storage.live.batch_floor``); empty if none.
SPAN_OF = ("SELECT COALESCE(MIN(txn_no), 1), COALESCE(MAX(txn_no), 0), COALESCE(MIN(stan), 1), "
           "COALESCE(MAX(stan), 0) FROM journal WHERE txn_no >= ?2 AND batch = ?1")
LAST = 2**63 - 1  # the highest journal number SQLite can hold: "to the newest row"


def batch_span(c: sqlite3.Connection, batch: int) -> tuple[int, int]:
    """Journal numbers (first, last) between which all of ``batch``'s rows (stored number) lie: a settled
    batch's recorded span, else from its floor (``batch_floor``: the mark, or 0 for a batch whose rows may
    be below it) to the newest row."""
    row = c.execute("SELECT first_txn_no, last_txn_no FROM settlements WHERE batch = ?", (batch,)).fetchone()
    if row is not None and row[0] is not None:
        return row[0], row[1]
    return batch_floor(c, batch), LAST


def stan_settled(c: sqlite3.Connection, stan: int) -> bool:
    """A journal row with this trace belongs to a settled batch. Per settlements row whose traces cover it
    (one a round of traces, as a rule), a read of that batch's span; then a scan for the batches settled
    without a span, only should there be any. The settlements table is read whole: a row a batch, some
    hundreds a year, where the journal holds that many a day."""
    found = c.execute(
        "SELECT EXISTS (SELECT 1 FROM settlements s WHERE s.low_stan <= ?1 AND s.high_stan >= ?1 AND EXISTS "
        "(SELECT 1 FROM journal j WHERE j.txn_no BETWEEN s.first_txn_no AND s.last_txn_no AND j.batch = s.batch "
        "AND j.stan = ?1))", (stan,)).fetchone()[0]
    if found or not c.execute("SELECT EXISTS (SELECT 1 FROM settlements WHERE first_txn_no IS NULL)").fetchone()[0]:
        return bool(found)
    return c.execute("SELECT EXISTS (SELECT 1 FROM journal WHERE stan = ? AND batch IN "
                     "(SELECT batch FROM settlements WHERE first_txn_no IS NULL))", (stan,)).fetchone()[0] == 1
