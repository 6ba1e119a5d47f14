"""Schema migrations: numbered, applied in order, recorded in ``PRAGMA user_version``, and
each saying how far back its result stays usable, so that a firmware rollback never strands
the terminal on a database its older firmware refuses.

Table overview (version 10):

``journal``        one row per transaction: amounts, STAN, batch, masked PAN, a
                   keyed hash of the PAN for look-ups, the sealed PAN/expiry,
                   the host's answer and the state of each receipt copy. Since
                   version 3 a void names its original (``original_txn_no``); since 5 a
                   refund the reference number and date it was keyed with; since 6 a
                   pre-auth's cancel or completion the authorisation code (``orig_auth``);
                   since 9 a transfer its masked destination account (``dest_masked``).
``reversals``      reversals that are due (sealed message), then ``done`` or ``lost``.
                   Since version 2 the ready-made reversal of a request waits in its
                   journal row (``journal.reversal``) and moves here only when needed.
``offline_queue``  stored sales to forward, sealed, with their delivery state.
``counters``       STAN, batch and journal numbers.
``settings``       small key/value state (sign-on time, heartbeat, the schema records below).
``settlements``    one row per closed batch: totals sent, the host's result, the report's state (v4);
                   refunds kept apart among the credits (v5);
                   completions and their voids kept apart (v10).
``operators``      cashiers (01-99) and the supervisor (00): a salted scrypt hash of each
                   password, never the password, and whether the operator may sign in (v7);
                   wrong passwords in a row, a lock-out, and who is signed in (v8).

Migrating
---------
Every step from the version found up to ``LATEST`` runs in ONE transaction with the
version bump and the records below: a power cut leaves the database at the version it
had or at ``LATEST``, never between. Before the first step, with the write lock already
held so that nothing changes under the copy, the database is copied to
``posterm.db.snapshot`` (``storage.db.write_snapshot``: SQLite's backup API, mode 0600,
synced, then renamed into place). No snapshot, no migration: a disk too full for it
stops the new firmware before it changes anything, and the old one still runs. Only the
latest snapshot is kept: a rollback only ever goes back over the newest migration.

Who can use a version
---------------------
``Migration(version, apply, readable_by=N)``: firmware whose ``LATEST >= N`` can open
and use a database at this version. N speaks for the whole database at that version,
so it is never below the previous version's N nor above the version itself (checked
at import). An additive nullable column or a table old code ignores keeps the previous
N; a change of meaning, rows old code cannot read, or data moved away from where old
code looks sets N to the version itself. Each ``_vN`` below says why it has its N,
judged against the code that had that LATEST (git history): v1 1, v2 2 (moved data),
v3 2, v4 2, v5 5 (refunds old code would not count), v6 6 (completions old code would
not count), v7 6 (a table old code ignores), v8 6 (columns with defaults old code ignores), v9 9
(transfer rows old code cannot read), v10 10 (completions approved offline old code
would not count).

The records (a contract between firmware versions)
--------------------------------------------------
Two rows of ``settings`` (a v1 table every firmware has), written in the migration's
transaction:

``schema.usable_by``  ``{"version": V, "usable_by": N}``. A firmware opening a database
                      newer than its ``LATEST`` reads it: N <= LATEST opens the database
                      as it is (nothing migrated, ``user_version`` never lowered); otherwise
                      ``storage.schema_newer`` names both versions and what to do. A record
                      for another version than the file's is stale and ignored; without one,
                      a newer database is usable only by firmware that knows its version. A
                      database at ``LATEST`` without it (migrated before records existed)
                      gets it at its next open.
``schema.snapshot``   the snapshot: its version and N, the version migrated to, and
                      ``storage.db.content_digest`` of the snapshot and of the database right
                      after the migration. The updater of an older firmware compares the
                      latter with the database now: equal means nothing happened since (no
                      sale, no counter moved, no queue changed), so the snapshot can go back
                      without losing anything.

These keys, the snapshot's file name and the digest are read by other versions'
updaters (``firmware/update/schema.py``): change them only under a new format number.
Firmware from before the records (LATEST 4 and older) knows ``user_version`` only and
refuses any newer database whatever its record says; the updater knows that too.
Migrations use sqlite-utils, imported only when one is due.
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from firmware.errors import StorageError
from storage.db import (
    DIGEST_FORMAT,
    content_digest,
    storage_error,
    transaction,
    write_snapshot,
)

__all__ = [
    "LATEST",
    "MIGRATIONS",
    "drop_stale_snapshot",
    "RECORD_KEY",
    "SNAPSHOT_KEY",
    "SNAPSHOT_SUFFIX",
    "DbSchema",
    "Migration",
    "SnapshotRecord",
    "check_opens",
    "migrate",
    "opens",
    "read_schema",
    "read_snapshot_record",
    "snapshot_path",
    "usable_by",
]

log = logging.getLogger(__name__)

RECORD_KEY = "schema.usable_by"
SNAPSHOT_KEY = "schema.snapshot"
SNAPSHOT_SUFFIX = ".snapshot"  # posterm.db -> posterm.db.snapshot


def _v1(db) -> None:
    db["journal"].create(
        {
            "txn_no": int,
            "kind": str,
            "state": str,
            "amount": int,
            "currency": str,
            "stan": int,
            "batch": int,
            "created_at": str,
            "terminal_id": str,
            "merchant_id": str,
            "operator": str,
            "masked_pan": str,
            "pan_hash": bytes,
            "card": bytes,
            "entry_mode": str,
            "pin_entered": int,
            "response_code": str,
            "rrn": str,
            "auth_code": str,
            "settle_date": str,
            "reason": str,
            "merchant_copy": int,  # NULL not wanted, 0 owed, 1 printed, 2 skipped
            "cardholder_copy": int,
            "updated_at": str,
        },
        pk="txn_no",
        not_null={"kind", "state", "amount", "currency", "stan", "batch", "created_at", "masked_pan", "entry_mode"},
    )
    db["journal"].create_index(["batch", "stan"], index_name="journal_batch_stan")
    db["journal"].create_index(["pan_hash"], index_name="journal_pan_hash")
    # No index on state columns: a state changes at every commit, so such an index
    # would cost a page write per commit, and only start-up reads by state.
    db["reversals"].create(
        {"txn_no": int, "state": str, "reason": str, "message": bytes, "attempts": int, "created_at": str, "updated_at": str},
        pk="txn_no",
        foreign_keys=[("txn_no", "journal", "txn_no")],
        not_null={"state", "created_at"},
        defaults={"attempts": 0},
    )
    db["offline_queue"].create(
        {
            "txn_no": int,
            "state": str,
            "message": bytes,
            "stan": int,
            "amount": int,
            "created_at": str,
            "attempts": int,
            "response_code": str,
            "updated_at": str,
        },
        pk="txn_no",
        foreign_keys=[("txn_no", "journal", "txn_no")],
        not_null={"state", "amount", "created_at", "stan"},
        defaults={"attempts": 0},
    )
    db["counters"].create({"name": str, "value": int}, pk="name", not_null={"value"})
    db["settings"].create({"key": str, "value": str}, pk="key", not_null={"value"})


def _v2(db) -> None:
    """Fewer pages per sale: every page a commit touches is written to the log and synced.

    * The ready-made reversal waits in its request's own journal row
      (``journal.reversal``). The request commit then touches one row, and disarming
      the reversal is part of the outcome's update of that same row. It moves to
      ``reversals`` only when it becomes due.
    * No secondary indexes on the journal: each cost one more page write at every
      sale, for look-ups (by batch and STAN, by card hash) that are rare operator
      actions and scan the journal instead.

    Usable by schema 2 on: moved data. v1 code looks for armed reversals in ``reversals``
    only: after a crash it would never send the reversal of an interrupted request, and
    it would arm new ones where v2 code does not look.
    """
    db["journal"].add_column("reversal", bytes)
    db.execute(
        "UPDATE journal SET reversal = (SELECT message FROM reversals r WHERE r.txn_no = journal.txn_no) "
        "WHERE txn_no IN (SELECT txn_no FROM reversals WHERE state = 'armed')"
    )
    db.execute("DELETE FROM reversals WHERE state = 'armed'")
    db.execute("DROP INDEX IF EXISTS journal_batch_stan")
    db.execute("DROP INDEX IF EXISTS journal_pan_hash")


def _v3(db) -> None:
    """Voids: a void's journal row names its original (``journal.original_txn_no``).

    Whether a sale is voided is derived, never stored: it is voided when an
    approved void names it. The void's outcome then stays one commit of one
    row, exactly like a sale's, and the reversal of a void gives the sale back
    without touching its row. No index: looking an original up (by batch and
    STAN, and the voids that name it) is a rare operator action and scans the
    journal, where an index would cost a page write at every sale.

    Usable by schema 2 on. v2 code never names the new column (NULL for its rows, as
    for any sale) and parses void rows: its ``Kind`` has had VOID from the start, a
    void's reversal is the sealed message in its row, sent as stored, and a recovered
    void receipt prints as "VOID". It has no void or settle function, so nothing it
    does depends on which sales are voided; what it lacks is shown, not money (its
    journal listing and receipts do not name the original).
    """
    db["journal"].add_column("original_txn_no", int)


def _v4(db) -> None:
    """Settlement: one row per closed batch (its totals, the host's result, whether the report printed).

    A batch is closed exactly when its row exists: the row and the counters of the
    next batch are one commit (``Store.close_batch``). A sale's commits never touch it.

    Usable by schema 2 on: a table older code ignores. Closing a batch also moves the
    batch counter, which every version reads, so older code carries on in the next
    batch; v3 code looks a void's original up in the current batch only, so it cannot
    void a settled sale; a report still owed waits in its row for v4 code.
    """
    db["settlements"].create(
        {
            "batch": int,
            "stan": int,
            "debit_count": int,
            "debit_amount": int,
            "credit_count": int,
            "credit_amount": int,
            "result": str,
            "uploaded": int,
            "operator": str,
            "settled_at": str,
            "report_printed": int,
        },
        pk="batch",
        not_null={"stan", "debit_count", "debit_amount", "credit_count", "credit_amount", "result", "settled_at"},
        defaults={"uploaded": 0, "report_printed": 0},
    )



def _v5(db) -> None:
    """Refunds and balance inquiries.

    * ``journal.orig_rrn`` / ``journal.orig_date``: the reference number and date a
      refund names (退货 names its sale by RRN and date, and the sale may be on another
      terminal or in a settled batch). Written in the refund's own request commit, so
      its receipt, reprinted after a power cut, still shows them.
    * ``settlements.refund_count`` / ``refund_amount``: refunds are credits in the
      0500, and the stored settlement keeps them apart so that its report, printed or
      reprinted from the row, lists them on their own line.

    Usable by schema 5 only: the journal now holds approved ``refund`` rows, and
    schema-4 code, whose totals count only voids as credits, would leave them out of
    the 0500 it sends (a settlement short by every refund); its ``FLOWS`` have no row
    for a refund or a balance inquiry either.
    """
    db["journal"].add_column("orig_rrn", str)
    db["journal"].add_column("orig_date", str)
    db["settlements"].add_column("refund_count", int, not_null_default=0)
    db["settlements"].add_column("refund_amount", int, not_null_default=0)


def _v6(db) -> None:
    """The pre-authorisation family (预授权类).

    * ``journal.orig_auth``: the authorisation code a pre-auth's cancel or completion
      names it by (with its date in ``orig_date``, as a refund's); the pre-auth may be
      old or from another terminal. Written in the request's own commit, so that its
      receipt, printed after a power cut, still shows it.

    Usable by schema 6 only: the journal now holds approved ``preauth_complete`` rows
    (debits) and ``preauth_complete_void`` rows (credits), and schema-5 code, whose
    totals count only sales as debits and voids and refunds as credits, would leave them
    out of the 0500 it sends and of the batch upload (a settlement the host can never
    find balanced). Its ``FLOWS`` have no rows for them either.
    """
    db["journal"].add_column("orig_auth", str)


def _v7(db) -> None:
    """Operators: cashiers who sign in, and the supervisor whose password guards void, refund, settle.

    * ``operators``: ``number`` (two digits, 00 the supervisor), ``password_hash`` (salted
      scrypt, ``crypto.passwords``; never the password), ``active``, ``updated_at``. A fresh
      terminal has the supervisor only, with the default password's fixed hash, which
      ``posterm selftest`` warns about until it is changed.

    Usable by schema 6 code: a new table that schema-6 code never reads or writes. Its
    journal rows still carry the operator's number in ``journal.operator`` (a v1 column),
    so its totals, reports and upload read them as before; ``content_digest`` covers every
    table, so an updater's digest comparison sees password changes too. Schema-6 firmware
    has no sign-in (its configuration refuses an ``[operators]`` section), so rolling back
    drops the sign-in, not the books.
    """
    from crypto.passwords import DEFAULT_SUPERVISOR_HASH

    db.execute("CREATE TABLE operators (number TEXT PRIMARY KEY, password_hash TEXT NOT NULL, "
               "active INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL)")
    db.execute("INSERT INTO operators (number, password_hash, active, updated_at) VALUES ('00', ?, 1, '')",
               [DEFAULT_SUPERVISOR_HASH])


def _v8(db) -> None:
    """Operators' lock-out and sign-in survive a restart (``storage.operators``).

    * ``operators.failed_tries``: wrong passwords in a row for this operator (the
      supervisor's row counts the supervisor's password), committed before the terminal
      says WRONG PASSWORD; 0 after a right one or a lock-out.
    * ``operators.locked_at``: when a lock-out began (wall clock, for people to read), NULL
      when none. Its length is counted in monotonic time from when it began, or from the
      boot that found it (``firmware.operators.Lockouts``): a wall clock may be wrong after
      a power cut, so a lock-out found at boot starts again in full.
    * ``operators.signed_in_at``: set on the one cashier signed in (a power cut keeps the
      shift), NULL on every other row; a sign-out or a settlement clears it.

    Usable by schema 6 code: columns with defaults on a table schema-6 code never reads
    (schema-7 code reads the table by column name and inserts naming its columns, so the
    defaults fill the new ones). Rolled back, the lock-out and the sign-in are held in
    memory again as before; a lock-out left in the file restarts once when this firmware
    comes back.
    """
    db.execute("ALTER TABLE operators ADD COLUMN failed_tries INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE operators ADD COLUMN locked_at TEXT")
    db.execute("ALTER TABLE operators ADD COLUMN signed_in_at TEXT")


def _v9(db) -> None:
    """Transfers (转账).

    * ``journal.dest_masked``: a transfer's destination account, masked first 6 / last 4,
      for its receipt (reprinted after a power cut) and the journal listing. The clear
      account is never stored: it lives sealed in the card session until the host answers
      and, sealed, in the ready-made reversal.

    Usable by schema 9 only: the journal may now hold ``transfer`` rows, and schema-8
    code has no such kind (``Kind('transfer')`` fails: it could not list, reprint or
    recover the journal). Transfers are in neither the totals nor the batch upload.
    """
    db["journal"].add_column("dest_masked", str)


def _v10(db) -> None:
    """Pre-auth completions on lines of their own, and completions made without the host.

    * ``settlements.completion_count`` / ``completion_amount`` and ``completion_void_count`` /
      ``completion_void_amount``: the part of the debit that is completions (预授权完成) and
      of the credit that is their voids, so that the report, printed or reprinted from the
      row, lists them apart from sales and voids. The 0500 does not change (UnionPay counts
      completions among the debits). A batch settled before this version reads 0 and its
      report shows its completions under SALE, as it did.

    Usable by schema 10 only: the journal may now hold ``preauth_complete`` rows approved
    offline (the completion advice, 预授权完成通知, queued in ``offline_queue``), and
    schema-9 code, whose totals count only online completions, would leave the accepted
    advices out of the 0500 and the batch upload (a settlement the host cannot find
    balanced); its uplink would also take a queued completion advice for a refund's repeat.
    """
    for column in ("completion_count", "completion_amount", "completion_void_count", "completion_void_amount"):
        db["settlements"].add_column(column, int, not_null_default=0)


@dataclass(frozen=True)
class Migration:
    """One schema version: how to reach it, and the oldest LATEST that can still use its result."""

    version: int
    apply: Callable[[Any], None]
    readable_by: int

    def __call__(self, db) -> None:
        self.apply(db)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, _v1, readable_by=1),
    Migration(2, _v2, readable_by=2),
    Migration(3, _v3, readable_by=2),
    Migration(4, _v4, readable_by=2),
    Migration(5, _v5, readable_by=5),
    Migration(6, _v6, readable_by=6),
    Migration(7, _v7, readable_by=6),
    Migration(8, _v8, readable_by=6),
    Migration(9, _v9, readable_by=9),
    Migration(10, _v10, readable_by=10),
)
LATEST = MIGRATIONS[-1].version


def check_migrations(migrations: tuple[Migration, ...]) -> None:
    """Versions 1, 2, 3 ... in order; each ``readable_by`` between the previous one's and its own version."""
    floor = 1
    for number, m in enumerate(migrations, 1):
        if m.version != number or not floor <= m.readable_by <= m.version:
            raise ValueError(f"migration {number}: version {m.version}, readable_by {m.readable_by} out of order")
        floor = m.readable_by


check_migrations(MIGRATIONS)


# -- what a database is, and who can use it ----------------------------------------------
@dataclass(frozen=True)
class DbSchema:
    version: int
    usable_by: int  # firmware whose LATEST is at least this can use the database
    recorded: bool  # from the database's own record (else this firmware's table, or the version itself)


@dataclass(frozen=True)
class SnapshotRecord:
    """``schema.snapshot``: the copy taken before the newest migration (see the module docstring)."""

    file: str  # its name, in the database's directory
    version: int
    usable_by: int
    migrated_to: int
    before: str  # content digest of the snapshot
    after: str  # content digest of the database right after the migration
    digest_format: int = DIGEST_FORMAT

    @classmethod
    def parse(cls, text: str) -> SnapshotRecord | None:
        try:
            doc = json.loads(text)
            record = cls(**{k: doc[k] for k in ("file", "version", "usable_by", "migrated_to", "before", "after",
                                                 "digest_format")})
        except (ValueError, KeyError, TypeError):
            return None
        ints = (record.version, record.usable_by, record.migrated_to, record.digest_format)
        if not all(type(v) is int for v in ints) or not all(isinstance(v, str) for v in (record.file, record.before,
                                                                                             record.after)):
            return None
        if "/" in record.file or record.file.startswith("."):
            return None
        return record


def usable_by(version: int) -> int:
    """The oldest LATEST that can use a database at ``version``, from this firmware's table (or the version)."""
    if version == 0:
        return 0
    return MIGRATIONS[version - 1].readable_by if version <= LATEST else version


def opens(schema: DbSchema, latest: int, *, reads_record: bool = True) -> bool:
    """Can firmware whose LATEST is ``latest`` use this database? Firmware from before the
    records (``reads_record=False``) opens nothing newer than its own version."""
    return schema.version <= latest or (reads_record and schema.usable_by <= latest)


def read_schema(conn: sqlite3.Connection) -> DbSchema:
    """The database's version and who can use it (reads only)."""
    version = _user_version(conn)
    try:
        doc = json.loads(_setting(conn, RECORD_KEY) or "null") if version else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("version") == version and type(doc.get("usable_by")) is int \
            and 0 <= doc["usable_by"] <= version:
        return DbSchema(version, doc["usable_by"], True)
    return DbSchema(version, usable_by(version), False)


def read_snapshot_record(conn: sqlite3.Connection) -> SnapshotRecord | None:
    text = _setting(conn, SNAPSHOT_KEY) if _user_version(conn) else None
    return SnapshotRecord.parse(text) if text is not None else None


def snapshot_path(db_path: Path | str) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + SNAPSHOT_SUFFIX)


def drop_stale_snapshot(conn: sqlite3.Connection, db_path: Path | str) -> bool:
    """Remove the pre-migration copy once it can never be restored. True when it was removed.

    A rollback restores it only while the database is exactly as the migration left
    it (its digest still the recorded ``after``); the first sale, receipt or counter
    moved ends that for good. The copy holds the journal's sealed card data, so it is
    kept no longer than it can serve. A copy without a usable record is as stale.
    The digest reads every row, so the store calls this at its idle checkpoints only,
    and only while a copy exists.
    """
    snap = snapshot_path(db_path)
    try:
        if not snap.exists():
            return False
        record = read_snapshot_record(conn)
        if record is not None and record.file == snap.name and content_digest(conn) == record.after:
            return False
        snap.unlink(missing_ok=True)
    except (OSError, sqlite3.Error, StorageError) as e:  # housekeeping: never worth stopping the terminal for
        log.warning("could not remove the stale %s: %s", snap.name, type(e).__name__)
        return False
    log.info("removed %s: the database has changed since its migration, so it can no longer be restored", snap.name)
    return True


def schema_newer(schema: DbSchema, latest: int) -> StorageError:
    return StorageError(
        f"the database has schema version {schema.version}, usable by firmware of schema {schema.usable_by} or "
        f"newer, and this firmware's is {latest}: run newer firmware, or roll back with posterm update rollback, "
        "which restores the database from before its migration if nothing has changed since",
        code="storage.schema_newer",
    )


def check_opens(conn: sqlite3.Connection) -> DbSchema:
    """The database's schema, or ``storage.schema_newer`` if this firmware cannot use it."""
    schema = read_schema(conn)
    if not opens(schema, LATEST):
        raise schema_newer(schema, LATEST)
    return schema


# -- migrating ----------------------------------------------------------------------------
def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to ``LATEST``, or open a newer one this firmware can use. Returns the version found."""
    found = _user_version(conn)
    if found > LATEST:
        schema = check_opens(conn)
        log.info("the database has schema %d (usable from %d); this firmware's is %d: used as it is",
                 schema.version, schema.usable_by, LATEST)
        return found
    if found == LATEST:
        if found and not read_schema(conn).recorded:  # migrated by firmware from before the records
            with transaction(conn, "recording the schema") as c:
                _put(c, RECORD_KEY, _record(found))
        return found
    return _migrate(conn)


def _migrate(conn: sqlite3.Connection) -> int:
    import sqlite_utils  # only when a migration is due

    db = sqlite_utils.Database(conn)
    path = _file_of(conn)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as e:
        raise storage_error(e, "starting the schema migration") from None
    try:
        found = _user_version(conn)  # again, under the write lock: another process may have migrated it
        if found >= LATEST:
            conn.execute("ROLLBACK")
            return migrate(conn)
        snapshot = None
        if found > 0 and path is not None:
            before = content_digest(conn)
            write_snapshot(path, snapshot_path(path))
            snapshot = (found, before)
        for migration in MIGRATIONS[found:LATEST]:
            migration.apply(db)
        conn.execute(f"PRAGMA user_version={LATEST}")
        _put(conn, RECORD_KEY, _record(LATEST))
        if snapshot is not None:
            record = SnapshotRecord(snapshot_path(path).name, found, usable_by(found), LATEST, snapshot[1],
                                    content_digest(conn))
            _put(conn, SNAPSHOT_KEY, json.dumps(asdict(record), sort_keys=True))
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        _rollback(conn)
        raise storage_error(e, f"migrating the schema to version {LATEST}") from None
    except OSError as e:
        _rollback(conn)
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        raise StorageError(
            f"cannot write the database's snapshot before migrating it ({e.strerror}); nothing was changed",
            code="storage.full" if full else "storage.snapshot",
        ) from None
    except BaseException:
        _rollback(conn)
        raise
    if snapshot is not None:
        log.info("database migrated from schema %d to %d; the schema %d copy is %s", found, LATEST, found,
                 snapshot_path(path).name)
    return found


# -- internals ----------------------------------------------------------------------------
def _record(version: int) -> str:
    return json.dumps({"version": version, "usable_by": usable_by(version)}, sort_keys=True)


def _user_version(conn: sqlite3.Connection) -> int:
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as e:
        raise storage_error(e, "reading the schema version") from None


def _setting(conn: sqlite3.Connection, key: str) -> str | None:
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error as e:
        raise storage_error(e, "reading the schema record") from None
    return row[0] if row else None


def _put(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                 (key, value))


def _file_of(conn: sqlite3.Connection) -> Path | None:
    """The main database's file, or None for one in memory (nothing to snapshot)."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return Path(file) if file else None
    return None


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
