"""The sim:// printer as an instrument: what it records, the faults it injects, the codes they raise."""

from __future__ import annotations

import pytest

from firmware.errors import ConfigError, PrinterError
from hal.base import DeviceContext
from hal.printer import Line, PrinterStatus, Receipt, ReceiptPrinter, plain_text
from hal.printer.render import render_escpos
from hal.printer.sim import SimPrinter, read_paper
from hal.registry import make_device, open_device


def test_prints_and_records(sim_printer, receipt):
    sim_printer.print_receipt(receipt)
    assert sim_printer.output == render_escpos(receipt)
    assert sim_printer.receipts == [plain_text(receipt, 32)]
    assert sim_printer.last_receipt == sim_printer.text == plain_text(receipt, 32)
    assert sim_printer.text_contains("APPROVED")
    assert sim_printer.text_contains("AMOUNT: CNY 12.50")  # layout-insensitive
    assert sim_printer.text_contains("shopping with us, please come")  # across a wrapped row
    assert not sim_printer.text_contains("DECLINED")
    sim_printer.assert_printed("CNY 12.50")
    assert sim_printer.status() is PrinterStatus.OK


def test_assert_printed_says_what_was_printed(sim_printer, receipt):
    with pytest.raises(AssertionError, match="no receipt was printed"):
        sim_printer.assert_printed("APPROVED")
    sim_printer.print_receipt(receipt)
    with pytest.raises(AssertionError, match=r"'DECLINED' was not printed in 1 receipt\(s\); the last one reads:\n   ACME STORE"):
        sim_printer.assert_printed("DECLINED")


def test_options_from_the_url(context):
    printer = make_device("printer", "sim://?columns=42&profile=TM-T88V", context)
    assert isinstance(printer, SimPrinter) and isinstance(printer, ReceiptPrinter)
    printer.open()
    printer.print_receipt(Receipt((Line("A", right="B"),)))
    assert printer.last_receipt == "A" + " " * 40 + "B\n"


@pytest.mark.parametrize(
    "url, code",
    [
        ("sim://?colums=42", "config.unknown_option"),
        ("sim://?columns=wide", "config.bad_option"),
        ("sim://?columns=4", "config.bad_option"),
        ("sim://?columns=1000", "config.bad_option"),
    ],
)
def test_bad_urls(url, code):
    with pytest.raises(ConfigError) as err:
        make_device("printer", url)
    assert err.value.code == code


def test_unknown_profile_is_refused_when_the_printer_is_made(context):
    with pytest.raises(ConfigError) as err:
        SimPrinter("sim://?profile=TM-NOPE", context)
    assert err.value.code == "config.bad_option"
    assert "TM-NOPE" in err.value.text


def test_a_closed_printer_refuses(context, receipt):
    printer = SimPrinter("sim://", context)
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(receipt)
    assert err.value.code == "printer.not_open"


FAULTS = [
    ("paper_out", "load_paper", "printer.paper_out"),
    ("open_cover", "close_cover", "printer.cover_open"),
    ("open_cover", "resume", "printer.cover_open"),
    ("go_offline", "go_online", "printer.offline"),
    ("go_offline", "resume", "printer.offline"),
    ("stop_answering", "resume", "printer.not_responding"),
]


@pytest.mark.parametrize("fault, repair, code", FAULTS)
def test_faults_stop_printing_with_their_code_and_repair_resumes(sim_printer, receipt, fault, repair, code):
    getattr(sim_printer, fault)()
    with pytest.raises(PrinterError) as err:
        sim_printer.print_receipt(receipt)
    assert err.value.code == code
    assert sim_printer.output == b"" and sim_printer.receipts == []
    getattr(sim_printer, repair)()
    sim_printer.print_receipt(receipt)
    sim_printer.assert_printed("APPROVED")


def test_status_reports_each_fault(sim_printer):
    sim_printer.paper_out()
    assert sim_printer.status() is PrinterStatus.PAPER_OUT
    sim_printer.open_cover()
    assert sim_printer.status() is PrinterStatus.COVER_OPEN  # the most urgent cause wins
    sim_printer.stop_answering()
    with pytest.raises(PrinterError) as err:
        sim_printer.status()
    assert err.value.code == "printer.not_responding"
    sim_printer.resume()
    assert sim_printer.status() is PrinterStatus.PAPER_OUT  # resume closes the cover; it adds no paper


def test_near_end_prints_and_is_reported(sim_printer, receipt):
    assert not sim_printer.paper_near_end
    sim_printer.paper_low()
    sim_printer.print_receipt(receipt)
    sim_printer.assert_printed("APPROVED")
    assert sim_printer.paper_near_end and sim_printer.last_status is PrinterStatus.PAPER_NEAR_END
    sim_printer.load_paper()
    sim_printer.print_receipt(receipt)
    assert not sim_printer.paper_near_end


