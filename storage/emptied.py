"""A database emptied to 0 bytes, or missing, beside a key ring that has been used: refused, never made anew.

Why: SQLite takes a 0-byte file, or no file at all, for a new, empty database, and
the terminal would start as a fresh one: its journal, queued reversals and advices,
counters and open batch silently gone (a truncated copy, a full disk during a
restore, a file system repair, a database deleted or left behind on another card).
A genuinely new terminal has no database yet beside keys fresh from provisioning.
The keys say they have been used without being unwrapped (their metadata,
``keyring.json`` and ``dukpt.json``):

* working keys a sign-on installed (their note, ``SIGN_ON_NOTE``);
* a data key rotated (version above 1: the rotation re-sealed card data a journal held);
* a DUKPT counter advanced past its initial value (transactions, or counters reserved
  ahead by a running terminal).

Not used: a master key (or KBPK, or reader key) injected by ``posterm keys inject`` or a
TR-31 manifest on a fresh terminal, even re-injected (version 2), and a lab ring's
published working keys (``LAB TEST KEY``, put there by provisioning). A lab ring is
judged as any other: once it signed on or spent a DUKPT counter, its data directory
is a terminal's, and a lab demo started again on it wants a new ``--data-dir``.

The way out for an engineer who truly wants to start afresh (the card with the
database is lost and there is no backup): ``posterm keys zeroize`` destroys the keys,
and provisioning again makes a fresh ring; the terminal then signs on anew. Its lost
journal must be reconciled with the acquirer by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from firmware.errors import StorageError

__all__ = ["emptied_database", "ring_used", "SIGN_ON_NOTE"]

_WORKING = {"pin", "mac", "tdk"}
SIGN_ON_NOTE = "sign-on"  # the note crypto.signon gives the working keys a host sent (tests hold the two together)
_DUKPT_FILE = "dukpt.json"  # crypto.dukpt_device.STATE_FILE (not imported: it pulls in the DUKPT arithmetic)
_DUKPT_FIRST = 1  # the counter a DUKPT state starts at (crypto.dukpt)


def _json(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):  # none, or one the key check reports
        return None
    return doc if isinstance(doc, dict) else None


def ring_used(data_dir: Path) -> str | None:
    """Why the keys in ``data_dir`` have been used (a sentence's end), or None: none, or fresh."""
    data_dir = Path(data_dir)
    doc = _json(data_dir / "keyring.json")
    try:
        keys = [(str(e["usage"]), int(e["version"]), str(e.get("note", ""))) for e in (doc or {}).get("keys", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        keys = []
    working = sorted({u for u, _v, note in keys if u in _WORKING and note == SIGN_ON_NOTE})
    if working:
        return f"it holds working keys from a sign-on ({', '.join(working)})"
    if any(u == "data" and v > 1 for u, v, _n in keys):
        return "its data key has been replaced since provisioning"
    dukpt = _json(data_dir / _DUKPT_FILE)
    if dukpt is not None and "next_counter" in dukpt and dukpt["next_counter"] != _DUKPT_FIRST:
        return "its DUKPT counter has advanced"
    return None


def _way_out(data_dir: Path) -> str:
    return (f"restore the database from its backup; to start this terminal anew without it, run posterm keys "
            f"zeroize --data-dir {data_dir} and provision it again (it then signs on anew)")


def emptied_database(data_dir: Path | str, db_file: str) -> StorageError | None:
    """``storage.empty_database`` when ``data_dir/db_file`` is 0 bytes, ``storage.missing_database`` when it is
    not there, and the keys have been used (``ring_used``); else None."""
    data_dir = Path(data_dir)
    path = data_dir / db_file
    try:
        if path.stat().st_size != 0:
            return None
        state, code = "is empty (0 bytes)", "storage.empty_database"
    except FileNotFoundError:
        state, code = "is missing", "storage.missing_database"
    except OSError as e:
        return StorageError(f"cannot read {path} ({e.strerror})", code="storage.failed")
    why = ring_used(data_dir)
    if why is None:
        return None
    return StorageError(f"the database {path} {state} but this terminal's keys have been used ({why}): "
                        f"{_way_out(data_dir)}", code=code)
