"""The display port, its simulator, and the console display on a real pty."""

from __future__ import annotations

import os

import pytest

from firmware.errors import DisplayError
from hal.display import fit_screen
from hal.display.console import frame_screen
from hal.registry import open_device


@pytest.fixture
def display():
    d = open_device("display", "sim://")
    yield d
    d.close()


def test_lines_are_fitted_to_rows_and_columns():
    assert fit_screen(["PURCHASE", "AMOUNT CNY 1234567890.00"], 3, 10) == ("PURCHASE  ", "AMOUNT CNY", " " * 10)
    assert fit_screen(["a", "b", "c"], 2, 1) == ("a", "c")  # too many lines: the first and the last (logged)
    assert fit_screen("TWO\nLINES", 2, 5) == ("TWO  ", "LINES")
    assert fit_screen(["tab\there", "\x1b[2Jwipe"], 2, 8) == ("tab here", " [2Jwipe")


def test_the_simulator_records_every_screen(display):
    assert display.lines == (" " * 20,) * 4 and display.history == []
    display.show(["PURCHASE", "CNY 12.50"])
    display.show(["ENTER PIN", "****"])
    display.clear()
    assert display.history == [
        ("PURCHASE".ljust(20), "CNY 12.50".ljust(20), " " * 20, " " * 20),
        ("ENTER PIN".ljust(20), "****".ljust(20), " " * 20, " " * 20),
        (" " * 20,) * 4,
    ]
    assert display.lines == display.screen == (" " * 20,) * 4


def test_shows_and_showed(display):
    display.show(["PURCHASE", "CNY 12.50"])
    display.show(["APPROVED", "AUTH 123456"])
    assert display.shows("APPROVED") and display.shows("AUTH 1234") and display.shows("APPROVED\nAUTH")
    assert not display.shows("PURCHASE") and display.showed("PURCHASE") and display.showed("CNY 12.50")
    assert not display.showed("DECLINED")
    display.assert_shows("APPROVED")
    display.assert_showed("PURCHASE")


def test_assert_shows_draws_the_screen_in_its_message():
    d = open_device("display", "sim://?rows=2&cols=8")
    d.show(["DECLINED", "CODE 51"])
    with pytest.raises(AssertionError) as info:
        d.assert_shows("APPROVED")
    assert str(info.value) == (
        "display does not show 'APPROVED'; it shows:\n+--------+\n|DECLINED|\n|CODE 51 |\n+--------+\n"
    )
    with pytest.raises(AssertionError, match="never showed 'APPROVED'; the last 1 of 1 screens"):
        d.assert_showed("APPROVED")


def test_assert_showed_on_a_display_never_used():
    d = open_device("display", "sim://")
    with pytest.raises(AssertionError, match="nothing was ever shown"):
        d.assert_showed("HELLO")


def test_a_silent_display_raises_and_keeps_its_last_screen(display):
    display.show(["READY"])
    display.stop_answering()
    with pytest.raises(DisplayError) as info:
        display.show(["GONE"])
    assert info.value.code == "display.not_responding"
    assert display.shows("READY") and len(display.history) == 1
    display.resume()
    display.show(["BACK"])
    assert display.shows("BACK")


def test_a_closed_display_refuses_to_show():
    d = open_device("display", "sim://")
    d.close()
    with pytest.raises(DisplayError) as info:
        d.show(["X"])
    assert info.value.code == "display.not_open"


def test_frame_screen():
    assert frame_screen(("AB", "CD")) == "+--+\n|AB|\n|CD|\n+--+\n"


# -- console ------------------------------------------------------------------

def test_the_console_display_draws_a_box_on_a_terminal(pty):
    d = open_device("display", f"console://?tty={pty.path}&rows=2&cols=10")
    d.show(["PURCHASE", "CNY 12.50"])
    out = pty.read_until(b"|\r\n+----------+\r\n")
    assert out.replace(b"\r\n", b"\n").decode() == "+----------+\n|PURCHASE  |\n|CNY 12.50 |\n+----------+\n"
    d.close()


def test_clear_redraws_in_place(pty):
    d = open_device("display", f"console://?tty={pty.path}&rows=1&cols=4&clear=true")
    d.show(["HI"])
    assert pty.read_until(b"+----+\r\n|HI  |\r\n+----+\r\n").startswith(b"\x1b[H\x1b[2J+----+")
    d.close()


def test_the_console_display_can_write_to_a_file(tmp_path):
    path = tmp_path / "screen.txt"
    path.touch()
    d = open_device("display", f"console://?tty={path}&rows=1&cols=5")
    d.show(["ONE"])
    d.show(["TWO"])
    d.close()
    assert path.read_text() == "+-----+\n|ONE  |\n+-----+\n+-----+\n|TWO  |\n+-----+\n"


def test_standard_output_is_the_default(capfd):
    d = open_device("display", "console://?rows=1&cols=3")
    d.show(["OK"])
    d.close()
    assert capfd.readouterr().out == "+---+\n|OK |\n+---+\n"


def test_a_hung_up_terminal_and_a_bad_path_are_display_errors(pty, tmp_path):
    d = open_device("display", f"console://?tty={pty.path}")
    os.close(pty.master)
    with pytest.raises(DisplayError) as info:
        d.show(["X"])
    assert info.value.code == "display.write_failed"
    d.close()
    with pytest.raises(DisplayError) as info:
        open_device("display", f"console://?tty={tmp_path}/no/such/dir")
    assert info.value.code == "display.open_failed"
