"""Files written so that a power cut leaves the old one or the new one, never half of each.

One writer for the key ring and the DUKPT state (``crypto.keyring``, mode 0600), the tamper
record, provisioning's files and the A/B update's slot state and markers. It imports only
the standard library: ``posterm update boot-check`` runs at every start and must not pay for
``cryptography`` (which ``crypto.keyring`` imports) to write a file.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

__all__ = ["write_atomic", "write_private", "fsync_dir", "naming"]


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically with ``mode``: write a temporary file, fsync it, rename it
    over ``path``, fsync the directory.

    A failure removes the temporary file (a full disk must not be left fuller) and raises the
    ``OSError`` naming ``path``, or its directory when that is what is missing, never the
    temporary name the user did not give."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    except OSError as e:
        raise naming(e, path) from None
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise naming(e, path) from None
        raise
    try:
        fsync_dir(path.parent)
    except OSError as e:
        raise naming(e, path) from None


def write_private(path: Path, data: bytes) -> None:
    """``write_atomic`` with mode 0600 (keys, key state)."""
    write_atomic(path, data, 0o600)


def fsync_dir(directory: Path) -> None:
    """Make a rename or an unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def naming(e: OSError, path: Path) -> OSError:
    """``e`` again, naming ``path`` (or its missing directory) instead of a temporary file."""
    where = path.parent if e.errno == errno.ENOENT and not path.parent.is_dir() else path
    return type(e)(e.errno, e.strerror, str(where))
