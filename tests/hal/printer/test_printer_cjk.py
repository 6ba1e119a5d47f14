"""Chinese text on the receipt (AU21 M4): GB18030 inside FS & ... FS ., two cells a character, and the
simulators that read it back."""

from __future__ import annotations

import logging

import pytest
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.errors import ConfigError, PrinterError
from hal.printer import Align, Line, Receipt, cell_width, layout, plain_text
from hal.printer.decode import EscPosDecoder, Text, decode_lines
from hal.printer.render import render_escpos
from hal.printer.sim import SimPrinter
from hal.registry import make_device, open_device

NAME = "上海浦东测试商户"
GB = NAME.encode("gb18030")
ON, OFF = b"\x1c&", b"\x1c."


def _chinese_receipt() -> Receipt:
    return Receipt((
        Line(NAME, align=Align.CENTER, bold=True),
        Line("操作员 OPERATOR:", right="01"),
        Line("AMOUNT:", right="CNY 12.50", bold=True),
    ))


def test_each_chinese_run_goes_as_gb18030_between_fs_and_and_fs_dot():
    d = Dummy(profile="default")
    d.hw("INIT")
    d._raw(OFF)  # a Chinese model may start in Chinese mode
    d.set(bold=True, align="center")
    d._raw(ON + GB + OFF)
    d.textln("")
    d.set(bold=False, align="left")
    d._raw(ON + "操作员".encode("gb18030") + OFF)
    d.textln(" OPERATOR:" + " " * 14 + "01")  # 6 + 10 + 14 + 2 cells: 32
    d.set(bold=True)
    d.textln("AMOUNT:                CNY 12.50")
    d.cut()
    data = render_escpos(_chinese_receipt(), cjk="gb18030")
    assert data == d.output
    assert data.startswith(b"\x1b@\x1c.\x1bE\x01\x1ba\x01\x1c&" + GB + b"\x1c.")
    assert data.count(ON) == 2 and data.count(OFF) == 3


def test_a_row_without_chinese_goes_as_before():
    r = Receipt((Line("Café", right="12.50"), Line("APPROVED", align=Align.CENTER)))
    assert render_escpos(r, cjk="gb18030") == render_escpos(r).replace(b"\x1b@", b"\x1b@\x1c.", 1)


def test_chinese_mode_with_a_forced_code_page():
    r = Receipt((Line("Café 上海"),))
    assert render_escpos(r, cjk="gb18030", encoding="CP858") == (
        b"\x1b@\x1c.\x1bt\x13Caf\x82 " + ON + "上海".encode("gb18030") + OFF + b"\n\x1bd\x06\x1dV\x00")


def test_a_printer_without_chinese_mode_is_sent_two_question_marks_a_character(caplog):
    r = Receipt((Line("商户:", right="12.50"),), title="MERCHANT COPY TRACE 000001")
    with caplog.at_level(logging.WARNING, logger="hal.printer.render"):
        data = render_escpos(r)
    assert data == b"\x1b@\x1bt\x00????:" + b" " * 22 + b"12.50\n\x1bd\x06\x1dV\x00"  # the layout's 32 cells
    assert "商户".encode("gb18030") not in data and ON not in data  # never raw GB18030 outside the mode
    assert "2 wide characters of MERCHANT COPY TRACE 000001" in caplog.text
    with_page = render_escpos(r, encoding="CP437")
    assert with_page.startswith(b"\x1b@\x1bt\x00????:")


def test_the_option_is_gb18030_or_none():
    assert make_device("printer", "sim://?cjk=gb18030").cjk == "gb18030"
    assert make_device("printer", "sim://").cjk == ""
    with pytest.raises(ConfigError) as err:
        make_device("printer", "sim://?cjk=gbk")
    assert err.value.code == "config.bad_option" and "none, gb18030" in err.value.text


# -- the decoder ------------------------------------------------------------------------------------
def test_the_decoder_reads_chinese_mode_whatever_the_split():
    data = render_escpos(_chinese_receipt(), cjk="gb18030")
    rows = [row.text for row in layout(_chinese_receipt(), 32)]
    assert decode_lines(data) == (rows, "")
    decoder = EscPosDecoder()
    text = []
    for i in range(len(data)):  # one byte at a time: a character split across reads decodes whole
        text += [e.text for e in decoder.feed(data[i : i + 1]) if isinstance(e, Text)]
    assert "".join(text) == "".join(rows)
    assert "\ufffd" not in "".join(text)


