"""``posterm screen``: use the terminal from a laptop, in a full-screen text UI.

On a laptop there is no card reader, and the console keypad and display
cannot swipe a card. This runs the real runner (``build_runner``) on the
simulators (``sim://`` reader, PIN pad, printer, display and link, with the
embedded host simulator in the process), and lets a person at the keyboard
be the cashier, the customer and the host's operator: press the PIN pad's
keys, swipe any test card (or a damaged one), watch the display and the
receipt roll, and make the host decline, go silent or lose the line.

Three layers, so the middle one can be tested without a terminal:

* ``ScreenSession``: the terminal on the desk (data directory, host, runner)
  and the instruments a person plays (``press``, ``swipe``, ``set_host``);
* ``build_view(runner, ...)``: pure, the runner's devices and core in, the
  text of every panel out (``View``);
* ``_Ui``: the ``curses`` drawing and the key loop.

Card data: the panels show only what the devices show (the display, the
printed paper) and the core's masked facts; typed PIN digits go into the
PIN pad and come back as asterisks on the display, nowhere else.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module at every start: nothing heavy at the top
    from firmware.config import Config
    from firmware.runner import Runner

__all__ = ["MAX_WAIT", "HostMode", "ScreenSession", "View", "add_screen_command", "build_view", "cmd_screen", "pad_key"]

log = logging.getLogger(__name__)

MAX_WAIT = 1.0  # longest wait for a key (s): the status line stays fresh while nobody types
LEFT = 46  # columns of the left-hand panels (display, keypad, earlier screens); the roll is to the right
EARLIER = 5  # earlier screens listed under the LCD
MIN_WAIT = 0.01  # shortest: a device that keeps saying "now" must not spin the CPU
HELP = "0-9 Enter Bksp Esc f: keys | s swipe | d damaged | h host | PgUp/Dn roll | q quit"


class HostMode(enum.Enum):
    """What the host does, cycled with ``h``; each is a rule or a link fault the scenario runner also uses."""

    APPROVE = "approve"
    DECLINE_51 = "decline 51"
    SILENT = "silent"
    LINK_DOWN = "link down"

    def next(self) -> HostMode:
        modes = list(HostMode)
        return modes[(modes.index(self) + 1) % len(modes)]


# The host simulator's rule for each mode (firmware.hostsim.rules), as a scenario's ``host`` step spells it.
HOST_RULES: dict[HostMode, dict | None] = {
    HostMode.APPROVE: None,
    HostMode.DECLINE_51: {"behaviour": "decline", "code": "51"},
    HostMode.SILENT: {"behaviour": "drop"},  # processes, never answers: the response timeout and the reversal
    HostMode.LINK_DOWN: None,  # the link itself goes down (connects fail)
}

KEYPAD = (
    "[1] [2] [3]   Enter   #  ENTER",
    "[4] [5] [6]   Bksp    *  CLEAR",
    "[7] [8] [9]   Esc, x  X  CANCEL",
    "[*] [0] [#]   f       F  FUNCTION",
)


# -- the view model ----------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """The text of every panel; equal views draw the same screen."""

    title: str
    display: tuple[str, ...]  # the LCD, framed, as many rows and columns as the display has
    keypad: tuple[str, ...]
    earlier: tuple[str, ...]  # the screens shown before this one, one line each, newest first
    roll: tuple[str, ...]  # the printer's paper, oldest line first
    status: str
    help: str = HELP


def build_view(runner: Runner, host: HostMode = HostMode.APPROVE, message: str = "") -> View:
    """The panels for the runner as it is now. Pure: reads the devices' records and the core."""
    from firmware.core.model import State
    from firmware.logs import redact
    from hal.display.console import frame_screen

    devices, core = runner.devices, runner.core
    display = devices.display
    lcd = (f"DISPLAY {display.rows}x{display.cols}",) + tuple(frame_screen(display.screen).splitlines())
    earlier = ("EARLIER SCREENS, newest first",) + _earlier(display.history, display.screen)
    pin = core.state is State.PIN
    keypad = ("PIN PAD" + ("   PIN ENTRY: keys go to the PIN pad" if pin else ""),) + KEYPAD
    printer = devices.printer
    roll: list[str] = []
    for receipt in printer.receipts:
        roll += receipt.rstrip("\n").split("\n")
        roll.append("~" * printer.columns)  # torn off here
    link = devices.link
    if getattr(link, "down", False) or core.link_up is False:
        link_text = "down"
    else:
        link_text = "up" if core.link_up else "not used yet"
    alert = "-"
    if runner.alerts:
        code, text = runner.alerts[-1]
        alert = redact(f"{code} {text}")  # alerts carry no card data; a mistake still shows masked
    status = (
        f"{core.state.value.upper()} | link {link_text} | reversals {len(core.reversals)} "
        f"advices {len(core.advices)} | host {host.value} | alert: {alert}"
    )
    title = "posterm screen: " + core.settings.merchant_name + (f"   [{message}]" if message else "")
    return View(title, lcd, keypad, earlier, tuple(roll), status)


