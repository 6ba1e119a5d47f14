"""``posterm provision``: the data directory's keys by hand, or a whole terminal from its manifest.

    posterm provision --data-dir D [--lab]          the device KEK and at-rest keys (as always)
    posterm provision --manifest F --data-dir D --config-out P [--kbpk HEX] [--replace] [--json]
                      [--check] [--online]          a terminal from its manifest (firmware.provisioning)
    posterm provision manifest-template             a commented manifest to fill in

The manifest run has its own exit codes, for an estate tool: 0 provisioned and the
selftest passed; 1 the terminal refused (another terminal, another master key,
queued records), a step failed, or the selftest failed; 2 nothing was changed
because the manifest or the command line is wrong. With ``--json`` one JSON
document goes to standard output whatever happens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from firmware.errors import ConfigError

__all__ = ["add_provision_command", "cmd_provision"]

_MANIFEST_ONLY = ("config_out", "kbpk", "replace", "json", "check", "online")


def _kbpk(text: str):
    from crypto.secrets import SecretKey

    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ConfigError("--kbpk must be hexadecimal digits", code="provision.bad_kbpk") from None
    if len(raw) not in (16, 24, 32):
        raise ConfigError("--kbpk must be a 16-, 24- or 32-byte key in hex", code="provision.bad_kbpk")
    return SecretKey(raw, usage="kbpk")


def _keys_only(args) -> int:
    """``posterm provision --data-dir D [--lab]``, under the run lock as the manifest run is."""
    from crypto.provision import provision

    from firmware.runlock import run_lock

    given = [f"--{name.replace('_', '-')}" for name in _MANIFEST_ONLY if getattr(args, name)]
    if given:
        raise ConfigError(f"{given[0]} goes with --manifest", code="provision.args")
    with run_lock(Path(args.data_dir), doing="provision"):  # a running terminal writes its own ring back
        ring = provision(Path(args.data_dir), lab=args.lab)
        if args.lab:
            print("LAB TEST KEYS LOADED: never take real cards with this data directory")
        for key in ring.summary():
            print(f"{key['usage']:<9} v{key['version']}  KCV {key['kcv']}  {key['note']}")
        if args.lab_dukpt:  # the lab DUKPT key, whose BDK the host simulator holds (host.pin_keys = "dukpt")
            from crypto.dukpt_lab import provision_lab_dukpt

            loaded = provision_lab_dukpt(Path(args.data_dir), args.lab_dukpt)
            print(f"dukpt     {args.lab_dukpt}  " + ("LAB TEST KEY loaded" if loaded else "kept (a DUKPT key is loaded)"))
    return 0


def _from_manifest(args) -> int:
    from firmware.provisioning import Request, provision_from_manifest

    if args.lab or args.lab_dukpt:
        raise ConfigError("--lab never goes with a manifest: a manifest carries the terminal's own master key",
                          code="provision.args")
    if not args.config_out:
        raise ConfigError("--manifest needs --config-out, where the configuration is written", code="provision.args")
    _log_as_configured(args)
    kbpk = _kbpk(args.kbpk) if args.kbpk else None
    try:
        request = Request(Path(args.manifest), Path(args.data_dir), Path(args.config_out), kbpk=kbpk,
                          replace=args.replace, online=args.online)
        report = provision_from_manifest(request, check_only=args.check)
    finally:
        if kbpk is not None:
            kbpk.wipe()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    if report.error is not None:
        print(f"posterm: error [{report.error.code}]: {report.error.text}", file=sys.stderr)
    return report.exit_code


def _log_as_configured(args) -> None:
    """Log to the file the manifest's [log] table names, if any, so the run's lines (steps, KCVs, codes)
    reach the terminal's own log; without one the report on the console is the record. A manifest that
    does not read is the run's to report, with its code."""
    import tomllib

    from firmware.config import parse_config
    from firmware.logs import setup_logging

    try:
        doc = tomllib.loads(Path(args.manifest).read_text(encoding="utf-8"))
        config = parse_config({"log": doc.get("log", {})}, source="manifest")
    except Exception:
        return
    if config.log.file:
        setup_logging(config.log.level, config.log.file)


def cmd_provision(args) -> int:
    if args.what == "manifest-template":
        from firmware.manifest import TEMPLATE

        print(TEMPLATE, end="")
        return 0
    if not args.data_dir:
        raise ConfigError("posterm provision needs --data-dir", code="provision.args")
    return _from_manifest(args) if args.manifest else _keys_only(args)


def add_provision_command(sub) -> None:
    """``posterm provision``: registered by ``firmware.cli``."""
    pv = sub.add_parser(
        "provision", help="create a data directory's keys, or provision a terminal from its manifest",
        description="Without --manifest: create the device key and at-rest keys (--lab adds the lab test keys). "
        "With --manifest: keys, master key (TR-31), configuration, supervisor and selftest in one re-runnable step; "
        "exit 0 ok, 1 refused or selftest failed, 2 bad manifest (nothing changed).")
    pv.add_argument("what", nargs="?", choices=("manifest-template",), default=None,
                    help="manifest-template: print a commented manifest to fill in")
    pv.add_argument("--data-dir", help="the terminal's data directory")
    pv.add_argument("--lab", action="store_true", help="also load the published lab test keys (never for real cards)")
    pv.add_argument("--lab-dukpt", choices=("tdes", "aes128"), default=None,
                    help="also load the lab DUKPT key (the published vectors' BDK; never for real cards)")
    pv.add_argument("--manifest", help="the terminal's provisioning manifest (TOML)")
    pv.add_argument("--config-out", help="where to write the configuration (0644), e.g. /etc/posterm/posterm.toml")
    pv.add_argument("--kbpk", help="key block protection key, hex, if the terminal holds none "
                    "(LAB ONLY: clear keys on a command line are for test keys)")
    pv.add_argument("--replace", action="store_true",
                    help="re-provision a terminal provisioned as another, or holding another master key "
                    "(refused while records are queued)")
    pv.add_argument("--check", action="store_true", help="check the manifest against this terminal; change nothing")
    pv.add_argument("--online", action="store_true", help="the selftest also connects to the host (sends nothing)")
    pv.add_argument("--json", action="store_true", help="print the report as JSON (on failure too)")
    pv.set_defaults(func=cmd_provision)
