"""A display drawn on the developer's terminal (``console://``, ``console://?tty=/dev/pts/3``).

Each screen is written as a framed box, ASCII only so any terminal or log
file shows it::

    +--------------------+
    |PURCHASE            |
    |          CNY 12.50 |
    +--------------------+

With ``clear=true`` the terminal is cleared first (ANSI), so the box stays in
place like a real display; otherwise boxes scroll, which reads well in a log.
Writing goes straight to the file descriptor (standard output by default).
"""

from __future__ import annotations

import os
from typing import Any

from firmware.errors import DisplayError
from hal.cells import cell_width
from hal.display import Display, Screen
from hal.url import Option

__all__ = ["ConsoleDisplay", "frame_screen"]

STDOUT_FD = 1
_CLEAR = "\x1b[H\x1b[2J"


def frame_screen(lines: Screen) -> str:
    """The screen in an ASCII box, one text line per row, ending in a newline."""
    width = max((cell_width(line) for line in lines), default=0)  # a Chinese character takes two columns
    edge = "+" + "-" * width + "+\n"
    return edge + "".join(f"|{line}{' ' * (width - cell_width(line))}|\n" for line in lines) + edge


class ConsoleDisplay(Display):
    """``console://`` display. Options: ``rows``, ``cols``, ``tty`` (default stdout), ``clear``."""

    scheme = "console"
    OPTIONS = {
        **Display.OPTIONS,
        "cjk": Option(bool, True, "shows Chinese characters, two columns each (a UTF-8 terminal does)"),
        "tty": Option(str, "", "terminal or file to draw on; empty for standard output"),
        "clear": Option(bool, False, "clear the terminal before each screen"),
    }

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        self._fd: int | None = None
        self._owned = False

    def _do_open(self) -> None:
        path = self.options["tty"]
        if not path:
            self._fd, self._owned = STDOUT_FD, False
            return
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_APPEND)
        except OSError as exc:
            raise DisplayError(f"cannot open {path!r} for the display ({exc.strerror})", code="display.open_failed") from None
        self._owned = True

    def _do_close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._owned:
            os.close(fd)

    def _show(self, lines: Screen) -> None:
        assert self._fd is not None
        data = ((_CLEAR if self.options["clear"] else "") + frame_screen(lines)).encode("utf-8", "replace")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise DisplayError(f"cannot write to the display ({exc.strerror})", code="display.write_failed") from None
