"""A simulated display: an instrument that records every screen.

``lines`` is the current screen, ``history`` every screen shown (clears
included), ``shows(text)``/``showed(text)`` look for text now/ever, and
``assert_shows(text)`` fails with the screen drawn in the message.
``stop_answering()`` makes ``show`` raise ``display.not_responding``.
``cut`` lists every line that was wider than the display, as ``(line, cols)``:
a screen the core did not fit to the display's width.

Text is looked for in the screen's lines with trailing spaces removed,
joined by newlines, so ``shows("TOTAL\\n12.50")`` spans two lines.
"""

from __future__ import annotations

from typing import Any

from firmware.errors import DisplayError
from hal.display import Display, Screen
from hal.display.console import frame_screen
from hal.url import Option

__all__ = ["SimDisplay"]


def _text(screen: Screen) -> str:
    return "\n".join(line.rstrip() for line in screen)


class SimDisplay(Display):
    """``sim://`` display (options ``rows``, ``cols``, ``cjk``: it shows Chinese unless ``cjk=false``)."""

    scheme = "sim"
    OPTIONS = {**Display.OPTIONS, "cjk": Option(bool, True, "shows Chinese characters, two columns each")}

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        self.history: list[Screen] = []
        self.cut: list[tuple[str, int]] = []
        self._answering = True

    def _cut(self, lines: tuple[str, ...]) -> None:
        super()._cut(lines)
        self.cut += [(line, self.cols) for line in lines]

    def _show(self, lines: Screen) -> None:
        if not self._answering:
            raise DisplayError("display is not responding", code="display.not_responding")
        self.history.append(lines)

    # -- the instrument -----------------------------------------------------
    @property
    def lines(self) -> Screen:
        """The current screen."""
        return self.screen

    def shows(self, text: str) -> bool:
        """Whether ``text`` is on the current screen."""
        return text in _text(self.screen)

    def showed(self, text: str) -> bool:
        """Whether ``text`` was on any screen shown so far."""
        return any(text in _text(screen) for screen in self.history)

    def assert_shows(self, text: str) -> None:
        if not self.shows(text):
            raise AssertionError(self._explain(f"display does not show {text!r}; it shows", [self.screen]))

    def assert_showed(self, text: str) -> None:
        if not self.showed(text):
            recent = self.history[-5:]
            what = f"display never showed {text!r}; the last {len(recent)} of {len(self.history)} screens"
            raise AssertionError(self._explain(what, recent))

    def _explain(self, what: str, screens: list[Screen]) -> str:
        drawn = "".join(frame_screen(s) for s in screens) or "(nothing was ever shown)\n"
        return f"{what}:\n{drawn}"

    def stop_answering(self) -> None:
        self._answering = False

    def resume(self) -> None:
        self._answering = True
