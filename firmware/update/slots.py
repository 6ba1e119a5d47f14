"""The device side of updates: two slots, a ``current`` link, and rollback after unconfirmed boots.

Device layout under the root (default ``/opt/posterm``)::

    slots/a  slots/b   two trees; a slot is complete once it holds .posterm-slot.json (written last)
    current -> slots/X the firmware systemd runs (current/.venv/bin/posterm)
    good -> slots/Y    the last confirmed slot: boot-check runs from there, so a new
                       firmware that cannot even import is still rolled back
    state.json         the commit point: active, pending, boot attempts, good, last rollback
    .lock              one update command at a time

Order of apply (each a ``Step`` for the tests' power cuts): verify everything,
wipe the inactive slot (its marker first), unpack, run the install hook, sync,
write the marker, write state.json (new slot active and pending), switch
``current`` (temp symlink + ``os.replace`` + directory fsync). Every command
first repairs a switch that a power cut interrupted by making the links follow
state.json, so after any cut the terminal runs either the old slot, or the new
slot pending confirmation; never an incomplete slot.
The steps up to the marker, which write the slot's files, are ``install.fill_slot``;
``Slot``, ``Step``, ``BootCheck`` and ``State`` (state.json) are in ``model``.

Every rollback first judges the shared database against the target slot's
schema (``firmware/update/schema.py``): it goes ahead, restores the
pre-migration snapshot first, or is refused (the automatic one then keeps the
new slot running and records an alert). The marker of each slot records its
schema, from the bundle's manifest.
"""


from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from firmware.errors import (
    ConfigError,
    StateError,
    StorageError,
    TerminalError,
)
from firmware.update import DEFAULT_ATTEMPTS, DEFAULT_ROOT, DEFAULT_TRUST
from firmware.files import fsync_dir, write_atomic
from firmware.update.bundle import (
    MARKER,
    _iso,
    _mkdir,
    _utcnow,
    _version_key,
    load_trusted_keys,
    verify_bundle,
)
from firmware.update.install import fill_slot
from firmware.update.model import HISTORY, BootCheck, Slot, State, Step, _v
from firmware.update.schema import (
    Gate,
    SlotSchema,
    Verdict,
    can_open,
    database_status,
    judge,
    restore,
    tree_schema,
)

__all__ = ["DEFAULT_ATTEMPTS", "DEFAULT_ROOT", "DEFAULT_TRUST", "Updater"]

log = logging.getLogger(__name__)


def _noop(step: Step) -> None:
    pass


