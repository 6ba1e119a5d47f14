"""A database file emptied to 0 bytes beside a key ring that has been used: refused, never made anew.

Why: SQLite takes a 0-byte file for a new, empty database, and the terminal would
start as a fresh one: its journal, queued reversals and advices, counters and open
batch silently gone (a truncated copy, a full disk during a restore, a file system
repair). A genuinely new terminal has no database file yet, or a key ring fresh from
provisioning. A ring that has been used says so without being unwrapped (its
metadata, ``keyring.json``): working keys a sign-on installed, or a key with more
than one version (a data-key rotation re-seals the card data the journal held). A
lab ring's published working keys (``LAB TEST KEY``) are installed by provisioning,
so they alone do not make it used.
"""

from __future__ import annotations

import json
from pathlib import Path

from firmware.errors import StorageError

__all__ = ["emptied_database", "ring_used"]

_WORKING = {"pin", "mac", "tdk"}
_FRESH_NOTES = {"LAB TEST KEY"}  # put there by provisioning, not by a sign-on


def ring_used(data_dir: Path) -> str | None:
    """Why the key ring in ``data_dir`` has been used (a sentence's end), or None: none, or fresh."""
    try:
        doc = json.loads((Path(data_dir) / "keyring.json").read_bytes())
        keys = [(str(e["usage"]), int(e["version"]), str(e.get("note", ""))) for e in doc["keys"]]
    except (OSError, ValueError, KeyError, TypeError):  # no ring, or one the key check reports
        return None
    working = sorted({u for u, _v, note in keys if u in _WORKING and note not in _FRESH_NOTES})
    if working:
        return f"it holds working keys from a sign-on ({', '.join(working)})"
    rotated = sorted({u for u, v, _n in keys if v > 1})
    if rotated:
        return f"its {', '.join(rotated)} key has been replaced since provisioning"
    return None


def emptied_database(data_dir: Path | str, db_file: str) -> StorageError | None:
    """``storage.empty_database`` when ``data_dir/db_file`` is 0 bytes and the key ring has been used; else None."""
    path = Path(data_dir) / db_file
    try:
        if path.stat().st_size != 0:
            return None
    except FileNotFoundError:
        return None
    except OSError as e:
        return StorageError(f"cannot read {path} ({e.strerror})", code="storage.failed")
    why = ring_used(Path(data_dir))
    if why is None:
        return None
    return StorageError(
        f"the database {path} is empty (0 bytes) but this terminal's key ring has been used ({why}): restore "
        "the database from its backup, or move it aside to start as a new terminal",
        code="storage.empty_database",
    )
