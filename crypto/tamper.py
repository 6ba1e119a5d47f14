"""Tamper response: destroy every key, remember why, refuse to work until re-keyed.

``zeroize(data_dir, reason=..., source=...)`` is what the tamper GPIO line and
the operator command call. In order:

1. ``tamper.json`` is written first (atomically), so even a power cut in the
   middle of zeroizing leaves a terminal that refuses transactions and says why;
2. every key file (``kek.key``, ``keyring.json``, ``dukpt.json`` and any
   half-written ``.tmp`` copy) is overwritten with zeros, fsynced and removed;
3. a KEK provider that can destroy its key (a secure element or TPM: a
   ``destroy()`` method) is asked to.

Everything at rest is wrapped or sealed under keys that no longer exist, so
card data still queued in the database can no longer be opened. That is the
point of the exercise; overwriting files on flash storage with wear
levelling is best effort, destroying the KEK is what counts.

``TerminalKeys.load`` (``crypto.provision``) refuses with ``keys.tampered``
while ``tamper.json`` exists. Injecting a terminal master key
(``crypto.inject``) or provisioning lab keys removes it: that is re-keying.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from crypto.keyring import KEK_FILE, KEYRING_FILE, KekProvider, write_private
from firmware.errors import CryptoError

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
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, bytes(size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, record: TamperRecord) -> None:
    write_private(path, (json.dumps(asdict(record), indent=1) + "\n").encode())


def zeroize(data_dir: Path, *, reason: str = "tamper", source: str = "command",
            kek: KekProvider | None = None, when: datetime | None = None) -> TamperRecord:
    """Destroy every key under ``data_dir`` (and in ``kek``, if it can). Safe to repeat."""
    data_dir = Path(data_dir)
    stamp = (when or datetime.now()).isoformat(timespec="seconds")
    marker = data_dir / TAMPER_FILE
    record = TamperRecord(stamp, reason, source)
    _write(marker, record)
    destroyed = []
    for name in KEY_FILES:
        for path in (data_dir / name, data_dir / f".{name}.tmp"):
            if _destroy(path):
                destroyed.append(path.name)
    destroy = getattr(kek, "destroy", None)
    if callable(destroy):
        destroy()
        destroyed.append("kek provider")
    _fsync_dir(data_dir)
    record = TamperRecord(stamp, reason, source, tuple(destroyed))
    _write(marker, record)
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
        _fsync_dir(path.parent)
