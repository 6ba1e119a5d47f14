"""Every screen the core shows on the way to each state says itself in 2 rows of 20 (AU16 M2).

The core writes 4 x 20 screens; the usual pole display has 2 rows. A screen of more than 2 non-blank
lines must carry a short form (``hal.display.Lines.short``) of at most 2 lines, or the display port
would fall back to its first-and-last rule and drop what the operator needs (the keys, the status).
"""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core import screens
from hal.display import fit_screen

from . import helpers as h

ROUTES = [
    h.to_idle, h.to_amount, h.to_card, h.to_pin, h.to_account, h.to_authorising, h.to_printing, h.to_receipt_held,
    h.to_uplink, h.to_suspended, h.to_menu, h.to_signed_off, h.to_trace, h.to_lookup, h.to_confirm, h.to_reference,
    h.to_original_date, h.to_refund_lookup, h.to_counting, h.to_totals, h.to_locked, h.to_sign_in, h.signed_in,
    h.to_supervisor, h.to_checking,
]


def _two_row_form(lines) -> tuple[str, ...]:
    kept = [line for line in lines if str(line).strip()]
    if len(kept) <= 2:
        return tuple(kept)
    return tuple(getattr(lines, "short", ()))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.__name__)
def test_every_screen_on_the_way_has_a_two_row_form(route):
    d = route()
    shown = [a.lines for a in d.all(A.Show)]
    assert shown, "the route showed nothing"
    for lines in shown:
        form = _two_row_form(lines)
        assert 1 <= len(form) <= 2 and all(len(line) <= screens.WIDTH for line in form), (lines, form)


def test_the_printer_fault_on_two_rows_is_its_cause_and_both_keys():
    d = h.to_receipt_held()
    lines = d.last(A.Show).lines
    assert fit_screen(lines, 2, 20) == ("PRINTER OUT OF PAPER", "#=RETRY X=SKIP COPY ")
    assert tuple(lines) == ("PRINTER PROBLEM", "OUT OF PAPER", "#=RETRY", "X=SKIP THIS COPY")  # 4 rows unchanged


@pytest.mark.parametrize(
    ("text", "two_rows"),
    [
        ("the printer is out of paper", "PRINTER OUT OF PAPER"),
        ("the printer cover is open", "COVER IS OPEN"),
        ("the printer is offline", "PRINTER OFFLINE"),
        ("the printer did not answer a status request", "DID NOT ANSWER A"),  # was cut: DID NOT ANSWER A STA
    ],
)
def test_a_printer_fault_names_its_cause_without_its_subject(text, two_rows):
    assert fit_screen(screens.printer_problem(text, 20), 2, 20)[0] == two_rows.ljust(20)
