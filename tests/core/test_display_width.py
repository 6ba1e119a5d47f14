"""The screens choose with the display's real width (audit AU20 M4, L4; brief FX19).

On a 2 x 16 pole display a balance of 54,338.88 read "BALANCE CNY 5433": the screens decided what shared a
line with 20 columns, and the display then cut at 16. The width now reaches the core
(``CoreSettings.display_cols``, the display port's ``cols``), down to ``hal.display.MIN_COLS``. Checked here
for every kind that moves money, at any amount up to ``sale.max_amount`` (hypothesis), on 16 and 20 columns
and 2 and 4 rows: an amount on a screen is whole or absent, never cut; every keyed value is shown whole
beside its prompt or alone; a decline says its amount and its whole reason; an outcome word is never cut.
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
from firmware.core.model import JournalState, Kind, OriginalRef
from firmware.core.model import SaleRecord
from firmware.host.profiles import get_profile
from firmware.money import format_amount
from hal.display import MIN_COLS, fit_screen

from . import helpers as h

MONEY_KINDS = [k for k, f in FLOWS.items() if f.moves_money]
MAX = h.SETTINGS.max_amount
SIZES = [(rows, cols) for cols in (MIN_COLS, 20) for rows in (2, 4)]
CUP = get_profile("cup")


def _settings(cols: int):
    return replace(h.SETTINGS, display_cols=cols, response_texts=CUP.response_texts, display_texts=CUP.display_texts)


def _terminal(kind: Kind, amount: int, cols: int) -> Terminal:
    term = Terminal(_settings(cols))
    sale = Sale(1, kind, digits=str(amount), card=h.CARD)
    if not FLOWS[kind].keyed_amount:  # a void: its original's amount
        sale.original = replace(h.ORIGINAL, amount=amount)
    term.sale = sale
    return term


def _record(kind: Kind, amount: int, state=JournalState.APPROVED) -> SaleRecord:
    return SaleRecord(1, amount, 7, 1, h.NOW, h.CARD.masked_pan, kind=kind, state=state, auth_code="654321")


def _money_screens(term: Terminal, kind: Kind, amount: int) -> dict:
    """Every screen that shows the amount of a transaction of ``kind``: on its way, and its outcomes."""
    shown = {"swipe": screens.swipe(term), "pin": screens.pin(term, 4), "processing": screens.processing(term),
             "account": screens.account(term, 19, False), "amount": screens.amount(term),
             "approved": screens.approved(term, _record(kind, amount)),
             "declined": screens.declined(term, kind, "51", "Insufficient funds", "NO FUNDS", amount),
             "reversed": screens.reversed_outcome(term, _record(kind, amount), "NO ANSWER FROM HOST", False)}
    if FLOWS[kind].original and not FLOWS[kind].by_reference:  # a void: its original confirmed
        shown["confirm"] = screens.confirm(term)
    return shown


def _assert_whole(kind: Kind, amount: int, cols: int) -> None:
    term = _terminal(kind, amount, cols)
    whole = f"{h.SETTINGS.currency_symbol} {format_amount(amount, h.SETTINGS.exponent)}"
    for name, lines in _money_screens(term, kind, amount).items():
        for rows in (2, 4):
            shown = fit_screen(lines, rows, cols)
            if rows == 4 or name != "account":  # 2 rows of the account's keying: its prompt and keys only
                assert any(whole in line for line in shown), (name, rows, cols, shown)  # it is on the screen
            money = [line.rstrip() for line in shown if h.SETTINGS.currency_symbol in line]
            assert all(line.endswith(whole) for line in money), (name, rows, cols, shown)  # and never cut


@pytest.mark.parametrize("cols", [MIN_COLS, 20])
@pytest.mark.parametrize("kind", MONEY_KINDS, ids=lambda k: k.value)
def test_the_largest_amount_is_whole_on_every_screen_of_every_size(kind, cols):
    _assert_whole(kind, MAX, cols)


@settings(max_examples=80, deadline=None)
@given(kind=st.sampled_from(MONEY_KINDS), amount=st.integers(min_value=1, max_value=MAX),
       cols=st.sampled_from([MIN_COLS, 20]))
def test_any_amount_up_to_the_largest_is_whole_on_every_screen_of_every_size(kind, amount, cols):
    _assert_whole(kind, amount, cols)


def _keyed_screens(cols: int):
    """(name, lines, the value being keyed as it must be seen) for every prompt of a keyed value."""
    term = _terminal(Kind.VOID, 1250, cols)
    term.sale.trace = "000123"
    yield "trace", screens.trace(term), "000123"
    for kind, field, value, screen in ((Kind.REFUND, "rrn", "123456789012", screens.reference),
                                       (Kind.PREAUTH_VOID, "auth", "654321", screens.reference),
                                       (Kind.PREAUTH_COMPLETE, "orig_date", "1123", screens.original_date),
                                       (Kind.REFUND, "orig_date", "11", screens.original_date)):
        term = _terminal(kind, 1250, cols)
        setattr(term.sale, field, value)
        yield f"{kind.value} {field}", screen(term), value
    for kind in MONEY_KINDS:
        term = _terminal(kind, MAX, cols)
        yield f"{kind.value} pin", screens.pin(term, 12), "*" * 12
    term = _terminal(Kind.TRANSFER, MAX, cols)
    yield "account", screens.account(term, 12, False), "*" * 12


@pytest.mark.parametrize(("rows", "cols"), SIZES)
def test_every_keyed_value_is_seen_whole_with_room_for_all_of_it(rows, cols):
    """ORIG DATE MMDD: filled a 16-column line, so the digits keyed were never seen; a value is shown whole
    on its line, and the date's line leaves room for all four digits while two are keyed."""
    for name, lines, value in _keyed_screens(cols):
        shown = [line.rstrip() for line in fit_screen(lines, rows, cols)]
        assert any(line.endswith(value) for line in shown), (name, rows, cols, shown)
        if "orig_date" in name:
            line = next(line for line in shown if line.endswith(value))
            assert len(line) - len(value) + 4 <= cols, (name, rows, cols, line)


