"""Each screen family the sweep found cut on a 16-column display, as a 2 x 16 display shows it (brief FX23).

``tests/e2e/test_display_sweep.py`` finds a cut screen in any flow; these pin the exact 16-column text of
each family it found, and that the 20-column text is as it was.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from firmware.core import screens
from firmware.core.events import ActionFailed, CardRead, PinEntered, PinPadFailed
from firmware.core.machine import Terminal
from firmware.core.model import State
from firmware.core.settle import _call_acquirer
from hal.display import fit_screen

from firmware.core import actions as A

from . import helpers as h


def shown(actions) -> tuple[str, ...]:
    """The last screen among ``actions``."""
    return [a.lines for a in actions if isinstance(a, A.Show)][-1]


def _term(cols: int = 16, **settings) -> Terminal:
    return Terminal(replace(h.SETTINGS, display_cols=cols, **settings))


def _on(lines, rows: int = 2, cols: int = 16) -> tuple[str, ...]:
    return tuple(line.rstrip() for line in fit_screen(lines, rows, cols))


@pytest.mark.parametrize("page, two_rows, four_rows", [
    (0, ("1UPL2ON3OFF4VOID", "5STL6RF7BAL0MORE"), ("1UPLOAD 2SIGN ON", "3SIGN OFF 4VOID", "5SETTLE 6REFUND", "7BALANCE 0MORE")),
    (1, ("1PRE2CNL3CMP4CPV", "5XFR6ADV8RCP9RPT"), ("1PREAUTH 2CANCEL", "3COMPLT 4CP VOID", "5XFER 6ADVICE", "8RCPT 9RPT 0BACK")),
])
def test_the_menu_pages_on_16_columns(page, two_rows, four_rows):
    term = _term()
    term.menu_page = page
    assert _on(screens.menu(term)) == two_rows
    assert _on(screens.menu(term), 4) == four_rows
    term20 = _term(20)
    term20.menu_page = page
    assert screens.menu(term20).short == (("1UPL 2ON 3OFF 4VOID", "5STL 6REF 7BAL 0MORE"), ("1PRE 2CNL 3CMP 4CPV",
                                          "5XFR 6ADV 8RCP 9RPT"))[page]  # 20 columns: as before


def test_ready_shows_the_merchant_names_first_words_that_fit():
    assert _on(screens.idle(_term())) == ("POSTERM DEMO", "READY")  # POSTERM DEMO SHOP is 17
    assert _on(screens.idle(_term(20)), 2, 20) == ("POSTERM DEMO SHOP", "READY")


def test_the_idle_status_lines_on_16_columns():
    term = _term()
    term.upload = object()  # a batch upload owed
    assert _on(screens.idle(term)) == ("READY", "UPLOAD OWED")
    term.upload, term.reversals = None, [object()]
    assert screens.status(term) == "1 REVERSAL DUE"
    term20 = _term(20)
    term20.reversals = [object()]
    assert screens.status(term20) == "1 REVERSAL PENDING"


def test_the_locked_screen_on_16_columns_breaks_its_reason_at_a_space():
    term = _term()
    term.lock_reason = "tamper (sim): case opened"
    assert _on(screens.locked(term)) == ("LOCKED: RE-KEY", "TAMPER (SIM):")
    assert _on(screens.locked(term), 4) == ("TERMINAL LOCKED", "TAMPER (SIM):", "CASE OPENED", "CALL FOR RE-KEY")


def test_signed_off_on_16_columns():
    assert _on(screens.signed_off(_term()), 4) == ("NOT SIGNED ON", "NO SALES", "F,2: SIGN ON", "")


def test_unbalanced_by_hand_on_16_columns_keeps_the_batch_number_whole():
    s = SimpleNamespace(batch=1)
    assert _on(_call_acquirer(_term(), s)) == ("UNBAL. 000001", "CALL ACQUIRER")
    assert _on(_call_acquirer(_term(20), s), 2, 20) == ("UNBALANCED 000001", "CALL ACQUIRER")


def test_a_pin_pad_fault_on_16_columns_names_its_code_without_the_subsystem():
    d = h.to_pin()
    d.t.settings = replace(d.t.settings, display_cols=16)
    out = d.feed(PinPadFailed("pinpad.encrypt_failed", "the PIN could not be encrypted"))
    assert _on(shown(out)) == ("PIN PAD FAULT", "ENCRYPT FAILED")


def test_a_printer_problem_on_16_columns():
    assert _on(screens.printer_problem("the printer is out of paper", 16)) == ("OUT OF PAPER", "#=RETRY X=SKIP")
    assert _on(screens.printer_problem("the printer did not answer a status request", 16)) == (
        "DID NOT ANSWER A", "#=RETRY X=SKIP")


@pytest.mark.parametrize("lines, short, two_rows", [
    (("CANNOT VOID TRANSFER", "TRACE 000002", "NOT VOIDED"), ("CANNOT VOID TRANSFER", "NOT VOIDED"),
     ("CANNOT VOID", "TRANSFER")),
    (("CHECKING PASSWORD", "PLEASE WAIT"), (), ("CHECKING", "PASSWORD")),
    (("NO ANSWER FROM HOST", "NOT APPROVED"), (), ("NO ANSWER FROM", "HOST")),
])
def test_a_message_too_wide_is_said_over_two_lines_at_a_space(lines, short, two_rows):
    assert _on(screens.shown(_term(), lines, short)) == two_rows
    assert screens.shown(_term(20), lines, short) == lines  # 20 columns: as before


def test_a_supervisor_prompt_on_16_columns_keeps_the_password_whole():
    d = h.signed_in(settings=replace(h.OPERATOR_SETTINGS, display_cols=16))
    out = d.keys("F6")  # a refund, guarded by the supervisor: SUPERVISOR: REFUND is 18 columns
    assert _on(shown(out)) == ("SUPERVISOR", "PASSWORD:")
    out = d.keys("12345678")
    assert _on(shown(out)) == ("SUPERVISOR", "********")  # PASSWORD: ******** is 18: the stars alone


def test_a_chinese_merchant_name_counts_two_columns_a_character():
    name = "上海浦东测试商户"  # 8 characters, 16 columns
    assert _on(screens.idle(_term(merchant_name=name))) == (name, "READY")
    long = "上海浦东新区测试商户"  # 20 columns: cut at 16, between characters
    assert _on(screens.idle(_term(merchant_name=long))) == ("上海浦东新区测试", "READY")


def test_a_display_that_cannot_show_chinese_shows_the_merchant_id_at_ready():
    term = _term(merchant_name="上海浦东测试商户", display_cjk=False)
    assert _on(screens.idle(term)) == (h.SETTINGS.merchant_id, "READY")


# -- a failure's cause: from its code, never its sentence cut to the line ------------------------------
STORAGE_FULL = "storage is full while recording the outcome; free space to resume sales"  # storage.db's words


@pytest.mark.parametrize("cols", [16, 20])
def test_sales_suspended_by_a_full_disk_say_storage_full_whole(cols):
    d = h.to_idle(replace(h.SETTINGS, display_cols=cols))
    d.keys("1250#")
    d.feed(CardRead(h.CARD), PinEntered())
    out = d.feed(ActionFailed(d.last(A.OpenRequest), "storage.full", STORAGE_FULL))
    assert d.state is State.SUSPENDED
    screen = shown(out)
    assert _on(screen, 4, cols)[:3] == ("SALES SUSPENDED", "STORAGE FULL", "#=CHECK AGAIN")
    assert _on(screen, 2, cols) == ("STORAGE FULL", "#=CHECK AGAIN")
    assert all(len(line) <= cols for line in (*screen, *screen.short))  # nothing for the display to cut
    (alert,) = [a for a in out if isinstance(a, A.Alert)]
    assert (alert.code, alert.text) == ("storage.full", STORAGE_FULL)  # the whole sentence, in the alert


@pytest.mark.parametrize("code, cols, cause", [
    ("storage.read_only", 16, "READ ONLY"), ("storage.read_only", 20, "STORAGE READ ONLY"),
    ("storage.io", 16, "STORAGE IO"), ("pinpad.not_responding", 16, "NOT RESPONDING"), ("link", 16, "LINK"),
    ("storage.dukpt_state", 16, "DUKPT STATE"), ("pinpad.dukpt.exhausted", 20, "DUKPT EXHAUSTED"),
])
def test_a_cause_is_read_from_the_code_and_fits_the_line(code, cols, cause):
    assert screens.cause(code, cols) == cause
