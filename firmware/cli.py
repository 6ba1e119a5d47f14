"""The ``posterm`` command.

    posterm run        the firmware main loop with the configured devices
    posterm demo       one scripted sale on simulated devices against the built-in host
    posterm sim        run a TOML scenario (see firmware.scenario), --json for the result
    posterm host-sim   the host simulator as a TCP server
    posterm bench      speed and memory figures against a floor measured in the same run
    posterm provision  create the data directory's keys (--lab adds the lab test keys), or a whole
                       terminal from its manifest (--manifest; see firmware.provisioning)
    posterm config     check | docs | show
    posterm journal    the transactions in the journal (masked); resolve a stuck reversal by hand
    posterm keys       show, inject (TR-31 or lab components), inject-dukpt, zeroize, rotate-data-key
    posterm tools      engineers' tools (see firmware/tools: states, cards, drivers, track, keys ...)
    posterm selftest   can this terminal take a sale? one line per check (firmware.selftest)
    posterm out-of-service  the display's last word once systemd gives up (firmware.outofservice)

Every subcommand imports what it needs when it runs, so ``posterm run``
does not pay for the bench or the simulator. Errors reach the operator as
one line naming the problem and its code, never as a traceback; unexpected
exceptions are logged in full and summarised on the console.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from firmware.errors import TerminalError

__all__ = ["main"]

log = logging.getLogger("posterm")

EXIT_OK, EXIT_ERROR, EXIT_INTERNAL, EXIT_SCENARIO_FAILED = 0, 2, 3, 1
EXIT_BROKEN_PIPE = 128 + 13  # as a shell reports a writer SIGPIPE stopped


def _config(args):
    from firmware.config import DEFAULT_PATH, load_config

    path = args.config
    if path is None and DEFAULT_PATH.exists():
        path = DEFAULT_PATH
    return load_config(path)


# -- run -------------------------------------------------------------------------
def cmd_run(args) -> int:
    import time

    started = time.perf_counter()
    config = _config(args)
    if args.data_dir:
        config = config.replace({"storage": {"data_dir": args.data_dir}})
    from firmware.logs import setup_logging

    setup_logging(config.log.level, config.log.file or None, max_bytes=config.log.max_bytes,
                  backups=config.log.backups)
    from firmware.runlock import run_lock

    with run_lock(config.data_dir):  # one posterm run per data directory (firmware/runlock.py)
        return _run(args, config, started)


def _run(args, config, started: float) -> int:
    import signal
    import time

    from firmware.app import Overrides, build_runner

    overrides = Overrides()
    host = None
    if config.devices.link.startswith("sim://"):
        from firmware.embedded_host import EmbeddedHost

        host = EmbeddedHost(config.host.profile)
        overrides.host = host.processor
    from firmware.systemd import Notifier

    notifier = Notifier.from_env()  # does nothing outside a systemd Type=notify unit
    # a schema migration after an update reads the whole database: systemd's start timeout is extended meanwhile
    runner = build_runner(config, overrides=overrides, slow_start=notifier.extending)

    def stop(*_):  # a clean stop (runner.close: the DUKPT counters given back, the database closed)
        runner.stop()

    # SIGHUP: the console's session ended; SIGTERM: systemd; SIGINT: ^C. Set before boot, which may
    # dial or print for a while: the loop then stops as soon as boot is done.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        runner.boot()
        ready = time.perf_counter() - started
        log.info("ready in %.3f s (devices open, recovery done)", ready)
        print(f"posterm ready in {ready:.3f} s", flush=True)
        if runner.lock_reason is not None and runner.key_state.value == "locked":
            print(f"posterm: terminal locked, sales refused: {runner.lock_reason}", file=sys.stderr, flush=True)
        elif runner.core.state.value == "signed_off":
            print("posterm: not signed on, sales refused until a sign-on succeeds", file=sys.stderr, flush=True)
        if args.exit_when_ready or runner.stopped:
            return EXIT_OK
        notifier.ready(f"ready in {ready:.3f} s")
        runner.blocking = notifier.bounded
        _warm_printer(runner)
        runner.run_forever(tick=notifier.watchdog, max_wait=notifier.max_wait)
        notifier.stopping()
    except Exception:
        _out_of_service(runner)
        raise
    finally:
        runner.close()
        if host is not None:
            host.stop()
    return EXIT_OK


def _out_of_service(runner) -> None:
    """A bug ended the run: systemd starts it again and recovery is a power cut's, so nothing is lost; the
    display says so rather than freezing on a prompt nobody answers. Best effort: the display may be the fault."""
    from firmware.outofservice import RESTARTING

    try:
        runner.devices.display.show_final(RESTARTING)
    except Exception:  # noqa: BLE001 - the error being reported matters more
        pass


def _where(e: BaseException) -> str:
    """Where an unexpected exception was raised (file:line of the innermost frame), for the log."""
    import traceback

    frames = traceback.extract_tb(e.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown"


def _warm_printer(runner) -> None:
    """Import python-escpos in the background once the terminal is ready and idle."""
    import threading

    warm = getattr(runner.devices.printer, "warm_up", None)
    if warm is not None:
        threading.Thread(target=warm, name="printer-warm-up", daemon=True).start()


# -- demo and sim ----------------------------------------------------------------
DEMO_SCENARIO = {
    "name": "demo sale",
    "description": "one sale of CNY 12.50 on a UnionPay test card with PIN 1234",
    "step": [
        {"key": "1250#"},
        {"swipe": "unionpay_debit"},
        {"pin": "1234"},
        {"expect": {"outcome": "approved", "printed": "CARDHOLDER COPY"}},
    ],
}


def cmd_demo(args) -> int:
    from firmware.scenario import ScenarioRunner, parse_scenario

    scenario = parse_scenario(DEMO_SCENARIO, source="demo")
    result = ScenarioRunner(data_dir=Path(args.data_dir) if args.data_dir else None).run(scenario)
    paper = sys.stderr if args.json else sys.stdout  # --json: stdout is the one JSON document, the paper beside it
    for txn in result["transactions"]:
        for text in txn["receipts"]:
            print(text, file=paper)
            print("-" * 32, file=paper)
    from firmware.money import format_amount

    last = result["transactions"][-1] if result["transactions"] else {}
    amount = format_amount(last["amount"]) if last else "-"
    print(
        f"demo sale: {last.get('outcome', 'none').upper()}  CNY {amount}  trace {last.get('stan')}  "
        f"ref {last.get('rrn')}  auth {last.get('auth_code')}",
        file=paper,
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return EXIT_OK if result["ok"] else EXIT_SCENARIO_FAILED


def cmd_sim(args) -> int:
    from firmware.scenario import ScenarioRunner, load_scenario

    scenario = load_scenario(args.scenario)
    config = _config(args) if (args.config or args.host) else None
    if config is not None:
        from firmware.logs import setup_logging

        setup_logging(config.log.level, config.log.file or None, max_bytes=config.log.max_bytes,
                      backups=config.log.backups)
    runner = ScenarioRunner(
        config=config,
        data_dir=Path(args.data_dir) if args.data_dir else (config.data_dir if args.host else None),
        host_url=args.host,
    )
    result = runner.run(scenario)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        for txn in result["transactions"]:
            print(
                f"{txn['txn_no']:>4} {txn['kind']:<6} {txn['outcome']:<17} {txn['amount']:>10} "
                f"trace {txn['stan']} rc {txn['response_code'] or '--'} rrn {txn['rrn'] or '-'}"
            )
        for failure in result["failures"]:
            print(f"FAILED {failure}")
        print("scenario", "passed" if result["ok"] else "FAILED")
    return EXIT_OK if result["ok"] else EXIT_SCENARIO_FAILED


def cmd_host_sim(args) -> int:
    from firmware.hostsim.cli import run

    return run(args)


def cmd_bench(args) -> int:
    from firmware.bench import main as bench_main

    return bench_main(args)


# -- housekeeping ---------------------------------------------------------------
def cmd_config(args) -> int:
    from firmware.config import as_dict, config_docs

    if args.action == "docs":
        print(config_docs(), end="")
        return EXIT_OK
    config = _config(args)
    if args.action == "show":
        print(json.dumps(as_dict(config), indent=2))
        return EXIT_OK
    from firmware.config import check_devices

    check_devices(config)
    print("configuration OK")
    return EXIT_OK


# -- selftest --------------------------------------------------------------------
def cmd_selftest(args) -> int:
    from firmware import selftest
    from firmware.config import DEFAULT_PATH

    path = args.config if args.config is not None else (DEFAULT_PATH if DEFAULT_PATH.exists() else None)
    target = selftest.Target(
        config_path=path, data_dir=Path(args.data_dir) if args.data_dir else None, online=args.online
    )
    try:  # log where the terminal logs; a configuration that does not load is the first check's to report
        from firmware.logs import setup_logging

        config = _config(args)
        setup_logging(config.log.level, config.log.file or None, max_bytes=config.log.max_bytes,
                      backups=config.log.backups)
    except (TerminalError, OSError):
        pass
    results = selftest.run_selftest(target)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for result in results:
            print(selftest.format_line(result))
        print(selftest.summary(results, online=args.online))
    log.debug("%s", selftest.summary(results, online=args.online))
    return EXIT_OK if selftest.passed(results) else EXIT_SCENARIO_FAILED  # 1: a check failed


# -- parser ----------------------------------------------------------------------
MAX_BENCH_SALES = 100_000  # about an hour of sales at a Pi Zero's pace: more is a typo, not a bench


def build_parser() -> argparse.ArgumentParser:
    from firmware.argtypes import whole
    from firmware.cliparser import PostermParser

    p = PostermParser(prog="posterm", description="Card-payment terminal firmware")  # no value in a usage error
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp):
        sp.add_argument("--config", type=Path, default=None, help="configuration file (default /etc/posterm/posterm.toml)")
        sp.add_argument("--data-dir", default=None, help="override storage.data_dir")
        return sp

    r = with_config(sub.add_parser("run", help="run the terminal with the configured devices"))
    r.add_argument("--exit-when-ready", action="store_true", help="start, recover, report the ready time and exit")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="one sale on simulated devices against the built-in host simulator")
    d.add_argument("--json", action="store_true", help="print the scenario result as JSON too")
    d.add_argument("--data-dir", default=None, help="keep the demo's data here instead of a temporary directory")
    d.set_defaults(func=cmd_demo)

    s = with_config(sub.add_parser("sim", help="run a scenario file"))
    s.add_argument("--scenario", required=True, type=Path, help="TOML scenario")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--host", default=None, help="an external host URL (tcp://HOST:PORT) instead of the built-in one")
    s.set_defaults(func=cmd_sim)

    h = sub.add_parser("host-sim", help="the host simulator as a TCP server")
    from firmware.hostsim.cli import add_arguments

    add_arguments(h)
    h.set_defaults(func=cmd_host_sim)

    b = sub.add_parser("bench", help="speed and memory against a floor measured in the same run")
    b.add_argument("--sales", type=whole(1, MAX_BENCH_SALES, "a number of sales"), default=300,
                   help=f"sales to time, 1 to {MAX_BENCH_SALES} (default 300)")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.add_argument("--dir", default=None, help="directory on the disk to measure (default: a temporary directory)")
    b.add_argument("--config", type=Path, default=None,
                   help="configuration whose operators.kdf_cost the password row measures (default /etc/posterm/posterm.toml)")
    b.set_defaults(func=cmd_bench)

    from firmware.provisioncli import add_provision_command

    add_provision_command(sub)  # posterm provision [--lab] | --manifest F ... | manifest-template

    c = with_config(sub.add_parser("config", help="check, document or show the configuration"))
    c.add_argument("action", choices=("check", "docs", "show"))
    c.set_defaults(func=cmd_config)

    from firmware.journalcli import add_journal_command

    add_journal_command(sub, with_config)  # posterm journal [--json] | resolve --txn N --note TEXT

    from firmware.reportcli import add_report_command

    add_report_command(sub, with_config)  # posterm report [--batch N] [--json]

    from firmware.operators import add_operators_commands

    add_operators_commands(sub, with_config)  # posterm operators list|add|passwd|remove|set-supervisor

    from crypto.commands import add_keys_commands

    add_keys_commands(sub)  # posterm keys show|inject|inject-dukpt|zeroize|rotate-data-key

    from firmware.update import add_update_commands

    add_update_commands(sub)  # posterm update build|keygen|apply|confirm|boot-check|rollback|status

    from firmware.outofservice import add_out_of_service_command

    add_out_of_service_command(sub, with_config)  # posterm out-of-service (deploy/posterm-out-of-service.service)

    from firmware.screen import add_screen_command

    add_screen_command(sub)  # posterm screen

    st = with_config(sub.add_parser(
        "selftest",
        help="check config, storage, keys and devices: can this terminal take a sale?",
        description="One line per check (PASS, WARN, FAIL, SKIP); exit 0 when nothing FAILs, 1 otherwise. "
        "Nothing is printed on paper, no transaction is recorded and no STAN is used.",
    ))
    st.add_argument("--json", action="store_true", help="print the results as a JSON list")
    st.add_argument(
        "--online",
        action="store_true",
        help="also connect to the host and disconnect; nothing is sent (a sign-on would change the host's state)",
    )
    st.set_defaults(func=cmd_selftest)

    t = sub.add_parser("tools", help="engineers' tools (posterm tools -h lists them)")
    from firmware.tools import register_all

    register_all(t.add_subparsers(dest="tool", required=True, metavar="TOOL"))
    return p


def _error(args, code: str, text: str) -> None:
    """The one-line error on stderr; with ``--json`` also ``{"ok": false, "error": {code, text}}`` on stdout,
    so a script reading stdout gets JSON either way."""
    print(f"posterm: error [{code}]: {text}", file=sys.stderr)
    if getattr(args, "json", False):
        import json

        print(json.dumps({"ok": False, "error": {"code": code, "text": text}}))


def _os_error(args, e: OSError) -> int:
    import errno as errnos

    name = errnos.errorcode.get(e.errno or 0, "error").lower()
    where = f": {e.filename}" if e.filename else ""
    _error(args, f"os.{name}", f"{e.strerror or type(e).__name__}{where}")
    return EXIT_ERROR


def _stdout_gone() -> bool:
    """Whether our stdout is a pipe whose reader has closed it (poll reports an error on its write end);
    False for anything else, a terminal, a file or a test's capture."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TerminalError as e:
        _error(args, e.code, e.text)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError as e:
        if not _stdout_gone():  # another pipe (a host link, a device): named like any other OSError
            return _os_error(args, e)
        import os  # the reader went away (posterm journal | head): stop quietly, as SIGPIPE would

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush has nowhere to fail
        return EXIT_BROKEN_PIPE
    except OSError as e:  # a path that cannot be used (a data directory under a file, no rights...): name it
        return _os_error(args, e)
    except Exception as e:  # no traceback for the operator; the log names it, and has it at debug level
        where = _where(e)
        log.error("internal error: %s at %s", type(e).__name__, where)
        log.debug("internal error", exc_info=True)
        print(f"posterm: internal error ({type(e).__name__} at {where}); run with the log level at debug for "
              "details", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
