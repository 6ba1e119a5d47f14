"""``posterm screen``: use the terminal from a laptop, in a full-screen text UI.

On a laptop there is no card reader, and the console keypad and display
cannot swipe a card. This runs the real runner (``build_runner``) on the
simulators (``sim://`` reader, PIN pad, printer, display and link, with the
embedded host simulator in the process), and lets a person at the keyboard
be the cashier, the customer and the host's operator: press the PIN pad's
keys, swipe any test card (or a damaged one), watch the display and the
receipt roll, and make the host decline, go silent or lose the line.

Three layers (``session``, ``tui``), so the middle one can be tested without a terminal:

* ``ScreenSession``: the terminal on the desk (data directory, host, runner)
  and the instruments a person plays (``press``, ``swipe``, ``set_host``);
* ``build_view(runner, ...)``: pure, the runner's devices and core in, the
  text of every panel out (``View``);
* ``tui.Ui``: the ``curses`` drawing and the key loop.

Card data: the panels show only what the devices show (the display, the
printed paper) and the core's masked facts; typed PIN digits go into the
PIN pad and come back as asterisks on the display, nowhere else.
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["LAB_MARK", "MAX_WAIT", "HostMode", "ScreenSession", "View", "add_screen_command", "build_view",
           "cmd_screen", "pad_key"]

log = logging.getLogger(__name__)

_SESSION_NAMES = frozenset({"LAB_MARK", "MAX_WAIT", "HostMode", "ScreenSession", "View", "build_view", "pad_key"})


def __getattr__(name: str):
    """The session and view names load on first use: the CLI builds its parser at every start."""
    if name not in _SESSION_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from firmware.screen import session

    return getattr(session, name)


# -- the command ------------------------------------------------------------------------
def cmd_screen(args) -> int:
    import signal
    import sys

    from firmware.errors import ConfigError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ConfigError("posterm screen needs a terminal on standard input and output", code="screen.no_tty")
    from firmware.cli import _config
    from firmware.logs import setup_logging

    config = _config(args)
    from firmware.screen.session import ScreenSession

    session = ScreenSession(config, data_dir=Path(args.data_dir) if args.data_dir else None)
    log_file = ""
    try:
        # Warnings go to a file: on standard error they would write over the screen.
        from crypto.provision import ensure_private_dir

        log_file = config.log.file or str(ensure_private_dir(session.open_data_dir()) / "screen.log")
        setup_logging(config.log.level, log_file)
        session.start()
        from firmware.screen.tui import Ui, run_curses

        ui = Ui(session)
        previous = signal.signal(signal.SIGTERM, lambda *_: setattr(ui, "quit", True))
        try:
            run_curses(ui)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except Exception as e:  # the screen is restored by now: one line, never a traceback
        from firmware.errors import TerminalError

        if isinstance(e, TerminalError):
            raise
        if not log_file:  # it failed before its log was open: Python's fallback would print the traceback
            raise
        log.exception("posterm screen stopped by an internal error")
        where = f"see {log_file}" if session.given_dir or config.log.file else "rerun with --data-dir to keep the log"
        print(f"posterm: error [screen.internal]: internal error ({type(e).__name__}); {where}", file=sys.stderr)
        return 3
    finally:
        session.close()
    return 0


def add_screen_command(subparsers) -> None:
    """Register ``posterm screen``. Imports nothing heavy: the CLI builds its parser at every start."""
    p = subparsers.add_parser(
        "screen",
        help="use the terminal on simulated devices in a full-screen text UI",
        description="The real firmware on simulated devices: see the display, press the PIN pad's keys, "
        "swipe test cards, watch the receipt print, make the host decline or go silent.",
    )
    p.add_argument("--config", type=Path, default=None, help="configuration file (default /etc/posterm/posterm.toml); "
                   "its devices are replaced by simulators")
    p.add_argument("--data-dir", default=None, help="keep the terminal's data here (lab keys are loaded into it) "
                   "instead of a temporary directory")
    p.set_defaults(func=cmd_screen)
