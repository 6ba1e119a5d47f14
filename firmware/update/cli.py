"""The ``posterm update`` commands: imported only when one of them runs."""

from __future__ import annotations

import json
from pathlib import Path

from firmware.update.build import _load_signing_key, build_bundle, generate_keypair
from firmware.update.bundle import key_id, load_trusted_keys, verify_bundle
from firmware.update.model import BootCheck, State
from firmware.update.slots import Updater


def _updater(args) -> Updater:
    """An updater that finds the database as ``posterm run`` does under the service: the data
    directory of ``--config`` (default the service's configuration), read only when a rollback
    or the status needs it. A configuration that is missing is an error, never a guess."""

    def data_dir() -> Path:
        from firmware.config import DEFAULT_PATH, load_config

        return load_config(args.config or DEFAULT_PATH).data_dir

    return Updater(args.root, data_dir=data_dir)


def _cmd_keygen(args) -> int:
    public = args.public or args.output.with_name(args.output.name.removesuffix(".pem") + ".pub.pem")
    kid = generate_keypair(args.output, public)
    print(f"signing key {args.output} (mode 0600, keep it off terminals), public key {public}, key id {kid}")
    return 0


def _cmd_build(args) -> int:
    manifest = build_bundle(args.source, args.version, args.key, args.output)
    kid = key_id(_load_signing_key(args.key).public_key())
    print(f"bundle {args.output}: posterm {manifest.version}, {len(manifest.files)} files, signed by key {kid}")
    return 0


def _cmd_verify(args) -> int:
    verified = verify_bundle(args.bundle, load_trusted_keys(args.trust))
    print(f"bundle {args.bundle}: posterm {verified.manifest.version} built {verified.manifest.created}, "
          f"{len(verified.manifest.files)} files, signed by trusted key {verified.key_id}")
    return 0


def _cmd_apply(args) -> int:
    updater = Updater(args.root)
    slot = updater.apply(args.bundle, args.trust, install_cmd=args.install_cmd, allow_downgrade=args.allow_downgrade)
    state = updater.read_state()
    version = updater.slot_info(slot)["version"]
    if state is not None and state.pending is slot:
        print(f"posterm {version} installed in slot {slot.value}, pending: restart posterm to run it; "
              "unless it is confirmed, boot-check rolls it back after its limit of starts")
    else:
        print(f"posterm {version} installed in slot {slot.value} (first install, confirmed)")
    return 0


def _cmd_confirm(args) -> int:
    slot = Updater(args.root).confirm()
    print(f"slot {slot.value} confirmed" if slot else "nothing to confirm")
    return 0


def _cmd_boot_check(args) -> int:
    updater = _updater(args)
    result = updater.boot_check(args.max_attempts)
    state = updater.read_state() or State()
    if result is BootCheck.COUNTED:
        print(f"slot {state.pending.value} pending: start {state.attempts} of {args.max_attempts} before a rollback")
    elif result is BootCheck.ROLLED_BACK:
        print(f"rolled back to slot {state.active.value} ({state.last_rollback['reason']})")
    elif result is BootCheck.NO_FALLBACK:
        print("the pending firmware was never confirmed, but there is no complete slot to roll back to")
    elif result is BootCheck.SCHEMA_BLOCKED:
        print(f"ALERT [{state.alert['code']}]: {state.alert['text']}")
    return 0  # always: the firmware that is current now must start


def _cmd_rollback(args) -> int:
    updater = _updater(args)
    slot = updater.rollback()
    pending = (updater.read_state() or State()).pending is slot
    restored = ((updater.read_state() or State()).last_rollback or {}).get("schema") == "restore"
    print(f"rolled back to slot {slot.value} (posterm {updater.slot_info(slot)['version']}); restart posterm to run it"
          + ("; the database was restored from before its migration" if restored else "")
          + ("; it is pending, like an update, until it confirms" if pending else ""))
    return 0


def _cmd_status(args) -> int:
    status = _updater(args).status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"root     {status['root']}")
    print(f"current  slot {status['current'] or '-'}  posterm {status['version'] or '-'}"
          + (f"  PENDING confirmation, {status['attempts']} start(s)" if status["pending"] else ""))
    if status["current"] != status["active"]:
        print(f"repair   state.json says slot {status['active']}; the next update command switches to it")
    print(f"database {_database_line(status['database'])}")
    for name, slot in status["slots"].items():
        if not slot["complete"]:
            print(f"slot {name}   empty or incomplete")
            continue
        schema = slot.get("schema")
        opens = {True: "can use the database", False: "CANNOT use the database", None: ""}[slot.get("opens_database")]
        print(f"slot {name}   posterm {slot['version']}  installed {slot.get('installed_at', '-')}  "
              f"key {slot.get('key_id', '-')}")
        print(f"         {_schema_text(schema)}" + (f"; {opens}" if opens else ""))
    if status["last_rollback"]:
        rb = status["last_rollback"]
        print(f"rollback {rb['at']}  slot {rb['from']} -> {rb['to']}: {rb['reason']}"
              + ("  (database restored from its snapshot)" if rb.get("schema") == "restore" else ""))
    if status["alert"]:
        print(f"ALERT    {status['alert']['at']}  [{status['alert']['code']}] {status['alert']['text']}")
    return 0


def _schema_text(schema: dict | None) -> str:
    from firmware.update.schema import SlotSchema

    slot = SlotSchema.from_dict(schema)
    return "schema unknown" if slot is None else slot.describe()


def _database_line(db: dict) -> str:
    if "error" in db:
        return f"{db.get('path') or '-'}: unknown: {db['error']}"
    if not db["exists"]:
        return f"{db['path']}: none yet"
    line = f"{db['path']}  schema v{db['version']}, usable by firmware of schema v{db['usable_by']} or newer"
    snap = db["snapshot"]
    if snap is not None:
        line += (f"; snapshot of v{snap['version']} from before its migration"
                 + ("" if snap["present"] else " (MISSING)")
                 + (", nothing changed since" if snap["unchanged_since"] else ", changed since (no restore)"))
    return line
