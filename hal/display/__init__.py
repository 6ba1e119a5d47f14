"""The customer/operator display port.

``Display.show(lines)`` fits the lines to the screen once, here, for every
driver: at most ``rows`` lines of exactly ``cols`` columns (a CJK character
takes two; shorter lines and missing ones padded with spaces; a longer line is
cut, never silently: ``Display._cut`` logs it and the simulator keeps it in
``cut``, for the tests that find every such screen), with control
characters replaced by spaces so no text can move a cursor or inject an
escape sequence. A driver implements ``_show(lines)`` for the fitted screen.

A screen of more lines than the display has rows (the core writes 4 x 20;
the usual pole display, the DM-D family, has 2 rows) loses no line by
accident: blank lines, which are only spacing, go first; then a screen that
says itself in fewer lines (``Lines.short``: the amount with its title, the
fault with its keys) is shown that way; a screen that does not is shown as
its first lines and its last (by the screens' convention the keys or status
line), and the port logs a warning naming what it left out.

Card data never goes to a display except a masked PAN; that is the caller's
rule, the display cannot tell.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Sequence

from firmware.errors import ConfigError, DisplayError
from hal.base import Device, DeviceContext
from hal.cells import cell_width, cut_cells
from hal.url import DeviceUrl, Option

__all__ = ["Display", "Lines", "fit_screen", "Screen", "MIN_COLS"]

log = logging.getLogger(__name__)

Screen = tuple[str, ...]

# The narrowest display the terminal's screens are written for (the cheap 2 x 16 pole displays): every
# screen chooses what shares a line with the display's real width, down to this one, so an amount, an
# outcome word or a keyed value is never cut. The configuration refuses a narrower ``devices.display``
# (``firmware.config_checks.check_display``); the port itself, an instrument too, takes any width.
MIN_COLS = 16


def _clean(line: str) -> str:
    if line.isprintable():  # the usual case, decided in C
        return line
    return "".join(" " if unicodedata.category(c)[0] == "C" else c for c in line)


class Lines(tuple):
    """A screen's lines, and ``short``: the same screen said in fewer lines, for a display with fewer rows.

    A tuple, so it compares equal to the plain tuple of its lines; ``short``
    is what a 2-row display shows when the lines, less their blank ones, do
    not fit (``fit_screen``). Empty: the screen has no short form.
    """

    short: tuple[str, ...]

    def __new__(cls, lines: Iterable[str], short: Iterable[str] = ()) -> Lines:
        self = super().__new__(cls, lines)
        self.short = tuple(short)
        return self


def _fewer(lines: Sequence[str], rows: int) -> list[str]:
    """The lines a display of ``rows`` rows shows of ``lines`` (see the module's docstring)."""
    every = [str(line) for line in lines]
    if len(every) <= rows:
        return every
    kept = [line for line in every if line.strip()]  # blank lines are spacing
    if len(kept) <= rows:
        return kept
    short = [str(line) for line in getattr(lines, "short", ()) if str(line).strip()]
    if short and len(short) <= rows:
        return short
    kept = short or kept
    shown = kept[: rows - 1] + kept[-1:] if rows > 1 else kept[-1:]
    log.warning(  # the count only: a screen's text is the operator's, not the log's
        "a screen of %d lines on a display of %d rows has no short form that fits: %d line(s) not shown",
        len(kept), rows, len(kept) - len(shown),
    )
    return shown


_FITS = (Lines, tuple, list)  # sized, and read in order: taken as they are when they are few enough


def fit_screen(lines: Sequence[str] | str, rows: int, cols: int, cjk: bool = True) -> Screen:
    """``lines`` as exactly ``rows`` lines of ``cols`` characters. A ``str`` is split at newlines.

    More lines than ``rows``: blank ones go, then ``Lines.short`` is shown if
    the screen has one that fits, else its first ``rows - 1`` lines and its
    last, with a warning in the log (never a line dropped without a word). ``cjk``: the display shows a
    Chinese character in two columns (else it shows one "?", one column, as a DM-D does).
    """
    return _fitted(lines, rows, cols, cjk)[0]


def _fitted(lines: Sequence[str] | str, rows: int, cols: int, cjk: bool) -> tuple[Screen, tuple[str, ...]]:
    """``fit_screen``'s screen, and the lines it had to cut (wider than ``cols`` columns: a wide character
    takes two and is never cut in half)."""
    if isinstance(lines, str):
        lines = lines.split("\n")
    width, cut = (cell_width, cut_cells) if cjk else (len, lambda line, n: line[:n])
    # the usual screen (a tuple of printable lines, no more than the rows) is fitted without a call per line
    few = lines if type(lines) in _FITS and len(lines) <= rows else _fewer(lines, rows)
    shown = [text if (text := str(line)).isprintable() else _clean(text) for line in few]
    fitted = [(head := cut(line, cols)) + " " * (cols - width(head)) for line in shown]
    if len(fitted) < rows:
        fitted += [" " * cols] * (rows - len(fitted))
    return tuple(fitted), tuple(line for line in shown if width(line) > cols)


class Display(Device):
    """Port for text displays. Drivers override ``_show``."""

    kind = "display"
    OPTIONS = {
        "rows": Option(int, 4, "text lines on the display"),
        "cols": Option(int, 20, "characters per line"),
        # whether it shows Chinese (East Asian wide) characters, two columns each; a DM-D pole display shows
        # "?" for them, so the READY screen leaves out a Chinese merchant name there (firmware.core.screens)
        "cjk": Option(bool, False, "shows Chinese characters, two columns each"),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        for name in ("rows", "cols"):
            if self.options[name] < 1:
                raise ConfigError(
                    f"option {name!r} in {self.url.shown!r} expects a whole number of at least 1, "
                    f"got {self.options[name]}",
                    code="config.bad_option",
                )
        self._screen: Screen = fit_screen((), self.rows, self.cols, self.cjk)
        self._final = False

    # -- what drivers override ----------------------------------------------
    def _show(self, lines: Screen) -> None:  # hook
        """Put this fitted screen on the device. Raise ``DisplayError`` if it fails."""
        raise NotImplementedError

    def _cut(self, lines: tuple[str, ...]) -> None:  # hook: the simulator also keeps them, for tests
        """``lines`` were wider than the display and were cut: never silently. The log gets the count and
        widths only (a screen may carry an amount; the text is the operator's, not the log's)."""
        log.warning("%d line(s) of %s cells cut to the display's %d columns", len(lines),
                    "/".join(str(cell_width(line)) for line in lines), self.cols)

    # -- the port -------------------------------------------------------------
    @property
    def rows(self) -> int:
        return self.options["rows"]

    @property
    def cols(self) -> int:
        return self.options["cols"]

    @property
    def cjk(self) -> bool:
        return self.options["cjk"]

    @property
    def screen(self) -> Screen:
        """What was last shown successfully (blank before the first ``show``)."""
        return self._screen

    def show(self, lines: Sequence[str] | str) -> None:
        """Show ``lines`` (fitted to rows x cols; see ``fit_screen``)."""
        if not self._open:
            raise DisplayError("display is not open", code="display.not_open")
        options = self.options
        screen, cut = _fitted(lines, options["rows"], options["cols"], self.cjk)
        if cut:
            self._cut(cut)
        self._show(screen)
        self._screen = screen
        self._final = False

    def show_final(self, lines: Sequence[str] | str) -> None:
        """Show ``lines`` and leave them up once the display is closed: the terminal's last word as it stops
        (OUT OF SERVICE). A driver that blanks its screen on closing, so that no amount stays up on a
        terminal that is not running, keeps this one (``final``)."""
        self.show(lines)
        self._final = True

    @property
    def final(self) -> bool:
        """Whether the screen up now was shown by ``show_final`` and must outlive ``close``."""
        return self._final

    def clear(self) -> None:
        self.show(())
