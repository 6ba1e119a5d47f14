"""The customer/operator display port.

``Display.show(lines)`` fits the lines to the screen once, here, for every
driver: at most ``rows`` lines of exactly ``cols`` characters (longer lines
are cut, shorter ones and missing lines padded with spaces), with control
characters replaced by spaces so no text can move a cursor or inject an
escape sequence. A driver implements ``_show(lines)`` for the fitted screen.

Card data never goes to a display except a masked PAN; that is the caller's
rule, the display cannot tell.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

from firmware.errors import ConfigError, DisplayError
from hal.base import Device, DeviceContext
from hal.url import DeviceUrl, Option

__all__ = ["Display", "fit_screen", "Screen"]

log = logging.getLogger(__name__)

Screen = tuple[str, ...]


def _clean(line: str) -> str:
    if line.isprintable():  # the usual case, decided in C
        return line
    return "".join(" " if unicodedata.category(c)[0] == "C" else c for c in line)


def fit_screen(lines: Sequence[str] | str, rows: int, cols: int) -> Screen:
    """``lines`` as exactly ``rows`` lines of ``cols`` characters. A ``str`` is split at newlines."""
    if isinstance(lines, str):
        lines = lines.split("\n")
    fitted = [_clean(str(line))[:cols].ljust(cols) for line in list(lines)[:rows]]
    fitted += [" " * cols] * (rows - len(fitted))
    return tuple(fitted)


class Display(Device):
    """Port for text displays. Drivers override ``_show``."""

    kind = "display"
    OPTIONS = {
        "rows": Option(int, 4, "text lines on the display"),
        "cols": Option(int, 20, "characters per line"),
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
        self._screen: Screen = fit_screen((), self.rows, self.cols)
        self._final = False

    # -- what drivers override ----------------------------------------------
    def _show(self, lines: Screen) -> None:  # hook
        """Put this fitted screen on the device. Raise ``DisplayError`` if it fails."""
        raise NotImplementedError

    # -- the port -------------------------------------------------------------
    @property
    def rows(self) -> int:
        return self.options["rows"]

    @property
    def cols(self) -> int:
        return self.options["cols"]

    @property
    def screen(self) -> Screen:
        """What was last shown successfully (blank before the first ``show``)."""
        return self._screen

    def show(self, lines: Sequence[str] | str) -> None:
        """Show ``lines`` (fitted to rows x cols; see ``fit_screen``)."""
        if not self.is_open:
            raise DisplayError("display is not open", code="display.not_open")
        screen = fit_screen(lines, self.rows, self.cols)
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
