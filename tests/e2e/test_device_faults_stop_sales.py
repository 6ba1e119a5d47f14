"""A device that is gone is named, and no card is charged that the terminal could not give a slip for.

The terminal runs on its REAL drivers over pty simulators (``real_devices``). Every test here failed before
(audit AU16, H2 and M1): the next sale was charged with the printer gone, then PRINTER PROBLEM; a reader
unplugged while the card was awaited left SWIPE CARD up until TIMED OUT, the cause in a log line only.
"""

from __future__ import annotations

import pytest

from tests.e2e.real_devices import make_terminal


def _held(t, n=1):
    t.run_until(lambda: len(t.journal()) >= n and t.state in ("idle", "receipt_held"), 10)
    t.run_until(lambda: False, 0.3)


def _skip_both_copies(t):
    t.pad.press("X")
    t.run_until(lambda: False, 0.5)
    t.pad.press("X")
    assert t.run_until(lambda: t.state == "idle", 3)


def _charged(t, amount):
    return [p for p in t.postings() if p["amount"] == amount and p["status"] == "approved"]


def test_a_sale_is_not_charged_on_a_terminal_whose_printer_is_gone(tmp_path):
    t = make_terminal(tmp_path, display_rows=4)  # the idle screen's status line is its 4th
    try:
        t.sale_to_pin()
        t.printer.close()  # unplugged as the sale is approved
        t.pad.enter_pin("1234")
        _held(t)
        _skip_both_copies(t)  # the cashier skips the copies: READY, and the printer still gone
        assert t.run_until(lambda: "PRINTER FAULT" in t.screen(), 2), t.screen()  # the idle status line names it
        t.pad.press("8")  # the first key of a sale
        assert t.run_until(lambda: "NO SALES" in t.screen(), 2), t.screen()
        assert t.state == "idle" and "PRINTER FAULT" in t.screen() and "NOT CONNECTED" in t.screen()
        t.pad.press("00#")
        t.reader.swipe_card("unionpay_debit")  # a swipe now is no sale either
        t.run_until(lambda: False, 0.5)
        assert t.state == "idle" and not _charged(t, 800) and len(t.journal()) == 1
    finally:
        t.close()


@pytest.mark.parametrize("fault", ["unplugged", "paper_out"])
def test_the_terminal_sells_again_by_itself_once_the_printer_is_back(tmp_path, fault):
    t = make_terminal(tmp_path, display_rows=4)  # the idle screen's status line is its 4th
    try:
        t.sale_to_pin()
        if fault == "unplugged":
            t.printer.close()
        else:
            t.printer.paper_out()
        t.pad.enter_pin("1234")
        _held(t)
        _skip_both_copies(t)
        assert t.runner.core.printer_fault is not None
        expected = {"unplugged": "printer.disconnected", "paper_out": "printer.paper_out"}[fault]
        assert t.runner.core.printer_fault.code == expected
        if fault == "unplugged":
            printer = t.replug("printer")
        else:
            printer = t.printer
            printer.load_paper()
        # nobody touches the terminal: the runner asks the printer on its back-off and the core hears it works
        assert t.run_until(lambda: t.runner.core.printer_fault is None, 4), t.screen()
        assert t.run_until(lambda: "PRINTER FAULT" not in t.screen(), 1), t.screen()
        t.sale(keys="800#")
        assert len(_charged(t, 800)) == 1 and t.copies()[-1] == (1, 1)
        assert printer.printed_text.count("MERCHANT COPY\n") == 1
    finally:
        t.close()


def test_a_reader_unplugged_while_the_card_is_awaited_is_named_and_the_next_swipe_after_a_replug_works(tmp_path):
    t = make_terminal(tmp_path, display_rows=4)  # the idle screen's status line is its 4th
    try:
        t.key_amount()
        sw = t.reader.swipe_text("unionpay_debit")
        t.reader.send(sw[:20])  # the card was on its way
        t.run_until(lambda: False, 0.1)
        t.reader.close()
        assert t.run_until(lambda: "READER FAULT" in t.screen(), 1.0), f"display {t.screen()!r}, {t.runner.alerts}"
        assert t.state == "idle" and t.journal() == [] and t.postings() == []
        reader = t.come_back("reader", away=0)  # with item H1, the reader plugged back reads the next swipe
        t.key_amount("800#")
        reader.swipe_card("unionpay_debit")
        assert t.run_until(lambda: t.state == "pin", 5), f"state {t.state}, display {t.screen()!r}"
    finally:
        t.close()
