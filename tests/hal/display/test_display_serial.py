"""The serial customer display: the real driver and real pyserial against a display simulator on a real pty."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.errors import ConfigError, DisplayError
from hal.display import fit_screen
from hal.display.dmd import Op
from hal.display.ptysim import PtyDisplaySim
from hal.display.serial import SerialDisplay
from hal.registry import make_device, open_device

ROOT = Path(__file__).resolve().parents[3]
FAST = "write_timeout=0.2"
BLANK2 = (" " * 20,) * 2

# A sale as the terminal shows it (firmware.core.screens: four lines of at most 20).
SALE = [
    ("ACME STORE", "READY", "KEY AMOUNT TO SELL", ""),
    ("SALE", "AMOUNT:", "CNY 0.00", "#=OK  X=CANCEL"),
    ("SALE", "AMOUNT:", "CNY 12.50", "#=OK  X=CANCEL"),
    ("SALE CNY 12.50", "SWIPE CARD", "", "X=CANCEL"),
    ("SALE CNY 12.50", "CARD **** 1234", "ENTER PIN:", ""),
    ("SALE CNY 12.50", "CARD **** 1234", "ENTER PIN:", "****"),
    ("SALE CNY 12.50", "PROCESSING...", "PLEASE WAIT", ""),
    ("APPROVED", "CNY 12.50", "AUTH 123456", "PRINTING..."),
    ("ACME STORE", "READY", "KEY AMOUNT TO SELL", ""),
]


@pytest.fixture
def sim() -> Iterator[PtyDisplaySim]:
    with PtyDisplaySim(rows=2, cols=20) as s:
        yield s


@pytest.fixture
def display(sim) -> Iterator[SerialDisplay]:
    with open_device("display", f"{sim.url}&{FAST}") as d:
        yield d


def changed_rows(before, after) -> int:
    return sum(a != b for a, b in zip(before, after))


@pytest.mark.parametrize("rows", [4, 2])
def test_a_sale_looks_on_the_display_as_on_the_simulated_port(rows):
    """The customer sees what SimDisplay records, row for row; a 2-line display gets the first two lines."""
    with PtyDisplaySim(rows=rows, cols=20) as sim, open_device("display", sim.url) as serial_display:
        reference = open_device("display", f"sim://?rows={rows}&cols=20")
        sim.wait_for_screen((" " * 20,) * rows)  # opening cleared it
        sim.wait_until(lambda s: s.count(Op.CLEAR) == 1)
        assert [c.op for c in sim.commands] == [Op.INITIALISE, Op.OVERWRITE, Op.CURSOR, Op.CLEAR]
        assert not sim.state.cursor_visible and sim.state.mode is Op.OVERWRITE and sim.state.table == 0
        for screen in SALE:
            serial_display.show(screen)
            reference.show(screen)
            sim.wait_for_screen(reference.lines)
            assert serial_display.screen == reference.lines
        assert sim.errors == []


def test_only_changed_rows_are_rewritten(sim, display):
    shown = BLANK2
    moves = 0
    for screen in [("SALE", "CNY 0.00"), ("SALE", "CNY 1.00"), ("SALE", "CNY 12.00"), ("SALE", "CNY 12.00"),
                   ("APPROVED", "CNY 12.00"), ("", "")]:
        fitted = fit_screen(screen, 2, 20)
        moves += changed_rows(shown, fitted)
        display.show(screen)
        sim.wait_until(lambda s, moves=moves, fitted=fitted: s.count(Op.MOVE) == moves and s.screen == fitted)
        shown = fitted
    assert moves == 7  # 2 + 1 + 1 + 0 + 1 + 2: blanking is rows too
    assert [c.params for c in sim.commands if c.op is Op.MOVE] == [(1, 1), (1, 2), (1, 2), (1, 2), (1, 1), (1, 1), (1, 2)]
    assert sim.count(Op.CLEAR) == 1 and sim.errors == []  # the open's only: a blank screen is written as rows


def test_long_lines_are_cut_and_control_characters_never_reach_the_wire(sim, display):
    display.show(["PURCHASE\tCNY 12.50 and a great deal more", "\x1b@\x0c\x1f$\x01\x01WIPE\x7f\r\n"])
    expected = ("PURCHASE CNY 12.50 a", " @  $  WIPE".ljust(20))
    sim.wait_for_screen(expected)
    assert display.screen == expected
    assert sim.errors == []
    body = sim.received[sim.commands[-2].at :]  # the two rows as sent: cursor, text, cursor, text
    assert body == b"\x1f$\x01\x01" + expected[0].encode() + b"\x1f$\x01\x02" + expected[1].encode()


@pytest.mark.parametrize(
    "codec, text, shown, table",
    [
        ("ascii", "CAFÉ Ω €3", "CAF? ? ?3", None),
        ("cp437", "CAFÉ Ω €3", "CAFÉ Ω ?3", 0),
        ("cp858", "CAFÉ Ω €3", "CAFÉ ? €3", 19),
    ],
)
def test_characters_the_table_lacks_become_question_marks(codec, text, shown, table):
    with PtyDisplaySim() as sim, open_device("display", f"{sim.url}&codec={codec}") as display:
        display.show([text])
        sim.wait_for_screen((shown.ljust(20), " " * 20))
        selected = [c.params[0] for c in sim.commands if c.op is Op.SELECT_TABLE]
        assert selected == ([] if table is None else [table])
        assert sim.errors == []
        if table is None:
            assert max(sim.received) < 0x80  # ASCII only: right on any table


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_brightness_option(sim, level):
    with open_device("display", f"{sim.url}&brightness={level}"):
        sim.wait_until(lambda s: s.count(Op.BRIGHTNESS) == 1)
        assert sim.brightness == level


def test_no_brightness_option_leaves_the_display_its_own(sim, display):
    sim.wait_until(lambda s: s.count(Op.CLEAR) == 1)
    assert sim.count(Op.BRIGHTNESS) == 0 and sim.brightness == 4


@pytest.mark.parametrize(
    "url, code",
    [
        ("serial://", "config.bad_url"),
        ("serial://ttyUSB1", "config.bad_url"),
        ("serial:///dev/ttyUSB1?brightness=5", "config.bad_option"),
        ("serial:///dev/ttyUSB1?brightness=0", "config.bad_option"),
        ("serial:///dev/ttyUSB1?baud=9601", "config.bad_option"),
        ("serial:///dev/ttyUSB1?codec=utf-8", "config.bad_option"),
        ("serial:///dev/ttyUSB1?rows=5", "config.bad_option"),
        ("serial:///dev/ttyUSB1?cols=41", "config.bad_option"),
        ("serial:///dev/ttyUSB1?rows=0", "config.bad_option"),
        ("serial:///dev/ttyUSB1?write_timeout=0", "config.bad_option"),
        ("serial:///dev/ttyUSB1?parity=E", "config.unknown_option"),
    ],
)
def test_bad_urls(url, code):
    with pytest.raises(ConfigError) as err:
        make_device("display", url)
    assert err.value.code == code


def test_an_unknown_option_names_the_expected_ones():
    with pytest.raises(ConfigError) as err:
        make_device("display", "serial:///dev/ttyUSB1?parity=E")
    assert "'parity'" in err.value.text
    assert "expected baud, brightness, cjk, codec, cols, reopen, rows, write_timeout" in err.value.text


def test_url_options():
    d = make_device("display", "serial:///dev/ttyUSB1?baud=19200&rows=4&cols=40&codec=cp858&brightness=3")
    assert isinstance(d, SerialDisplay)
    assert (d.device_path, d.rows, d.cols, d.options["baud"], d.options["codec"], d.options["brightness"]) == (
        "/dev/ttyUSB1", 4, 40, 19200, "cp858", 3)
    assert (make_device("display", "serial:///dev/ttyUSB1").rows, make_device("display", "serial:///dev/ttyUSB1").cols) == (2, 20)


def test_a_missing_port(tmp_path):
    with pytest.raises(DisplayError) as err:
        open_device("display", f"serial://{tmp_path}/ttyUSB9")
    assert err.value.code == "display.open_failed"
    assert "ttyUSB9" in err.value.text


def test_the_port_is_opened_exclusively(sim, display):
    with pytest.raises(DisplayError) as err:
        open_device("display", sim.url)
    assert err.value.code == "display.open_failed"
    assert "exclusively lock" in str(err.value)  # it says why: another holds the port, not a missing one


def test_a_missing_port_says_so(tmp_path):
    with pytest.raises(DisplayError) as err:
        open_device("display", f"serial://{tmp_path}/ttyUSB7")
    assert "No such file or directory" in str(err.value), err.value


def test_a_stalled_display_fails_the_write_and_the_last_screen_stays(sim, display):
    display.show(["SALE", "CNY 12.50"])
    sim.wait_for_screen(("SALE".ljust(20), "CNY 12.50".ljust(20)))
    sim.stall()
    start = time.monotonic()
    with pytest.raises(DisplayError) as err:
        display.show(["APPROVED", "CNY 12.50"])
    assert time.monotonic() - start < 0.2 + 2.0  # bounded by the write timeout (not a speed test)
    assert err.value.code == "display.write_failed"
    assert display.screen == ("SALE".ljust(20), "CNY 12.50".ljust(20))
    assert sim.screen == display.screen  # nothing got through
    sim.unstall()
    display.show(["APPROVED", "CNY 12.50"])  # after a failure: initialise again, every row
    sim.wait_for_screen(("APPROVED".ljust(20), "CNY 12.50".ljust(20)))
    assert sim.count(Op.INITIALISE) == 2 and sim.errors == []
    assert display.screen == sim.screen


def test_an_unplugged_display_fails_the_write(sim, display):
    display.show(["SALE", "CNY 12.50"])
    sim.wait_for_screen(("SALE".ljust(20), "CNY 12.50".ljust(20)))
    sim.unplug()
    with pytest.raises(DisplayError) as err:
        display.show(["APPROVED"])
    assert err.value.code == "display.write_failed"
    assert display.screen == ("SALE".ljust(20), "CNY 12.50".ljust(20))
    display.close()  # the goodbye clear fails quietly
    assert not display.is_open


def test_close_clears_the_display(sim):
    display = open_device("display", sim.url)
    display.show(["THANK YOU", "CNY 12.50"])
    sim.wait_for_screen(("THANK YOU".ljust(20), "CNY 12.50".ljust(20)))
    display.close()
    sim.wait_until(lambda s: s.count(Op.CLEAR) == 2)
    assert sim.screen == BLANK2 and sim.errors == []
    with pytest.raises(DisplayError) as err:
        display.show(["AFTER"])
    assert err.value.code == "display.not_open"


def test_a_final_screen_outlives_close_and_a_later_screen_does_not(sim):
    """OUT OF SERVICE, the terminal's last word as it stops (Display.show_final), stays up once closed; a
    screen shown after it is an ordinary one again, blanked on closing."""
    display = open_device("display", sim.url)
    display.show_final(["OUT OF SERVICE", "RESTARTING"])
    display.close()
    time.sleep(0.2)  # what the simulator would have received by now
    assert sim.screen == ("OUT OF SERVICE".ljust(20), "RESTARTING".ljust(20)) and sim.count(Op.CLEAR) == 1
    display = open_device("display", sim.url)  # opening clears: the second CLEAR
    display.show_final(["OUT OF SERVICE", "RESTARTING"])
    display.show(["READY"])
    display.close()
    sim.wait_until(lambda s: s.count(Op.CLEAR) == 3)
    assert sim.screen == BLANK2


def test_closed_then_reopened(sim):
    display = make_device("display", sim.url)
    display.open()
    display.close()
    display.open()
    display.show(["AGAIN"])
    sim.wait_until(lambda s: s.shows("AGAIN"))
    display.close()


def _selftest_display(url: str):
    from firmware.config import load_config
    from firmware.selftest import Check, Target, run_checks
    from firmware.selftest_devices import check_device

    target = Target(config=load_config(None).replace({"devices": {"display": url}}))
    [result] = run_checks([Check("display", lambda t: check_device("display", t), needs=())], target)
    return result


def test_the_selftest_opens_a_serial_display(sim, tmp_path):
    """``posterm selftest`` checks it through the registry with no change: open (initialise) and close (clear)."""
    from firmware.selftest import Status

    result = _selftest_display(sim.url)
    assert (result.status, result.text) == (Status.PASS, f"{sim.url} opened and closed")
    sim.wait_until(lambda s: s.count(Op.CLEAR) == 2)
    assert sim.count(Op.INITIALISE) == 1 and sim.screen == BLANK2
    result = _selftest_display(f"serial://{tmp_path}/ttyUSB9")
    assert (result.status, result.code) == (Status.FAIL, "display.open_failed")


# Lines as the firmware might give them: printable text, control characters, text beyond the table.
LINES = st.lists(st.text(st.characters(codec="utf-8"), max_size=30), max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(screens=st.lists(LINES, min_size=1, max_size=6))
def test_any_sequence_of_screens_leaves_the_last_one_on_the_display(sim, display, screens):
    moves, shown = sim.count(Op.MOVE), display.screen
    for lines in screens:
        display.show(lines)
        fitted = fit_screen(lines, 2, 20, cjk=False)  # a Chinese character: one "?", one column
        moves, shown = moves + changed_rows(shown, fitted), fitted
    # ASCII shows as itself, anything else as "?" (the port has made control characters spaces)
    expected = tuple("".join(c if " " <= c <= "~" else "?" for c in line) for line in shown)
    sim.wait_until(lambda s: s.count(Op.MOVE) == moves and s.screen == expected)  # every byte, and no more rows
    assert sim.errors == []
    display.show(BLANK2)  # the next example starts from a blank display
    sim.wait_for_screen(BLANK2)


def test_choosing_the_driver_imports_no_pyserial():
    code = (
        "import sys\n"
        "import hal.display.serial, hal.display.ptysim\n"
        "from hal.registry import make_device\n"
        "make_device('display', 'serial:///dev/ttyUSB1?brightness=2')\n"
        "assert 'serial' not in sys.modules, 'pyserial imported before the port is opened'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
