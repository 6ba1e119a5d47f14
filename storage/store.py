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
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from firmware.core.model import (
    BootState,
    Copy,
    STAN_MAX,
    Counters,
    EntryMode,
    JournalState,
    Kind,
    OriginalFacts,
    OriginalRef,
    PendingAdvice,
    PendingReversal,
    PrintJob,
    SaleRecord,
    Settlement,
    SettleResult,
    Totals,
    UploadEntry,
)
from firmware.errors import StorageError
from storage.db import open_database, reserve_log, storage_error, transaction
from storage.migrations import LATEST, check_opens, drop_stale_snapshot, migrate

__all__ = ["Store", "OriginalMatch", "DB_FILE", "COPY_OWED", "COPY_PRINTED", "COPY_SKIPPED"]

DB_FILE = "posterm.db"
COPY_OWED, COPY_PRINTED, COPY_SKIPPED = 0, 1, 2
_COPY_COLUMN = {Copy.MERCHANT: "merchant_copy", Copy.CARDHOLDER: "cardholder_copy"}

_JOURNAL_COLUMNS = (
    "txn_no, kind, state, amount, currency, stan, batch, created_at, terminal_id, merchant_id, operator, "
    "masked_pan, entry_mode, pin_entered, response_code, rrn, auth_code, settle_date, reason, original_txn_no, "
    "orig_rrn, orig_date, orig_auth, dest_masked"
)
_ORIGINAL_COLUMNS = "txn_no, kind, amount, currency, stan, batch, created_at, masked_pan, rrn, auth_code"

# What a batch's settlement counts, in one place: its totals and its upload are these rows
# (journal j LEFT JOIN offline_queue q). Debit: approved sales, and offline-approved ones the
# host accepted (their advice done with an approved code or 94, "already had it"); a voided
# sale stays in. Credit: approved voids and refunds (退货), as UnionPay terminals count them.
# A pre-auth (预授权) and its cancel only hold and release funds: neither counts. Its
# completion (预授权完成) is a debit, the completion's void a credit (a voided completion stays in).
# A completion made without the host (预授权完成通知) counts as an offline sale does: once the host accepted it.
_DEBIT = ("(j.kind IN ('sale', 'preauth_complete') AND (j.state = 'approved' OR (j.state = 'offline_approved' "
          "AND q.state = 'done' AND q.response_code IN ('00', '94'))))")
_CREDIT = "(j.kind IN ('void', 'refund', 'preauth_complete_void') AND j.state = 'approved')"
# The kinds that undo the record they name (its "claims"): a void, a pre-auth's cancel, a completion's void.
_UNDOING = (Kind.VOID.value, Kind.PREAUTH_VOID.value, Kind.PREAUTH_COMPLETE_VOID.value)
_REFUND = "(j.kind = 'refund' AND j.state = 'approved')"  # among the credits; the report lists them apart
_SETTLED_ROWS = "journal j LEFT JOIN offline_queue q USING (txn_no)"
# Among the debits and credits: the completions and their voids, for the report's own lines (v8).
_COMPLETION = f"({_DEBIT} AND j.kind = 'preauth_complete')"
_COMPLETION_VOID = "(j.kind = 'preauth_complete_void' AND j.state = 'approved')"
# A settlement whose upload is owed: the host did not find its totals balanced, and the upload
# has not completed. Its report waits for the upload.
_UPLOAD_OWED = "result <> '1' AND uploaded = 0"
# settlements.uploaded: 0 not uploaded (owed when not balanced), 1 uploaded, 2 the profile has none (iso87).
UPLOADED, NO_UPLOAD = 1, 2
_SETTLEMENT_COLUMNS = ("batch, stan, debit_count, debit_amount, credit_count, credit_amount, result, uploaded, "
                       "operator, settled_at, refund_count, refund_amount, completion_count, completion_amount, "
                       "completion_void_count, completion_void_amount")


