"""The printer asked while idle, on the REAL serial printer driver over its pty simulator (brief FX14).

A silent printer keeps the keys waiting a moment, not its whole ``timeout``: the runner's idle checks ask with
a short deadline (``Runner.printer_check``, ``ReceiptPrinter.status(timeout=...)``). A printer that is out of
paper or silent across a restart is known at the first idle, before the first sale is charged; a terminal that
prints no copies asks nothing. The bounds in seconds here are half the printer's timeout: generous, they only
tell "waited for the short check" from "waited for the printer's whole timeout".
"""

from __future__ import annotations

import threading
import time

import pytest

from firmware.core.events import PrinterFault
from tests.e2e.real_devices import serial_terminal

SLOW_PRINTER = "timeout=4&reopen=0.2"  # the whole timeout a silent printer would hold the loop
HALF = 2.0


def _refused(t) -> bool:
    return any(code == "printer.fault" for code, _ in t.runner.alerts)


def test_a_key_pressed_while_a_silent_printer_is_checked_is_handled_promptly(tmp_path):
    with serial_terminal(tmp_path, printer_opts=SLOW_PRINTER) as t:
        t.printer.mute()
        t.runner.dispatch(PrinterFault("printer.not_responding", "the printer did not answer"))  # as a failed print
        asked = len(t.printer.status_requests)
        pressed: list[float] = []

        def press_during_a_check():
            deadline = time.monotonic() + 5
            while len(t.printer.status_requests) == asked and time.monotonic() < deadline:
                time.sleep(0.005)
            pressed.append(time.monotonic())
            t.pad.press("8")  # the first key of a sale, while the runner waits for the printer's answer

        presser = threading.Thread(target=press_during_a_check)
        presser.start()
        try:
            assert t.run_until(lambda: _refused(t), 8), t.screen()
        finally:
            presser.join()
        handled = time.monotonic() - pressed[0]
        assert handled < HALF, f"the key waited {handled:.2f} s behind the printer's status check"
        assert t.state == "idle" and t.runner.core.printer_fault.code == "printer.not_responding"


@pytest.mark.parametrize("fault, code", [("paper_out", "printer.paper_out"), ("mute", "printer.not_responding"),
                                         ("open_cover", "printer.cover_open")])
def test_a_printer_faulted_across_a_restart_refuses_the_first_sale(tmp_path, fault, code):
    with serial_terminal(tmp_path, printer_opts=SLOW_PRINTER, display_rows=4, boot=False) as t:
        getattr(t.printer, fault)()
        started = time.monotonic()
        t.runner.boot()
        booted = time.monotonic() - started
        assert t.state == "idle" and t.runner.core.printer_fault is not None
        assert t.runner.core.printer_fault.code == code
        assert booted < HALF, f"boot waited {booted:.2f} s for the printer"  # the short check, not the timeout
        assert t.run_until(lambda: "PRINTER FAULT" in t.screen(), 2), t.screen()
        t.pad.press("8")
        assert t.run_until(lambda: "NO SALES" in t.screen(), 2), t.screen()
        t.pad.press("00#")
        t.reader.swipe_card("unionpay_debit")
        t.run_until(lambda: False, 0.5)
        assert t.state == "idle" and t.journal() == [] and t.postings() == []
        {"paper_out": t.printer.load_paper, "mute": t.printer.unmute, "open_cover": t.printer.close_cover}[fault]()
        assert t.run_until(lambda: t.runner.core.printer_fault is None, 4), t.screen()  # back by itself
        t.sale(keys="800#")
        assert t.copies() == [(1, 1)] and t.printer.printed_text.count("MERCHANT COPY\n") == 1


def test_a_printer_that_works_at_boot_is_asked_once_and_sells(tmp_path):
    with serial_terminal(tmp_path) as t:
        assert t.runner.core.printer_fault is None
        t.run_until(lambda: False, 0.5)
        assert len(t.printer.status_requests) == 3  # one status (DLE EOT 1, 2, 4) at the first idle, no more
        t.sale(keys="800#")
        assert t.copies() == [(1, 1)]


def test_a_terminal_that_prints_no_copies_does_not_ask_its_printer(tmp_path):
    with serial_terminal(tmp_path, extra={"receipts": {"copies": []}}, boot=False) as t:
        t.printer.paper_out()
        t.runner.boot()
        t.run_until(lambda: False, 0.5)
        assert t.runner.core.printer_fault is None and t.printer.status_requests == []
        t.sale(keys="800#")
        assert len(t.journal()) == 1 and t.printer.status_requests == []
