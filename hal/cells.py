"""How many columns text takes on a fixed-width device: the printer's roll and the display's line.

East Asian Wide and Fullwidth characters (CJK) take two cells, everything else
one. Shared by the printer's layout (``hal.printer.document``) and the
display's fitting (``hal.display.fit_screen``, ``firmware.core.screens``), so
both count a line the same way. The standard library only: the core imports it.
"""

from __future__ import annotations

import unicodedata

__all__ = ["WIDE", "cell_width", "is_wide", "cut_cells"]

WIDE = frozenset(("W", "F"))  # East Asian Wide, Fullwidth


def cell_width(text: str) -> int:
    """Cells ``text`` takes: 2 for East Asian wide/fullwidth characters, else 1."""
    if text.isascii():  # the usual case, decided in C
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in WIDE else 1 for ch in text)


def is_wide(ch: str) -> bool:
    """``ch`` takes two cells (a CJK character)."""
    return unicodedata.east_asian_width(ch) in WIDE


def cut_cells(text: str, width: int) -> str:
    """The longest head of ``text`` that takes at most ``width`` cells: a wide character is never cut in half."""
    if text.isascii():
        return text[:width]
    used = 0
    for i, ch in enumerate(text):
        used += 2 if is_wide(ch) else 1
        if used > width:
            return text[:i]
    return text
