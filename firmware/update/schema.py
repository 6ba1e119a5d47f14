"""Schemas across a rollback: can the firmware of the slot we go back to use the database?

Both slots share one data directory, and the database is migrated forward by
whichever firmware opens it (``storage/migrations.py``). New firmware B that
migrated v4 -> v5 and then failed to confirm must not be rolled back onto A if A
cannot use v5: A would refuse to start and the terminal would be dead. So before
every rollback, operator's or automatic, the updater judges the database against
the target slot's schema (``judge``):

``usable``     A can use the database as it is (its version is not above A's
               LATEST, or A reads usable-by records and the record allows it):
               roll back as always.
``restore``    A cannot, but B's migration left a snapshot that A can use, and
               the database has not changed since the migration (its content
               digest is the one recorded then: no sale, no receipt, no counter,
               no queue moved). The snapshot goes back first, in one SQLite
               transaction that a power cut leaves undone (``Step.RESTORING``,
               then ``Step.RESTORED``), and only then does ``current`` switch. At
               every instant the current slot can use the database: a cut after
               the restore but before the switch leaves B current on the old
               schema, which B simply migrates again at its next start.
``blocked``    anything else: rolling back would strand the terminal or lose
               records. The operator's ``rollback`` refuses with
               ``update.schema_blocks_rollback``, naming the versions and what to
               do; ``boot-check`` leaves B running, stops counting its starts and
               records an alert (state.json, ``update status``, the journal).
``no_database``  nothing to judge: no data directory given, or no database yet.

A slot's schema comes from its marker (``apply`` copies the bundle manifest's
``schema``, which ``build`` read from the source tree), or, for a slot installed
before markers had it, from the slot's own ``storage/migrations.py``, read as a
syntax tree and never run (``tree_schema``): boot-check runs as root from the
last confirmed slot and must not execute another slot's code. Firmware from
before the usable-by records (its ``MIGRATIONS`` is a list of functions) opens
nothing newer than its own version, whatever the record says; its schema says
so (``reads_record=False``).

The database is found the way ``posterm run`` finds it under systemd: the data
directory of the configuration the service passes (``--config``, default
``/etc/posterm/posterm.toml``); never a guess. A configuration that cannot be
read blocks a rollback that needs a judgement.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Gate", "SlotSchema", "Verdict", "can_open", "database_status", "judge", "restore", "tree_schema"]


@dataclass(frozen=True)
class SlotSchema:
    """What a firmware knows of the database: the newest version it migrates to, and more."""

    latest: int
    readable_by: int | None  # databases it leaves are usable by firmware of this schema on (None: unknown)
    reads_record: bool  # opens a newer database when its usable-by record allows (firmware from the records on)

    def to_dict(self) -> dict:
        return {"latest": self.latest, "readable_by": self.readable_by, "reads_record": self.reads_record}

    @classmethod
    def from_dict(cls, doc) -> SlotSchema | None:
        """A manifest's or marker's ``schema``, checked; None if it is not one."""
        if not isinstance(doc, dict):
            return None
        latest, readable_by, reads = doc.get("latest"), doc.get("readable_by"), doc.get("reads_record")
        if type(latest) is not int or latest < 1 or not isinstance(reads, bool):
            return None
        if readable_by is not None and (type(readable_by) is not int or not 1 <= readable_by <= latest):
            return None
        return cls(latest, readable_by, reads)

    def describe(self) -> str:
        text = f"schema v{self.latest}"
        if self.readable_by is not None:
            text += f" (its databases usable from v{self.readable_by})"
        return text + ("" if self.reads_record else ", opens no newer database")


def tree_schema(tree: Path) -> SlotSchema | None:
    """The schema of the firmware tree at ``tree``, read from its ``storage/migrations.py`` without running it.

    Two forms are known: ``MIGRATIONS = (Migration(1, _v1, readable_by=1), ...)``
    and, before the records, ``MIGRATIONS: list[Callable] = [_v1, _v2, ...]``. Anything
    else is None: the caller refuses to guess (a test checks this tree reads back).
    """
    import ast

    try:
        module = ast.parse((Path(tree) / "storage" / "migrations.py").read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not (isinstance(target, ast.Name) and target.id == "MIGRATIONS"):
            continue
        items = value.elts if isinstance(value, (ast.List, ast.Tuple)) else []
        if not items:
            return None
        if all(isinstance(e, ast.Name) for e in items):
            from storage.migrations import LATEST, usable_by

            latest = len(items)
            return SlotSchema(latest, usable_by(latest) if latest <= LATEST else None, reads_record=False)
        declared = [_migration(e) for e in items]
        if any(d is None for d in declared) or [d[0] for d in declared] != list(range(1, len(items) + 1)):
            return None
        return SlotSchema.from_dict({"latest": len(items), "readable_by": declared[-1][1], "reads_record": True})
    return None


def _migration(node) -> tuple[int, int] | None:
    """``Migration(version, apply, readable_by=N)`` with literal numbers -> (version, N)."""
    import ast

    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Migration"):
        return None
    named = {k.arg: k.value for k in node.keywords}
    version = named.get("version", node.args[0] if node.args else None)
    readable = named.get("readable_by", node.args[2] if len(node.args) > 2 else None)
    numbers = [n.value if isinstance(n, ast.Constant) and type(n.value) is int else None for n in (version, readable)]
    return None if None in numbers else (numbers[0], numbers[1])


# -- judging a rollback --------------------------------------------------------------------
class Verdict(str, enum.Enum):
    NO_DATABASE = "no_database"
    USABLE = "usable"
    RESTORE = "restore"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Gate:
    verdict: Verdict
    text: str  # one sentence for the operator
    db_path: Path | None = None
    database: object | None = None  # storage.migrations.DbSchema
    snapshot: object | None = None  # storage.migrations.SnapshotRecord, when it is to be restored


def connect(db_path: Path):
    """An existing database, never created; read with SELECTs only (the last close tidies the log away).

    sqlite3 is imported here, not at the top: boot-check imports this module at every start."""
    import sqlite3

    return sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=5.0)


def judge(db_path: Path | None, who: str, schema: SlotSchema | None) -> Gate:
    """May ``who`` (e.g. "slot a (posterm 1.0)"), whose firmware has ``schema``, take over the database?"""
    import sqlite3

    from storage.db import DIGEST_FORMAT, content_digest
    from storage.migrations import DbSchema, opens, read_schema, read_snapshot_record

    if db_path is None or not Path(db_path).exists():
        return Gate(Verdict.NO_DATABASE, "there is no database to check", db_path)
    try:
        conn = connect(db_path)
        try:
            db, snap = read_schema(conn), read_snapshot_record(conn)
            if schema is None:
                return Gate(Verdict.BLOCKED, f"cannot tell which database schemas {who} reads: its marker and its "
                            "storage/migrations.py do not say", db_path, db)
            if opens(db, schema.latest, reads_record=schema.reads_record):
                return Gate(Verdict.USABLE, f"{who} can use the database (schema v{db.version})", db_path, db)
            if snap is None or snap.migrated_to != db.version or snap.digest_format != DIGEST_FORMAT:
                why = "has no snapshot from before its migration"
            elif snap.usable_by > schema.latest or not opens(DbSchema(snap.version, snap.usable_by, True),
                                                              schema.latest, reads_record=schema.reads_record):
                # usable-by above the snapshot's own version: content it holds (an archive) needs newer firmware
                why = f"its snapshot (v{snap.version}, usable from v{snap.usable_by}) is too new for it as well"
            elif not (Path(db_path).parent / snap.file).is_file():
                why = f"its snapshot {snap.file} is missing"
            elif content_digest(conn) != snap.after:
                why = "has changed since its migration, so restoring its snapshot would lose records"
            else:
                return Gate(Verdict.RESTORE, f"the database (schema v{db.version}) goes back to its snapshot of schema "
                            f"v{snap.version}, unchanged since the migration, for {who}", db_path, db, snap)
        finally:
            conn.close()
    except sqlite3.Error as e:
        return Gate(Verdict.BLOCKED, f"cannot read the database {db_path} to check its schema ({e})", db_path)
    newer = "" if schema.reads_record else ", and opens no newer one"
    return Gate(Verdict.BLOCKED, f"{who} reads database schemas up to v{schema.latest}{newer}, but the database is "
                f"v{db.version} (usable from v{db.usable_by}) and {why}: keep the running firmware, or install a "
                f"fixed one of schema v{db.usable_by} or newer", db_path, db)


def restore(gate: Gate, step) -> None:
    """Put the snapshot a ``restore`` verdict names back; ``step()`` at each chunk copied (see ``storage.db``)."""
    from storage.db import restore_snapshot

    assert gate.verdict is Verdict.RESTORE and gate.db_path is not None and gate.snapshot is not None
    snap = gate.snapshot
    restore_snapshot(gate.db_path, Path(gate.db_path).parent / snap.file, unchanged_since=snap.after,
                     snapshot_digest=snap.before, step=step)


# -- status ----------------------------------------------------------------------------------
def database_status(db_path: Path | None) -> dict:
    """The database's schema, who can use it, and its snapshot, for ``update status`` (reads only)."""
    import sqlite3

    from storage.db import content_digest
    from storage.migrations import read_schema, read_snapshot_record

    if db_path is None:
        return {"path": None, "error": "no data directory was given"}
    if not Path(db_path).exists():
        return {"path": str(db_path), "exists": False}
    try:
        conn = connect(db_path)
        try:
            db, snap = read_schema(conn), read_snapshot_record(conn)
            snapshot = None
            if snap is not None:
                snapshot = {"file": snap.file, "version": snap.version, "usable_by": snap.usable_by,
                            "migrated_to": snap.migrated_to,
                            "present": (Path(db_path).parent / snap.file).is_file(),
                            "unchanged_since": snap.migrated_to == db.version and content_digest(conn) == snap.after}
        finally:
            conn.close()
    except sqlite3.Error as e:
        return {"path": str(db_path), "error": f"cannot read the database ({e})"}
    return {"path": str(db_path), "exists": True, "version": db.version, "usable_by": db.usable_by,
            "recorded": db.recorded, "snapshot": snapshot}


def can_open(database: dict, schema: SlotSchema | None) -> bool | None:
    """Whether firmware of ``schema`` can use the database ``database_status`` described; None if unknown."""
    from storage.migrations import DbSchema, opens

    if schema is None or "version" not in database:
        return None
    db = DbSchema(database["version"], database["usable_by"], database["recorded"])
    return opens(db, schema.latest, reads_record=schema.reads_record)
