"""A batch number used again: the history under it is archived, so the number starts fresh.

Why: batch numbers are n6 (1 to 999999), and a number can come round again. A
sign-on answer names the batch the host wants (UnionPay terminals adopt it when
the open batch is empty, ``core.uplink``), and a host that renumbered (another
acquirer, a host reset) may name one this terminal settled years ago; and the
counter wraps after 999999 settlements (``core.settle``). Every query of a batch
is ``WHERE batch = ?`` and "a batch is closed exactly when its settlements row
exists" (``migration_steps._v4``): history left under the number would mix into
the new batch's totals, upload and look-ups, and its close would meet the old
settlement's primary key, so the batch could never close.

So when the terminal's batch becomes N and storage holds history under N (a
settlements row, or journal rows: ``storage.live.batch_used`` asks the settlements
row, the unsettled batches the journal's low-water mark passed, and the rows from
the mark on, never a scan of the journal), that history is renumbered out of the live
n6 space, to N + EARLIER * k with the smallest k that is free, in the same commit
that saves the new counters (``Store.save_counters`` for a sign-on's number,
``close_batch`` for the wrap). No schema change: the columns are integers. Every
query and the invariant stay true; only ``posterm report --batch`` and the
journal's listing address an archived batch by its stored number.

Firmware from before the archive reads a 7-digit batch number raw, so the first archive
raises the database's usable-by record to ``ARCHIVE_SCHEMA`` (schema 12, which came
with the archive) in the same commit: an older firmware, or an updater rolling back to
one, refuses this database (``storage.migrations``), while one that never archived
stays usable by schema 11.

What leaves the terminal (a refund's field 61 naming an archived sale) or goes
on paper (a reprint of an archived receipt or report) carries the number the
host knew: storage's records and settlements read back ``live_batch`` of the
stored number (``storage.journal``, ``storage.settlements``).

A batch with work still owed for it is never archived: an owed batch upload is
built again from the journal by its batch number (``upload_entries``), so the
core keeps the open batch rather than adopt such a number (``signon.batch_kept``)
and storage refuses (``storage.batch_owed``) should anything ask. Queued
reversals and advices need nothing: each is a sealed, ready-made message
carrying the batch the host knew, found by journal number.
"""

from __future__ import annotations

import sqlite3

from firmware.errors import StorageError
from storage.live import UPLOAD_OWED, batch_used, rename_orphan
from storage.migrations import ARCHIVE_SCHEMA, raise_usable_by

__all__ = ["EARLIER", "live_batch", "is_earlier", "batch_label", "archive_batch", "holds_archive"]

EARLIER = 1_000_000  # one round of n6 batch numbers: an archived batch N is stored as N + EARLIER * k, k >= 1


def live_batch(stored: int) -> int:
    """The batch number as the host knew it (n6), whether the batch is live or archived."""
    return stored % EARLIER


def is_earlier(stored: int) -> bool:
    """An archived batch: an earlier batch whose number has been used again since."""
    return stored >= EARLIER


def batch_label(stored: int) -> str:
    """A batch number for people: ``000007``, or ``000007 (earlier)`` for an archived one."""
    return f"{live_batch(stored):06d}" + (" (earlier)" if is_earlier(stored) else "")


def _stored_anywhere(c: sqlite3.Connection, stored: int) -> bool:
    """History is stored under the archive number ``stored``: its settlement, or journal rows anywhere in the
    journal. Not ``batch_used``'s read from the journal's mark: firmware from before the mark archives
    rows below it without noting them as orphans (``storage.live``), so after a round trip to it only the whole
    journal knows an archive number is taken: a seek in ``journal_archived`` (``migration_steps._v13``; the
    query names its condition, ``batch >= EARLIER``, for SQLite to take that partial index)."""
    return c.execute("SELECT EXISTS (SELECT 1 FROM settlements WHERE batch = ?1) "
                     f"OR EXISTS (SELECT 1 FROM journal WHERE batch >= {EARLIER} AND batch = ?1)",
                     (stored,)).fetchone()[0] == 1


def holds_archive(c: sqlite3.Connection) -> bool:
    """Storage holds an archived batch (its journal rows or its settlement)."""
    return c.execute(f"SELECT EXISTS (SELECT 1 FROM journal WHERE batch >= {EARLIER}) "
                     f"OR EXISTS (SELECT 1 FROM settlements WHERE batch >= {EARLIER})").fetchone()[0] == 1


def archive_batch(c: sqlite3.Connection, batch: int) -> int | None:
    """Inside the caller's transaction: move the history stored under ``batch`` (a live n6 number the
    terminal is about to use again) to its archive number; returns that number, or None if there was none.

    Raises ``storage.batch_owed`` (and the caller's transaction rolls back) when the batch's upload is
    still owed: it is read again from the journal by this number until it completes."""
    if is_earlier(batch) or not batch_used(c, batch):
        return None
    owed = c.execute(f"SELECT 1 FROM settlements WHERE batch = ? AND {UPLOAD_OWED}", (batch,)).fetchone()
    if owed:
        raise StorageError(f"batch {batch:06d} cannot be used again while its batch upload is owed",
                           code="storage.batch_owed")
    k = 1
    while _stored_anywhere(c, batch + EARLIER * k):
        k += 1
    archived = batch + EARLIER * k
    # (a scan, but only when a number comes round again; the batch's rows may be below the journal's mark)
    c.execute("UPDATE journal SET batch = ? WHERE batch = ?", (archived, batch))
    rename_orphan(c, batch, archived)  # an orphan the mark passed is noted by its stored number (storage.live)
    c.execute("UPDATE settlements SET batch = ? WHERE batch = ?", (archived, batch))
    raise_usable_by(c, ARCHIVE_SCHEMA)  # firmware from before the archive would read the number raw
    # an unanswered 0500 noted for the earlier batch says nothing of the fresh one (settlements.SETTLE_SENDING)
    c.execute("DELETE FROM settings WHERE key = 'settle.sending' AND value = ?", (str(batch),))
    return archived
