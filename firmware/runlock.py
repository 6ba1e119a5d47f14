"""One ``posterm run`` per data directory, and no provisioning under a running terminal.

Two terminals on one data directory would share its STAN counter, its journal and its
queues: each would give out the other's STANs and send the other's reversals. Only an
exclusive open of a serial port stopped a second one, by accident; with TCP or simulated
devices nothing did. ``posterm run`` therefore holds an exclusive ``flock`` on
``run.lock`` in the data directory for as long as it runs, and ``posterm provision``
(with or without a manifest) takes the same lock before it checks or changes anything,
as do ``posterm keys inject``, ``inject-dukpt`` and ``rotate-data-key``: the running
terminal holds its keys in memory and writes its ring back at each sign-on (the key
ring refuses that write if the file changed under it, ``crypto.keyring``). The kernel
drops the lock when the process dies, however it dies, so a power cut or a SIGKILL never leaves a
stale lock. The lock file holds the holder's pid, for the error message only.

Readers (``posterm report``) and the tools that must work beside a running terminal
(``posterm keys zeroize``, ``posterm operators``) do not take it. ``posterm selftest``
asks ``lock_holder`` first: the devices a running terminal holds are not opened.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firmware.errors import StorageError

__all__ = ["LOCK_FILE", "run_lock", "lock_holder"]

LOCK_FILE = "run.lock"


def _note_holder(fd: int) -> None:
    """Our pid in the lock file, for another's error message only: written over the old one before the
    file is cut to it (a full disk keeps the block the file had), and never worth failing the lock for."""
    pid = f"{os.getpid()}\n".encode()
    try:
        os.pwrite(fd, pid, 0)
        os.ftruncate(fd, len(pid))
    except OSError:  # a full disk, a read-only lock file: the flock alone is the lock
        pass


@contextmanager
def run_lock(data_dir: Path | str, *, doing: str = "run") -> Iterator[None]:
    """Hold the data directory's run lock, or raise ``storage.in_use`` naming who holds it.
    A directory that does not exist yet has nothing to protect: nothing is locked."""
    directory = Path(data_dir)
    if not directory.is_dir():
        yield
        return
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise StorageError(f"cannot open the run lock {path}: {e.strerror}", code="storage.lock_failed") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StorageError(f"another posterm run is using {directory} (pid {holder}): cannot {doing} beside it",
                               code="storage.in_use") from None
        _note_holder(fd)
        yield
    finally:
        os.close(fd)  # releases the lock


def lock_holder(data_dir: Path | str) -> str | None:
    """The pid (as the lock file says it, or ``unknown``) of another process holding ``data_dir``'s run lock, or
    None: nobody, or this process (provisioning runs its selftest under its own lock). Takes the lock for an
    instant only when it is free, and makes no lock file."""
    try:
        fd = os.open(Path(data_dir) / LOCK_FILE, os.O_RDONLY)
    except OSError:  # no lock file (never run) or an unreadable one: nothing known to be running
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            return None if holder == str(os.getpid()) else holder
        return None
    finally:
        os.close(fd)  # releases the instant's shared lock