@dataclass(frozen=True)
class OriginalMatch:
    """What the journal holds about the record a trace names, for judging a void of it.

    ``pan_hash`` (the keyed hash of its PAN) lets the runner check the card
    swiped for the void; it is kept out of the ``repr``. ``claims`` are the
    states of the voids that already name it; ``advice`` the state and
    response code of its offline forwarding, if it was approved offline.
    """

    facts: OriginalFacts
    state: JournalState
    pan_hash: bytes = field(repr=False)
    claims: tuple[JournalState, ...] = ()
    advice: tuple[str, str | None] | None = None
    refunds: tuple[tuple[JournalState, int], ...] = ()  # (state, amount) of each refund naming it
    completions: tuple[JournalState, ...] = ()  # a pre-auth's completions, those not voided since


def _original(row: Sequence) -> OriginalFacts:
    return OriginalFacts(
        txn_no=row[0],
        kind=Kind(row[1]),
        amount=row[2],
        currency=row[3],
        stan=row[4],
        batch=row[5],
        when=datetime.fromisoformat(row[6]),
        masked_pan=row[7],
        rrn=row[8],
        auth_code=row[9],
    )


def _settlement(row: Sequence) -> Settlement:
    b, stan, dc, da, cc, ca, result, uploaded, operator, when, rc, ra, pc, pa, pvc, pva = row
    totals = Totals(dc, da, cc, ca, refund_count=rc, refund_amount=ra, completion_count=pc, completion_amount=pa,
                    completion_void_count=pvc, completion_void_amount=pva)
    return Settlement(b, totals, SettleResult(result),
                      datetime.fromisoformat(when), stan,
                      operator or "", uploaded == UPLOADED, uploaded == NO_UPLOAD)


def _masked_account(account: str | None) -> str | None:
    """A transfer's destination as stored: its mask, checked again here so a clear number never lands on disk."""
    if account is None:
        return None
    from crypto.secrets import mask_pan

    if account.isdigit():  # a clear number handed in by mistake: mask it rather than store it
        return mask_pan(account)
    return account


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def _after(txn_no: int, stan: int, batch: int) -> Counters:
    """The counters right after a request with these numbers was opened."""
    return Counters(stan=stan % STAN_MAX + 1, batch=batch, txn_no=txn_no + 1)


def _record(row: Sequence) -> SaleRecord:
    return SaleRecord(
        txn_no=row[0],
        kind=Kind(row[1]),
        state=JournalState(row[2]),
        amount=row[3],
        currency=row[4],
        stan=row[5],
        batch=row[6],
        when=datetime.fromisoformat(row[7]),
        terminal_id=row[8] or "",
        merchant_id=row[9] or "",
        operator=row[10] or "",
        masked_pan=row[11],
        entry_mode=EntryMode(row[12]),
        pin_entered=bool(row[13]),
        response_code=row[14],
        rrn=row[15],
        auth_code=row[16],
        settle_date=row[17],
        reason=row[18],
        reference=(OriginalRef(row[20] or "", row[21], row[22] or "") if (row[20] or row[22]) else None),
        account=row[23],  # a transfer's destination, masked
    )


