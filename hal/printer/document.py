"""The receipt as data, and how it is laid out on a fixed-width roll.

The transaction core builds a ``Receipt`` of ``Line`` s and never thinks about
printer commands. ``layout`` turns a receipt into ``Row`` s, one per printed
line, and is the single place that decides wrapping, two-column padding and
double width; the ESC/POS renderer sends exactly these rows and ``plain_text``
draws them, so what a test reads is what the paper shows.

This module imports nothing heavy (no python-escpos): the core and the
simulator use it on every transaction.

Layout rules (``columns`` is the printer's width in normal characters):

* A double line (double width and height) is laid out on ``columns // 2``
  cells and its plain text is that narrower grid: "TOTAL" centred on a
  32-column printer reads as 5 spaces + "TOTAL".
* East Asian Wide and Fullwidth characters (CJK) take two cells, everything
  else one: a row never holds more cells than it has, and is never cut inside
  a character. A printer with a Chinese mode prints the wide ones in it
  (``hal.printer.render``); one without prints each as ``??``, two cells, so
  the row keeps its layout (``plain_text(..., cjk=False)`` shows that).
* Text too wide is wrapped at the last space that fits; a word wider than the
  line is cut. Continuation rows drop their leading spaces. Trailing spaces
  never reach the paper.
* ``right`` is flushed to the right edge of the last row of ``text`` when it
  fits there with at least one space between; otherwise it gets row(s) of its
  own, flushed right. Two-column rows are padded here and sent left-aligned.
* Centre and right alignment are done by the printer (``ESC a``), which
  centres in dots; for an odd leftover the plain text rounds the left margin
  down.
* Control characters (newline, tab, ESC ...) are shown as a space, so no
  receipt field, even one that came from the host, can inject printer
  commands.
* A rule is a full row of dashes; a rule's ``text`` is an optional label
  centred in it ("----- MERCHANT COPY -----").
"""

from __future__ import annotations

import enum
import itertools
import unicodedata
from dataclasses import dataclass

from hal.cells import cell_width, is_wide  # a wide character: two cells, printed in the Chinese mode; shared with the display

__all__ = ["Align", "Line", "Receipt", "Row", "layout", "plain_text", "cell_width", "is_wide", "wide_runs",
           "without_wide", "RULE_CHAR", "MIN_LAYOUT_COLUMNS"]

RULE_CHAR = "-"
UNPRINTABLE_WIDE = "??"  # a wide character on a printer without a Chinese mode: what it is sent, two cells
MIN_LAYOUT_COLUMNS = 4  # a double row then has two cells: room for one wide character


class Align(enum.Enum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True)
class Line:
    """One logical line of a receipt; it may take several rows on paper."""

    text: str = ""
    right: str = ""  # a second column flushed right: Line("AMOUNT:", right="CNY 12.50")
    align: Align = Align.LEFT
    bold: bool = False
    double: bool = False  # double width and double height
    rule: bool = False  # a full-width separator; ``text`` becomes its label

    def __post_init__(self) -> None:
        # Programming errors, caught where the receipt is built: a receipt
        # field is always text (money is formatted by the core, from integers).
        for name in ("text", "right"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Line.{name} must be str, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.align, Align):
            raise TypeError("Line.align must be an Align")
        if self.rule and self.right:
            raise ValueError("a rule line has no right column")


@dataclass(frozen=True)
class Receipt:
    lines: tuple[Line, ...]
    title: str = ""  # for logs only, e.g. "MERCHANT COPY 000123"; never printed
    cut: bool = True  # feed and cut after the last line; False leaves the paper where it stops

    def __post_init__(self) -> None:
        if not isinstance(self.lines, tuple):  # a list would make the receipt mutable
            object.__setattr__(self, "lines", tuple(self.lines))
        for line in self.lines:
            if not isinstance(line, Line):
                raise TypeError(f"Receipt.lines holds a {type(line).__name__}, not a Line")


