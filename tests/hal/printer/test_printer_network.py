"""tcp:// over a real local socket, against the TCP printer device simulator."""

from __future__ import annotations

import socket

import pytest

from firmware.errors import ConfigError, PrinterError
from hal.printer import Line, PrinterStatus, Receipt
from hal.printer.network import DEFAULT_PORT, NetworkPrinter
from hal.printer.render import render_escpos
from hal.registry import make_device, open_device


@pytest.fixture
def printer(tcp_sim, context):
    p = open_device("printer", tcp_sim.url, context)
    yield p
    p.close()


def test_the_exact_bytes_python_escpos_made_arrive(printer, tcp_sim, receipt):
    assert isinstance(printer, NetworkPrinter)
    printer.print_receipt(receipt)
    data = render_escpos(receipt)
    tcp_sim.wait_until(lambda s: len(s.print_data) >= len(data))
    status = b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"
    assert tcp_sim.received == status + data + status  # asked before, and once after the whole receipt
    assert "APPROVED\n" in tcp_sim.printed_text and tcp_sim.cuts == 1


@pytest.mark.parametrize(
    "fault, code",
    [
        ("paper_out", "printer.paper_out"),
        ("open_cover", "printer.cover_open"),
        ("go_offline", "printer.offline"),
        ("mute", "printer.not_responding"),
    ],
)
def test_faults_refuse_the_receipt_with_their_code(tcp_sim, context, receipt, fault, code):
    getattr(tcp_sim, fault)()
    with open_device("printer", f"{tcp_sim.url}?timeout=0.2", context) as printer:
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(receipt)
    assert err.value.code == code
    assert tcp_sim.print_data == b""


def test_near_end_prints_and_is_reported(printer, tcp_sim, receipt):
    tcp_sim.paper_low()
    printer.print_receipt(receipt)
    assert printer.paper_near_end
    assert printer.status() is PrinterStatus.PAPER_NEAR_END  # answered after the receipt was read
    assert tcp_sim.print_data == render_escpos(receipt)


def test_reconnects_when_the_printer_closed_an_idle_connection(printer, tcp_sim, receipt):
    assert printer.status() is PrinterStatus.OK
    tcp_sim.drop_connection()
    printer.print_receipt(receipt)
    assert printer.status() is PrinterStatus.OK
    assert tcp_sim.connections == 2
    assert tcp_sim.print_data == render_escpos(receipt)


def test_the_printer_going_away(printer, tcp_sim, receipt):
    tcp_sim.close()
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(receipt)
    assert err.value.code == "printer.disconnected"


def test_nobody_listening(context):
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PrinterError) as err:
        open_device("printer", f"tcp://127.0.0.1:{port}?timeout=1", context)
    assert err.value.code == "printer.open_failed"
    assert f"127.0.0.1:{port}" in err.value.text


def test_default_port_and_options():
    p = make_device("printer", "tcp://10.0.0.9?timeout=3&columns=48&profile=TM-T20II")
    assert (p.address, p.timeout, p.columns, p.profile) == (("10.0.0.9", DEFAULT_PORT), 3.0, 48, "TM-T20II")


@pytest.mark.parametrize(
    "url, code",
    [
        ("tcp://", "config.bad_url"),
        ("tcp://10.0.0.9:9100/queue", "config.bad_url"),
        ("tcp://10.0.0.9:9100?timeout=-1", "config.bad_option"),
        ("tcp://10.0.0.9:9100?baud=9600", "config.unknown_option"),
    ],
)
def test_bad_urls(url, code):
    with pytest.raises(ConfigError) as err:
        make_device("printer", url)
    assert err.value.code == code


def test_second_receipt_after_the_first(printer, tcp_sim):
    for text in ("ONE", "TWO"):
        printer.print_receipt(Receipt((Line(text),)))
    printer.status()
    assert tcp_sim.printed_text.split() == ["ONE", "TWO"]
