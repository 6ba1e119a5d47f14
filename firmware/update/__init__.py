"""``posterm update``: signed A/B firmware updates that a power cut cannot half-apply.

A terminal in the field must take only firmware its vendor signed, must keep
running the old firmware if the power goes mid-update, and must go back by
itself to the old firmware when a new one does not come up healthy.

``build`` builds and signs bundles (the vendor's side), ``bundle`` is their
format and verifies them; ``slots`` applies them to two slots (``install``
writes one, ``model`` holds the records both share) and rolls back; ``schema`` judges, before a rollback, whether the older
firmware can use the database the newer one migrated; this module is the
command line. Imports are
stdlib-light (cryptography, tarfile and the like load inside functions): the
CLI builds its parser at every start, ``posterm run`` included.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "DEFAULT_ATTEMPTS", "DEFAULT_ROOT", "DEFAULT_TRUST", "MARKER", "BootCheck", "FileEntry", "Gate",
    "Manifest", "Slot", "SlotSchema", "State", "Step", "Updater", "Verdict", "Verified", "add_update_commands",
    "build_bundle", "generate_keypair", "key_id", "load_trusted_keys", "sign_manifest", "tree_schema", "verify_bundle",
]

DEFAULT_ROOT = Path("/opt/posterm")
DEFAULT_TRUST = Path("/etc/posterm/update-keys.pem")
DEFAULT_ATTEMPTS = 3

# Everything else loads on first use (PEP 562): the CLI builds its parser at every start,
# ``posterm run`` included, and bundle/slots cost ~20 ms to import (hashlib's OpenSSL,
# their dataclasses), which a Pi Zero would pay many times over.
_LAZY = {
    **dict.fromkeys(("MARKER", "FileEntry", "Manifest", "Verified", "key_id", "load_trusted_keys", "verify_bundle"),
                    "firmware.update.bundle"),
    **dict.fromkeys(("build_bundle", "generate_keypair", "sign_manifest"), "firmware.update.build"),
    **dict.fromkeys(("BootCheck", "Slot", "State", "Step"), "firmware.update.model"),
    "Updater": "firmware.update.slots",
    **dict.fromkeys(("Gate", "SlotSchema", "Verdict", "tree_schema"), "firmware.update.schema"),
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def _positive(text: str) -> int:
    import argparse

    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of 1 or more")
    return int(text)


def _command(name: str) -> Callable[[object], int]:
    def run(args) -> int:
        from firmware.update import cli

        return getattr(cli, name)(args)

    return run


def add_update_commands(subparsers) -> None:
    """Register ``posterm update ...``. Imports nothing heavy: the CLI builds its parser at every start."""
    p = subparsers.add_parser("update", help="signed A/B firmware updates",
                              description="Signed A/B firmware updates (see firmware/update.py for the layout).")
    sub = p.add_subparsers(dest="update_action", required=True, metavar="ACTION")

    def rooted(sp):
        sp.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"update root (default {DEFAULT_ROOT})")
        return sp

    def configured(sp):
        # default None, resolved to firmware.config.DEFAULT_PATH when used: importing it here would cost every start
        sp.add_argument("--config", type=Path, default=None,
                        help="posterm's configuration, whose data directory holds the database a rollback must suit "
                             "(default /etc/posterm/posterm.toml, the one the service runs posterm with)")
        return sp

    def trusting(sp):
        sp.add_argument("--trust", type=Path, default=DEFAULT_TRUST,
                        help=f"PEM file of trusted Ed25519 public keys (default {DEFAULT_TRUST})")
        return sp

    k = sub.add_parser("keygen", help="make a vendor signing key pair (private key mode 0600)")
    k.add_argument("-o", "--output", type=Path, required=True, help="private key file to create (PEM)")
    k.add_argument("--public", type=Path, default=None, help="public key file (default: OUTPUT with .pub.pem)")
    k.set_defaults(func=_command("_cmd_keygen"))

    b = sub.add_parser("build", help="sign a source tree into a bundle (vendor or CI)")
    b.add_argument("--source", type=Path, required=True, help="project tree (with pyproject.toml)")
    b.add_argument("--version", required=True, help="bundle version, dotted numbers (1.4.2)")
    b.add_argument("--key", type=Path, required=True, help="Ed25519 signing key (PEM)")
    b.add_argument("-o", "--output", type=Path, required=True, help="bundle file to write (.tar.gz)")
    b.set_defaults(func=_command("_cmd_build"))

    v = trusting(sub.add_parser("verify", help="check a bundle's signature and files without installing it"))
    v.add_argument("bundle", type=Path)
    v.set_defaults(func=_command("_cmd_verify"))

    a = trusting(rooted(sub.add_parser("apply", help="install a bundle into the inactive slot and switch to it")))
    a.add_argument("bundle", type=Path)
    a.add_argument("--install-cmd", default=None,
                   help="shell command run inside the new slot before the switch (e.g. make its .venv)")
    a.add_argument("--allow-downgrade", action="store_true", help="accept a version not newer than the running one")
    a.set_defaults(func=_command("_cmd_apply"))

    rooted(sub.add_parser("confirm", help="the running firmware is healthy: keep it")).set_defaults(func=_command("_cmd_confirm"))
    bc = configured(rooted(sub.add_parser("boot-check", help="before each start (systemd ExecStartPre): count, roll back")))
    bc.add_argument("--max-attempts", type=_positive, default=DEFAULT_ATTEMPTS,
                    help=f"starts an unconfirmed firmware gets (default {DEFAULT_ATTEMPTS})")
    bc.set_defaults(func=_command("_cmd_boot_check"))
    configured(rooted(sub.add_parser(
        "rollback", help="switch to the other slot's firmware (restoring the database from before its migration "
                         "if it must and can)"))).set_defaults(func=_command("_cmd_rollback"))
    s = configured(rooted(sub.add_parser("status", help="slots, versions and schemas, the database's schema, "
                                                        "pending confirmation, last rollback")))
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_command("_cmd_status"))