def test_paper_running_out_mid_receipt(sim_printer, receipt):
    """The roll ends part-way: the write succeeds (the printer keeps reading), the status after it says paper end."""
    data = render_escpos(receipt)
    cut_at = data.index(b"APPROVED") + 3  # "APP" is in the line buffer, its LF never came
    sim_printer.paper_out_after(cut_at)
    with pytest.raises(PrinterError) as err:
        sim_printer.print_receipt(receipt)
    assert err.value.code == "printer.paper_out"
    assert sim_printer.output == data[:cut_at]  # the rest was lost
    assert sim_printer.receipts == []
    assert sim_printer.torn == ["".join(plain_text(receipt, 32).splitlines(keepends=True)[:4])]
    assert sim_printer.last_status is PrinterStatus.PAPER_OUT  # asked after the write
    sim_printer.load_paper()
    sim_printer.print_receipt(receipt)  # the reprint, whole
    assert sim_printer.receipts == [plain_text(receipt, 32)]
    assert sim_printer.output == data[:cut_at] + data


def test_paper_running_out_exactly_at_the_end(sim_printer, receipt):
    """A roll that ends with the receipt's last byte: the printer cannot tell, so the copy prints again."""
    data = render_escpos(receipt)
    sim_printer.paper_out_after(len(data) + 1)
    sim_printer.print_receipt(receipt)
    sim_printer.paper_out_after(0)
    with pytest.raises(PrinterError) as err:
        sim_printer.print_receipt(receipt)
    assert err.value.code == "printer.paper_out"
    assert sim_printer.torn == [""]
    sim_printer.load_paper()
    sim_printer.paper_out_after(len(data))
    with pytest.raises(PrinterError) as err:
        sim_printer.print_receipt(receipt)  # the last byte was the last of the roll
    assert err.value.code == "printer.paper_out"
    assert sim_printer.torn == ["", plain_text(receipt, 32)]  # all of it reached paper, yet it is not taken as printed
    sim_printer.load_paper()
    sim_printer.print_receipt(receipt)
    assert len(sim_printer.receipts) == 2


def test_paper_out_after_takes_a_count(sim_printer):
    with pytest.raises(ValueError):
        sim_printer.paper_out_after(-1)


def test_clear_forgets_the_records(sim_printer, receipt):
    sim_printer.print_receipt(receipt)
    sim_printer.clear()
    assert (sim_printer.output, sim_printer.receipts, sim_printer.last_receipt, sim_printer.text) == (b"", [], None, "")


def test_paper_file(tmp_path, receipt):
    paper = tmp_path / "paper.txt"
    printer = open_device("printer", f"sim://?paper={paper}", DeviceContext(data_dir=tmp_path))
    printer.print_receipt(receipt)
    printer.paper_out_after(render_escpos(receipt).index(b"CARD:"))
    with pytest.raises(PrinterError):
        printer.print_receipt(receipt)
    printer.load_paper()
    printer.print_receipt(Receipt((Line("SECOND"),)))
    text = plain_text(receipt, 32)
    torn = "".join(text.splitlines(keepends=True)[:2])
    assert paper.read_text() == text + "=====\n" + torn + "===== PAPER OUT\n" + "SECOND\n=====\n"
    assert read_paper(paper) == [text, "SECOND\n"]


def test_relative_paper_file_is_in_the_data_dir(tmp_path):
    printer = open_device("printer", "sim://?paper=paper.txt", DeviceContext(data_dir=tmp_path))
    printer.print_receipt(Receipt((Line("X"),)))
    assert read_paper(tmp_path / "paper.txt") == ["X\n"]


def test_paper_file_folder_must_exist(tmp_path):
    printer = SimPrinter(f"sim://?paper={tmp_path}/missing/paper.txt")
    with pytest.raises(ConfigError) as err:
        printer.open()
    assert err.value.code == "config.bad_option"


CRASH = """
import os, signal
from pathlib import Path
from hal.base import DeviceContext
from hal.printer import Line, Receipt
from hal.registry import open_device
printer = open_device("printer", "sim://?paper=paper.txt", DeviceContext(data_dir=Path(DATA)))
printer.print_receipt(Receipt((Line("APPROVED"),)))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_paper_survives_the_process_being_killed(run_python, tmp_path):
    result = run_python(CRASH.replace("DATA", repr(str(tmp_path))), check=False)
    assert result.returncode == -9
    assert read_paper(tmp_path / "paper.txt") == ["APPROVED\n"]
