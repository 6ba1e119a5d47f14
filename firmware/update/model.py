"""The device side's records: the two slots, the steps an update passes, what boot-check
did, and ``state.json`` (the commit point), as ``firmware.update.slots`` describes them.

Kept apart from ``slots`` (the ``Updater``: the operations and how each one moves the links)
and ``install`` (writing a slot's files) because both use them, as do the command line and
the power-cut tests: ``Step`` is the list of places a test may cut the power, and ``State``
is a file format that must read back across firmware versions. Nothing here touches the disk.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

from firmware.update.bundle import FORMAT

__all__ = ["HISTORY", "BootCheck", "Slot", "State", "Step"]

HISTORY = 20


class Slot(str, enum.Enum):
    A = "a"
    B = "b"

    @property
    def other(self) -> Slot:
        return Slot.B if self is Slot.A else Slot.A


class Step(str, enum.Enum):
    """Points the update commands pass, in order; ``hook`` is called at each (tests cut the power there)."""

    VERIFIED = "verified"  # bundle checked, nothing written yet
    UNMARKED = "unmarked"  # the inactive slot's marker is gone: it is incomplete from here on
    WIPED = "wiped"
    FILE_WRITTEN = "file_written"  # once per file
    UNPACKED = "unpacked"
    INSTALLED = "installed"  # the install hook ran (or there was none)
    MARKED = "marked"  # the slot is complete
    RECORDED = "recorded"  # state.json written: the commit point
    LINK_STAGED = "link_staged"  # the temporary symlink exists, not yet renamed over the link
    SWITCHED = "switched"
    RESTORING = "restoring"  # a rollback is copying the snapshot back: once per chunk, nothing committed yet
    RESTORED = "restored"  # the database is the snapshot again; the switch comes next


class BootCheck(str, enum.Enum):
    NOTHING_PENDING = "nothing_pending"
    COUNTED = "counted"
    ROLLED_BACK = "rolled_back"
    NO_FALLBACK = "no_fallback"  # pending, out of attempts, but the other slot is incomplete: keep going
    SCHEMA_BLOCKED = "schema_blocked"  # out of attempts, but the other slot cannot use the database: keep going, alert


@dataclass(frozen=True)
class State:
    """``state.json``, the commit point: which slot runs, which awaits a confirm, and what happened."""

    active: Slot | None = None
    pending: Slot | None = None
    attempts: int = 0
    good: Slot | None = None
    last_rollback: dict | None = None
    history: tuple[dict, ...] = field(default=())
    alert: dict | None = None  # a rollback the schema blocked: shown until the next apply or rollback

    def to_bytes(self) -> bytes:
        doc = {"format": FORMAT, "active": _v(self.active), "pending": _v(self.pending), "attempts": self.attempts,
               "good": _v(self.good), "last_rollback": self.last_rollback, "history": list(self.history[-HISTORY:]),
               "alert": self.alert}
        return (json.dumps(doc, indent=1) + "\n").encode()

    @classmethod
    def parse(cls, raw: bytes) -> State:
        doc = json.loads(raw)
        if doc["format"] != FORMAT:
            raise ValueError("format")
        active, pending, good = (None if doc[k] is None else Slot(doc[k]) for k in ("active", "pending", "good"))
        return cls(active, pending, int(doc["attempts"]), good, doc.get("last_rollback"), tuple(doc.get("history", ())),
                   doc.get("alert"))


def _v(slot: Slot | None) -> str | None:
    return None if slot is None else slot.value
