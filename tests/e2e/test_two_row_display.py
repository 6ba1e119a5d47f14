"""AU16 M2: the core writes 4 x 20 screens; the serial display driver's default is a 2 x 20 pole display.

On the real serial display driver over its pty simulator, the operator reads, on 2 rows, what a printer
fault is and what ENTER and CANCEL do, and the idle screen's status line. Both failed before the screens
had a 2-row form (``hal.display.Lines.short``): the display showed rows 1 and 2 and dropped the rest.
"""

from __future__ import annotations

from firmware.hostsim.rules import Rule

from tests.e2e.real_devices import serial_terminal


def test_a_two_row_display_names_the_printer_fault_and_its_keys(tmp_path):
    with serial_terminal(tmp_path) as t:
        assert t.display.rows == 2
        t.sale_to_pin()
        t.printer.paper_out()
        t.pad.enter_pin("1234")
        t.settle_after_sale()
        assert t.state == "receipt_held"
        shown = ("PRINTER OUT OF PAPER", "#=RETRY X=SKIP COPY ")
        assert t.run_until(lambda: t.display.screen == shown, 3), t.screen()


def test_a_two_row_display_shows_a_pending_reversal_on_the_idle_screen(tmp_path):
    # the outcome held 1 s (sale.message_seconds), not the default 5
    extra = {"host": {"response_timeout": 1, "reversal_retries": 1}, "sale": {"message_seconds": 1}}
    with serial_terminal(tmp_path, extra=extra) as t:
        t.host.rules.push(Rule(behaviour="drop"))
        t.sale_to_pin()
        t.pad.enter_pin("1234")
        t.run_until(lambda: len(t.journal()) and t.state == "idle" and t.runner.core.reversals, 15)
        assert t.runner.core.reversals, "precondition: a reversal is pending"
        outcome = ("SALE NOT APPROVED".ljust(20), "CNY 12.50".ljust(20))  # held first (AU20 M5), then idle
        assert t.run_until(lambda: t.display.screen == outcome, 3), t.screen()
        shown = ("READY".ljust(20), "1 REVERSAL PENDING  ")
        assert t.run_until(lambda: t.display.screen == shown, 3), t.screen()