def test_the_original_date_prompt_on_2x16_says_what_it_asks_and_shows_the_digits():
    term = _terminal(Kind.REFUND, 1250, MIN_COLS)
    term.sale.orig_date = "1123"
    assert fit_screen(screens.original_date(term), 2, MIN_COLS)[0] == "ORIG MMDD: 1123 "


def test_a_transfer_account_too_long_for_the_line_is_counted():
    term = _terminal(Kind.TRANSFER, 5000, MIN_COLS)
    assert screens.account(term, 19, False).short[0] == "19 DIGITS"  # 19 stars would be cut at 16


@pytest.mark.parametrize(("kind", "cols", "head"), [
    (Kind.TRANSFER, MIN_COLS, "XFER APPROVED"),
    (Kind.PREAUTH_COMPLETE, MIN_COLS, "CMPL APPROVED"),
    (Kind.PREAUTH_VOID, MIN_COLS, "PA CNCL APPROVED"),
    (Kind.PREAUTH_COMPLETE_VOID, MIN_COLS, "CP VOID APPROVED"),
    (Kind.TRANSFER, 20, "TRANSFER APPROVED"),
    (Kind.SALE, MIN_COLS, "APPROVED"),
])
def test_an_outcome_word_is_never_cut(kind, cols, head):
    """2 x 16 read TRANSFER APPROVE, COMPLETION APPRO, PA CANCEL APPROV: the short title gives way instead."""
    lines = screens.approved(_terminal(kind, 1250, cols), _record(kind, 1250))
    assert lines[0] == head and lines.short[0] == head


@pytest.mark.parametrize(("cols", "two_rows"), [
    (20, ("SALE 3 CNY 152.50", "VOID 3 CNY 122.00")),
    (MIN_COLS, ("SALE CNY 152.50", "VOID CNY 122.00")),  # read "SALE 3 CNY 152.5 / CREDIT 3 CNY 122"
])
def test_the_settlement_confirmation_keeps_its_amounts_whole(cols, two_rows):
    term = Terminal(_settings(cols))
    term.totals = Totals(debit_count=3, debit_amount=15250, credit_count=3, credit_amount=12200)
    assert screens.totals(term).short == two_rows
    assert all(len(line) <= cols for line in screens.totals(term))


def test_a_large_amount_on_2_rows_keeps_a_short_title():
    """A completion of 123,456.78 at PIN entry read "CNY 123456.78 / ENTER PIN": the flow's short title."""
    term = _terminal(Kind.PREAUTH_COMPLETE, 12345678, 20)
    assert screens.pin(term, 4).short == ("CMPL CNY 123456.78", "ENTER PIN: ****")
    assert screens.pin(_terminal(Kind.PREAUTH_COMPLETE, 1250, 20), 0).short[0] == "COMPLETION CNY 12.50"


