"""The terminal's durable state: one method per durable step of a transaction.

Each public method that changes state is exactly one SQLite transaction, and
so exactly one fsync (``mark_printed`` excepted, see there). The runner calls
them in the order the transaction core's actions give, which is the
durability order:

1. ``open_request``   record + ready-made reversal (in the same row), before sending;
2. ``record_outcome`` the answer (and the disarming of the reversal, or the
                      offline advice) before anything prints;
3. ``mark_printed``   after each receipt copy;
4. ``reversal_done`` / ``advice_sending`` (``advices_sending``: a window's marks in
   one commit) / ``advice_done`` for the queues;
5. ``close_batch`` the settlement and the next batch number in one commit, then
   (not balanced) ``upload_done`` once the batch upload's end is acknowledged,
   and ``mark_report_printed`` (no fsync of its own, like ``mark_printed``).

``open_read_only`` is for readers beside the running terminal (``posterm
report``): they never take the write lock.

Blobs arriving here are already sealed by the runner (AES-GCM bound to the
row); this module never sees a clear PAN, track or PIN block.

A sale's two commits each touch one journal row, and nothing else when all
goes well: the armed reversal waits in the row itself, and the counters are
implied by the newest row (they are written only when something other than a
sale has moved them). Every page a commit touches is written to the log and
synced, so this is what keeps a sale's commits as cheap as the floor's.

``Store`` is the one object callers use; its methods live in modules by
concern, as mixins (like ``firmware.core``'s): this module opens the database
and holds a sale's own durable steps (1 to 3) and the counters; ``storage.housekeeping``
the log's checkpoints and the heartbeat commit; ``storage.boot`` the start-up reads (what a restart resumes
from, with the counters a journal row implies); ``storage.queues`` the reversal and
advice queues (4); ``storage.settlements`` the settlement and batch upload
(5), with what a batch's totals count; ``storage.journal`` the read-only
look-ups of records and originals, with the journal's row format.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from firmware.core.model import Copy, Counters, JournalState, SaleRecord
from firmware.errors import StorageError
from storage.archive import archive_batch
from storage.boot import BootMixin, _after
from storage.db import open_database, storage_error, transaction
from storage.emptied import emptied_database
from storage.housekeeping import HousekeepingMixin
from storage.live import live_from
from storage.journal import (
    COPY_OWED,
    COPY_PRINTED,
    COPY_SKIPPED,
    JournalMixin,
    OriginalMatch,
    _now,
)
from storage.migrations import LATEST, check_opens, migrate
from storage.queues import QueueMixin
from storage.settlements import SettlementMixin

__all__ = ["Store", "require_data_dir", "OriginalMatch", "DB_FILE", "COPY_OWED", "COPY_PRINTED", "COPY_SKIPPED"]

DB_FILE = "posterm.db"
_COPY_COLUMN = {Copy.MERCHANT: "merchant_copy", Copy.CARDHOLDER: "cardholder_copy"}
_COPIES = tuple(Copy)  # iterating the enum class itself costs more, at every outcome


def _masked_account(account: str | None) -> str | None:
    """A transfer's destination as stored: its mask, checked again here so a clear number never lands on disk."""
    if account is None:
        return None
    from crypto.secrets import mask_pan

    if account.isdigit():  # a clear number handed in by mistake: mask it rather than store it
        return mask_pan(account)
    return account


def require_data_dir(data_dir: Path | str) -> None:
    """``storage.missing`` unless ``data_dir`` exists: an engineer's command never makes a terminal's directory."""
    if not Path(data_dir).is_dir():
        raise StorageError(f"there is no data directory {data_dir}: check --data-dir or storage.data_dir, or "
                           "provision the terminal first (posterm provision)", code="storage.missing")


