"""The display port never cuts a line silently (brief FX23): a line wider than the display is recorded (the
simulator's ``cut``) and logged by its count and widths only; a Chinese character takes two columns, is never
cut in half, and only a display that says it shows Chinese (``cjk``) is fitted that way."""

from __future__ import annotations

import logging

import pytest

from firmware.errors import ConfigError
from hal.display import fit_screen
from hal.display.console import frame_screen
from hal.registry import make_device, open_device


def test_a_line_wider_than_the_display_is_recorded_and_logged_without_its_text(caplog):
    with open_device("display", "sim://?rows=2&cols=16") as d, caplog.at_level(logging.WARNING, "hal.display"):
        d.show(("SALE CNY 1234567.89", "OK"))
        assert d.cut == [("SALE CNY 1234567.89", 16)]
        assert d.lines == ("SALE CNY 1234567", "OK              ")
        d.show(("SALE", "CNY 12.50"))  # a screen that fits adds nothing
        assert len(d.cut) == 1
    (record,) = [r for r in caplog.records if "cut" in r.getMessage()]
    assert record.getMessage() == "1 line(s) of 19 cells cut to the display's 16 columns"
    assert "1234567" not in caplog.text  # a screen's text (an amount) never reaches the log


def test_a_chinese_character_takes_two_columns_and_is_never_cut_in_half():
    name = "上海浦东测试商户"  # 16 columns
    assert fit_screen((name,), 1, 16) == (name,)
    assert fit_screen((name,), 1, 20) == (name + "    ",)
    assert fit_screen(("A" + name,), 1, 16) == ("A上海浦东测试商 ",)  # the last character would be half shown
    with open_device("display", "sim://?rows=1&cols=16") as d:
        d.show(("A" + name,))
        assert d.cut == [("A" + name, 16)]


def test_a_display_that_cannot_show_chinese_counts_each_character_one_column():
    """A DM-D shows "?" for a Chinese character: one column."""
    assert fit_screen(("上海",), 1, 4, cjk=False) == ("上海  ",)
    assert make_device("display", "sim://").cjk and make_device("display", "console://").cjk
    assert not make_device("display", "sim://?cjk=false").cjk
    assert not make_device("display", "serial:///dev/ttyUSB1").cjk


def test_a_serial_display_said_to_show_chinese_is_refused():
    with pytest.raises(ConfigError) as err:
        make_device("display", "serial:///dev/ttyUSB1?cjk=true")
    assert err.value.code == "config.bad_option" and "'cjk'" in err.value.text


def test_the_console_frame_counts_a_chinese_character_two_columns():
    assert frame_screen(("上海", "ABCD")) == "+----+\n|上海|\n|ABCD|\n+----+\n"
