"""The console PIN pad on a real pseudo-terminal."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import termios

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.keys import KeyUsage
from crypto.pinblock import decrypt_iso0
from crypto.provision import lab_key
from crypto.secrets import Pan
from firmware.errors import PinPadError
from hal.pinpad import Key, KeyPress, PinCancelled, PinEntered, PinProgress
from hal.pinpad.console import SEQUENCE_MAX, split_escape, translate
from hal.registry import open_device

PAN = "5413330089020011"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def poll_events(pad, count: int, *, limit: float = 5.0) -> list:
    """Wait on ``fileno()`` like the runner does, polling until ``count`` events came (bounded wait)."""
    events: list = []
    while len(events) < count:
        if pad.next_deadline() is None:
            assert select.select([pad.fileno()], [], [], limit)[0], f"only {events} arrived"
        events += pad.poll()
    return events


@pytest.fixture
def console_pad(pty, lab_context):
    pad = open_device("pinpad", f"console://?tty={pty.path}", lab_context)
    yield pad
    pad.close()


def test_keys_typed_on_the_terminal_become_key_presses(pty, console_pad):
    assert console_pad.fileno() is not None
    pty.type(b"12\r")
    assert poll_events(console_pad, 3) == [KeyPress(Key.D1), KeyPress(Key.D2), KeyPress(Key.ENTER)]


def test_a_pin_typed_on_the_terminal_decrypts_to_itself(pty, console_pad):
    console_pad.begin_pin_entry(Pan(PAN))
    pty.type(b"5\x7f4321\r")  # a digit, backspace, then the PIN and Enter
    events = poll_events(console_pad, 7)
    assert isinstance(events[-1], PinEntered)
    assert decrypt_iso0(events[-1].block, PAN, lab_key(KeyUsage.PIN)) == b"4321"


def test_escape_cancels_the_prompt_but_an_arrow_key_does_not(pty, console_pad):
    console_pad.begin_pin_entry(Pan(PAN))
    pty.type(b"1\x1b[A\x1b")
    events = poll_events(console_pad, 2)
    assert events[-1] == PinCancelled() and not console_pad.in_pin_entry


# AU24: a slow serial console or a busy Pi may split an arrow key's ESC [ A across two reads. The ESC that ended
# the first read was taken as the Escape key: the customer's PIN entry was cancelled, and [ A dropped.
def readable(pad) -> None:
    assert select.select([pad.fileno()], [], [], 5.0)[0]  # what the test typed has reached the driver's terminal


def test_an_arrow_key_split_across_two_reads_does_not_cancel_the_pin(pty, console_pad):
    console_pad.begin_pin_entry(Pan(PAN))
    pty.type(b"12\x1b")
    readable(console_pad)
    assert console_pad.poll() == [PinProgress(1), PinProgress(2)]  # the digits now; the ESC waits
    assert console_pad.in_pin_entry and console_pad.next_deadline() is not None
    pty.type(b"[A")
    pty.type(b"34\r")
    readable(console_pad)
    events = poll_events(console_pad, 3)
    assert events[:2] == [PinProgress(3), PinProgress(4)] and isinstance(events[-1], PinEntered)
    assert decrypt_iso0(events[-1].block, PAN, lab_key(KeyUsage.PIN)) == b"1234"
    assert console_pad.next_deadline() is None  # nothing held


def test_a_lone_escape_is_a_cancel_once_nothing_follows_it(pty, console_pad):
    console_pad.begin_pin_entry(Pan(PAN))
    pty.type(b"1\x1b")
    readable(console_pad)
    assert console_pad.poll() == [PinProgress(1)]
    assert poll_events(console_pad, 1) == [PinCancelled()]  # polled at its deadline, as the runner does
    assert not console_pad.in_pin_entry and console_pad.next_deadline() is None


def test_the_terminal_is_in_cbreak_mode_while_open_and_restored_on_close(pty, lab_context):
    before = termios.tcgetattr(pty.slave)
    assert before[3] & termios.ECHO and before[3] & termios.ICANON
    pad = open_device("pinpad", f"console://?tty={pty.path}", lab_context)
    during = termios.tcgetattr(pty.slave)
    assert not during[3] & termios.ECHO and not during[3] & termios.ICANON
    assert during[3] & termios.ISIG  # Ctrl-C still interrupts
    pad.close()
    assert termios.tcgetattr(pty.slave) == before
    assert pad.fileno() is None


def test_a_hung_up_terminal_is_reported(pty, console_pad):
    os.close(pty.master)
    with pytest.raises(PinPadError) as info:
        console_pad.poll()
    assert info.value.code == "pinpad.disconnected"


@pytest.mark.parametrize(
    ("path", "code"),
    [("/dev/null", "pinpad.not_a_tty"), ("/nonexistent/tty9", "pinpad.open_failed")],
)
def test_a_path_that_is_no_terminal_is_refused(lab_context, path, code):
    with pytest.raises(PinPadError) as info:
        open_device("pinpad", f"console://?tty={path}", lab_context)
    assert info.value.code == code and path in info.value.text


def test_standard_input_is_the_default_terminal(pty):
    """Run a pad on a child's stdin (the pty), type into it, read the events it prints."""
    script = (
        "import select, termios\n"
        "from hal.registry import open_device\n"
        "pad = open_device('pinpad', 'console://')\n"
        "assert pad.fileno() == 0 and not termios.tcgetattr(0)[3] & termios.ECHO\n"
        "print('ready', flush=True)\n"
        "got = []\n"
        "while len(got) < 3 and (pad.next_deadline() or select.select([0], [], [], 10)[0]):\n"
        "    got += [e.key.value for e in pad.poll()]\n"
        "pad.close()\n"
        "print(''.join(got), bool(termios.tcgetattr(0)[3] & termios.ECHO), flush=True)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=pty.slave, stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        pty.type(b"7f\n")
        out, _ = child.communicate(timeout=20)
    finally:
        child.kill()
        child.wait()
    assert out.split() == ["7F#", "True"]
    assert child.returncode == 0


@pytest.mark.parametrize(
    ("typed", "keys"),
    [
        (b"0123456789", "0123456789"),
        (b"\r\n#", "###"),
        (b"\x7f\x08*", "***"),
        (b"\x1bxX", "XXX"),
        (b"fF", "FF"),
        (b"\x1b[A\x1b[1;5C\x1bOP", ""),  # arrows and F1 are skipped whole
        (b"1\x1b[D2\x1b", "12X"),
        (b"abc ?%", ""),
    ],
)
def test_translate(typed, keys):
    assert translate(typed) == keys


@given(st.binary(max_size=64))
def test_translate_only_ever_gives_pad_keys(data):
    assert all(Key.from_char(c) is not None for c in translate(data))


@pytest.mark.parametrize(
    ("typed", "keys", "held"),
    [
        (b"12\x1b", "12", b"\x1b"),
        (b"1\x1b[1;5", "1", b"\x1b[1;5"),
        (b"\x1bO", "", b"\x1bO"),
        (b"\x1b[A\x1b3", "X3", b""),  # a whole arrow key, and ESC then a digit: Escape, 3
        (b"\x1b[" + b"1" * SEQUENCE_MAX, "", b""),  # too long for a key's sequence: noise, not held
    ],
)
def test_split_escape_holds_only_a_sequence_that_may_still_be_arriving(typed, keys, held):
    got, cut = split_escape(typed)
    assert (got, typed[cut:]) == (keys, held)


@given(st.binary(max_size=SEQUENCE_MAX), st.data())
def test_a_key_sequence_split_anywhere_reads_as_one_read(data, draw):
    """Fed in two reads as the driver does (the held tail first in the next), the keys are those of one read."""
    cut = draw.draw(st.integers(0, len(data)))
    keys, held = split_escape(data[:cut])
    assert keys + translate(data[:cut][held:] + data[cut:]) == translate(data)
