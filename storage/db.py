"""Opening the database durably, and turning SQLite failures into StorageError.

Every commit that matters is fsync'd: the database runs in WAL mode with
``synchronous=FULL`` and ``secure_delete=ON``, and ``open_database`` reads each
setting back and refuses to run if the file system did not honour it (WAL is
unavailable on some network and FUSE mounts, for example).

Hot-path statements use the standard ``sqlite3`` module directly; sqlite-utils
is imported only when a migration has to run (see ``migrations.py``), which
keeps about 0.1 s of imports (1 s or more on a Pi Zero) off every start.

Schema snapshots (``write_snapshot``, ``content_digest``, ``restore_snapshot``)
live here too: a migration takes one before it changes anything, and the updater
of an older firmware restores it when it rolls back (``migrations.py`` says when).
The digest and the snapshot's form are a contract between firmware versions: a
firmware's updater checks a database that a newer firmware wrote, so neither may
change without a new digest format.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from firmware.errors import StorageError

__all__ = [
    "DIGEST_FORMAT",
    "DURABLE_PRAGMAS",
    "RESTORE_PAGES",
    "WAL_KEPT_BYTES",
    "content_digest",
    "open_database",
    "reserve_log",
    "restore_snapshot",
    "storage_error",
    "transaction",
    "write_snapshot",
]

log = logging.getLogger(__name__)

WAL_KEPT_BYTES = 4 * 2**20  # about 500 sales' worth of log, kept allocated between checkpoints
# The log is grown to WAL_KEPT_BYTES only while this much would still be free beside it.
RESERVE_MARGIN_BYTES = 32 * 2**20

# pragma -> the value it must read back as
DURABLE_PRAGMAS = {
    "journal_mode": ("wal", "wal"),
    "synchronous": ("FULL", 2),
    "secure_delete": ("ON", 1),
    "foreign_keys": ("ON", 1),
}


def storage_error(exc: sqlite3.Error, doing: str) -> StorageError:
    """Map a sqlite3 exception to a StorageError with a code an operator can act on."""
    text = str(exc).lower()
    code = getattr(exc, "sqlite_errorname", "")
    if "full" in text or code == "SQLITE_FULL":
        return StorageError(f"storage is full while {doing}; free space to resume sales", code="storage.full")
    if "readonly" in text or "read-only" in text or code.startswith("SQLITE_READONLY"):
        return StorageError(f"storage is read-only while {doing}", code="storage.read_only")
    if "locked" in text or "busy" in text:
        return StorageError(f"storage is locked by another process while {doing}", code="storage.locked")
    if "malformed" in text or "not a database" in text or code in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return StorageError(f"the database is damaged ({doing})", code="storage.corrupt")
    if "disk i/o" in text or code.startswith("SQLITE_IOERR"):
        return StorageError(f"storage input/output error while {doing}", code="storage.io")
    return StorageError(f"storage failed while {doing}: {exc.__class__.__name__}", code="storage.failed")


def open_database(path: Path | str) -> sqlite3.Connection:
    """Open (creating if needed) a database file with the durable settings checked."""
    path = Path(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created 0600 before SQLite opens it: SQLite gives the -wal and -shm files the same mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    except (sqlite3.Error, OSError) as e:
        raise StorageError(f"cannot open the database {path}: {e.__class__.__name__}", code="storage.open") from None
    try:
        for pragma, (value, expected) in DURABLE_PRAGMAS.items():
            conn.execute(f"PRAGMA {pragma}={value}")
            got = conn.execute(f"PRAGMA {pragma}").fetchone()[0]
            if (got.lower() if isinstance(got, str) else got) != expected:
                conn.close()
                raise StorageError(
                    f"the database at {path} cannot use {pragma}={value} (got {got}); "
                    "put the data directory on a local file system",
                    code="storage.not_durable",
                )
        # Checkpoints are the runner's housekeeping while the terminal is idle (see
        # Store.checkpoint), so a sale never pays for one: no automatic checkpoints.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # The log file is reused after a checkpoint, not truncated (commits that
        # overwrite are cheaper to sync than commits that grow it); above this size
        # it is cut back to it when it restarts.
        conn.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
    except sqlite3.Error as e:
        conn.close()
        raise storage_error(e, "opening the database") from None
    return conn


def reserve_log(path: Path | str, size: int = WAL_KEPT_BYTES) -> int:
    """Grow the write-ahead log's file to ``size`` bytes with zeros; the bytes added.

    PostgreSQL zero-fills each WAL segment before it uses it for the same reason:
    a commit that writes into blocks the file already has makes ``fdatasync``
    flush only those blocks, while one that grows the file must also commit the
    file system's journal for the new size and block map. On ext4 that halves
    the cost of the sale's two commits, from its first sale on (without this,
    only once the log had grown through earlier sales and been reused).

    It is safe because SQLite reads a log only up to its first invalid frame: a
    frame must carry the salts of the log's header and a page number above 0,
    and zeros carry neither, so they are never taken for data. SQLite writes its
    frames over them, and ``journal_size_limit`` (equal to ``size``) lets it keep
    the file at this size when the log restarts.

    Call it after a checkpoint, with the log restarted. It does nothing when
    the file is already that large or does not exist yet, or when the disk is
    too full to spare the space (the journal needs it more); a failure to write
    is logged and left at that: the log then grows as SQLite's normally does.
    """
    wal = Path(f"{path}-wal")
    try:
        fd = os.open(wal, os.O_WRONLY)  # never created here: it is SQLite's file
    except OSError:
        return 0
    try:
        have, disk = os.fstat(fd).st_size, os.statvfs(wal)
        if have >= size or disk.f_bavail * disk.f_frsize < size - have + RESERVE_MARGIN_BYTES:
            return 0
        zeros, offset = memoryview(bytes(256 * 1024)), have
        while offset < size:
            offset += os.pwrite(fd, zeros[: size - offset], offset)
        os.fdatasync(fd)
        return size - have
    except OSError as e:
        log.warning("could not reserve space for the write-ahead log (%s); it will grow as it is used", e.strerror)
        return 0
    finally:
        os.close(fd)


def transaction(conn: sqlite3.Connection, doing: str) -> contextlib.AbstractContextManager[sqlite3.Connection]:
    """One atomic, durable commit (``with transaction(conn, doing) as c``). Any failure rolls back and raises
    StorageError."""
    return _Transaction(conn, doing)


class _Transaction:
    """``transaction``'s context manager: a class, since a generator's costs several times as much (a sale
    makes two)."""

    __slots__ = ("_conn", "_doing")

    def __init__(self, conn: sqlite3.Connection, doing: str) -> None:
        self._conn, self._doing = conn, doing

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise storage_error(e, self._doing) from None
        return self._conn

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> bool:
        if kind is None:
            try:
                self._conn.execute("COMMIT")
                return False
            except sqlite3.Error as e:
                error = e
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise storage_error(error, self._doing) from None
        return False  # anything else goes on as it was raised


# -- snapshots -------------------------------------------------------------------------
DIGEST_FORMAT = 1
RESTORE_PAGES = 256  # pages copied per step of a restore (1 MiB at 4 KiB pages); each step calls ``step``
# Settings that are housekeeping, not state: the idle heartbeat, and the schema records themselves.
_DIGEST_SKIPS = "key <> 'heartbeat' AND key NOT LIKE 'schema.%'"


def _sync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if directory else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def content_digest(conn: sqlite3.Connection) -> str:
    """SHA-256 over every row of every table (settings' housekeeping keys excepted), in a fixed order.

    It tells "nothing happened since" without trusting clocks (a Pi without a
    real-time clock may start in the past) or SQLite's change counter (not kept
    in WAL mode): a sale, a printed receipt, a counter moved, a queue drained, a
    re-sealed blob each change it. Tables and columns are taken from the file
    itself, so firmware of any schema computes the same digest of the same file.
    """
    import hashlib

    digest = hashlib.sha256(f"posterm-content-{DIGEST_FORMAT}".encode())

    def feed(value) -> None:
        if value is None:
            digest.update(b"N")
            return
        if isinstance(value, bytes):
            tag, data = b"B", value
        elif isinstance(value, str):
            tag, data = b"S", value.encode()
        elif isinstance(value, int):
            tag, data = b"I", str(value).encode()
        else:
            tag, data = b"F", repr(value).encode()
        digest.update(tag + len(data).to_bytes(8, "big") + data)

    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")]
    for table in tables:
        columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
        feed(table)
        for column in columns:
            feed(column)
        where = f" WHERE {_DIGEST_SKIPS}" if table == "settings" else ""
        order = ", ".join(str(i) for i in range(1, len(columns) + 1))
        for row in conn.execute(f'SELECT * FROM "{table}"{where} ORDER BY {order}'):
            digest.update(b"R")
            for value in row:
                feed(value)
    return digest.hexdigest()


def write_snapshot(db_path: Path | str, dest: Path | str) -> None:
    """Copy the database at ``db_path`` to ``dest`` (mode 0600) with SQLite's backup API, durably.

    Read through a connection of its own: the caller may hold the write lock
    (so nothing changes under the copy), which a backup from its own connection
    would wait for forever. The copy is written beside ``dest``, synced, renamed
    over it and the directory synced, so ``dest`` is always a whole snapshot. It
    is left in rollback-journal mode: reading it later creates no -wal/-shm files.
    """
    db_path, dest = Path(db_path), Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    for leftover in (tmp, Path(f"{tmp}-journal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(tmp, 0o600)
    source = sqlite3.connect(db_path, isolation_level=None, timeout=5.0)
    try:
        copy = sqlite3.connect(tmp, isolation_level=None)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        source.close()
    _sync_path(tmp)
    os.replace(tmp, dest)
    _sync_path(dest.parent, directory=True)


def restore_snapshot(
    db_path: Path | str,
    snapshot: Path | str,
    *,
    unchanged_since: str,
    snapshot_digest: str,
    step: Callable[[], None] = lambda: None,
) -> None:
    """Put the snapshot's content back into the database at ``db_path``, in one transaction.

    Only when the database's ``content_digest`` is still ``unchanged_since`` (nothing
    happened since the migration) and the snapshot's is ``snapshot_digest`` (it is the
    copy taken then, whole). The database is held in SQLite's exclusive locking mode
    throughout: a process that has it open (posterm running) makes this refuse with
    ``storage.in_use``, and none can open it meanwhile. The pages are copied by the
    backup API *into* the live database, whose write transaction commits only once
    every page is in: a power cut at any ``step`` leaves the database as it was.
    """
    db_path, snapshot = Path(db_path), Path(snapshot)
    try:
        live = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=0)
    except sqlite3.Error as e:
        raise storage_error(e, "opening the database to restore it") from None
    try:
        try:
            live.execute("PRAGMA locking_mode=EXCLUSIVE")
            live.execute("PRAGMA synchronous=FULL")
            live.execute("BEGIN EXCLUSIVE")
            live.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the lock is taken at the first read
        except sqlite3.Error as e:
            if "locked" in str(e) or "busy" in str(e):
                raise StorageError("the database is in use: stop posterm before restoring its snapshot",
                                   code="storage.in_use") from None
            raise storage_error(e, "locking the database to restore it") from None
        try:
            if content_digest(live) != unchanged_since:
                raise StorageError("the database has changed since its snapshot was taken: restoring it would "
                                   "lose those changes", code="storage.changed_since_snapshot")
            live.execute("COMMIT")  # the exclusive lock stays: locking_mode=EXCLUSIVE
            source = sqlite3.connect(f"{snapshot.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            try:
                if source.execute("PRAGMA quick_check").fetchone()[0] != "ok" or content_digest(source) != snapshot_digest:
                    raise StorageError(f"the snapshot {snapshot.name} is damaged or is not the one taken at the migration",
                                       code="storage.bad_snapshot")
                source.backup(live, pages=RESTORE_PAGES, progress=lambda *_: step())
            finally:
                source.close()
        except sqlite3.Error as e:
            raise storage_error(e, "restoring the database from its snapshot") from None
    finally:
        live.close()  # checkpoints the log back into the file and removes it: nobody else has it open