@dataclass(frozen=True)
class Row:
    """One printed row: the text to send and how the printer shows it.

    ``text`` carries no alignment padding (the printer aligns) but does carry
    the padding between two columns. ``width`` is the cells available.
    """

    text: str
    width: int
    align: Align = Align.LEFT
    bold: bool = False
    double: bool = False

    def plain(self) -> str:
        """The row as it looks on paper, on a ``width``-cell grid."""
        spare = self.width - cell_width(self.text)
        if spare <= 0 or not self.text or self.align is Align.LEFT:
            return self.text
        if self.align is Align.CENTER:
            return " " * (spare // 2) + self.text
        return " " * spare + self.text


def wide_runs(text: str) -> list[tuple[bool, str]]:
    """``text`` as runs of wide characters and of the rest, in order: ``[(False, "AB "), (True, "上海")]``."""
    return [(wide, "".join(run)) for wide, run in itertools.groupby(text, is_wide)]


def without_wide(text: str) -> str:
    """``text`` as a printer without a Chinese mode is sent it: each wide character ``??`` (its two cells)."""
    return "".join(UNPRINTABLE_WIDE if is_wide(ch) else ch for ch in text)


def _clean(text: str) -> str:
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _cut(text: str, width: int) -> tuple[str, str]:
    """Split ``text`` into a head of at most ``width`` cells (at least one character) and the rest."""
    used = 0
    for i, ch in enumerate(text):
        w = cell_width(ch)
        if used + w > width and i > 0:
            return text[:i], text[i:]
        used += w
    return text, ""


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into rows of at most ``width`` cells, at spaces where possible."""
    text = text.rstrip()
    rows: list[str] = []
    while cell_width(text) > width:
        head, rest = _cut(text, width)
        if rest.startswith(" "):  # the break falls exactly on a space
            row, text = head, rest
        else:
            space = head.rfind(" ")
            if space > 0 and head[:space].strip():
                row, text = head[:space], head[space + 1 :] + rest
            else:  # one word wider than the row: cut it
                row, text = head, rest
        rows.append(row.rstrip())
        text = text.lstrip(" ")
    rows.append(text)
    return rows


def _flush_right(text: str, width: int) -> str:
    return " " * max(0, width - cell_width(text)) + text


def _line_rows(line: Line, columns: int) -> list[Row]:
    width = columns // 2 if line.double else columns
    style = {"bold": line.bold, "double": line.double}
    text = _clean(line.text)
    if line.rule:
        label = text.strip()
        if not label:
            return [Row(RULE_CHAR * width, width, **style)]
        label = f" {label} " if cell_width(label) + 2 <= width else label
        spare = max(0, width - cell_width(label))
        rule = RULE_CHAR * (spare // 2) + label + RULE_CHAR * (spare - spare // 2)
        return [Row(r, width, **style) for r in wrap(rule, width)]
    right = _clean(line.right).strip()
    if not right:
        return [Row(r, width, line.align, **style) for r in wrap(text, width)]
    left = wrap(text, width) if text.strip() else []
    if left and cell_width(left[-1]) + 1 + cell_width(right) <= width:
        gap = width - cell_width(left[-1]) - cell_width(right)
        left[-1] = left[-1] + " " * gap + right
        return [Row(r, width, **style) for r in left]
    return [Row(r, width, **style) for r in left] + [
        Row(_flush_right(r, width), width, **style) for r in wrap(right, width)
    ]


def layout(receipt: Receipt, columns: int) -> list[Row]:
    """Every printed row of ``receipt`` on a ``columns``-wide printer, in order."""
    if not isinstance(columns, int) or columns < MIN_LAYOUT_COLUMNS:
        raise ValueError(f"columns must be a whole number of at least {MIN_LAYOUT_COLUMNS}, got {columns!r}")
    return [row for line in receipt.lines for row in _line_rows(line, columns)]


def plain_text(receipt: Receipt, columns: int, *, cjk: bool = True) -> str:
    """The text exactly as printed on a ``columns``-wide printer, one row per line, each ending in a newline.

    ``cjk=False``: a printer without a Chinese mode, which prints each wide character as ``??``.
    """
    text = "".join(row.plain() + "\n" for row in layout(receipt, columns))
    return text if cjk or text.isascii() else without_wide(text)