def _earlier(history, current, count: int = EARLIER) -> tuple[str, ...]:
    """The last ``count`` screens before ``current``, repeats merged: with simulated devices a
    screen such as APPROVED gives way to the next within one turn of the loop, too fast to see."""
    out: list[str] = []
    previous = current
    for screen in reversed(history):
        if screen == previous:
            continue
        previous = screen
        out.append(" / ".join(line.rstrip() for line in screen if line.strip()) or "(blank)")
        if len(out) == count:
            break
    return tuple(out)


def pad_key(ch: int) -> str | None:
    """The PIN pad key for a curses key code, or None for a key that is not one."""
    import curses

    if ord("0") <= ch <= ord("9"):
        return chr(ch)
    if ch in (10, 13, curses.KEY_ENTER):
        return "#"
    if ch in (8, 127, curses.KEY_BACKSPACE):
        return "*"
    if ch in (27, ord("x"), ord("X")):
        return "X"
    if ch in (ord("f"), ord("F")):
        return "F"
    return None


# -- the terminal on the desk ---------------------------------------------------------
LAB_MARK = ".posterm-screen"  # in a data directory that posterm screen made, and only there


def _claim_lab_dir(data_dir: Path) -> None:
    """Screen loads the published lab keys and clears any tamper record in its data
    directory, and writes simulated sales into its journal. So it works only in a new
    or empty directory, or one it made before; never in a real terminal's."""
    from firmware.errors import ConfigError

    if data_dir.exists() and any(data_dir.iterdir()) and not (data_dir / LAB_MARK).exists():
        raise ConfigError(
            f"{data_dir} holds data that posterm screen did not make (a real terminal's?); "
            "give it a new or empty directory",
            code="screen.not_lab_dir",
        )
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (data_dir / LAB_MARK).write_text("made by posterm screen: lab keys, simulated sales only\n")


class ScreenSession:
    """The real runner on simulated devices, in its own data directory, with the embedded host.

    ``data_dir`` None: a temporary directory, removed by ``close()``. Either
    way it is provisioned with the lab keys, as ``posterm demo`` does.
    """

    def __init__(self, config: Config | None = None, *, data_dir: Path | None = None) -> None:
        self.base = config
        self.given_dir = Path(data_dir) if data_dir is not None else None
        self.data_dir: Path | None = None
        self.host_mode = HostMode.APPROVE
        self.runner: Runner | None = None
        self.host = None  # firmware.embedded_host.EmbeddedHost
        self._tmp = None

    def config(self) -> Config:
        """The given configuration with every device simulated and the data directory ours."""
        from firmware.config import Config, as_dict, parse_config

        merged = as_dict(self.base or Config())
        merged["storage"]["data_dir"] = str(self.data_dir)
        devices = merged["devices"]
        for kind in ("reader", "pinpad", "printer", "link", "tamper"):
            devices[kind] = "sim://"
        devices["display"] = _sim_display(devices["display"])
        return parse_config(merged, source="posterm screen")

    def open_data_dir(self) -> Path:
        """The data directory (made now if temporary), before anything runs: the log goes there."""
        import tempfile

        if self.data_dir is None:
            if self.given_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="posterm-screen-")
                self.data_dir = Path(self._tmp.name) / "data"
            else:
                _claim_lab_dir(self.given_dir)  # before anything (the log included) is written there
                self.data_dir = self.given_dir
        return self.data_dir

    def start(self) -> ScreenSession:
        from crypto.provision import provision
        from firmware.app import Overrides, build_runner
        from firmware.embedded_host import EmbeddedHost

        try:
            provision(self.open_data_dir(), lab=True)
            config = self.config()
            self.host = EmbeddedHost(config.host.profile)  # in-process: the sim:// link calls it directly
            self.runner = build_runner(config, overrides=Overrides(host=self.host.processor))
            self.runner.boot()
        except BaseException:
            self.close()
            raise
        return self

    # -- what a person does ------------------------------------------------------
    def press(self, keys: str) -> None:
        """Keys on the PIN pad. In the PIN state they are held for the PIN prompt (never amount keys)."""
        from firmware.core.model import State

        pin = self.runner.core.state is State.PIN
        self.runner.devices.pinpad.press(keys, hold_for_pin=pin)

    def swipe(self, card: str) -> None:
        self.runner.devices.reader.swipe_card(card)

    def swipe_damaged(self, damage: str) -> None:
        self.runner.devices.reader.swipe_damaged(damage)

    def set_host(self, mode: HostMode) -> None:
        """The host's behaviour from now on: a rule in its rule book, or the link down."""
        from firmware.hostsim.rules import RuleBook

        rules = self.host.rules
        rules.clear()
        spec = HOST_RULES[mode]
        if spec is not None:
            (rule,) = RuleBook.from_dicts([spec]).rules
            rules.push(rule)
        link = self.runner.devices.link
        if mode is HostMode.LINK_DOWN:
            link.go_down()
        else:
            link.go_up()
        self.host_mode = mode

    def cycle_host(self) -> HostMode:
        self.set_host(self.host_mode.next())
        return self.host_mode

    # -- the loop's needs ----------------------------------------------------------
    def wait_seconds(self) -> float:
        """How long to wait for a key: never past the runner's next wake-up (timers, a host answer)."""
        wake = self.runner.next_wakeup(default=None)
        if wake is None:
            return MAX_WAIT
        return min(MAX_WAIT, max(MIN_WAIT, wake - self.runner.monotonic()))

    def view(self, message: str = "") -> View:
        return build_view(self.runner, self.host_mode, message)

    def close(self) -> None:
        runner, self.runner = self.runner, None
        host, self.host = self.host, None
        try:
            if runner is not None:
                runner.close()
        finally:
            if host is not None:
                host.stop()
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def __enter__(self) -> ScreenSession:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _sim_display(url: str) -> str:
    """A simulated display as big as the configured one (rows, cols), so it looks like the real LCD."""
    from hal.url import DeviceUrl

    options = DeviceUrl.parse(url, what="display").options
    size = "&".join(f"{k}={options[k]}" for k in ("rows", "cols") if k in options)
    return "sim://" + (f"?{size}" if size else "")


