"""An amount on the display is read whole or not at all (audit AU20 M3).

"COMPLETION CNY 12345" for 123,456.78: the display cuts a line at its width, so a title and its amount
that do not fit together must give way by the title (``screens.titled``: the amount on a line of its own,
right-aligned; on 2 rows the amount alone), never by the digits. Every screen of a transaction that shows
its amount is checked here, for every kind that moves money, at the largest amount it accepts
(``sale.max_amount``) and, by hypothesis, at any amount up to it, on the 4 x 20 screen and the 2 x 20 form.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import screens
from firmware.core.batch import Totals
from firmware.core.flows import FLOWS
from firmware.core.machine import Sale, Terminal
from firmware.core.model import Kind
from firmware.money import format_amount
from hal.display import fit_screen

from . import helpers as h

MONEY_KINDS = [k for k, f in FLOWS.items() if f.moves_money]
MAX = h.SETTINGS.max_amount


def _terminal(kind, amount: int) -> Terminal:
    term = Terminal(h.SETTINGS)
    sale = Sale(1, kind, digits=str(amount), card=h.CARD)
    if not FLOWS[kind].keyed_amount:  # a void: its original's amount
        sale.original = replace(h.ORIGINAL, amount=amount)
    term.sale = sale
    return term


def _screens(term: Terminal):
    """Every screen of a transaction in progress that shows its amount."""
    return {"swipe": screens.swipe(term), "pin": screens.pin(term, 4), "processing": screens.processing(term),
            "account": screens.account(term, 19, False), "amount": screens.amount(term)}


def _assert_whole(term: Terminal, amount: int) -> None:
    """Each screen shows the amount on 4 rows; on either size, a line that shows money shows all of it."""
    whole = f"{h.SETTINGS.currency_symbol} {format_amount(amount, h.SETTINGS.exponent)}"
    for name, lines in _screens(term).items():
        assert any(whole in line for line in fit_screen(lines, 4, screens.WIDTH)), (name, lines)
        for rows in (4, 2):
            shown = fit_screen(lines, rows, screens.WIDTH)
            money = [line for line in shown if h.SETTINGS.currency_symbol in line]
            assert all(line.rstrip().endswith(whole) for line in money), (name, rows, shown)


@pytest.mark.parametrize("kind", MONEY_KINDS, ids=lambda k: k.value)
def test_the_largest_amount_each_kind_accepts_is_shown_whole_on_every_screen(kind):
    _assert_whole(_terminal(kind, MAX), MAX)


def test_a_completion_of_123456_78_keys_its_pin_under_the_whole_amount():
    """The audit's case: the title keeps its own line and the amount sits right-aligned under it; the keys
    have the last line, as on every input screen (UX25), and the card's last 4 give way to them."""
    lines = screens.pin(_terminal(Kind.PREAUTH_COMPLETE, 12345678), 4)
    assert tuple(lines) == ("COMPLETION", "       CNY 123456.78", "ENTER PIN: ****", "#=OK  X=CANCEL")
    assert lines.short == ("CMPL CNY 123456.78", "ENTER PIN: ****")  # 2 rows: its short title (Flow.short)


def test_a_title_and_amount_that_fit_stay_on_one_line():
    lines = screens.pin(_terminal(Kind.SALE, 1250), 0)  # a sale of 12.50: as before
    assert tuple(lines) == ("SALE CNY 12.50", "CARD **** 0004", "ENTER PIN:", "#=OK  X=CANCEL")


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(MONEY_KINDS), amount=st.integers(min_value=1, max_value=MAX))
def test_any_amount_up_to_the_largest_is_shown_whole(kind, amount):
    _assert_whole(_terminal(kind, amount), amount)


def test_the_settlement_figures_are_never_cut():
    """A busy day's totals: "SALE 120 CNY 54321.00" is 21 characters."""
    term = Terminal(h.SETTINGS)
    term.totals = Totals(debit_count=120, debit_amount=5432100, credit_count=3, credit_amount=1000012345)
    lines = screens.totals(term)
    for rows in (4, 2):
        shown = " ".join(fit_screen(lines, rows, screens.WIDTH))
        assert "54321.00" in shown and "10000123.45" in shown, (rows, shown)
    credits = lines.short[1]  # on 2 rows the credits keep their word, or their sign when alone
    assert credits in ("VOID CNY 10000123.45", "-CNY 10000123.45"), credits


@pytest.mark.parametrize(("title", "value", "lines"), [
    ("SALE", "CNY 12.50", ("SALE CNY 12.50",)),
    ("REFUND", "CNY 123456.78", ("REFUND CNY 123456.78",)),  # 20: fits exactly
    ("COMPLETION", "CNY 12345.67", ("COMPLETION", "        CNY 12345.67")),
])
def test_titled_is_one_line_when_it_fits_else_the_amount_on_its_own(title, value, lines):
    assert screens.titled(title, value) == lines
