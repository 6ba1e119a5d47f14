"""The store's housekeeping: the write-ahead log's checkpoints, and the heartbeat commit.

A mixin of ``storage.store.Store`` (see there): off a sale's path, run by the
runner while the terminal is idle (``checkpoint``), or to test whether storage
works (``check``, also selftest's measure of a durable commit).

The idle checkpoint also finishes, a slice at a time, a sweep that firmware from
before retention leaves owed: the sealed card data of batches it settled
(``forget_settled_cards``; later settlements drop theirs in their own commit,
``storage.settlements``); and it moves the journal's low-water mark, below which
start-up and settlement read nothing (``advance_live_from``, ``storage.live``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from firmware.errors import StorageError
from storage.db import reserve_log, storage_error, transaction
from storage.journal import _now
from storage.live import ADVANCE_ROWS, advance
from storage.settlements import CARDS_DONE
from storage.migrations import drop_stale_snapshot, snapshot_path

__all__ = ["HousekeepingMixin", "SWEPT", "SWEEP_ROWS"]

# settings key: the journal number the sweep of settled batches' sealed cards has reached ("done": all of them)
SWEPT = "retention.cards_swept"
# rows a sweep's slice reads: its commit rewrites at most their pages (about 250 KiB), well inside the log's
# 4 MiB, and it takes milliseconds, so an idle checkpoint stays short on a Pi Zero however old the journal
SWEEP_ROWS = 1000


class HousekeepingMixin:
    conn: sqlite3.Connection
    path: Path | None
    commits: int
    checkpoints: int
    _commits_at_checkpoint: int

    def wal_bytes(self) -> int:
        """Size of the write-ahead log file: its high-water mark, since the file is reused."""
        try:
            return Path(f"{self.path}-wal").stat().st_size if self.path else 0
        except FileNotFoundError:
            return 0

    @property
    def commits_since_checkpoint(self) -> int:
        """Durable commits in the log now; each adds about one page to it."""
        return self.commits - self._commits_at_checkpoint

    def checkpoint(self) -> int:
        """Copy the write-ahead log back into the database, then restart it (idle housekeeping).

        Returns the pages copied. A checkpoint fsyncs the log and the database,
        and the first commit after it restarts the log and syncs its new header:
        a third fsync. So the runner calls this only while the terminal is idle,
        and it ends with a small heartbeat commit that pays for that restart now,
        not in the next sale (which then costs exactly its two fsyncs).

        The log restarts from its beginning but keeps its file (RESTART, not
        TRUNCATE; ``storage.db`` caps what is kept), and the first checkpoint
        grows the file to that cap with zeros (``reserve_log``). A sale's commits
        then overwrite blocks the file already has, and ``fdatasync`` need not
        commit the file system's journal for a new file size: on ext4 that
        halves what a commit costs. A truncated log made every commit grow the
        file again.
        """
        chores: StorageError | None = None
        if self.path is None or not snapshot_path(self.path).exists():
            # before the copy, so the cleared pages reach the database file in it; never while a migration's
            # copy can still be restored (a change would end that, and the copy holds the same cards anyway)
            try:
                self.forget_settled_cards()
                self.advance_live_from()  # likewise: the mark is a setting, which a restorable copy's digest covers
            except StorageError as e:  # a full disk, say: the copy back still goes, so the log is reused, not grown
                chores = e
        try:
            busy, _log_pages, done = self.conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error as e:
            raise storage_error(e, "checkpointing the log") from None
        if chores is not None:
            raise chores  # the runner says so and tries again later; what the chores owe waits (it is all kept)
        self.check()
        self.commits -= 1  # housekeeping, not a transaction's commit
        if self.path is not None:
            reserve_log(self.path)
            drop_stale_snapshot(self.conn, self.path)  # once it can never be restored (storage.migrations)
        self._commits_at_checkpoint = self.commits
        self.checkpoints += 1
        return done if not busy else 0

    def check(self) -> None:
        """A small durable write, to test whether storage works again."""
        with transaction(self.conn, "checking storage") as c:
            c.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('heartbeat', ?)", (_now(),))
        self.commits += 1

    def advance_live_from(self, rows: int = ADVANCE_ROWS) -> int:
        """Move the journal's low-water mark past the finished rows that follow it (``storage.live``), reading at
        most ``rows`` of them: ONE commit if it moved, none otherwise. Off the sale's path, like the sweep: the
        sale's commits never read or write the mark. Returns the mark."""
        open_batch = self.counters().batch
        with transaction(self.conn, "advancing the journal's mark") as c:  # a commit that wrote nothing syncs nothing
            return advance(c, open_batch, rows)

    def forget_settled_cards(self, rows: int = SWEEP_ROWS) -> bool:
        """One slice of the sweep: the sealed PAN and expiry of the next ``rows`` journal rows are cleared where
        their batch is settled and owes no upload (``storage.settlements.CARDS_DONE``: nothing reads them again),
        in ONE commit with the sweep's progress. A database written before retention holds them for every sale it
        ever settled; this clears them once, off the sale's path, a slice per idle checkpoint (a rowid range:
        bounded work however old the journal). True once the sweep has reached the newest row (then it costs
        one read of the settings)."""
        doing = "clearing settled card data"
        try:
            mark = self.conn.execute("SELECT value FROM settings WHERE key = ?", (SWEPT,)).fetchone()
            if mark is not None and mark[0] == "done":
                return True
            start = int(mark[0]) if mark is not None and mark[0].isdigit() else 0
            (newest,) = self.conn.execute("SELECT COALESCE(MAX(txn_no), 0) FROM journal").fetchone()
        except sqlite3.Error as e:
            raise storage_error(e, doing) from None
        end = start + rows
        with transaction(self.conn, doing) as c:
            c.execute(f"UPDATE journal SET card = NULL WHERE txn_no > ? AND txn_no <= ? AND card IS NOT NULL "
                      f"AND {CARDS_DONE}", (start, end))
            c.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                      (SWEPT, "done" if end >= newest else str(end)))
        return end >= newest  # not counted in ``commits``: housekeeping, like ``check``'s (see ``checkpoint``)