# -- the curses front end ----------------------------------------------------------------
@dataclass
class _Picker:
    title: str
    items: list[tuple[str, str]]  # (value, label)
    pick: Callable[[str], str]  # does it; returns the message to show
    index: int = 0


@dataclass
class _Ui:
    session: ScreenSession
    message: str = "type an amount, Enter, then s to swipe"
    picker: _Picker | None = None
    scroll: int = 0  # roll lines hidden below the panel (0: newest at the bottom)
    quit: bool = False
    roll_len: int = field(default=0, repr=False)

    def run(self, win) -> None:
        import curses

        curses.set_escdelay(25)  # Esc is CANCEL: do not wait a second for an escape sequence
        try:
            curses.curs_set(0)
        except curses.error:
            pass  # a terminal that cannot hide the cursor still works
        win.keypad(True)
        last: tuple | None = None
        while not self.quit:
            self.session.runner.drain()
            view = self.session.view(self.message)
            if len(view.roll) != self.roll_len:  # something printed: follow the paper
                self.roll_len, self.scroll = len(view.roll), 0
            shown = (view, self.scroll, self.picker and (self.picker.title, self.picker.index), win.getmaxyx())
            if shown != last:
                _draw(win, view, self)
                last = shown
            win.timeout(math.ceil(self.session.wait_seconds() * 1000))
            ch = win.getch()
            if ch != -1:
                self.key(ch)

    def key(self, ch: int) -> None:
        import curses

        if self.picker is not None:
            self._picker_key(ch)
            return
        if ch in (ord("q"), ord("Q")):
            self.quit = True
        elif ch in (ord("s"), ord("S")):
            from hal.magstripe.sim import TEST_CARDS

            items = [(c.name, f"{c.name:<16} {c.description}") for c in TEST_CARDS.values()]
            self.picker = _Picker("SWIPE A TEST CARD (arrows, Enter; Esc closes)", items, self._swipe)
        elif ch in (ord("d"), ord("D")):
            from hal.magstripe.sim import Damage

            items = [(d.value, d.value) for d in Damage]
            self.picker = _Picker("SWIPE A DAMAGED VISA CARD (arrows, Enter; Esc closes)", items, self._damaged)
        elif ch in (ord("h"), ord("H")):
            self.message = f"host: {self.session.cycle_host().value}"
        elif ch in (curses.KEY_PPAGE, curses.KEY_UP):
            self.scroll = min(self.scroll + (10 if ch == curses.KEY_PPAGE else 1), max(0, self.roll_len - 1))
        elif ch in (curses.KEY_NPAGE, curses.KEY_DOWN):
            self.scroll = max(0, self.scroll - (10 if ch == curses.KEY_NPAGE else 1))
        elif ch == curses.KEY_END:
            self.scroll = 0
        elif (key := pad_key(ch)) is not None:
            self.session.press(key)
            self.message = ""

    def _picker_key(self, ch: int) -> None:
        import curses

        p = self.picker
        if ch in (curses.KEY_UP, ord("k")):
            p.index = (p.index - 1) % len(p.items)
        elif ch in (curses.KEY_DOWN, ord("j")):
            p.index = (p.index + 1) % len(p.items)
        elif ch in (10, 13, curses.KEY_ENTER):
            self.picker = None
            self.message = p.pick(p.items[p.index][0])
        elif ch in (27, ord("q"), ord("x")):
            self.picker = None

    def _swipe(self, card: str) -> str:
        self.session.swipe(card)
        return f"swiped {card}"

    def _damaged(self, damage: str) -> str:
        self.session.swipe_damaged(damage)
        return f"swiped a damaged card ({damage})"


