"""The journal's low-water mark: below ``live_from`` every row is finished, so start-up and settlement skip them.

Why: the journal has no index on state or batch, by design (``migration_steps._v3``: an
index costs a page write at every sale), so a query by state or by batch reads
every row ever written, and the table never shrinks: boot and settlement grew
with the terminal's age (audit AU17 M2: 0.4 s warm at a million rows, seconds on
a Pi Zero's cold SD card). Almost all of those rows are finished: nothing will
ever read them again at start-up or at a settlement. So storage keeps one
number, ``live_from`` (settings ``journal.live_from``), with every row below it
finished, and each boot and settlement query adds ``txn_no >= :live_from``: a
range of the rowid (``SEARCH journal USING INTEGER PRIMARY KEY``), not a scan.
The sale's own commits do not change: they neither read nor write the mark.

A row is finished (``UNFINISHED`` is the opposite) when no armed reversal waits in
it, it is not an open request, it owes no receipt copy, no queued reversal or advice
waits for it, and its batch is not the open batch nor a settled batch whose upload
is owed. Nothing makes a finished row unfinished again: an outcome, an advice's
answer and the copies they owe are written to a row still open (``requested``)
or queued; voids, refunds and completions are new rows; marks, the re-keying of
sealed columns and the sweep of card data change nothing the predicate reads; a
settlement's upload only goes from owed to done. So a mark once right stays
right, and one lost in a power cut (an older, lower one) is right too.

The one query the predicate does not answer is the archive's "is this batch number
used?" (``storage.archive``): a finished row's batch is settled (its settlements row
answers) or was left unsettled when a sign-on moved the terminal to another batch
while it held no counted record (``core.uplink``): an *orphan*. The mark records
the orphans it passes (settings ``journal.orphans``, their stored numbers), and
the archive renames an entry when it renumbers that batch. Firmware from before the
mark archives without noting it, so the archive asks the whole journal whether an
archive number is free (``storage.archive._stored_anywhere``; audit AU19 M1).

The mark moves only at the idle checkpoint (``advance``, from ``storage.housekeeping``),
a bounded slice of rows at a time, off every sale's path. A database from firmware
before the mark has none: 0, every row live, today's reads, until checkpoints
advance it.
"""

from __future__ import annotations

import sqlite3

__all__ = ["LIVE_FROM", "ORPHANS", "UPLOAD_OWED", "UNFINISHED", "ADVANCE_ROWS", "live_from", "orphans",
           "batch_floor", "batch_used", "advance", "rename_orphan"]

LIVE_FROM = "journal.live_from"  # settings key: every journal row below this number is finished
ORPHANS = "journal.orphans"  # settings key: stored batch numbers, unsettled, of rows below the mark
# Rows one ``advance`` reads at most: a read of the rowid range (about 13 ms a slice here, warm), so an
# idle checkpoint stays short on a Pi Zero however old the journal; a database from before the mark is
# caught up a slice per checkpoint.
ADVANCE_ROWS = 20_000

# A settlement whose upload is owed: the host did not find its totals balanced, and the upload has not
# completed (``storage.settlements``; here so the mark's predicate and the settlements read one definition).
UPLOAD_OWED = "result <> '1' AND uploaded = 0"
# A journal row (named ``journal``) something at start-up or at a settlement may still read. ``:open``: the
# open batch.
UNFINISHED = (
    "(journal.reversal IS NOT NULL OR journal.state = 'requested' "
    "OR ((journal.merchant_copy = 0 OR journal.cardholder_copy = 0) "
    "AND journal.state IN ('approved', 'offline_approved')) "
    "OR journal.batch = :open "
    "OR EXISTS (SELECT 1 FROM reversals r WHERE r.txn_no = journal.txn_no AND r.state = 'due') "
    "OR EXISTS (SELECT 1 FROM offline_queue q WHERE q.txn_no = journal.txn_no AND q.state IN ('pending', 'sent')) "
    f"OR EXISTS (SELECT 1 FROM settlements s WHERE s.batch = journal.batch AND {UPLOAD_OWED}))"
)


def _setting(c: sqlite3.Connection, key: str) -> str | None:
    row = c.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row is not None else None


def live_from(c: sqlite3.Connection) -> int:
    """The mark: every journal row below it is finished (0: none is known to be, as before the mark)."""
    value = _setting(c, LIVE_FROM)
    return int(value) if value is not None and value.isdigit() else 0


def orphans(c: sqlite3.Connection) -> frozenset[int]:
    """Stored numbers of the unsettled batches some of whose rows are below the mark."""
    value = _setting(c, ORPHANS) or ""
    return frozenset(int(b) for b in value.split() if b.isdigit())


def _write(c: sqlite3.Connection, key: str, value: str) -> None:
    c.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))


def _write_orphans(c: sqlite3.Connection, batches: frozenset[int]) -> None:
    _write(c, ORPHANS, " ".join(str(b) for b in sorted(batches)))


def batch_floor(c: sqlite3.Connection, batch: int) -> int:
    """The journal number a query of ``batch``'s rows (stored number) may start from: the mark, unless rows of
    the batch may be finished (settled with no upload owed, or an orphan), when it is 0 (a scan, off the boot
    and settlement paths: a report of an old batch)."""
    row = c.execute(f"SELECT NOT ({UPLOAD_OWED}) FROM settlements WHERE batch = ?", (batch,)).fetchone()
    if row is not None:
        return 0 if row[0] else live_from(c)
    return 0 if batch in orphans(c) else live_from(c)


def batch_used(c: sqlite3.Connection, batch: int) -> bool:
    """Storage holds history under the stored batch number ``batch`` (its settlement or journal rows): the
    settlements row, the orphans noted, or a row from the mark on (a rowid range)."""
    if batch in orphans(c):
        return True
    return c.execute("SELECT EXISTS (SELECT 1 FROM settlements WHERE batch = ?1) "
                     "OR EXISTS (SELECT 1 FROM journal WHERE txn_no >= ?2 AND batch = ?1)",
                     (batch, live_from(c))).fetchone()[0] == 1


def rename_orphan(c: sqlite3.Connection, batch: int, archived: int) -> None:
    """Inside the archive's transaction: rows of orphan ``batch`` are now stored under ``archived``."""
    noted = orphans(c)
    if batch in noted:
        _write_orphans(c, (noted - {batch}) | {archived})


def advance(c: sqlite3.Connection, open_batch: int, rows: int = ADVANCE_ROWS) -> int:
    """Inside the caller's transaction: move the mark past the finished rows that follow it, reading at most
    ``rows`` of them, and note the orphans it passes; returns the new mark (unchanged if nothing moved)."""
    old = live_from(c)
    (newest,) = c.execute("SELECT COALESCE(MAX(txn_no), 0) FROM journal").fetchone()
    end = min(old + rows, newest + 1)
    (first,) = c.execute(f"SELECT MIN(txn_no) FROM journal WHERE txn_no >= :old AND txn_no < :end AND {UNFINISHED}",
                         {"old": old, "end": end, "open": open_batch}).fetchone()
    new = first if first is not None else end
    if new <= old:
        return old
    passed = {b for (b,) in c.execute(
        "SELECT DISTINCT batch FROM journal WHERE txn_no >= ? AND txn_no < ? "
        "AND NOT EXISTS (SELECT 1 FROM settlements s WHERE s.batch = journal.batch)", (old, new))}
    if passed:
        _write_orphans(c, orphans(c) | passed)
    _write(c, LIVE_FROM, str(new))
    return new