# -- the device side -------------------------------------------------------------------
class Updater:
    """The A/B slots under ``root``. ``hook(step)`` is called at every durable step (tests cut the power there).

    ``data_dir`` is the terminal's data directory, or a function that finds it (the
    CLI reads posterm's configuration, and only when a rollback needs it); None
    means there is no database to protect, and rollbacks are not judged.
    """

    def __init__(self, root: Path = DEFAULT_ROOT, *, hook: Callable[[Step], None] = _noop,
                 clock: Callable = _utcnow, data_dir: Path | Callable[[], Path] | None = None) -> None:
        self.root = Path(root)
        self.hook = hook
        self.clock = clock
        self.state_path = self.root / "state.json"
        self._data_dir = data_dir

    def slot_dir(self, slot: Slot) -> Path:
        return self.root / "slots" / slot.value

    def slot_info(self, slot: Slot | None) -> dict | None:
        """The marker of a complete slot (version, manifest digest, key id ...), or None if incomplete."""
        if slot is None:
            return None
        try:
            info = json.loads((self.slot_dir(slot) / MARKER).read_bytes())
            return info if isinstance(info, dict) and isinstance(info.get("version"), str) else None
        except (OSError, ValueError):
            return None

    def slot_schema(self, slot: Slot) -> SlotSchema | None:
        """The schema of a complete slot's firmware: its marker's, else read from its tree (see ``schema``)."""
        info = self.slot_info(slot)
        if info is None:
            return None
        return SlotSchema.from_dict(info.get("schema")) or tree_schema(self.slot_dir(slot))

    def db_path(self) -> Path | None:
        """The terminal's database (it need not exist), or None if this updater was given no data directory."""
        if self._data_dir is None:
            return None
        if callable(self._data_dir):
            self._data_dir = Path(self._data_dir())  # read the configuration once
        from storage.store import DB_FILE

        return Path(self._data_dir) / DB_FILE

    def judge(self, slot: Slot) -> Gate:
        """May ``slot``'s firmware take over the database? (``schema.judge``)"""
        who = f"slot {slot.value} (posterm {(self.slot_info(slot) or {}).get('version', '?')})"
        return judge(self.db_path(), who, self.slot_schema(slot))

    def read_state(self) -> State | None:
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return State.parse(raw)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise StorageError(f"{self.state_path} is damaged", code="update.state_damaged") from None

    def link(self, name: str) -> Slot | None:
        path = self.root / name
        try:
            target = os.readlink(path)
        except FileNotFoundError:
            return None
        except OSError:
            raise StorageError(f"{path} should be a symbolic link to slots/a or slots/b", code="update.layout") from None
        if target not in ("slots/a", "slots/b"):
            raise StorageError(f"{path} points at {target[:80]!r}, not at slots/a or slots/b", code="update.layout")
        return Slot(target[-1])

    # -- operations ------------------------------------------------------------------
    def apply(self, bundle: Path, trust: Path = DEFAULT_TRUST, *, install_cmd: str | None = None,
              allow_downgrade: bool = False) -> Slot:
        """Install ``bundle`` into the inactive slot and make it current, pending confirmation."""
        trusted = load_trusted_keys(trust)
        verified = verify_bundle(bundle, trusted)  # nothing on the device is touched before this passes
        version = verified.manifest.version
        with self._locked():
            state = self._repair()
            if state.pending is not None:
                raise StateError(f"slot {state.pending.value} is still waiting for a confirm: confirm or roll back first",
                                 code="update.pending")
            running = (self.slot_info(state.active) or {}).get("version")
            if running and not allow_downgrade and _version_key(version) <= _version_key(running):
                raise ConfigError(f"bundle version {version} is not newer than the running {running}",
                                  code="update.downgrade")
            self.hook(Step.VERIFIED)
            target = state.active.other if state.active is not None else Slot.A
            fill_slot(self.slot_dir(target), Path(bundle), trusted, verified, install_cmd=install_cmd, hook=self.hook,
                      clock=self.clock)  # Step.UNMARKED ... Step.MARKED
            first = state.active is None  # nothing to fall back to: a first install is confirmed at once
            self._save(replace(state, active=target, pending=None if first else target, attempts=0,
                               good=target if first else state.active, alert=None),
                       "applied", target, version)
            self._point("current", target)
            if first:
                self._point("good", target)
            log.info("posterm %s installed in slot %s", version, target.value)
            return target

    def confirm(self) -> Slot | None:
        """The running firmware is healthy: clear pending. Returns the confirmed slot, None if nothing was pending."""
        if not self._exists():
            return None
        with self._locked():
            state = self._repair()
            if state.pending is None:
                return None
            slot = state.pending
            self._save(replace(state, pending=None, attempts=0, good=slot, alert=None), "confirmed", slot)
            self._point("good", slot)
            return slot

    def boot_check(self, max_attempts: int = DEFAULT_ATTEMPTS) -> BootCheck:
        """Before each start: count a start of a pending slot; roll back once it has had ``max_attempts``.

        A rollback the database's schema blocks (``schema``) does not happen: the new
        slot keeps running, its starts are no longer counted, and the alert is kept in
        state.json for ``update status`` (and logged) until the next apply or
        rollback. Anything that stops the judgement (the configuration unreadable,
        the database in use or changed meanwhile, a damaged snapshot) blocks it too.
        """
        if not self._exists():
            return BootCheck.NOTHING_PENDING
        with self._locked():
            state = self._repair()
            if state.pending is None:
                return BootCheck.NOTHING_PENDING
            if state.attempts < max_attempts:
                self._save(replace(state, attempts=state.attempts + 1))
                return BootCheck.COUNTED
            if self.slot_info(state.pending.other) is None:
                log.info("slot %s was never confirmed but slot %s is incomplete: keeping it",
                         state.pending.value, state.pending.other.value)
                self._save(replace(state, pending=None, attempts=0), "no_fallback", state.pending)
                return BootCheck.NO_FALLBACK
            try:
                gate = self.judge(state.pending.other)
                if gate.verdict is Verdict.RESTORE:
                    self._restore(gate)
            except TerminalError as e:
                gate = Gate(Verdict.BLOCKED, f"{e.text} [{e.code}]")
            if gate.verdict is Verdict.BLOCKED:
                alert = {"at": _iso(self.clock()), "code": "update.schema_blocks_rollback", "slot": state.pending.value,
                         "text": f"slot {state.pending.value} was never confirmed but is kept: {gate.text}"}
                log.error("%s [%s]", alert["text"], alert["code"])
                self._save(replace(state, pending=None, attempts=0, alert=alert), "schema_blocked", state.pending,
                           reason=gate.text)
                return BootCheck.SCHEMA_BLOCKED
            self._roll_back(state, f"{state.attempts} starts without a confirm", gate)
            return BootCheck.ROLLED_BACK

    def rollback(self, reason: str = "operator") -> Slot:
        """Make the other (complete) slot current; returns it.

        From a pending slot this goes back to the confirmed one. From a confirmed
        slot the other one is put on probation like a fresh update: it runs
        pending, and boot-check returns to the confirmed slot if it never confirms.

        The database is judged first (``schema``): a snapshot to restore goes back
        before the switch (posterm must be stopped for that: ``storage.in_use``),
        and a rollback that would strand the terminal or lose records is refused
        with ``update.schema_blocks_rollback``.
        """
        if not self._exists():
            raise StateError("no firmware is installed under this root", code="update.not_installed")
        with self._locked():
            state = self._repair()
            if state.active is None:
                raise StateError("no firmware is installed under this root", code="update.not_installed")
            if self.slot_info(state.active.other) is None:
                raise StateError(f"slot {state.active.other.value} holds no complete firmware to roll back to",
                                 code="update.no_fallback")
            gate = self.judge(state.active.other)
            if gate.verdict is Verdict.BLOCKED:
                raise StateError(gate.text, code="update.schema_blocks_rollback")
            if gate.verdict is Verdict.RESTORE:
                self._restore(gate)
            return self._roll_back(state, reason, gate)

    def status(self) -> dict:
        """Everything an operator needs, read only (a pending repair shows as current != active).

        ``database``: the terminal's database schema, who can use it and its snapshot
        (or ``error`` when the configuration or the file cannot be read); each slot's
        ``schema`` and whether its firmware can use that database (``opens_database``).
        """
        state = self.read_state() or State()
        current = self.link("current")
        try:
            database = database_status(self.db_path())
        except TerminalError as e:
            database = {"path": None, "error": f"{e.text} [{e.code}]"}
        slots = {}
        for slot in Slot:
            info = self.slot_info(slot)
            schema = self.slot_schema(slot) if info is not None else None
            slots[slot.value] = {"complete": info is not None, **{k: info[k] for k in
                                 ("version", "created", "installed_at", "key_id") if info and k in info}}
            if info is not None:
                slots[slot.value]["schema"] = schema.to_dict() if schema else None
                slots[slot.value]["opens_database"] = can_open(database, schema)
        return {"root": str(self.root), "current": _v(current), "version": (self.slot_info(current) or {}).get("version"),
                "active": _v(state.active), "pending": _v(state.pending), "attempts": state.attempts,
                "good": _v(state.good), "slots": slots, "last_rollback": state.last_rollback,
                "history": list(state.history), "database": database, "alert": state.alert}

    # -- steps ---------------------------------------------------------------------------
    def _restore(self, gate: Gate) -> None:
        """The snapshot goes back (one transaction) before anything switches: see ``schema``."""
        log.warning("%s", gate.text)
        restore(gate, lambda: self.hook(Step.RESTORING))
        self.hook(Step.RESTORED)

    def _roll_back(self, state: State, reason: str, gate: Gate | None = None) -> Slot:
        source, target = state.active, state.active.other
        record = {"at": _iso(self.clock()), "from": source.value, "to": target.value, "reason": reason,
                  "from_version": (self.slot_info(source) or {}).get("version"),
                  "to_version": (self.slot_info(target) or {}).get("version"),
                  "schema": gate.verdict.value if gate is not None else None}
        back_to_good = state.pending is not None  # then target is state.good; otherwise it goes on probation
        self._save(replace(state, active=target, pending=None if back_to_good else target, attempts=0,
                           good=target if back_to_good else source, last_rollback=record, alert=None),
                   "rolled_back", target, reason=reason, schema=record["schema"])
        self._point("current", target)
        self._point("good", target if back_to_good else source)
        log.info("rolled back from slot %s to slot %s: %s", source.value, target.value, reason)  # the CLI prints it
        return target

    def _exists(self) -> bool:
        return self.state_path.exists() or os.path.lexists(self.root / "current")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _mkdir(self.root / "slots")
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StorageError(f"cannot use update root {self.root} ({e.strerror})", code="update.root") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        except TerminalError:
            raise
        except OSError as e:  # disk full, read-only, a file where a slot should be ...
            raise StorageError(f"update under {self.root} failed: {e.strerror or type(e).__name__} "
                               f"({e.filename or 'unknown file'})", code="update.io") from None
        finally:
            os.close(fd)

    def _repair(self) -> State:
        """Make the links follow state.json (the commit point), finishing a switch a power cut interrupted."""
        state, current = self.read_state(), self.link("current")
        if state is None:
            if current is None or self.slot_info(current) is None:
                return State()
            state = State(active=current, good=current)  # a layout made by hand: adopt it as confirmed
            self._save(state, "adopted", current)
        if state.active is not None and current != state.active:
            if self.slot_info(state.active) is None:
                raise StorageError(f"{self.state_path} names slot {state.active.value} but it is incomplete",
                                   code="update.layout")
            log.warning("finishing an interrupted switch to slot %s", state.active.value)
            self._point("current", state.active)
        if state.good is not None and self.link("good") != state.good and self.slot_info(state.good) is not None:
            self._point("good", state.good)
        return state

    def _save(self, state: State, event: str | None = None, slot: Slot | None = None, version: str | None = None,
              **extra) -> None:
        if event is not None:
            entry = {"at": _iso(self.clock()), "event": event, "slot": _v(slot),
                     "version": version or (self.slot_info(slot) or {}).get("version"), **extra}
            state = replace(state, history=(state.history + (entry,))[-HISTORY:])
        write_atomic(self.state_path, state.to_bytes())
        self.hook(Step.RECORDED)

    def _point(self, name: str, slot: Slot) -> None:
        link, tmp = self.root / name, self.root / f".{name}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(f"slots/{slot.value}", tmp)
        self.hook(Step.LINK_STAGED)
        os.replace(tmp, link)
        fsync_dir(self.root)
        self.hook(Step.SWITCHED)