class Store:
    """The journal, the queues and the counters in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        self.conn = conn
        self.path = path
        self.commits = 0  # durable commits made: the benchmark reports it beside strace's count
        self.checkpoints = 0
        self._commits_at_checkpoint = 0

    @classmethod
    def open(cls, data_dir: Path | str) -> Store:
        path = Path(data_dir) / DB_FILE
        conn = open_database(path)
        try:
            migrate(conn)
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

    # -- start-up --------------------------------------------------------
    def counters(self) -> Counters:
        """The saved counters, or those implied by the newest journal row if it is newer."""
        rows = dict(self._query("SELECT name, value FROM counters", (), "reading counters"))
        saved = Counters(stan=rows.get("stan", 1), batch=rows.get("batch", 1), txn_no=rows.get("txn_no", 1))
        last = self._query("SELECT txn_no, stan, batch FROM journal ORDER BY txn_no DESC LIMIT 1", (), "reading counters")
        if last and last[0][0] >= saved.txn_no:  # journal numbers never wrap: the row is newer
            return _after(*last[0])
        return saved

    def boot_state(self) -> BootState:
        """Everything a restart must resume: counters, due reversals, queued advices, owed receipts."""
        reversals = tuple(
            PendingReversal(txn_no, stan, amount, reason or "98")
            for txn_no, stan, amount, reason in self._query(
                # armed ones (still in their journal row) are due if we restart now
                "SELECT r.txn_no, j.stan, j.amount, r.reason FROM reversals r JOIN journal j USING (txn_no) "
                "WHERE r.state = 'due' "
                "UNION ALL SELECT txn_no, stan, amount, NULL FROM journal WHERE reversal IS NOT NULL "
                "ORDER BY 1",
                (),
                "reading pending reversals",
            )
        )
        advices = tuple(
            PendingAdvice(txn_no, stan, amount, datetime.fromisoformat(created), state == "sent", Kind(kind),
                          record=None if kind == Kind.SALE.value else self.record(txn_no))  # a refund's, for its receipt
            for txn_no, stan, amount, created, state, kind in self._query(
                # offline sales, and refunds waiting to be sent again (their kind says which)
                "SELECT q.txn_no, q.stan, q.amount, q.created_at, q.state, j.kind FROM offline_queue q "
                "JOIN journal j USING (txn_no) WHERE q.state IN ('pending', 'sent') ORDER BY q.txn_no",
                (),
                "reading the offline queue",
            )
        )
        receipts: list[PrintJob] = []
        for row in self._query(
            f"SELECT {_JOURNAL_COLUMNS}, merchant_copy, cardholder_copy FROM journal "
            "WHERE (merchant_copy = 0 OR cardholder_copy = 0) AND state IN ('approved', 'offline_approved') "
            "ORDER BY txn_no",
            (),
            "reading owed receipts",
        ):
            record = self._full(row)
            for copy, owed in ((Copy.MERCHANT, row[-2]), (Copy.CARDHOLDER, row[-1])):
                if owed == COPY_OWED:
                    receipts.append(PrintJob(record, copy, recovered=True))
        interrupted = tuple(
            r[0]
            for r in self._query(
                "SELECT txn_no FROM journal WHERE state = 'requested' ORDER BY txn_no", (), "reading open requests"
            )
        )
        owed = self._query(f"SELECT batch FROM settlements WHERE report_printed = 0 AND NOT ({_UPLOAD_OWED}) "
                           "ORDER BY settled_at DESC, batch DESC LIMIT 1", (), "reading an owed report")
        report = self.settlement(owed[0][0]) if owed else None
        return BootState(self.counters(), reversals, advices, tuple(receipts), interrupted, report=report,
                         last_report=self.last_settlement(), last_receipt=self.last_receipt())

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
            if counters != _after(record.txn_no, record.stan, record.batch):
                self._write_counters(c, counters)  # not implied by the row: something else moved them
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
        owed = {c: (COPY_OWED if c in copies else None) for c in Copy}
        with transaction(self.conn, "recording the outcome") as c:
            if reversal_reason is not None:  # due: it leaves the journal row for the queue
                c.execute(
                    "INSERT INTO reversals (txn_no, state, reason, message, created_at, updated_at) "
                    "SELECT txn_no, 'due', ?, reversal, ?, ? FROM journal WHERE txn_no=? AND reversal IS NOT NULL",
                    (reversal_reason, now, now, record.txn_no),
                )
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
                    "UPDATE offline_queue SET state='done', message=NULL, response_code=?, updated_at=? WHERE txn_no=?",
                    (record.response_code, now, record.txn_no),
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
        try:
            self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with transaction(self.conn, "marking a receipt printed") as c:
                    c.execute(
                        f"UPDATE journal SET {column}=?, updated_at=? WHERE txn_no=?",
                        (COPY_SKIPPED if skipped else COPY_PRINTED, _now(), txn_no),
                    )
            finally:
                self.conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as e:
            raise storage_error(e, "marking a receipt printed") from None

    def reversal_done(self, txn_no: int, response_code: str | None, reason: str = "98") -> None:
        """The host acknowledged the reversal. The journal keeps why it was reversed."""
        self._end_reversal(txn_no, "done", reason, JournalState.REVERSED, reason, "recording a reversal")


    def advice_sending(self, txn_no: int) -> None:
        """Before the first transmission: from now on every attempt is a repeat."""
        self.advices_sending((txn_no,))

    def advices_sending(self, txn_nos: Sequence[int]) -> None:
        """ONE commit marking a whole window of advices sent before any of their frames leaves
        (``host.upload_window``): from now on every attempt of each is a repeat."""
        now = _now()
        with transaction(self.conn, "recording an advice attempt") as c:
            c.executemany(
                "UPDATE offline_queue SET state='sent', attempts=attempts+1, updated_at=? WHERE txn_no=?",
                [(now, txn_no) for txn_no in txn_nos],
            )
        self.commits += 1

    def advice_outcome(
        self,
        txn_no: int,
        state: JournalState,
        response_code: str | None,
        *,
        rrn: str | None = None,
        auth_code: str | None = None,
        settle_date: str | None = None,
        copies: Iterable[Copy] = (),
    ) -> None:
        """ONE commit: a refund sent again got its answer: its record takes the outcome (and owes
        ``copies``, its receipts, printed next), its queue entry closes.

        Only a record still open takes it (one whose outcome was committed is left as it is).
        """
        now = _now()
        reason = None if state is JournalState.APPROVED else response_code
        copies = set(copies)
        owed = {c: (COPY_OWED if c in copies else None) for c in Copy}
        with transaction(self.conn, "recording a re-sent request's answer") as c:
            c.execute(
                "UPDATE offline_queue SET state='done', message=NULL, response_code=?, updated_at=? WHERE txn_no=?",
                (response_code, now, txn_no),
            )
            c.execute(
                "UPDATE journal SET state=?, response_code=?, rrn=?, auth_code=?, settle_date=?, reason=?, "
                "merchant_copy=?, cardholder_copy=?, updated_at=? WHERE txn_no=? AND state=?",
                (JournalState(state).value, response_code, rrn, auth_code, settle_date, reason,
                 owed[Copy.MERCHANT], owed[Copy.CARDHOLDER], now, txn_no, JournalState.REQUESTED.value),
            )
        self.commits += 1

    def end_unanswered(self, kinds: Iterable[str], reason: str = "interrupted") -> list[int]:
        """At start-up: requests of these kinds (inquiries, which nothing recovers) that a power cut
        left open are closed as declined with ``reason``. One commit if there are any; their numbers."""
        kinds = tuple(kinds)
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        doing = "closing interrupted inquiries"
        open_rows = [r[0] for r in self._query(
            f"SELECT txn_no FROM journal WHERE state = ? AND kind IN ({marks}) ORDER BY txn_no",
            (JournalState.REQUESTED.value, *kinds), doing)]
        if open_rows:
            with transaction(self.conn, doing) as c:
                c.execute(
                    f"UPDATE journal SET state=?, reason=?, reversal=NULL, updated_at=? WHERE state=? AND kind IN ({marks})",
                    (JournalState.DECLINED.value, reason, _now(), JournalState.REQUESTED.value, *kinds),
                )
            self.commits += 1
        return open_rows

    def advice_done(self, txn_no: int, response_code: str | None) -> None:
        with transaction(self.conn, "recording a forwarded advice") as c:
            c.execute(
                "UPDATE offline_queue SET state='done', message=NULL, response_code=?, updated_at=? WHERE txn_no=?",
                (response_code, _now(), txn_no),
            )
        self.commits += 1

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

    def save_counters(self, counters: Counters) -> None:
        """Commit the counters alone (a network message's STAN, a batch number from sign-on)."""
        with transaction(self.conn, "saving the counters") as c:
            self._write_counters(c, counters)
        self.commits += 1

    def mark_lost(self, txn_no: int, what: str) -> None:
        """A queued reversal or advice whose sealed message no key can open any more (keys destroyed).

        Kept, not deleted: the journal record says LOST, so the merchant and the
        acquirer can reconcile it by hand.
        """
        if what == "reversal":
            self._end_reversal(txn_no, "lost", None, JournalState.LOST, "reversal lost", "marking a reversal lost")
            return
        if what != "advice":
            raise ValueError(what)
        now = _now()
        with transaction(self.conn, "marking an advice lost") as c:
            c.execute("UPDATE offline_queue SET state='lost', message=NULL, updated_at=? WHERE txn_no=?", (now, txn_no))
            c.execute(
                "UPDATE journal SET state=?, reason=COALESCE(reason, ?), updated_at=? WHERE txn_no=?",
                (JournalState.LOST.value, "advice lost", now, txn_no),
            )
        self.commits += 1

    def _end_reversal(
        self, txn_no: int, state: str, reason: str | None, journal: JournalState, why: str, doing: str
    ) -> None:
        """A reversal sent or lost, wherever it waited (its journal row or the queue); the message goes."""
        now = _now()
        with transaction(self.conn, doing) as c:
            c.execute(
                "INSERT INTO reversals (txn_no, state, reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(txn_no) DO UPDATE SET state=excluded.state, "
                "reason=COALESCE(excluded.reason, reason), message=NULL, updated_at=excluded.updated_at",
                (txn_no, state, reason, now, now),
            )
            c.execute(
                "UPDATE journal SET state=?, reason=COALESCE(reason, ?), reversal=NULL, updated_at=? WHERE txn_no=?",
                (journal.value, why, now, txn_no),
            )
        self.commits += 1

    def check(self) -> None:
        """A small durable write, to test whether storage works again."""
        with transaction(self.conn, "checking storage") as c:
            c.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('heartbeat', ?)", (_now(),))
        self.commits += 1

    # -- settlement --------------------------------------------------------
    def batch_totals(self, batch: int) -> Totals:
        """The batch's totals from the journal (reads only).

        Debit and credit as ``_DEBIT`` and ``_CREDIT`` say (a voided sale stays in the
        debit total and its approved void counts as a credit, as UnionPay terminals
        count sales and voids). ``unsent``: offline sales not yet forwarded, and
        reversals still due, in this batch.
        """
        doing = "totalling the batch"
        sums = ", ".join(f"COALESCE(SUM({c}), 0), COALESCE(SUM(CASE WHEN {c} THEN j.amount ELSE 0 END), 0)"
                         for c in (_DEBIT, _CREDIT, _REFUND, _COMPLETION, _COMPLETION_VOID))
        (debit_count, debit_amount, credit_count, credit_amount, refund_count, refund_amount,
         completion_count, completion_amount, cvoid_count, cvoid_amount), = self._query(
            f"SELECT {sums} FROM {_SETTLED_ROWS} WHERE j.batch = ?", (batch,), doing)
        (unsent,), = self._query(
            "SELECT (SELECT COUNT(*) FROM offline_queue q JOIN journal j USING (txn_no) "
            "WHERE j.batch = ?1 AND q.state IN ('pending', 'sent')) + (SELECT COUNT(*) FROM reversals r "
            "JOIN journal j USING (txn_no) WHERE j.batch = ?1 AND r.state = 'due')", (batch,), doing)
        return Totals(debit_count, debit_amount, credit_count, credit_amount, unsent, refund_count, refund_amount,
                      completion_count, completion_amount, cvoid_count, cvoid_amount)

    def upload_entries(self, batch: int) -> list[UploadEntry]:
        """The transactions a batch upload carries: exactly those its totals count, in journal order (reads only)."""
        rows = self._query(
            f"SELECT j.txn_no, j.kind, j.stan, j.amount, j.state = 'offline_approved' FROM {_SETTLED_ROWS} "
            f"WHERE j.batch = ? AND ({_DEBIT} OR {_CREDIT}) ORDER BY j.txn_no", (batch,), "reading a batch to upload")
        return [UploadEntry(txn_no, Kind(kind), stan, amount, bool(offline)) for txn_no, kind, stan, amount, offline
                in rows]

    def close_batch(self, settlement: Settlement, counters: Counters) -> None:
        """ONE commit: the settlement row (the batch is closed) and the counters of the next batch."""
        s, t = settlement, settlement.totals
        with transaction(self.conn, "closing the batch") as c:
            c.execute(
                "INSERT INTO settlements (batch, stan, debit_count, debit_amount, credit_count, credit_amount, "
                "result, uploaded, operator, settled_at, report_printed, refund_count, refund_amount, "
                "completion_count, completion_amount, completion_void_count, completion_void_amount) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?)",
                (s.batch, s.stan, t.debit_count, t.debit_amount, t.credit_count, t.credit_amount, s.result.value,
                 NO_UPLOAD if s.no_upload else int(s.uploaded), s.operator, s.when.isoformat(timespec="seconds"),
                 t.refund_count, t.refund_amount, t.completion_count, t.completion_amount,
                 t.completion_void_count, t.completion_void_amount),
            )
            self._write_counters(c, counters)
        self.commits += 1

    def upload_done(self, batch: int) -> None:
        """The host acknowledged the end of the batch's upload: ONE commit, before the report prints."""
        with transaction(self.conn, "recording a batch upload") as c:
            cur = c.execute("UPDATE settlements SET uploaded = ? WHERE batch = ?", (UPLOADED, batch))
            if cur.rowcount != 1:
                raise StorageError(f"batch {batch:06d} has no settlement", code="storage.missing_record")
        self.commits += 1

    def upload_owed(self) -> Settlement | None:
        """The oldest settlement whose batch upload is owed, if any (its report waits for it)."""
        rows = self._query(f"SELECT batch FROM settlements WHERE {_UPLOAD_OWED} ORDER BY settled_at, batch LIMIT 1",
                           (), "reading an owed upload")
        return self.settlement(rows[0][0]) if rows else None

    def mark_report_printed(self, batch: int) -> None:
        """Like ``mark_printed``: no fsync of its own; the worst a power cut does is print it again."""
        try:
            self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with transaction(self.conn, "marking a report printed") as c:
                    c.execute("UPDATE settlements SET report_printed = 1 WHERE batch = ?", (batch,))
            finally:
                self.conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as e:
            raise storage_error(e, "marking a report printed") from None

    def settlement(self, batch: int) -> Settlement | None:
        rows = self._query(f"SELECT {_SETTLEMENT_COLUMNS} FROM settlements WHERE batch = ?", (batch,),
                           "reading a settlement")
        return _settlement(rows[0]) if rows else None

    def last_settlement(self) -> Settlement | None:
        """The newest settlement (batch numbers wrap: the newest is the last settled)."""
        rows = self._query(f"SELECT {_SETTLEMENT_COLUMNS} FROM settlements ORDER BY settled_at DESC, batch DESC "
                           "LIMIT 1", (), "reading a settlement")
        return _settlement(rows[0]) if rows else None

    def last_receipt(self) -> SaleRecord | None:
        """The newest transaction that printed (or owes) receipts: what a reprint of the last receipt prints."""
        rows = self._query(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE state IN ('approved', 'offline_approved') "
            "AND (merchant_copy IS NOT NULL OR cardholder_copy IS NOT NULL) ORDER BY txn_no DESC LIMIT 1", (),
            "reading the last receipt")
        return self._full(rows[0]) if rows else None

    def settled_batches(self) -> list[int]:
        return [r[0] for r in self._query("SELECT batch FROM settlements ORDER BY batch", (), "reading settlements")]

    def in_settled_batch(self, stan: int) -> bool:
        """A journal record with this trace belongs to a batch already settled (a void of it is refused)."""
        rows = self._query(
            "SELECT 1 FROM journal j JOIN settlements s ON s.batch = j.batch WHERE j.stan = ? LIMIT 1", (stan,),
            "looking up an original transaction")
        return bool(rows)

    # -- sealed payloads ---------------------------------------------------
    def reversal_message(self, txn_no: int) -> bytes:
        return self._blob(
            "SELECT COALESCE((SELECT message FROM reversals WHERE txn_no=?1), "
            "(SELECT reversal FROM journal WHERE txn_no=?1))",
            txn_no,
            "reversal",
        )

    def advice_message(self, txn_no: int) -> bytes:
        return self._blob("SELECT message FROM offline_queue WHERE txn_no=?", txn_no, "advice")

    def card_blob(self, txn_no: int) -> bytes:
        return self._blob("SELECT card FROM journal WHERE txn_no=?", txn_no, "card")

    # -- reading ---------------------------------------------------------
    def record(self, txn_no: int) -> SaleRecord:
        rows = self._query(f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE txn_no=?", (txn_no,), "reading the journal")
        if not rows:
            raise StorageError(f"journal record {txn_no} is missing", code="storage.missing_record")
        return self._full(rows[0])

    def batch_records(self, batch: int) -> list[SaleRecord]:
        """Every journal record of one batch, in journal order (a scan: the journal has no index, by design)."""
        rows = self._query(f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE batch = ? ORDER BY txn_no", (batch,),
                           "reading the journal")
        return [self._full(r) for r in rows]

    def journal(self, *, limit: int | None = None) -> list[SaleRecord]:
        sql = f"SELECT {_JOURNAL_COLUMNS} FROM journal ORDER BY txn_no"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._full(r) for r in self._query(sql, (), "reading the journal")]

    def find_original(self, stan: int, batch: int) -> OriginalMatch | None:
        """The record with this trace in this batch (the newest, should the STAN have wrapped), or None.

        Reads only; safe facts plus the card's keyed hash. Scans the journal: it
        has no secondary index, by design (see ``migrations._v3``).
        """
        doing = "looking up an original transaction"
        rows = self._query(
            f"SELECT {_ORIGINAL_COLUMNS}, state, pan_hash FROM journal WHERE batch=? AND stan=? "
            "ORDER BY txn_no DESC LIMIT 1",
            (batch, stan),
            doing,
        )
        if not rows:
            return None
        return self._match(rows[0], doing)

    def find_by_reference(self, rrn: str, date: str) -> OriginalMatch | None:
        """The record a refund names: this reference number (RRN), made on this date (MMDD), in any
        batch (the newest, should an RRN repeat); or None. Reads only, scans (no index, as above).

        ``facts.refunded`` holds what approved and unresolved refunds of it already take back.
        """
        doing = "looking up a refund's original"
        if len(date) != 4 or not date.isdigit():
            return None
        rows = self._query(
            f"SELECT {_ORIGINAL_COLUMNS}, state, pan_hash FROM journal WHERE rrn=? AND substr(created_at, 6, 5)=? "
            "ORDER BY txn_no DESC LIMIT 1",
            (rrn, f"{date[:2]}-{date[2:]}"),
            doing,
        )
        if not rows:
            return None
        match = self._match(rows[0], doing)
        counted = (JournalState.APPROVED, JournalState.REQUESTED, JournalState.REVERSING, JournalState.LOST)
        refunded = sum(amount for state, amount in match.refunds if state in counted)
        return replace(match, facts=replace(match.facts, refunded=refunded))

    def _match(self, row: Sequence, doing: str) -> OriginalMatch:
        """An original's row with the voids, refunds and completions that name it and its offline forwarding.

        A pre-auth's completion whose void was approved no longer completes it (the
        pre-auth holds again), so it is left out of ``completions``."""
        facts = _original(row)
        named = self._query(
            "SELECT j.kind, j.state, j.amount, EXISTS (SELECT 1 FROM journal v WHERE v.original_txn_no = j.txn_no "
            "AND v.kind = ? AND v.state = ?) FROM journal j WHERE j.original_txn_no=? ORDER BY j.txn_no",
            (Kind.PREAUTH_COMPLETE_VOID.value, JournalState.APPROVED.value, facts.txn_no), doing)
        claims = tuple(JournalState(state) for kind, state, _, _ in named if kind in _UNDOING)
        refunds = tuple((JournalState(state), amount) for kind, state, amount, _ in named if kind == Kind.REFUND.value)
        completions = tuple(JournalState(state) for kind, state, _, voided in named
                            if kind == Kind.PREAUTH_COMPLETE.value and not voided)
        advice = self._query("SELECT state, response_code FROM offline_queue WHERE txn_no=?", (facts.txn_no,), doing)
        return OriginalMatch(facts, JournalState(row[10]), bytes(row[11] or b""), claims, advice[0] if advice else None,
                             refunds, completions)

    def find_by_auth(self, auth_code: str, date: str) -> OriginalMatch | None:
        """The pre-auth a cancel or completion names: this authorisation code, made on this date (MMDD),
        in any batch (the newest, should a code repeat); or None. Reads only, scans (no index, as above)."""
        doing = "looking up a pre-authorisation"
        if len(date) != 4 or not date.isdigit():
            return None
        rows = self._query(
            f"SELECT {_ORIGINAL_COLUMNS}, state, pan_hash FROM journal WHERE kind=? AND auth_code=? "
            "AND substr(created_at, 6, 5)=? ORDER BY txn_no DESC LIMIT 1",
            (Kind.PREAUTH.value, auth_code, f"{date[:2]}-{date[2:]}"),
            doing,
        )
        return self._match(rows[0], doing) if rows else None

    def voided(self) -> dict[int, int]:
        """Journal numbers of the records an approved void names -> that void's journal number (a pre-auth's
        cancel and a completion's void count as its void)."""
        rows = self._query(
            "SELECT original_txn_no, txn_no FROM journal WHERE original_txn_no IS NOT NULL AND state IN (?, ?) "
            "AND kind IN (?, ?, ?)",
            (JournalState.APPROVED.value, JournalState.OFFLINE_APPROVED.value, *_UNDOING),
            "reading the voids",
        )
        return dict(rows)

    def completed(self) -> dict[int, int]:
        """Journal numbers of the pre-auths an approved completion names (one not voided since) -> its number."""
        rows = self._query(
            "SELECT j.original_txn_no, j.txn_no FROM journal j WHERE j.original_txn_no IS NOT NULL AND j.kind = ? "
            "AND j.state = ? AND NOT EXISTS (SELECT 1 FROM journal v WHERE v.original_txn_no = j.txn_no "
            "AND v.kind = ? AND v.state = ?)",
            (Kind.PREAUTH_COMPLETE.value, JournalState.APPROVED.value, Kind.PREAUTH_COMPLETE_VOID.value,
             JournalState.APPROVED.value),
            "reading the completions",
        )
        return dict(rows)

    def refunded(self) -> dict[int, int]:
        """Journal numbers of the records approved refunds name -> the amount they took back in all."""
        rows = self._query(
            "SELECT original_txn_no, SUM(amount) FROM journal WHERE original_txn_no IS NOT NULL AND state = ? "
            "AND kind = ? GROUP BY original_txn_no",
            (JournalState.APPROVED.value, Kind.REFUND.value),
            "reading the refunds",
        )
        return dict(rows)

    def _full(self, row: Sequence) -> SaleRecord:
        """A journal row as a record, with its original's facts when it names one (a void)."""
        record = _record(row)
        original_txn_no = row[19]
        if original_txn_no is None:
            return record
        rows = self._query(
            f"SELECT {_ORIGINAL_COLUMNS} FROM journal WHERE txn_no=?", (original_txn_no,), "reading an original"
        )
        return replace(record, original=_original(rows[0])) if rows else record

    # -- internals ---------------------------------------------------------
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

    def _blob(self, sql: str, txn_no: int, what: str) -> bytes:
        rows = self._query(sql, (txn_no,), f"reading the stored {what}")
        if not rows or rows[0][0] is None:
            raise StorageError(f"no stored {what} for journal record {txn_no}", code="storage.missing_record")
        return rows[0][0]
