"""The store's housekeeping: the write-ahead log's checkpoints, and the heartbeat commit.

A mixin of ``storage.store.Store`` (see there): off a sale's path, run by the
runner while the terminal is idle (``checkpoint``), or to test whether storage
works (``check``, also selftest's measure of a durable commit).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.db import reserve_log, storage_error, transaction
from storage.journal import _now
from storage.migrations import drop_stale_snapshot

__all__ = ["HousekeepingMixin"]


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
        try:
            busy, _log_pages, done = self.conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error as e:
            raise storage_error(e, "checkpointing the log") from None
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
