"""Schema migrations: numbered, applied in order, recorded in ``PRAGMA user_version``, and
each saying how far back its result stays usable, so that a firmware rollback never strands
the terminal on a database its older firmware refuses.

The steps themselves, what each version changes in the tables and why it has its N, are in
``storage/migration_steps.py`` (with an overview of the tables); the table of versions
(``MIGRATIONS``) stays here, beside the machinery that applies it, because other firmware's
updaters read it from this file as a syntax tree (``firmware/update/schema.py``).

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
code looks sets N to the version itself. Each ``_vN`` (``migration_steps``) says why it has its N,
judged against the code that had that LATEST (git history): v1 1, v2 2 (moved data),
v3 2, v4 2, v5 5 (refunds old code would not count), v6 6 (completions old code would
not count), v7 6 (a table old code ignores), v8 6 (columns with defaults old code ignores), v9 9
(transfer rows old code cannot read), v10 10 (completions approved offline old code
would not count), v11 10 (a nullable column), v12 11 (archived batches: nothing changes
until a batch is archived, which raises the database's record to 12; below), v13 11 (indexes
and nullable columns).

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

A record may say more than this firmware's table: content that older firmware misreads
raises it, in the commit that writes that content (``raise_usable_by``; the first archived
batch raises it to ``ARCHIVE_SCHEMA``), and a later migration keeps the raise (the new
record's N is never below the old one's), as does the snapshot's record.

These keys, the snapshot's file name and the digest are read by other versions'
updaters (``firmware/update/schema.py``): change them only under a new format number.
Firmware from before the records (LATEST 4 and older) knows ``user_version`` only and
refuses any newer database whatever its record says; the updater knows that too.
Migrations use sqlite-utils, imported only when one is due (``_migrate``).
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
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
from storage.migration_steps import _v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12, _v13

__all__ = [
    "ARCHIVE_SCHEMA",
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
    "raise_usable_by",
    "read_snapshot_record",
    "snapshot_path",
    "usable_by",
]

log = logging.getLogger(__name__)

RECORD_KEY = "schema.usable_by"
SNAPSHOT_KEY = "schema.snapshot"
SNAPSHOT_SUFFIX = ".snapshot"  # posterm.db -> posterm.db.snapshot


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
    Migration(11, _v11, readable_by=10),
    Migration(12, _v12, readable_by=11),
    Migration(13, _v13, readable_by=11),
)
LATEST = MIGRATIONS[-1].version
ARCHIVE_SCHEMA = 12  # the first schema whose firmware reads archived batch numbers (storage.archive, _v12)


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


def raise_usable_by(conn: sqlite3.Connection, floor: int) -> None:
    """Inside the caller's transaction: the database now holds content firmware older than schema ``floor``
    misreads, so its usable-by record says at least ``floor`` (never lowered; the version stays)."""
    schema = read_schema(conn)
    if schema.usable_by >= floor:
        return
    if schema.version < floor:  # this firmware migrated it to LATEST >= floor before writing anything
        raise StorageError(f"the database has schema version {schema.version}, below {floor}: it cannot record "
                           "content of that schema", code="storage.schema_older")
    _put(conn, RECORD_KEY, json.dumps({"version": schema.version, "usable_by": floor}, sort_keys=True))


def _content_floor(conn: sqlite3.Connection) -> int:
    """The usable-by the content itself calls for (archived batches: ``ARCHIVE_SCHEMA``), else 0."""
    from storage.archive import holds_archive  # lazy: that module raises records through this one

    return ARCHIVE_SCHEMA if holds_archive(conn) else 0


def _content_floor_before(conn: sqlite3.Connection, found: int) -> int:
    """``_content_floor`` of a database at schema ``found`` before it is migrated: 0 for a new one, and for a
    schema whose journal or settlements have no batch numbers yet (it can hold no archived batch)."""
    if found == 0:
        return 0
    for table in ("journal", "settlements"):
        if not any(row[1] == "batch" for row in conn.execute(f"PRAGMA table_info({table})")):
            return 0
    return _content_floor(conn)


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
def migrate(conn: sqlite3.Connection, *, fresh: Mapping[str, str] | None = None,
            slow: Callable[[str], AbstractContextManager] | None = None) -> int:
    """Bring the schema to ``LATEST``, or open a newer one this firmware can use. Returns the version found.
    ``fresh``: settings a new database starts with, written in its creating commit (no commit of their own).
    ``slow``: a context, given what is happening, around a migration of an existing database (its snapshot,
    digests and steps read it all): ``posterm run`` extends systemd's start timeout with it."""
    found = _user_version(conn)
    if found > LATEST:
        schema = check_opens(conn)
        log.info("the database has schema %d (usable from %d); this firmware's is %d: used as it is",
                 schema.version, schema.usable_by, LATEST)
        return found
    if found == LATEST:
        if found and not read_schema(conn).recorded:  # migrated by firmware from before the records
            with transaction(conn, "recording the schema") as c:
                _put(c, RECORD_KEY, _record(found, _content_floor(c)))
        return found
    if found == 0 or slow is None:
        return _migrate(conn, fresh or {})
    with slow(f"migrating the database from schema {found} to {LATEST}"):
        return _migrate(conn, fresh or {})


def _migrate(conn: sqlite3.Connection, fresh: Mapping[str, str]) -> int:
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
            return migrate(conn, fresh=fresh)
        # A raised record (raise_usable_by) stays raised; so does what the content already calls for, taken
        # before the steps run: the snapshot holds that content too (archived rows an older firmware wrote
        # before it recorded the raise), and its record must not let a firmware that misreads it restore it.
        prior = max(read_schema(conn).usable_by, _content_floor_before(conn, found))
        snapshot = None
        if found > 0 and path is not None:
            before = content_digest(conn)
            write_snapshot(path, snapshot_path(path))
            snapshot = (found, before)
        for migration in MIGRATIONS[found:LATEST]:
            migration.apply(db)
        conn.execute(f"PRAGMA user_version={LATEST}")
        _put(conn, RECORD_KEY, _record(LATEST, prior))  # the steps archive nothing: prior's floor still holds
        for key, value in (fresh.items() if found == 0 else ()):
            _put(conn, key, value)
        if snapshot is not None:
            record = SnapshotRecord(snapshot_path(path).name, found, prior, LATEST, snapshot[1],
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
def _record(version: int, floor: int = 0) -> str:
    return json.dumps({"version": version, "usable_by": max(usable_by(version), floor)}, sort_keys=True)


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
