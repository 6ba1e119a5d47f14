"""A serial device unplugged and plugged back at the same path (udev's symlink) works again, with no restart.

The terminal runs on its REAL drivers over pty simulators (``real_devices``). Each port that fails with
EOF/EIO closes itself and opens again at its next use or the runner's next back-off poll, with the device's
own set-up redone (``hal.serialport.SerialLine``). Every test here failed before: the driver kept the dead
descriptor for ever (audit AU16, H1).
"""

from __future__ import annotations

from tests.e2e.real_devices import make_terminal


def _held(t, n=1):
    t.run_until(lambda: len(t.journal()) >= n and t.state in ("idle", "receipt_held"), 10)
    t.run_until(lambda: False, 0.3)


def test_a_printer_plugged_back_prints_the_held_receipt_at_enter(tmp_path):
    t = make_terminal(tmp_path)
    try:
        t.sale_to_pin()
        t.printer.close()  # unplugged as the sale is approved
        t.pad.enter_pin("1234")
        _held(t)
        assert t.state == "receipt_held" and t.copies() == [(0, 0)]
        printer = t.replug("printer")
        t.pad.press("#")  # ENTER: print again
        t.run_until(lambda: t.state == "idle", 5)
        assert t.state == "idle", f"still {t.state}, display {t.screen()!r}"
        assert t.copies() == [(1, 1)]
        assert printer.printed_text.count("MERCHANT COPY\n") == 1
        assert printer.printed_text.count("CARDHOLDER COPY\n") == 1
    finally:
        t.close()


def test_a_reader_plugged_back_reads_the_next_swipe(tmp_path):
    t = make_terminal(tmp_path)
    try:
        reader = t.come_back("reader")
        t.key_amount("800#")
        reader.swipe_card("unionpay_debit")
        assert t.run_until(lambda: t.state == "pin", 5), f"state {t.state}, display {t.screen()!r}"
    finally:
        t.close()


def test_a_pin_pad_plugged_back_is_set_up_again_and_takes_the_cashiers_keys(tmp_path):
    t = make_terminal(tmp_path)
    try:
        pad = t.come_back("pinpad")
        pad.press("800#")
        assert t.run_until(lambda: t.state == "card", 5), f"state {t.state}; the new pad got {pad.idents}"
        t.reader.swipe_card("unionpay_debit")
        assert t.run_until(lambda: t.state == "pin", 5)
        pad.enter_pin("1234")  # the PIN prompt goes to the pad that came back
        t.run_until(lambda: len(t.journal()) == 1 and t.state == "idle", 10)
        assert [r.state.value for r in t.journal()] == ["approved"]
    finally:
        t.close()


def test_a_display_plugged_back_shows_the_sale_and_then_the_idle_screen(tmp_path):
    t = make_terminal(tmp_path)
    try:
        t.display.unplug()
        t.run_until(lambda: False, 0.3)
        t.display.close()
        display = t.replug("display")
        t.sale()
        assert [r.state.value for r in t.journal()] == ["approved"] and t.copies() == [(1, 1)]
        # the screen that failed is shown again once the port is back (runner_wait, _retry_faulted)
        assert t.run_until(lambda: any(line.strip() for line in display.screen), 4), "the display stays blank"
    finally:
        t.close()


def test_a_device_that_stays_away_keeps_failing_with_its_code_and_is_tried_about_once_a_period(tmp_path):
    """No busy loop and no silent fallback: the reader that never comes back fails with its code; its port
    is tried again at most once per ``reopen`` period (0.2 s here) over two seconds."""
    t = make_terminal(tmp_path)
    try:
        t.reader.close()
        (t.dev / "reader").unlink()  # gone: nothing at the path
        port = t.runner.devices.reader._port
        t.run_until(lambda: False, 2.0)
        assert port.gone and [code for code, _ in t.runner.alerts] == ["reader.io_failed"]
        assert 2 <= port.attempts <= 11, port.attempts
        t.key_amount("800#")  # the rest of the terminal works
    finally:
        t.close()