def test_four_byte_characters_esc_at_and_a_stray_lead_byte():
    four = "\U00020000".encode("gb18030")  # CJK extension B: four bytes in GB18030
    assert len(four) == 4
    assert decode_lines(ON + four + OFF + b"\n")[0] == ["\U00020000"]
    # ESC @ leaves Chinese mode: 0x82 is CP437's e-acute again
    assert decode_lines(ON + b"\xc9\xcf\x1b@\x82\n")[0] == ["上é"]
    # a lead byte followed by a command: the command stays a command
    events = EscPosDecoder().feed(ON + b"\xc9\x10\x04\x01")
    assert events[-1].data == b"\x10\x04\x01"


# -- width -------------------------------------------------------------------------------------------
chinese = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
fullwidth = st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E)
ascii_text = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
mixed = st.text(st.one_of(chinese, fullwidth, ascii_text, st.just(" ")), max_size=60)
lines = st.builds(Line, text=mixed, right=mixed, align=st.sampled_from(Align), bold=st.booleans(),
                  double=st.booleans())


@settings(deadline=None)
@given(st.lists(lines, min_size=1, max_size=4), st.integers(8, 48))
def test_mixed_rows_never_exceed_the_row_and_never_split_a_character(receipt_lines, columns):
    receipt = Receipt(tuple(receipt_lines))
    rows = layout(receipt, columns)
    for row in rows:
        assert cell_width(row.plain()) <= row.width
    printed = plain_text(receipt, columns)
    assert "".join(printed.split()) == "".join("".join((ln.text + ln.right).split()) for ln in receipt_lines)
    data = render_escpos(receipt, columns=columns, profile="TM-T20II", cjk="gb18030")
    assert decode_lines(data) == ([row.text for row in rows], "")  # every character whole, in its own mode
    assert data.count(ON) == data.count(OFF) - 1  # each Chinese run closed (and one FS . after ESC @)


# -- the simulators ---------------------------------------------------------------------------------
def test_the_sim_printer_shows_the_chinese_name(context):
    with open_device("printer", "sim://?cjk=gb18030", context) as printer:
        printer.print_receipt(_chinese_receipt())
        printer.assert_printed(NAME)
        assert printer.receipts == [plain_text(_chinese_receipt(), 32)]
        assert ON + GB + OFF in printer.output
    with open_device("printer", "sim://", context) as plain:  # no Chinese font: the paper shows ??
        plain.print_receipt(Receipt((Line("商户 SHOP"),)))
        assert plain.receipts == ["???? SHOP\n"]
        assert not plain.text_contains("商户")


def test_a_chinese_name_through_the_serial_driver(pty_sim, context):
    with open_device("printer", f"{pty_sim.url}?cjk=gb18030", context) as printer:
        printer.print_receipt(_chinese_receipt())
    data = render_escpos(_chinese_receipt(), cjk="gb18030")
    pty_sim.wait_until(lambda s: len(s.print_data) >= len(data))
    assert pty_sim.print_data == data
    assert pty_sim.printed_text.startswith(NAME + "\n操作员 OPERATOR:" + " " * 14 + "01\n")


def test_a_torn_chinese_receipt_keeps_the_rows_that_reached_paper(context):
    printer = SimPrinter("sim://?cjk=gb18030", context)
    printer.open()
    data = render_escpos(_chinese_receipt(), cjk="gb18030")
    printer.paper_out_after(data.index(b"\n", data.index(b"\n") + 1) + 1)  # two rows, then the roll ends
    with pytest.raises(PrinterError) as err:
        printer.print_receipt(_chinese_receipt())
    assert err.value.code == "printer.paper_out"
    assert printer.torn == ["".join(plain_text(_chinese_receipt(), 32).splitlines(keepends=True)[:2])]


def test_a_double_row_always_has_room_for_one_chinese_character():
    assert [row.text for row in layout(Receipt((Line("上海", double=True),)), 4)] == ["上", "海"]
    with pytest.raises(ValueError):  # a double row of one cell could not hold one
        layout(Receipt((Line("上", double=True),)), 3)
