"""The screens of an entry or a transaction refused before anything was sent (UX25): a digit past the amount
limit, and the offline refusal with its next step. Written with ``screens``' rules (a display's real width,
a 2-row short form), beside it to keep that file small."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firmware.core.flows import flow_of
from firmware.core.next_steps import next_step
from firmware.core.screens import _pair, _width, _wrapped, fit, money, shown
from hal.cells import cell_width
from hal.display import Lines

if TYPE_CHECKING:
    from firmware.core.machine import Terminal

__all__ = ["over_limit", "refused_here"]


def over_limit(term: Terminal) -> Lines:
    """A digit refused because the amount would pass the limit (``sale.max_amount``): the amount as it stays,
    why, and the limit, formatted as every amount is; on 2 rows, why and the limit."""
    flow, w = flow_of(term.sale.kind), _width(term)
    limit = money(term.settings.max_amount, term.settings)
    said = ("AMOUNT TOO LARGE", f"MAX {limit}")
    if cell_width(said[1]) > w:  # a 16-column line: MAX shares the line above, the limit has its own
        said = ("TOO LARGE. MAX:", limit)
    return fit((_pair(flow.title, money(term.sale.amount, term.settings), w, flow.short), *said, "#=OK  X=CANCEL"),
               said)


def refused_here(term: Terminal, why: str, text: str, undone: str, code: str) -> Lines:
    """A transaction refused before anything was sent (the host cannot be reached and offline will not do):
    why, the refusal, the outcome, and the next step (``next_steps``) where the lines leave it room; on
    2 rows, the cause and the outcome (the alert says why offline would not do)."""
    lines, w, step = (why, text, undone), _width(term), next_step(code, term.sale.kind)
    rows = sum(len(_wrapped(line, w) or (line,)) for line in lines)  # a line too wide is said over two
    return shown(term, (*lines, step) if step and rows < 4 else lines, (why, undone))
