"""A receipt the printer never put on paper is not taken as printed (audit AU3).

A printer without flow control (serial ``flow=none``, or TCP) keeps reading
the line after its roll ends, so the write succeeds. The port asks the status
again once the receipt's bytes have left: paper end, an open cover or an
error then raises the same ``PrinterError`` as before the write, and the copy
is printed again whole once paper is loaded. Real drivers on a real pty and a
real socket, against the device simulators.
"""

from __future__ import annotations

import socket
import threading

import pytest

from firmware.errors import PrinterError
from hal.printer import PrinterStatus
from hal.printer.render import render_escpos
from hal.registry import open_device

FAST = "timeout=0.3"  # only where no answer is the expected outcome

STATUS = b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"

DURING_THE_WRITE = [
    ("paper_out", "printer.paper_out"),
    ("open_cover", "printer.cover_open"),
    ("go_offline", "printer.offline"),
    ("mute", "printer.not_responding"),  # switched off mid-receipt: told, never taken as printed
]


@pytest.mark.parametrize("fault, code", DURING_THE_WRITE)
def test_a_fault_while_the_bytes_wait_on_the_line_is_not_taken_as_printed(pty_sim, context, receipt, fault, code):
    """serial:// with the default flow=none: status OK, then the fault comes while the receipt waits on the line.

    The printer reads the line again only after the fault, so the write succeeds
    whatever the timing; only the status asked after it can tell.
    """
    with open_device("printer", f"{pty_sim.url}?{FAST}", context) as printer:
        pty_sim.stall(after_next_status=True)  # status says OK, then the printer is busy for a moment

        def fault_comes() -> None:
            pty_sim.wait_until(lambda s: len(s.status_requests) >= 3)
            getattr(pty_sim, fault)()
            pty_sim.unstall()

        thread = threading.Thread(target=fault_comes)
        thread.start()
        try:
            with pytest.raises(PrinterError) as err:
                printer.print_receipt(receipt)
        finally:
            thread.join(10)
        assert err.value.code == code
    pty_sim.wait_until(lambda s: s.status_requests[:4] == [1, 2, 4, 1])  # a check before the receipt, one after


@pytest.mark.parametrize("url", ["serial", "tcp"])
def test_the_roll_ending_part_way_is_printed_again_whole(request, context, receipt, url):
    sim = request.getfixturevalue("pty_sim" if url == "serial" else "tcp_sim")
    data = render_escpos(receipt)
    cut_at = data.index(b"AMOUNT:")
    sim.paper_out_after(cut_at)
    with open_device("printer", sim.url, context) as printer:
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(receipt)
        assert err.value.code == "printer.paper_out"
        assert printer.last_status is PrinterStatus.PAPER_OUT
        assert sim.received == STATUS + data + STATUS  # the printer took every byte: the write succeeded
        assert sim.print_data == data[:cut_at]  # and the roll only the first ones
        assert "CARD:" in sim.printed_text and "AMOUNT" not in sim.printed_text
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(receipt)  # no paper yet: refused before a byte is sent
        assert err.value.code == "printer.paper_out"
        sim.load_paper()
        printer.print_receipt(receipt)
    assert sim.print_data == data[:cut_at] + data
    assert sim.printed_text.count("AMOUNT:") == 1 and sim.printed_text.count("APPROVED") == 1


@pytest.mark.parametrize("url", ["serial", "tcp"])
def test_a_printer_that_stops_answering_after_the_write_is_not_taken_as_printed(request, context, receipt, url):
    sim = request.getfixturevalue("pty_sim" if url == "serial" else "tcp_sim")
    sim.mute(after_next_status=True)
    with open_device("printer", f"{sim.url}?{FAST}", context) as printer:
        with pytest.raises(PrinterError) as err:
            printer.print_receipt(receipt)
        assert err.value.code == "printer.not_responding"
        sim.unmute()
        printer.print_receipt(receipt)
    assert sim.print_data == render_escpos(receipt) * 2


def test_the_roll_nearing_its_end_during_the_write_prints_and_is_reported(pty_sim, context, receipt):
    with open_device("printer", pty_sim.url, context) as printer:
        pty_sim.stall(after_next_status=True)

        def near_end() -> None:
            pty_sim.wait_until(lambda s: len(s.status_requests) >= 3)
            pty_sim.paper_low()
            pty_sim.unstall()

        thread = threading.Thread(target=near_end)
        thread.start()
        try:
            printer.print_receipt(receipt)  # printed: the near-end sensor only warns
        finally:
            thread.join(10)
        assert printer.paper_near_end  # known from the status after the write, not at the next receipt
    assert pty_sim.print_data == render_escpos(receipt)


def test_a_tcp_write_returns_only_once_the_printer_acknowledged_every_byte(context):
    """The drain: a printer whose buffer is full (it stopped reading) fails the write at its deadline,
    rather than leave the status request queued behind the receipt."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a printer's small input buffer
        with open_device("printer", f"tcp://127.0.0.1:{server.getsockname()[1]}?timeout=0.3", context) as printer:
            conn, _ = server.accept()
            with conn:
                data = b"x" * 20000  # more than the printer's buffer, less than the terminal's send buffer
                with pytest.raises(TimeoutError):
                    printer._write(data)
                taken = 0
                while taken < len(data):  # the printer reads again: now the write completes
                    taken += len(conn.recv(65536))
                printer._write(b"")