class Store(QueueMixin, SettlementMixin, JournalMixin, BootMixin, HousekeepingMixin):
    """The journal, the queues and the counters in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        self.conn = conn
        self.path = path
        self.commits = 0  # durable commits made: the benchmark reports it beside strace's count
        self.checkpoints = 0
        self._commits_at_checkpoint = 0

    @classmethod
    def open(cls, data_dir: Path | str, *, create: bool = True, fresh: Mapping[str, str] | None = None,
             slow: Callable[[str], AbstractContextManager] | None = None) -> Store:
        """The database, migrated to this firmware's schema. ``create=False`` (an engineer's command that
        names a data directory): a directory that does not exist, or one without a database, is
        ``storage.missing``, not a new empty terminal made there (a misspelt ``--data-dir`` listed an empty
        journal, or stored a cashier in a database the terminal never reads). ``fresh``: settings a new
        database starts with, in the commit that creates it; ``slow``: a context around a migration
        (``storage.migrations.migrate``)."""
        path = Path(data_dir) / DB_FILE
        if not create:
            require_data_dir(data_dir)
            if not path.exists():  # an existing directory is no database either (an empty one was made there)
                raise StorageError(f"there is no database in {data_dir}: check --data-dir or storage.data_dir, or "
                                   "start the terminal once (posterm run)", code="storage.missing")
        emptied = emptied_database(data_dir, DB_FILE)  # never taken for a new terminal (storage.emptied)
        if emptied is not None:
            raise emptied
        conn = open_database(path)
        try:
            migrate(conn, fresh=fresh, slow=slow)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @classmethod
    def open_read_only(cls, data_dir: Path | str) -> Store:
        """The database for a reader beside the terminal (``posterm report``).

        SQLite's read-only mode: the connection never takes the write lock and
        never changes the database, so it is safe while the terminal runs (it
        reads what the terminal last committed, the log included). No migration
        runs: an older database is refused, and a newer one unless its usable-by record
        admits this firmware (``storage.migrations.check_opens``).
        """
        path = Path(data_dir) / DB_FILE
        if not path.is_file():
            raise StorageError(f"there is no database in {data_dir}", code="storage.missing")
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=5.0)
        except sqlite3.Error as e:
            raise storage_error(e, "opening the database to read") from None
        try:
            version = check_opens(conn).version  # a newer schema whose usable-by record lets this firmware in is fine
        except StorageError:
            conn.close()
            raise
        if version < LATEST:
            conn.close()
            raise StorageError(
                f"the database has schema version {version}, this firmware reads version {LATEST}: "
                "start the terminal once to bring it up to date",
                code="storage.schema_older",
            )
        return cls(conn, path)

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    # -- durable steps -----------------------------------------------------
    def open_request(
        self,
        record: SaleRecord,
        *,
        pan_hash: bytes,
        card: bytes | None,
        reversal: bytes | None,
        counters: Counters,
        advice: bytes | None = None,
    ) -> None:
        """Commit the request's record with its ready-made reversal (and the counters). Before sending.

        A request that is re-sent rather than reversed (a refund) brings its ready-made
        repeat as ``advice`` instead: it is queued in the same commit, already marked
        sent (any later attempt is a repeat), and closed by its outcome. An inquiry
        brings neither, nor the sealed card (nothing will ever need it).
        """
        now = _now()
        with transaction(self.conn, "recording the request") as c:
            c.execute(
                "INSERT INTO journal (txn_no, kind, state, amount, currency, stan, batch, created_at, terminal_id, "
                "merchant_id, operator, masked_pan, pan_hash, card, entry_mode, pin_entered, updated_at, reversal, "
                "original_txn_no, orig_rrn, orig_date, orig_auth, dest_masked) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.txn_no,
                    record.kind.value,
                    JournalState.REQUESTED.value,
                    record.amount,
                    record.currency,
                    record.stan,
                    record.batch,
                    record.when.isoformat(timespec="seconds"),
                    record.terminal_id,
                    record.merchant_id,
                    record.operator,
                    record.masked_pan,
                    pan_hash,
                    card,
                    record.entry_mode.value,
                    int(record.pin_entered),
                    now,
                    reversal,
                    record.original.txn_no if record.original is not None else None,
                    (record.reference.rrn or None) if record.reference is not None else None,
                    record.reference.date if record.reference is not None else None,
                    (record.reference.auth_code or None) if record.reference is not None else None,
                    _masked_account(record.account),
                ),
            )
            if advice is not None:
                c.execute(
                    "INSERT INTO offline_queue (txn_no, state, message, stan, amount, created_at, attempts, updated_at) "
                    "VALUES (?, 'sent', ?, ?, ?, ?, 1, ?)",
                    (record.txn_no, advice, record.stan, record.amount, record.when.isoformat(timespec="seconds"), now),
                )
            if counters != _after(record.txn_no, record.stan, record.batch) or self._saved_ahead(c, record.txn_no):
                self._write_counters(c, counters)  # not implied by the row, or the saved ones would win at boot
        self.commits += 1

    def record_outcome(
        self,
        record: SaleRecord,
        *,
        copies: Iterable[Copy] = (),
        reversal_reason: str | None = None,
        advice: bytes | None = None,
        close_advice: bool = False,
    ) -> None:
        """Commit the answer before anything prints.

        ``reversal_reason`` None disarms the reversal (the host answered and we
        accept it); a reason makes it due (MAC failure, unusable answer).
        ``advice`` queues an offline-approved sale for forwarding. ``close_advice``
        closes the ready-made repeat a refund was opened with (it has its answer).
        """
        now = _now()
        copies = set(copies)
        owed = {c: (COPY_OWED if c in copies else None) for c in _COPIES}
        with transaction(self.conn, "recording the outcome") as c:
            if reversal_reason is not None:  # due: it leaves the journal row for the queue
                self._make_due(c, record.txn_no, reversal_reason, now)
            # in either case the row no longer holds an armed reversal
            cur = c.execute(
                "UPDATE journal SET state=?, response_code=?, rrn=?, auth_code=?, settle_date=?, reason=?, "
                "merchant_copy=?, cardholder_copy=?, updated_at=?, reversal=NULL WHERE txn_no=?",
                (
                    record.state.value,
                    record.response_code,
                    record.rrn,
                    record.auth_code,
                    record.settle_date,
                    record.reason,
                    owed[Copy.MERCHANT],
                    owed[Copy.CARDHOLDER],
                    now,
                    record.txn_no,
                ),
            )
            if cur.rowcount != 1:
                raise StorageError(f"journal record {record.txn_no} is missing", code="storage.missing_record")
            if close_advice:
                c.execute(
                    "UPDATE offline_queue SET state='done', message=NULL, response_code=?, accepted=?, updated_at=? "
                    "WHERE txn_no=?",
                    (record.response_code, int(record.state is JournalState.APPROVED), now, record.txn_no),
                )
            if advice is not None:
                c.execute(
                    "INSERT INTO offline_queue (txn_no, state, message, stan, amount, created_at, updated_at) "
                    "VALUES (?, 'pending', ?, ?, ?, ?, ?)",
                    (record.txn_no, advice, record.stan, record.amount, record.when.isoformat(timespec="seconds"), now),
                )
        self.commits += 1

    def mark_printed(self, txn_no: int, copy: Copy, *, skipped: bool = False) -> None:
        """Note a printed (or skipped) copy without an fsync of its own.

        The write reaches the WAL at once (it survives the process being
        killed) and becomes power-safe with the next durable commit. The
        worst a power cut can do is print that copy again after restart,
        marked as recovered; it can never lose money or a record.
        """
        column = _COPY_COLUMN[Copy(copy)]
        with self._unsynced("marking a receipt printed") as c:
            c.execute(
                f"UPDATE journal SET {column}=?, updated_at=? WHERE txn_no=?",
                (COPY_SKIPPED if skipped else COPY_PRINTED, _now(), txn_no),
            )

    @contextmanager
    def _unsynced(self, doing: str) -> Iterator[sqlite3.Connection]:
        """A transaction committed without an fsync of its own (``synchronous=NORMAL`` for it alone):
        for marks whose loss in a power cut costs a repeat, never money or a record. The commit
        reaches the log at once (it survives the process being killed), atomically, and becomes
        power-safe with the next durable commit."""
        try:
            self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with transaction(self.conn, doing) as c:
                    yield c
            finally:
                self.conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as e:
            raise storage_error(e, doing) from None

    def end_unanswered(self, kinds: Iterable[str], reason: str = "interrupted") -> list[int]:
        """At start-up: requests of these kinds (inquiries, which nothing recovers) that a power cut
        left open are closed as declined with ``reason``. One commit if there are any; their numbers."""
        kinds = tuple(kinds)
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        doing = "closing interrupted inquiries"
        live = self._live_from()  # an open request is never below it (storage.live)
        open_rows = [r[0] for r in self._query(
            f"SELECT txn_no FROM journal WHERE txn_no >= ? AND state = ? AND kind IN ({marks}) ORDER BY txn_no",
            (live, JournalState.REQUESTED.value, *kinds), doing)]
        if open_rows:
            with transaction(self.conn, doing) as c:
                c.execute(
                    f"UPDATE journal SET state=?, reason=?, reversal=NULL, updated_at=? WHERE txn_no >= ? AND state=? "
                    f"AND kind IN ({marks})",
                    (JournalState.DECLINED.value, reason, _now(), live, JournalState.REQUESTED.value, *kinds),
                )
            self.commits += 1
        return open_rows

    def save_counters(self, counters: Counters) -> None:
        """Commit the counters alone (a network message's STAN, a batch number from sign-on).

        A batch number that moves to one storage already holds history under (a host that
        renumbered names a batch settled long ago) archives that history in this same commit
        (``storage.archive``), so the number starts fresh."""
        with transaction(self.conn, "saving the counters") as c:
            if counters.batch != self.counters().batch:
                archive_batch(c, counters.batch)
            self._write_counters(c, counters)
        self.commits += 1

    # -- internals ---------------------------------------------------------
    @staticmethod
    def _saved_ahead(c: sqlite3.Connection, txn_no: int) -> bool:
        """The saved counters name a journal number past ``txn_no``: saved while this transaction was
        under way (a sign-on before its request), they would outrank its row at boot (``counters``)
        and give its STAN out again, so the request's commit must write its own."""
        row = c.execute("SELECT value FROM counters WHERE name = 'txn_no'").fetchone()
        return row is not None and row[0] > txn_no

    @staticmethod
    def _write_counters(c: sqlite3.Connection, counters: Counters) -> None:
        c.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (("stan", counters.stan), ("batch", counters.batch), ("txn_no", counters.txn_no)),
        )

    def _query(self, sql: str, args: tuple, doing: str) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise storage_error(e, doing) from None

    def _live_from(self) -> int:
        """The journal's low-water mark (``storage.live``): every row below it is finished, so the start-up
        reads of ``boot.py`` and ``end_unanswered`` start there (a rowid range, not a scan)."""
        try:
            return live_from(self.conn)
        except sqlite3.Error as e:
            raise storage_error(e, "reading the journal's mark") from None

    def _blob(self, sql: str, txn_no: int, what: str) -> bytes:
        rows = self._query(sql, (txn_no,), f"reading the stored {what}")
        if not rows or rows[0][0] is None:
            raise StorageError(f"no stored {what} for journal record {txn_no}", code="storage.missing_record")
        return rows[0][0]
