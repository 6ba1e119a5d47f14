"""``posterm update``: signed A/B firmware updates that a power cut cannot half-apply.

A terminal in the field must take only firmware its vendor signed, must keep
running the old firmware if the power goes mid-update, and must go back by
itself to the old firmware when a new one does not come up healthy.

``bundle`` builds, signs and verifies bundles; ``slots`` applies them to two
slots and rolls back; this module is the command line. Imports are
stdlib-light (cryptography, tarfile and the like load inside functions): the
CLI builds its parser at every start, ``posterm run`` included.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from firmware.update.bundle import (
    FileEntry,
    Manifest,
    Verified,
    build_bundle,
    generate_keypair,
    key_id,
    load_trusted_keys,
    sign_manifest,
    verify_bundle,
)
from firmware.update.bundle import MARKER, _load_signing_key  # noqa: F401 (MARKER: re-exported)
from firmware.update.slots import DEFAULT_ATTEMPTS, DEFAULT_ROOT, DEFAULT_TRUST, BootCheck, Slot, State, Step, Updater

__all__ = [
    "DEFAULT_ATTEMPTS", "DEFAULT_ROOT", "DEFAULT_TRUST", "MARKER", "BootCheck", "FileEntry", "Manifest", "Slot",
    "State", "Step", "Updater", "Verified", "add_update_commands", "build_bundle", "generate_keypair", "key_id",
    "load_trusted_keys", "sign_manifest", "verify_bundle",
]

log = logging.getLogger(__name__)


# -- CLI -------------------------------------------------------------------------------
def _positive(text: str) -> int:
    import argparse

    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of 1 or more")
    return int(text)


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
    updater = Updater(args.root)
    result = updater.boot_check(args.max_attempts)
    state = updater.read_state() or State()
    if result is BootCheck.COUNTED:
        print(f"slot {state.pending.value} pending: start {state.attempts} of {args.max_attempts} before a rollback")
    elif result is BootCheck.ROLLED_BACK:
        print(f"rolled back to slot {state.active.value} ({state.last_rollback['reason']})")
    elif result is BootCheck.NO_FALLBACK:
        print("the pending firmware was never confirmed, but there is no complete slot to roll back to")
    return 0  # always: the firmware that is current now must start


def _cmd_rollback(args) -> int:
    updater = Updater(args.root)
    slot = updater.rollback()
    pending = (updater.read_state() or State()).pending is slot
    print(f"rolled back to slot {slot.value} (posterm {updater.slot_info(slot)['version']}); restart posterm to run it"
          + ("; it is pending, like an update, until it confirms" if pending else ""))
    return 0


def _cmd_status(args) -> int:
    status = Updater(args.root).status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"root     {status['root']}")
    print(f"current  slot {status['current'] or '-'}  posterm {status['version'] or '-'}"
          + (f"  PENDING confirmation, {status['attempts']} start(s)" if status["pending"] else ""))
    if status["current"] != status["active"]:
        print(f"repair   state.json says slot {status['active']}; the next update command switches to it")
    for name, slot in status["slots"].items():
        print(f"slot {name}   " + (f"posterm {slot['version']}  installed {slot.get('installed_at', '-')}  "
                                  f"key {slot.get('key_id', '-')}" if slot["complete"] else "empty or incomplete"))
    if status["last_rollback"]:
        rb = status["last_rollback"]
        print(f"rollback {rb['at']}  slot {rb['from']} -> {rb['to']}: {rb['reason']}")
    return 0


def add_update_commands(subparsers) -> None:
    """Register ``posterm update ...``. Imports nothing heavy: the CLI builds its parser at every start."""
    p = subparsers.add_parser("update", help="signed A/B firmware updates",
                              description="Signed A/B firmware updates (see firmware/update.py for the layout).")
    sub = p.add_subparsers(dest="update_action", required=True, metavar="ACTION")

    def rooted(sp):
        sp.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"update root (default {DEFAULT_ROOT})")
        return sp

    def trusting(sp):
        sp.add_argument("--trust", type=Path, default=DEFAULT_TRUST,
                        help=f"PEM file of trusted Ed25519 public keys (default {DEFAULT_TRUST})")
        return sp

    k = sub.add_parser("keygen", help="make a vendor signing key pair (private key mode 0600)")
    k.add_argument("-o", "--output", type=Path, required=True, help="private key file to create (PEM)")
    k.add_argument("--public", type=Path, default=None, help="public key file (default: OUTPUT with .pub.pem)")
    k.set_defaults(func=_cmd_keygen)

    b = sub.add_parser("build", help="sign a source tree into a bundle (vendor or CI)")
    b.add_argument("--source", type=Path, required=True, help="project tree (with pyproject.toml)")
    b.add_argument("--version", required=True, help="bundle version, dotted numbers (1.4.2)")
    b.add_argument("--key", type=Path, required=True, help="Ed25519 signing key (PEM)")
    b.add_argument("-o", "--output", type=Path, required=True, help="bundle file to write (.tar.gz)")
    b.set_defaults(func=_cmd_build)

    v = trusting(sub.add_parser("verify", help="check a bundle's signature and files without installing it"))
    v.add_argument("bundle", type=Path)
    v.set_defaults(func=_cmd_verify)

    a = trusting(rooted(sub.add_parser("apply", help="install a bundle into the inactive slot and switch to it")))
    a.add_argument("bundle", type=Path)
    a.add_argument("--install-cmd", default=None,
                   help="shell command run inside the new slot before the switch (e.g. make its .venv)")
    a.add_argument("--allow-downgrade", action="store_true", help="accept a version not newer than the running one")
    a.set_defaults(func=_cmd_apply)

    rooted(sub.add_parser("confirm", help="the running firmware is healthy: keep it")).set_defaults(func=_cmd_confirm)
    bc = rooted(sub.add_parser("boot-check", help="before each start (systemd ExecStartPre): count, roll back"))
    bc.add_argument("--max-attempts", type=_positive, default=DEFAULT_ATTEMPTS,
                    help=f"starts an unconfirmed firmware gets (default {DEFAULT_ATTEMPTS})")
    bc.set_defaults(func=_cmd_boot_check)
    rooted(sub.add_parser("rollback", help="switch to the other slot's firmware")).set_defaults(func=_cmd_rollback)
    s = rooted(sub.add_parser("status", help="slots, versions, pending confirmation, last rollback"))
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_status)

