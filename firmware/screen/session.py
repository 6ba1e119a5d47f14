"""The terminal on the desk and its view: what ``posterm screen`` shows, without curses.

``ScreenSession`` holds the data directory, the host and the runner, and the
instruments a person plays (``press``, ``swipe``, ``set_host``);
``build_view(runner, ...)`` is pure: the runner's devices and core in, the
text of every panel out (``View``).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module at every start: nothing heavy at the top
    from firmware.config import Config
    from firmware.runner import Runner

__all__ = ["LAB_MARK", "MAX_WAIT", "HostMode", "ScreenSession", "View", "build_view", "pad_key"]

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
    entry = {State.PIN: "PIN ENTRY", State.ACCOUNT: "ACCOUNT ENTRY"}.get(core.state)  # keys held by the pad
    keypad = ("PIN PAD" + (f"   {entry}: keys go to the PIN pad" if entry else ""),) + KEYPAD
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
        """Keys on the PIN pad. In the PIN state (and a transfer's ACCOUNT state) they are held for the pad's
        own prompt, never taken as amount keys."""
        from firmware.core.model import State

        held = self.runner.core.state in (State.PIN, State.ACCOUNT)
        self.runner.devices.pinpad.press(keys, hold_for_pin=held)

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
