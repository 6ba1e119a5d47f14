"""Tamper response: destroy every key, remember why, refuse to work until re-keyed.

``zeroize(data_dir, reason=..., source=...)`` is what the tamper GPIO line and
the operator command call. In order:

1. every key file (``kek.key``, ``keyring.json``, ``dukpt.json`` and any
   half-written ``.tmp`` copy) is overwritten with zeros where it can be
   (best effort: a full disk or a file size limit may refuse even that) and
   removed, always;
2. a KEK provider that can destroy its key (a secure element or TPM: a
   ``destroy()`` method) is asked to;
3. ``tamper.json`` is written, as best it can be, saying why.

Destroying comes first because a record that cannot be written (a full
disk: the moment an attacker would choose) must never leave a usable key.
The removed files free room for the record; if it still cannot be written,
``zeroize`` raises ``tamper.not_recorded`` naming what it destroyed, and the
terminal refuses to work anyway: it has no keys (``keys.not_provisioned``),
and a running one notices its key ring is gone (``firmware.runner_wait``).
A key file that could not be removed raises ``tamper.keys_left``, naming it.
A power cut part way leaves fewer keys, never a record over whole keys.

Everything at rest is wrapped or sealed under keys that no longer exist, so
card data still queued in the database can no longer be opened. That is the
point of the exercise; overwriting files on flash storage with wear
levelling is best effort, destroying the KEK is what counts.

``TerminalKeys.load`` (``crypto.provision``) refuses with ``keys.tampered``
while ``tamper.json`` exists. Injecting a terminal master key
(``crypto.inject``) or provisioning lab keys removes it: that is re-keying.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from crypto.keyring import KEK_FILE, KEYRING_FILE, KekProvider, write_private
from firmware.errors import CryptoError
from firmware.files import fsync_dir

__all__ = ["TAMPER_FILE", "KEY_FILES", "TamperRecord", "zeroize", "tamper_status", "clear_tamper", "require_untampered"]

TAMPER_FILE = "tamper.json"
KEY_FILES = (KEK_FILE, KEYRING_FILE, "dukpt.json")


@dataclass(frozen=True)
class TamperRecord:
    at: str  # ISO 8601 local time
    reason: str  # short operator text, e.g. "case opened"
    source: str  # "gpio", "command", ...
    destroyed: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return f"keys destroyed ({self.source}: {self.reason}) at {self.at}; re-key the terminal"


def _destroy(path: Path) -> bool:
    """Overwrite ``path`` with zeros (best effort), then remove it. False if there was none;
    an ``OSError`` only if it could not be removed."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # a full disk or a size limit may refuse even an overwrite in place: removing is what counts
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _write(path: Path, record: TamperRecord) -> None:
    write_private(path, (json.dumps(asdict(record), indent=1) + "\n").encode())


def zeroize(data_dir: Path, *, reason: str = "tamper", source: str = "command",
            kek: KekProvider | None = None, when: datetime | None = None) -> TamperRecord:
    """Destroy every key under ``data_dir`` (and in ``kek``, if it can), then record why. Safe to repeat.

    Raises ``tamper.keys_left`` if a key file could not be removed, ``tamper.not_recorded`` if every
    key is gone but the record could not be written (each naming what was destroyed)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():  # a mistyped --data-dir: say so, not that a record could not be written
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(data_dir))
    stamp = (when or datetime.now()).isoformat(timespec="seconds")
    destroyed: list[str] = []
    left: list[str] = []
    for name in KEY_FILES:
        for path in (data_dir / name, data_dir / f".{name}.tmp"):
            try:
                if _destroy(path):
                    destroyed.append(path.name)
            except OSError as e:
                left.append(f"{path.name} ({e.strerror})")
    destroy = getattr(kek, "destroy", None)
    if callable(destroy):
        try:
            destroy()
            destroyed.append("kek provider")
        except Exception as e:  # whatever the secure element raises: named, after the files are gone
            left.append(f"kek provider ({type(e).__name__})")
    with contextlib.suppress(OSError):
        fsync_dir(data_dir)
    record = TamperRecord(stamp, reason, source, tuple(destroyed))
    gone = ", ".join(destroyed) or "no key files were present"
    if left:
        with contextlib.suppress(OSError):
            _write(data_dir / TAMPER_FILE, record)
        raise CryptoError(f"zeroize could not destroy {', '.join(left)} (destroyed: {gone})", code="tamper.keys_left")
    try:
        _write(data_dir / TAMPER_FILE, record)
    except OSError as e:
        raise CryptoError(f"keys destroyed ({gone}) but the tamper record {e.filename} was not written "
                          f"({e.strerror}): the terminal has no keys until re-keyed", code="tamper.not_recorded") from None
    return record


def tamper_status(data_dir: Path) -> TamperRecord | None:
    """The tamper record if keys were zeroized and not re-keyed since, else ``None``."""
    path = Path(data_dir) / TAMPER_FILE
    try:
        doc = json.loads(path.read_text())
        return TamperRecord(str(doc["at"]), str(doc["reason"]), str(doc["source"]), tuple(doc.get("destroyed", ())))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # A damaged marker still means the terminal was tampered with.
        return TamperRecord("unknown", "tamper record damaged", "unknown")


def require_untampered(data_dir: Path) -> None:
    record = tamper_status(data_dir)
    if record is not None:
        raise CryptoError(record.text, code="keys.tampered")


def clear_tamper(data_dir: Path) -> None:
    """Re-keyed: forget the tamper record."""
    path = Path(data_dir) / TAMPER_FILE
    if path.exists():
        path.unlink()
        fsync_dir(path.parent)
