"""A screen of more lines than the display has rows loses no line by accident (AU16 M2).

Before: ``fit_screen`` kept the first ``rows`` lines, so a 2-row display never showed a 4-row screen's keys
or status line, and said nothing. Now: blank lines go first, then the screen's short form
(``Lines.short``), else its first lines and its last, with a warning that counts what is not shown.
"""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from hal.display import Lines, fit_screen
from hal.registry import open_device

FAULT = Lines(("PRINTER PROBLEM", "OUT OF PAPER", "#=RETRY", "X=SKIP THIS COPY"),
              ("PRINTER OUT OF PAPER", "#=RETRY X=SKIP COPY"))


def test_lines_are_the_tuple_of_their_lines():
    assert FAULT == ("PRINTER PROBLEM", "OUT OF PAPER", "#=RETRY", "X=SKIP THIS COPY")
    assert Lines(("A",)).short == ()


def test_a_display_with_the_rows_shows_the_screen_as_written():
    assert fit_screen(FAULT, 4, 20) == tuple(line.ljust(20) for line in FAULT)


def test_a_two_row_display_shows_the_short_form(caplog):
    with caplog.at_level(logging.WARNING, logger="hal.display"):
        assert fit_screen(FAULT, 2, 20) == ("PRINTER OUT OF PAPER", "#=RETRY X=SKIP COPY ")
    assert caplog.records == []


def test_blank_lines_go_before_the_short_form():
    swipe = Lines(("SALE CNY 12.50", "SWIPE CARD", "", "X=CANCEL"), ("SALE CNY 12.50", "SWIPE CARD  X=CANCEL"))
    assert fit_screen(swipe, 3, 20) == ("SALE CNY 12.50".ljust(20), "SWIPE CARD".ljust(20), "X=CANCEL".ljust(20))
    assert fit_screen(("SIGN IN FIRST", "", "X=EXIT"), 2, 20) == ("SIGN IN FIRST".ljust(20), "X=EXIT".ljust(20))


def test_a_screen_without_a_short_form_keeps_its_first_lines_and_its_last_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="hal.display"):
        shown = fit_screen(("DECLINED", "51 INSUFFICIENT", "CNY 12.50"), 2, 20)
    assert shown == ("DECLINED".ljust(20), "CNY 12.50".ljust(20))
    [record] = caplog.records
    assert "1 line(s) not shown" in record.getMessage() and "INSUFFICIENT" not in record.getMessage()


def test_a_short_form_longer_than_the_display_is_cut_by_the_same_rule(caplog):
    with caplog.at_level(logging.WARNING, logger="hal.display"):
        assert fit_screen(FAULT, 1, 20) == ("#=RETRY X=SKIP COPY ",)
    assert len(caplog.records) == 1


def test_the_display_port_shows_the_short_form_and_remembers_what_it_showed():
    display = open_device("display", "sim://?rows=2&cols=20")
    display.show(FAULT)
    assert display.screen == ("PRINTER OUT OF PAPER", "#=RETRY X=SKIP COPY ")


text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)


@given(st.lists(text, max_size=6), st.lists(text, max_size=3), st.integers(1, 4))
def test_every_line_that_fits_is_shown_and_every_screen_is_rows_by_cols(lines, short, rows):
    screen = fit_screen(Lines(lines, short), rows, 20)
    assert len(screen) == rows and all(len(row) == 20 for row in screen)
    wanted = [line[:20].ljust(20) for line in lines if line.strip()]
    if len(lines) <= rows:
        assert list(screen[: len(lines)]) == [line[:20].ljust(20) for line in lines]
    elif len(wanted) <= rows:
        assert list(screen[: len(wanted)]) == wanted
    else:  # never a row made up: each comes from the lines or the short form
        pool = {line[:20].ljust(20) for line in [*lines, *short]} | {" " * 20}
        assert set(screen) <= pool
