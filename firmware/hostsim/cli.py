"""``posterm host-sim``: the host simulator as a TCP server.

    posterm host-sim --port N [--bind 127.0.0.1] [--ledger PATH] [--rules FILE.toml] [--profile cup]

Prints ``host-sim (ledger PATH) listening on HOST:PORT`` (flushed) once it
accepts connections, serves until SIGINT or SIGTERM, then exits 0.

The ledger is a SQLite file, ``host-ledger.db`` in the current directory
unless ``--ledger`` names another, so a simulator stopped and started again
keeps its postings and still answers a repeated request as a duplicate, as
an acquirer would (the command has no data directory of its own to put it
in). ``--ledger :memory:`` keeps it in memory, forgotten at exit. A ledger
that cannot be opened is one line naming the file, and exit status 2.

It uses the published lab MAC and PIN keys (``crypto.provision.LAB_KEYS``), the same a
terminal provisioned with ``lab=True`` holds. The lead wires ``add_arguments``
and ``run`` into the ``posterm`` command; ``python -m firmware.hostsim`` runs it
on its own.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from firmware.errors import StorageError, TerminalError

__all__ = ["add_arguments", "run", "main", "DEFAULT_LEDGER"]

DEFAULT_LEDGER = "host-ledger.db"
MEMORY = ":memory:"


def _where(ledger: str) -> str:
    """Where the ledger is, for the start-up line and errors: the absolute path, or "in memory"."""
    from pathlib import Path

    return "in memory" if ledger == MEMORY else str(Path(ledger).absolute())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from firmware.argtypes import PORT
    from firmware.host.profiles import PROFILES

    parser.add_argument("--port", type=PORT, required=True, help="TCP port to listen on (0: any free port)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--ledger", default=DEFAULT_LEDGER,
                        help=f"SQLite file of messages and postings (default {DEFAULT_LEDGER} in the current "
                             f"directory; {MEMORY} keeps it in memory, forgotten at exit)")
    parser.add_argument("--rules", default=None, help="TOML file of [[rule]] tables (fault injection)")
    parser.add_argument("--profile", default="cup", choices=PROFILES, help="host message profile (default cup)")


def run(args: argparse.Namespace) -> int:
    from crypto.keys import KeyUsage
    from crypto.provision import lab_key
    from firmware.host.profiles import get_profile
    from firmware.hostsim.ledger import Ledger
    from crypto.dukpt_lab import lab_bdks
    from firmware.hostsim.processor import HostProcessor
    from firmware.hostsim.rules import RuleBook
    from firmware.hostsim.server import HostSimServer

    try:
        profile = get_profile(args.profile)
        rules = RuleBook.from_toml(args.rules) if args.rules else RuleBook()
    except TerminalError as exc:
        print(f"host-sim: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        ledger = Ledger(args.ledger)
    except StorageError as exc:
        print(f"host-sim: [{exc.code}] the ledger {_where(args.ledger)} cannot be opened "
              "(is it a SQLite file in a writable directory?)", file=sys.stderr, flush=True)
        return 2
    processor = HostProcessor(profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                              ledger=ledger, rules=rules, tmk=lab_key(KeyUsage.TMK), dukpt_bdks=lab_bdks())
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = HostSimServer(processor, host=args.bind, port=args.port)
    try:
        try:
            host, port = server.start()
        except OSError as exc:
            print(f"host-sim: cannot listen on {args.bind}:{args.port} ({exc.strerror})", file=sys.stderr, flush=True)
            return 2
        # the address stays the line's last word: scripts and tests read it from there
        print(f"host-sim (ledger {_where(args.ledger)}) listening on {host}:{port}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        ledger.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    from firmware.cliparser import PostermParser

    parser = PostermParser(prog="posterm host-sim", description="Simulated acquirer host over TCP")
    add_arguments(parser)
    return run(parser.parse_args(argv))
