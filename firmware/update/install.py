"""Filling the inactive slot from a verified bundle: wipe it, unpack it, run the install hook, mark it.

Kept apart from ``firmware.update.slots`` (which slot runs: state.json, the links,
confirm, boot-check and rollback) because this is the one part that writes a slot's
files, and its order is what keeps an incomplete slot from ever running: the marker goes
first when a slot is wiped and last when it is filled, after everything is synced. The
bundle is read a second time with every check, since it may have changed since it was
verified. ``Updater.apply`` calls ``fill_slot`` under its lock, between ``Step.VERIFIED``
and the commit point; each ``Step`` passed goes to ``hook`` (the tests cut the power there).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from firmware.bytecode import compile_bytecode
from firmware.errors import StorageError
from firmware.files import fsync_dir, write_atomic
from firmware.update.bundle import (
    FORMAT,
    MARKER,
    Verified,
    _bad,
    _files,
    _iso,
    _mkdir,
    _read_header,
    _reading,
)
from firmware.update.model import Step

__all__ = ["fill_slot"]


def fill_slot(slot_dir: Path, bundle: Path, trusted: Mapping[str, object], verified: Verified, *,
              install_cmd: str | None, hook: Callable[[Step], None], clock: Callable) -> None:
    """Make ``slot_dir`` a complete slot holding ``verified``: from ``Step.UNMARKED`` to ``Step.MARKED``."""
    version = verified.manifest.version
    _wipe(slot_dir, hook)
    _unpack(bundle, trusted, verified, slot_dir, hook)
    hook(Step.UNPACKED)
    compile_bytecode(slot_dir)  # the service may not write it (firmware.bytecode)
    if install_cmd:
        _install(install_cmd, slot_dir, version)
    hook(Step.INSTALLED)
    os.sync()  # the files and whatever the install hook wrote are on the disk before the marker
    marker = {"format": FORMAT, "version": version, "created": verified.manifest.created,
              "manifest_sha256": verified.digest, "key_id": verified.key_id,
              "files": len(verified.manifest.files), "installed_at": _iso(clock())}
    if verified.manifest.schema is not None:
        marker["schema"] = verified.manifest.schema.to_dict()
    write_atomic(slot_dir / MARKER, (json.dumps(marker, indent=1) + "\n").encode())
    hook(Step.MARKED)


def _wipe(path: Path, hook: Callable[[Step], None]) -> None:
    import shutil

    marker = path / MARKER
    if os.path.lexists(marker):
        marker.unlink()
        fsync_dir(path)
    hook(Step.UNMARKED)
    if os.path.islink(path):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    _mkdir(path)
    fsync_dir(path.parent)
    hook(Step.WIPED)


def _unpack(bundle: Path, trusted: Mapping[str, object], verified: Verified, slot_dir: Path,
            hook: Callable[[Step], None]) -> None:
    """Second pass: the same checks again (the file may have changed since), writing each file checked."""
    with _reading(bundle) as tar:
        raw, _ = _read_header(tar, trusted)
        if hashlib.sha256(raw).hexdigest() != verified.digest:
            raise _bad("the bundle changed while it was being applied")
        for entry, data in _files(tar, verified.manifest):
            target = slot_dir.joinpath(*entry.path.split("/"))
            for parent in reversed(target.relative_to(slot_dir).parents[:-1]):
                _mkdir(slot_dir / parent)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                os.fchmod(fd, entry.mode)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            hook(Step.FILE_WRITTEN)


def _install(command: str, slot_dir: Path, version: str) -> None:
    import subprocess

    env = dict(os.environ, POSTERM_SLOT=str(slot_dir), POSTERM_UPDATE_VERSION=version)
    try:
        code = subprocess.run(["/bin/sh", "-c", command], cwd=slot_dir, env=env, stdin=subprocess.DEVNULL,
                              check=False).returncode
    except OSError as e:
        raise StorageError(f"cannot run the install command ({e.strerror})", code="update.install_failed") from None
    if code != 0:
        raise StorageError(f"the install command failed with exit status {code}; the running firmware is unchanged",
                           code="update.install_failed")
