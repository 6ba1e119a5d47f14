"""``posterm keys show|inject|inject-dukpt|zeroize|rotate-data-key``, ready for the CLI to wire.

``add_keys_commands(subparsers)`` adds the ``keys`` command group; each
``func(args)`` returns an exit code and raises ``TerminalError`` subclasses
for the CLI to print. Nothing here prints a clear key: only usages, versions
and check values.

* ``show``: every key's usage, version and KCV, the DUKPT state, any tamper lock-out;
* ``inject``: the TMK (or the KBPK) from a TR-31 block under the ring's
  KBPK (or ``--kbpk`` in the lab), or from ``--component`` values (lab);
  ``--kcv`` is the check value the key must have;
* ``inject-dukpt``: the DUKPT initial key from a TR-31 block (usage B1);
* ``zeroize``: destroy every key now (the tamper response, by command);
* ``rotate-data-key``: re-seal stored card data under a new at-rest key.

``inject``, ``inject-dukpt`` and ``rotate-data-key`` change keys a running terminal
holds in memory and writes back at its next sign-on: each takes the data directory's
run lock (``firmware.runlock``) and refuses (``storage.in_use``) beside a ``posterm run``.
``zeroize`` does not: it must work beside a running terminal, which notices and locks.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from firmware.errors import ConfigError

__all__ = ["add_keys_commands"]

_LAB = "LAB ONLY: clear keys on a command line are for test keys"


def _hex_key(text: str, what: str):
    from crypto.secrets import SecretKey

    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{what} must be hexadecimal digits", code="tools.bad_hex") from None
    return SecretKey(raw, usage="component")


def _locked(args, doing: str) -> AbstractContextManager:
    """The run lock, held while the command reads and writes keys a running terminal holds."""
    from firmware.runlock import run_lock

    return run_lock(Path(args.data_dir), doing=doing)


def _ring(args):
    from crypto.keyring import Keyring

    return Keyring.load(Path(args.data_dir))


def _show(args) -> int:
    from crypto.dukpt_device import DukptDevice
    from crypto.tamper import tamper_status

    data_dir = Path(args.data_dir)
    record = tamper_status(data_dir)
    if record is not None:
        print(f"TAMPERED: {record.text}")
        return 1
    for key in _ring(args).summary():
        print(f"{key['usage']:<9} v{key['version']}  KCV {key['kcv']}  {key['note']}")
    if DukptDevice.exists(data_dir):
        device = DukptDevice.load(data_dir)
        ksn = device.next_ksn
        print(f"dukpt     {device.scheme.value}  next KSN {ksn.hex().upper() if ksn else 'EXHAUSTED'}")
    return 0


def _inject(args) -> int:
    with _locked(args, "inject a key"):
        return _inject_locked(args)


def _inject_locked(args) -> int:
    from crypto.inject import combine_components, inject_key, inject_tmk_tr31
    from crypto.keys import KeyUsage, kcv
    from crypto.tr31 import unwrap

    ring = _ring(args)
    usage = KeyUsage(args.usage)
    kbpk = _hex_key(args.kbpk, "--kbpk") if args.kbpk else None
    if args.tr31 and args.component:
        raise ConfigError("give either --tr31 or --component, not both", code="keys.inject_source")
    if args.tr31:
        if usage is KeyUsage.TMK:
            entry = inject_tmk_tr31(ring, args.tr31, kbpk=kbpk, expected_kcv=args.kcv)
        else:
            if kbpk is None:
                raise ConfigError("a KBPK in a key block needs --kbpk to open it", code="keys.no_kbpk")
            opened = unwrap(kbpk, args.tr31, usage=usage.value)
            entry = inject_key(ring, usage, opened.key, expected_kcv=args.kcv, note=f"TR-31 {opened.header.version}")
    elif args.component:
        print(_LAB)
        parts = [_hex_key(c, "--component") for c in args.component]
        key = combine_components(parts, args.component_kcv, usage=usage.value)
        entry = inject_key(ring, usage, key, expected_kcv=args.kcv, note="LAB components")
        for i, part in enumerate(parts, 1):
            print(f"component {i}  KCV {kcv(part)}")
    else:
        raise ConfigError("give --tr31 BLOCK or --component HEX (twice or more)", code="keys.inject_source")
    print(f"{entry.usage} v{entry.version} loaded, KCV {entry.kcv}")
    return 0


def _inject_dukpt(args) -> int:
    from crypto.inject import inject_dukpt_tr31

    with _locked(args, "inject a DUKPT key"):
        device = inject_dukpt_tr31(Path(args.data_dir), args.tr31, _hex_key(args.kbpk, "--kbpk"), ksn=args.ksn,
                                   expected_kcv=args.kcv)
    ksn = device.next_ksn
    print(f"DUKPT {device.scheme.value} loaded; first KSN {ksn.hex().upper() if ksn else '-'}; initial key wiped")
    return 0


def _zeroize(args) -> int:
    from crypto.tamper import zeroize

    record = zeroize(Path(args.data_dir), reason=args.reason, source="command")
    print(f"ZEROIZED: {', '.join(record.destroyed) or 'no key files were present'}; {record.text}")
    return 0


def _rotate(args) -> int:
    from storage.rekey import rotate_data_key
    from storage.store import Store

    with _locked(args, "rotate the data key"):  # its Sealer holds the data key this drops
        ring = _ring(args)
        store = Store.open(Path(args.data_dir))
        try:
            report = rotate_data_key(ring, store.conn)
        finally:
            store.close()
    print(f"data key v{report.to_version}: {report.resealed} records re-sealed; "
          f"versions dropped: {', '.join(map(str, report.dropped)) or 'none'}")
    return 0


def add_keys_commands(subparsers) -> None:
    """Add ``keys`` with its sub-commands to the top-level ``posterm`` parser."""
    keys = subparsers.add_parser("keys", help="key check values, injection, tamper zeroize, data-key rotation")
    sub = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")

    def cmd(name: str, help_text: str, func):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--data-dir", required=True, help="the terminal's data directory")
        p.set_defaults(func=func)
        return p

    cmd("show", "every key's usage, version and KCV (never the key)", _show)

    p = cmd("inject", "load the terminal master key (or the KBPK) from a TR-31 block or lab components", _inject)
    p.add_argument("--usage", choices=("tmk", "kbpk", "sred"), default="tmk",
                   help="tmk: terminal master key; kbpk: key block protection key; sred: an encrypting reader's IPEK")
    p.add_argument("--tr31", help="the TR-31 key block")
    p.add_argument("--kbpk", help=f"key block protection key, hex, if the ring holds none ({_LAB})")
    p.add_argument("--component", action="append", help=f"a clear key component, hex; two or more ({_LAB})")
    p.add_argument("--component-kcv", action="append", help="each component's check value, in order")
    p.add_argument("--kcv", help="the check value the loaded key must have")

    p = cmd("inject-dukpt", "load a DUKPT initial key (TR-31 usage B1); the terminal keeps only future keys",
            _inject_dukpt)
    p.add_argument("--tr31", required=True, help="the TR-31 key block")
    p.add_argument("--kbpk", required=True, help=f"key block protection key, hex ({_LAB})")
    p.add_argument("--ksn", help="initial KSN or key ID, if the block carries none")
    p.add_argument("--kcv", help="the check value the initial key must have")

    p = cmd("zeroize", "destroy every key now; the terminal refuses sales until re-keyed", _zeroize)
    p.add_argument("--reason", default="operator command", help="recorded and shown until re-keyed")

    cmd("rotate-data-key", "re-seal stored card data under a new at-rest data key", _rotate)
