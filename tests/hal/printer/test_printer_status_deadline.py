"""``ReceiptPrinter.status(timeout=...)``: the short deadline of the runner's checks while idle (brief FX14),
on the real serial and TCP drivers against their device simulators.

The printer's own ``timeout`` is 4 s here; a status asked with ``timeout=0.1`` of a silent printer gives up
well before it (the bound, half the printer's timeout, is generous: it tells the short deadline from the whole
timeout, never a speed). A printer that answers answers the same with either, and the error of a check that
failed before a receipt's write says nothing was sent (``sent`` False: the copy held is not on paper).
"""

from __future__ import annotations

import time

import pytest

from firmware.errors import PrinterError
from hal.printer import PrinterStatus
from hal.registry import open_device

HALF = 2.0


@pytest.fixture(params=["serial", "tcp"])
def wired(request, context):
    """(printer driver, its device simulator) over a real pty or socket, the driver's timeout 4 s."""
    sim = request.getfixturevalue("pty_sim" if request.param == "serial" else "tcp_sim")
    printer = open_device("printer", f"{sim.url}?timeout=4", context)
    yield printer, sim
    printer.close()


def test_a_silent_printer_fails_a_short_status_within_its_deadline(wired):
    printer, sim = wired
    sim.mute()
    started = time.monotonic()
    with pytest.raises(PrinterError) as err:
        printer.status(timeout=0.1)
    waited = time.monotonic() - started
    assert err.value.code == "printer.not_responding" and "0.1 s" in err.value.text
    assert waited < HALF, f"the status waited {waited:.2f} s"


@pytest.mark.parametrize("fault, expected", [(None, PrinterStatus.OK), ("paper_low", PrinterStatus.PAPER_NEAR_END),
                                             ("paper_out", PrinterStatus.PAPER_OUT)])
def test_a_printer_that_answers_answers_a_short_status_the_same(wired, fault, expected):
    printer, sim = wired
    if fault:
        getattr(sim, fault)()
    assert printer.status(timeout=0.1) is expected
    assert printer.status() is expected
    assert printer.last_status is expected


def test_a_short_status_reconnects_to_a_printer_that_closed_an_idle_connection(tcp_sim, context):
    printer = open_device("printer", f"{tcp_sim.url}?timeout=4", context)
    try:
        assert printer.status(timeout=0.1) is PrinterStatus.OK
        tcp_sim.drop_connection()
        assert printer.status(timeout=0.1) is PrinterStatus.OK
        assert tcp_sim.connections == 2
    finally:
        printer.close()


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_a_status_timeout_must_be_above_zero(wired, timeout):
    printer, _sim = wired
    with pytest.raises(ValueError):
        printer.status(timeout=timeout)


@pytest.mark.parametrize("kind", ["serial", "tcp"])
@pytest.mark.parametrize("fault, code", [("mute", "printer.not_responding"), ("paper_out", "printer.paper_out")])
def test_a_check_that_fails_before_the_write_says_nothing_was_sent(kind, request, context, receipt, fault, code):
    sim = request.getfixturevalue("pty_sim" if kind == "serial" else "tcp_sim")
    printer = open_device("printer", f"{sim.url}?timeout=0.3", context)
    try:
        getattr(sim, fault)()
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(receipt)
        assert err.value.code == code and err.value.sent is False
        assert sim.print_data == b""
    finally:
        printer.close()


@pytest.mark.parametrize("kind", ["serial", "tcp"])
def test_a_printer_silent_after_the_write_does_not_say_nothing_was_sent(kind, request, context, receipt):
    sim = request.getfixturevalue("pty_sim" if kind == "serial" else "tcp_sim")
    printer = open_device("printer", f"{sim.url}?timeout=0.3", context)  # its own timeout: the check after
    try:
        sim.mute(after_next_status=True)
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(receipt)
        assert err.value.code == "printer.not_responding" and getattr(err.value, "sent", None) is None
        assert sim.print_data  # the receipt went out: the copy may be on paper whole
    finally:
        printer.close()
