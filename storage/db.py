"""Opening the database durably, and turning SQLite failures into StorageError.

Every commit that matters is fsync'd: the database runs in WAL mode with
``synchronous=FULL`` and ``secure_delete=ON``, and ``open_database`` reads each
setting back and refuses to run if the file system did not honour it (WAL is
unavailable on some network and FUSE mounts, for example).

Hot-path statements use the standard ``sqlite3`` module directly; sqlite-utils
is imported only when a migration has to run (see ``migrations.py``), which
keeps about 0.1 s of imports (1 s or more on a Pi Zero) off every start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from firmware.errors import StorageError

__all__ = ["open_database", "transaction", "storage_error", "reserve_log", "DURABLE_PRAGMAS", "WAL_KEPT_BYTES"]

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


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, doing: str) -> Iterator[sqlite3.Connection]:
    """One atomic, durable commit. Any failure rolls back and raises StorageError."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as e:
        raise storage_error(e, doing) from None
    try:
        yield conn
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise storage_error(e, doing) from None
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