@pytest.mark.parametrize(("cols", "code", "two_rows"), [
    (20, "51", ("DECLINED CNY 30.00", "51 NO FUNDS")),
    (20, "57", ("DECLINED CNY 30.00", "57 NOT FOR CARD")),
    (20, "58", ("DECLINED CNY 30.00", "58 NOT FOR TERM")),
    (20, "38", ("DECLINED CNY 30.00", "38 PIN LOCK KEEP")),
    (20, "75", ("DECLINED CNY 30.00", "75 TOO MANY PINS")),
    (20, "25", ("DECLINED CNY 30.00", "25 NO ORIGINAL")),
    (20, "55", ("DECLINED CNY 30.00", "55 INCORRECT PIN")),  # the whole text where it fits
    (MIN_COLS, "51", ("DECLINED 51", "CNY 30.00")),  # no room for both: the code, and the amount whole
])
def test_a_decline_on_2_rows_says_the_amount_and_the_whole_reason(cols, code, two_rows):
    term = _terminal(Kind.SALE, 3000, cols)
    s = term.settings
    lines = screens.declined(term, Kind.SALE, code, s.response_text(code), s.display_text(code), 3000)
    assert lines.short == two_rows
    assert all(len(line) <= cols for line in (*lines, *lines.short)), lines  # on 4 rows too: nothing is cut


def test_an_inquiry_declined_says_its_whole_reason():
    term = _terminal(Kind.BALANCE, 0, MIN_COLS)
    s = term.settings
    lines = screens.declined(term, Kind.BALANCE, "57", s.response_text("57"), s.display_text("57"), None)
    assert (tuple(lines), lines.short) == (("BALANCE DECLINED", "57 NOT PERMITTED", "TO CARDHOLDER"),
                                           ("BALANCE DECLINED", "57 NOT FOR CARD"))


@pytest.mark.parametrize(("cols", "two_rows"), [
    (20, ("BALANCE CNY 54338.88", "CARD **** 0004")),
    (MIN_COLS, ("BALANCE ****0004", "CNY 54338.88")),  # read "BALANCE CNY 5433"
])
def test_a_balance_is_whole_on_2_rows(cols, two_rows):
    from firmware.host.balance import Balance

    term = _terminal(Kind.BALANCE, 0, cols)
    assert screens.balance(term, _record(Kind.BALANCE, 0), Balance(5433888, "156")).short == two_rows


def test_a_refund_by_reference_confirms_its_trace_whole():
    """COMPL VOID TRACE 000001 is 23 characters: the trace was cut even on 20 columns."""
    term = _terminal(Kind.REFUND, 1250, MIN_COLS)
    term.sale.rrn, term.sale.orig_date = "000000000007", "1122"
    term.sale.original = h.ORIGINAL
    assert isinstance(term.sale.reference, OriginalRef)
    lines = screens.confirm(term)
    assert any(line.endswith("TRACE 000007") for line in lines) and all(len(line) <= MIN_COLS for line in lines)


@pytest.mark.parametrize(("cols", "code", "lines"), [
    # the host's words, wrapped, not cut; the amount beside DECLINED leaves the next step its line (UX25)
    (20, "51", ("DECLINED CNY 30.00", "51 INSUFFICIENT", "FUNDS", "USE ANOTHER CARD")),
    # no room for the step: the whole reason and the amount keep the rows
    (MIN_COLS, "57", ("DECLINED", "57 NOT PERMITTED", "TO CARDHOLDER", "CNY 30.00")),
    (MIN_COLS, "25", ("DECLINED", "25 NO ORIGINAL", "CNY 30.00")),  # two lines are not enough: the display form
    (20, "55", ("DECLINED", "55 INCORRECT PIN", "CNY 30.00", "TRY PIN AGAIN")),
    (MIN_COLS, "05", ("DECLINED", "05 DO NOT HONOUR", "CNY 30.00", "USE ANOTHER CARD")),
    (20, "96", ("DECLINED CNY 30.00", "96 SYSTEM", "MALFUNCTION", "TRY LATER")),
])
def test_a_decline_on_4_rows_says_the_whole_reason(cols, code, lines):
    term = _terminal(Kind.SALE, 3000, cols)
    s = term.settings
    assert tuple(screens.declined(term, Kind.SALE, code, s.response_text(code), s.display_text(code), 3000)) == lines