def _put(win, y: int, x: int, text: str, attr: int = 0) -> None:
    """Write what fits; curses raises for the last cell of the screen and beyond it."""
    import curses

    h, w = win.getmaxyx()
    if 0 <= y < h and 0 <= x < w:
        try:
            win.addnstr(y, x, text, w - x, attr)
        except curses.error:
            pass


def _draw(win, view: View, ui: _Ui) -> None:
    import curses

    win.erase()
    h, w = win.getmaxyx()
    _put(win, 0, 0, view.title.ljust(w), curses.A_REVERSE)
    row = 2
    for lines, attr in ((view.display, curses.A_BOLD), (view.keypad, 0), (view.earlier, 0)):
        for line in lines:
            if row < h - 2:  # the status and help lines keep the last two rows
                _put(win, row, 1, line[: LEFT - 2], attr)
            row += 1
        row += 1
    left = LEFT
    top, bottom = 2, h - 3  # the roll's rows: top .. bottom inclusive
    height = max(0, bottom - top + 1)
    end = len(view.roll) - ui.scroll
    visible = view.roll[max(0, end - height) : end]
    more = f" (+{ui.scroll} below: PgDn)" if ui.scroll else ""
    _put(win, 1, left + 2, f"PRINTER ROLL, newest at the bottom{more}")
    for i in range(height):
        _put(win, top + i, left, "|")
    for i, line in enumerate(visible):
        _put(win, top + height - len(visible) + i, left + 2, line)
    _put(win, h - 2, 0, view.status.ljust(w)[: w], curses.A_REVERSE)
    _put(win, h - 1, 0, view.help[: max(0, w - 1)])
    if ui.picker is not None:
        _draw_picker(win, ui.picker)
    win.noutrefresh()
    curses.doupdate()


def _draw_picker(win, p: _Picker) -> None:
    import curses

    h, w = win.getmaxyx()
    width = min(w - 4, max(len(p.title), *(len(label) for _, label in p.items)) + 4)
    y0, x0 = max(1, (h - len(p.items) - 4) // 2), max(0, (w - width) // 2)
    _put(win, y0, x0, "+" + "-" * (width - 2) + "+")
    _put(win, y0 + 1, x0, ("| " + p.title).ljust(width - 1)[: width - 1] + "|", curses.A_BOLD)
    for i, (_, label) in enumerate(p.items):
        chosen = i == p.index  # marked twice: reverse video is lost on some terminals
        text = ("> " if chosen else "  ") + label
        _put(win, y0 + 2 + i, x0, "|" + text.ljust(width - 2)[: width - 2] + "|", curses.A_REVERSE if chosen else 0)
    _put(win, y0 + 2 + len(p.items), x0, "+" + "-" * (width - 2) + "+")


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
    session = ScreenSession(config, data_dir=Path(args.data_dir) if args.data_dir else None)
    log_file = ""
    try:
        # Warnings go to a file: on standard error they would write over the screen.
        from crypto.provision import ensure_private_dir

        log_file = config.log.file or str(ensure_private_dir(session.open_data_dir()) / "screen.log")
        setup_logging(config.log.level, log_file)
        session.start()
        ui = _Ui(session)
        previous = signal.signal(signal.SIGTERM, lambda *_: setattr(ui, "quit", True))
        try:
            _run_curses(ui)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except Exception as e:  # the screen is restored by now: one line, never a traceback
        from firmware.errors import TerminalError

        if isinstance(e, TerminalError):
            raise
        log.exception("posterm screen stopped by an internal error")
        where = f"see {log_file}" if session.given_dir or config.log.file else "rerun with --data-dir to keep the log"
        print(f"posterm: error [screen.internal]: internal error ({type(e).__name__}); {where}", file=sys.stderr)
        return 3
    finally:
        session.close()
    return 0


def _run_curses(ui: _Ui) -> None:
    import curses

    from firmware.errors import ConfigError

    try:
        curses.wrapper(ui.run)
    except curses.error as e:  # no terminfo for TERM, or a terminal too dumb for curses
        raise ConfigError(f"the terminal cannot run the screen ({e}); check TERM", code="screen.terminal") from None


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
