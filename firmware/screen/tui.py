"""The curses front end of ``posterm screen``: drawing the ``View`` and the key loop."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.screen.session import LEFT, ScreenSession, View, pad_key

__all__ = ["Ui", "run_curses"]

log = logging.getLogger(__name__)

# -- the curses front end ----------------------------------------------------------------
@dataclass
class _Picker:
    title: str
    items: list[tuple[str, str]]  # (value, label)
    pick: Callable[[str], str]  # does it; returns the message to show
    index: int = 0


@dataclass
class Ui:
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


def _draw(win, view: View, ui: Ui) -> None:
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


def run_curses(ui: Ui) -> None:
    import curses

    from firmware.errors import ConfigError

    try:
        curses.wrapper(ui.run)
    except curses.error as e:  # no terminfo for TERM, or a terminal too dumb for curses
        raise ConfigError(f"the terminal cannot run the screen ({e}); check TERM", code="screen.terminal") from None
