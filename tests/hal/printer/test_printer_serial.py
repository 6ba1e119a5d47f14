"""serial:// through real pyserial on a real pseudo-terminal, against the printer device simulator."""

from __future__ import annotations

import contextlib
import os
import select
import tty

import pytest

from firmware.errors import ConfigError, PrinterError
from hal.printer import Line, PrinterStatus, Receipt
from hal.printer.ptysim import PtyPrinterSim
from hal.printer.render import render_escpos
from hal.printer.serial import SerialPrinter
from hal.printer.status import DeviceState, StatusRequest, encode_status
from hal.registry import make_device, open_device

FAST = "timeout=0.2"  # only where no answer is the expected outcome; answered requests use the default


@pytest.fixture
def printer(pty_sim, context):
    p = open_device("printer", pty_sim.url, context)
    yield p
    p.close()


def test_the_exact_bytes_python_escpos_made_arrive(printer, pty_sim, receipt):
    assert isinstance(printer, SerialPrinter)
    printer.print_receipt(receipt)
    data = render_escpos(receipt)
    pty_sim.wait_until(lambda s: len(s.print_data) >= len(data))
    assert pty_sim.print_data == data
    status = b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"
    assert pty_sim.received == status + data + status  # status first, the receipt, and its status after
    assert "AMOUNT:                CNY 12.50\n" in pty_sim.printed_text
    assert pty_sim.cuts == 1


def test_status_ok_and_near_end(printer, pty_sim, receipt):
    assert printer.status() is PrinterStatus.OK
    pty_sim.paper_low()
    assert printer.status() is PrinterStatus.PAPER_NEAR_END
    printer.print_receipt(receipt)
    assert printer.paper_near_end
    pty_sim.wait_until(lambda s: "APPROVED" in s.printed_text)


@pytest.mark.parametrize(
    "fault, code",
    [
        ("paper_out", "printer.paper_out"),
        ("open_cover", "printer.cover_open"),
        ("go_offline", "printer.offline"),
        ("mute", "printer.not_responding"),
    ],
)
def test_faults_refuse_the_receipt_with_their_code(pty_sim, context, receipt, fault, code):
    getattr(pty_sim, fault)()
    with open_device("printer", f"{pty_sim.url}?{FAST}", context) as printer:
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(receipt)
    assert err.value.code == code
    assert pty_sim.print_data == b""  # nothing was sent to a printer that cannot print


def test_repair_and_print(printer, pty_sim, receipt):
    pty_sim.open_cover()
    assert printer.status() is PrinterStatus.COVER_OPEN
    pty_sim.close_cover()
    printer.print_receipt(receipt)
    assert printer.status() is PrinterStatus.OK  # answered after the receipt, so all of it was read
    assert pty_sim.print_data == render_escpos(receipt)


class _Chatty(PtyPrinterSim):
    """A printer that sends XON/XOFF-looking noise and an automatic-status-back byte before each answer."""

    def handle(self, data: bytes) -> bytes:
        reply = super().handle(data)
        return b"\x11\x10\x00" + reply if reply else reply


def test_bytes_that_are_not_status_are_skipped(context):
    with _Chatty() as sim, open_device("printer", sim.url, context) as printer:
        sim.paper_out()
        assert printer.status() is PrinterStatus.PAPER_OUT


def test_a_stale_answer_is_discarded(printer, pty_sim):
    stale = encode_status(DeviceState(cover_open=True), StatusRequest.PRINTER)
    os.write(pty_sim._master, bytes([stale, stale]))  # a late answer to some earlier request
    assert select.select([printer.fileno()], [], [], 5.0)[0]  # it is in the driver's input buffer
    assert printer.status() is PrinterStatus.OK


def test_xoff_holds_everything_back(pty_sim, context, receipt):
    with open_device("printer", f"{pty_sim.url}?flow=xonxoff&{FAST}", context) as printer:
        pty_sim.hold_line()
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(receipt)
        assert err.value.code == "printer.not_responding"  # not even the status request could be sent
        pty_sim.release_line()
        printer.print_receipt(receipt)
        assert printer.status() is PrinterStatus.OK
    assert pty_sim.print_data == render_escpos(receipt)
    assert pty_sim.status_requests == [1, 2, 4, 1, 2, 4, 1, 2, 4]  # before and after the receipt, then the check above


def _pty_capacity() -> int:
    """How many bytes a pseudo-terminal holds when nobody reads it (about 20 KB on Linux 6)."""
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        os.set_blocking(slave, False)
        total = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                total += os.write(slave, b"x" * 1024)
        return total
    finally:
        os.close(master)
        os.close(slave)


def test_a_printer_that_stops_taking_data_mid_receipt_fails_the_write(pty_sim, context):
    rows = _pty_capacity() // 30 + 60  # more than the wire can hold while the printer takes nothing
    big = Receipt(tuple(Line(f"{i:05d} " + "x" * 24) for i in range(rows)))
    data = render_escpos(big)
    with open_device("printer", f"{pty_sim.url}?baud=115200&{FAST}", context) as printer:
        pty_sim.stall(after_next_status=True)  # status says OK, then the printer stops reading (CTS low)
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(big)
        assert err.value.code == "printer.not_responding"  # and asked why, it does not answer either
        pty_sim.unstall()
        pty_sim.wait_until(lambda s: len(s.received) > 9)
        assert pty_sim.status_requests[:3] == [1, 2, 4]
        sent = pty_sim.print_data
        assert 0 < len(sent) < len(data) and data.startswith(sent)  # the write, not the check, failed


def test_the_device_going_away(printer, pty_sim, receipt):
    pty_sim.close()
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(receipt)
    assert err.value.code == "printer.disconnected"


def test_the_port_is_opened_exclusively(printer, pty_sim, context):
    with pytest.raises(PrinterError) as err:
        open_device("printer", pty_sim.url, context)
    assert err.value.code == "printer.open_failed"


def test_a_missing_port(tmp_path, context):
    with pytest.raises(PrinterError) as err:
        open_device("printer", f"serial://{tmp_path}/ttyUSB9", context)
    assert err.value.code == "printer.open_failed"
    assert "ttyUSB9" in err.value.text


def test_closed_then_reopened(pty_sim, context, receipt):
    printer = make_device("printer", pty_sim.url, context)
    with pytest.raises(PrinterError) as err:
        printer.status()
    assert err.value.code == "printer.not_open"
    printer.open()
    printer.close()
    printer.open()
    printer.print_receipt(Receipt((Line("again"),)))
    pty_sim.wait_until(lambda s: "again\n" in s.printed_text)
    printer.close()


@pytest.mark.parametrize(
    "url, code",
    [
        ("serial://", "config.bad_url"),
        ("serial://ttyUSB0", "config.bad_url"),
        ("serial:///dev/ttyUSB0?baud=9601", "config.bad_option"),
        ("serial:///dev/ttyUSB0?flow=maybe", "config.bad_option"),
        ("serial:///dev/ttyUSB0?timeout=0", "config.bad_option"),
        ("serial:///dev/ttyUSB0?parity=E", "config.unknown_option"),
    ],
)
def test_bad_urls(url, code):
    with pytest.raises(ConfigError) as err:
        make_device("printer", url)
    assert err.value.code == code


def test_url_options():
    p = make_device("printer", "serial:///dev/ttyUSB0?baud=19200&timeout=2.5&profile=TM-T88V&columns=42&flow=rtscts")
    assert (p.device_path, p.options["baud"], p.timeout, p.profile, p.columns) == ("/dev/ttyUSB0", 19200, 2.5, "TM-T88V", 42)
