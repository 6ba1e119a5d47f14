"""``posterm screen``: its view model against the real runner, then the real thing on a pseudo-terminal.

The view-model tests drive the simulators directly, as the scenario runner
does, and read the panels ``build_view`` makes. The pseudo-terminal test runs
``posterm screen`` as a person would, reading the screen through pyte (a
terminal emulator), since curses redraws only what changed.
"""

from __future__ import annotations

import curses
import fcntl
import os
import select
import struct
import subprocess
import termios
import time

import pyte
import pytest

from firmware.config import Config
from firmware.core.model import JournalState, State
from firmware.screen import MAX_WAIT, HostMode, ScreenSession, View, build_view, pad_key
from hal.magstripe.sim import find_card
from storage.store import Store

WAIT = 20.0  # bound on every wait below; never a speed requirement


def panels(view: View) -> str:
    """Every character any panel shows."""
    return "\n".join((view.title, *view.display, *view.keypad, *view.earlier, *view.roll, view.status, view.help))


def settle(runner) -> None:
    """Run until the sale is over and the terminal waits in IDLE."""
    assert runner.run_until(
        lambda: runner.core.state is State.IDLE and runner.core.sale is None and runner.waiting_for_person(), WAIT
    )


def sell(session: ScreenSession, card: str = "unionpay_debit", pin: str = "1234") -> None:
    runner = session.runner
    runner.devices.pinpad.press("1250#")
    runner.devices.reader.swipe_card(card)
    runner.devices.pinpad.press(f"{pin}#", hold_for_pin=True)
    settle(runner)


@pytest.fixture
def session():
    with ScreenSession(Config().replace({"host": {"response_timeout": 0.2}})) as s:
        yield s


# -- the view model -----------------------------------------------------------------
def test_idle_view_is_the_lcd_the_keypad_and_an_empty_roll(session):
    view = session.view()
    assert view.display[0] == "DISPLAY 4x20"
    assert view.display[1] == "+" + "-" * 20 + "+"
    assert "|READY               |" in view.display
    assert view.roll == ()
    assert view.status == "IDLE | link not used yet | reversals 0 advices 0 | host approve | alert: -"


def test_after_a_sale_the_panels_show_the_approved_screen_and_the_receipts(session):
    sell(session)
    view = build_view(session.runner, session.host_mode)
    assert any(line.startswith("APPROVED / CNY 12.50 / AUTH ") for line in view.earlier)
    assert "|READY               |" in view.display  # the LCD itself is back at rest
    text = "\n".join(view.roll)
    assert text.index("MERCHANT COPY") < text.index("CARDHOLDER COPY")  # newest at the bottom
    assert "*** CARDHOLDER COPY ***" in view.roll[-2]
    assert "AMOUNT:                CNY 12.50" in view.roll
    assert "| link up |" in view.status
    assert session.runner.store.journal()[-1].state is JournalState.APPROVED


def test_status_counts_a_queued_reversal_after_a_host_timeout(session):
    session.set_host(HostMode.SILENT)
    sell(session)
    view = session.view()
    assert "| reversals 1 advices 0 |" in view.status
    assert "| host silent |" in view.status
    assert "| alert: reversal.pending " in view.status
    assert any("NO ANSWER FROM HOST" in line for line in view.earlier)
    assert view.roll == ()


@pytest.mark.parametrize(
    "mode, shown, outcome",
    [
        (HostMode.APPROVE, "APPROVED / CNY 12.50", JournalState.APPROVED),
        (HostMode.DECLINE_51, "DECLINED CNY 12.50 / 51 ", JournalState.DECLINED),
        (HostMode.LINK_DOWN, "HOST UNAVAILABLE", JournalState.DECLINED),
    ],
)
def test_host_modes_change_what_the_host_does(session, mode, shown, outcome):
    session.set_host(mode)
    sell(session)
    view = session.view()
    lines = [" / ".join(line.strip("|").rstrip() for line in view.display[2:-1] if line.strip("| "))] + list(view.earlier)
    assert any(line.startswith(shown) for line in lines), lines
    assert session.runner.store.journal()[-1].state is outcome
    assert f"| host {mode.value} |" in view.status
    assert ("| link down |" in view.status) is (mode is HostMode.LINK_DOWN)


def test_h_cycles_the_host_and_back_to_approve(session):
    assert [session.cycle_host() for _ in HostMode] == [*list(HostMode)[1:], HostMode.APPROVE]
    assert not session.runner.devices.link.down and len(session.host.rules) == 0
    sell(session)
    assert session.runner.store.journal()[-1].state is JournalState.APPROVED


def test_pin_state_shows_asterisks_only(session):
    runner = session.runner
    for key in "1250#":
        session.press(key)  # the keys as the UI presses them, one at a time
        runner.drain()
    session.swipe("visa")
    runner.drain()
    assert runner.core.state is State.PIN
    for digit in "975":
        session.press(digit)
        runner.drain()
    view = session.view()
    assert view.display[-3] == "|ENTER PIN: ***      |" and view.display[-2] == "|#=OK  X=CANCEL      |"
    assert "PIN ENTRY" in view.keypad[0]
    assert "975" not in panels(view)
    session.press("3")
    session.press("#")
    settle(runner)
    assert "9753" not in panels(session.view())
    assert runner.store.journal()[-1].state is JournalState.APPROVED


def test_a_transfer_s_account_is_keyed_on_the_pad_and_never_shown(session):
    runner = session.runner
    for key in "F05" + "5000#":
        session.press(key)
        runner.drain()
    session.swipe("unionpay_debit")
    runner.drain()
    assert runner.core.state is State.ACCOUNT
    account = "6228480402564890018"
    for digit in account[:6]:
        session.press(digit)
        runner.drain()
    view = session.view()
    assert "ACCOUNT ENTRY" in view.keypad[0] and account[:6] not in panels(view)
    for key in account[6:] + "#" + account + "#":
        session.press(key)
        runner.drain()
    assert runner.core.state is State.PIN  # both keyings agreed: the PIN follows
    for key in "1234#":
        session.press(key)
    settle(runner)
    record = runner.store.journal()[-1]
    assert (record.kind.value, record.state) == ("transfer", JournalState.APPROVED)
    assert account not in panels(session.view()) and account[-4:] in panels(session.view())  # the mask, on paper


def test_digits_typed_in_the_pin_state_are_held_for_the_pin_prompt(session):
    runner = session.runner
    session.press("1250#")
    runner.drain()
    session.swipe("unionpay_debit")
    runner.drain()
    runner.devices.pinpad.cancel_pin_entry()  # the prompt is not open (yet): the PIN must wait for it
    session.press("1234#")
    runner.drain()
    assert runner.devices.pinpad.keys_pending == 5  # not read as amount or menu keys


@pytest.mark.parametrize("card", ["unionpay_debit", "unionpay_full", "visa", "mastercard"])
def test_no_pan_beyond_the_mask_in_any_panel(session, card):
    runner = session.runner
    tc = find_card(card)
    seen = [panels(session.view())]
    for act in (lambda: session.press("1250#"), lambda: session.swipe(card), lambda: session.press("1234#")):
        act()
        runner.drain()
        seen.append(panels(session.view()))
    settle(runner)
    runner.devices.pinpad.press("1250#")
    runner.devices.reader.swipe_damaged("bad_luhn", card=card)  # a PAN the parser refuses
    runner.drain()
    seen.append(panels(session.view()))
    runner.devices.pinpad.press("X")
    settle(runner)
    text = "\n".join(seen)
    assert tc.pan[-4:] in text  # the mask is there ...
    assert tc.pan[:7] not in text  # ... and never more than the first 6
    assert tc.track2.split("=")[1] not in text
    assert tc.pan not in text


def test_the_wait_for_a_key_never_passes_the_runners_next_wakeup(session):
    assert session.wait_seconds() <= MAX_WAIT
    session.set_host(HostMode.SILENT)
    runner = session.runner
    runner.devices.pinpad.press("1250#")
    runner.devices.reader.swipe_card("unionpay_debit")
    runner.devices.pinpad.press("1234#", hold_for_pin=True)
    assert runner.run_until(lambda: runner.core.state is State.AUTHORISING, WAIT)
    assert session.wait_seconds() <= 0.2  # the response timer (host.response_timeout), not a second
    time.sleep(session.wait_seconds())
    runner.drain()  # the timer fires with nobody typing: the sale is reversed
    assert runner.core.state is not State.AUTHORISING
    assert len(runner.core.reversals) == 1


@pytest.mark.parametrize(
    "key, pad",
    [(ord("0"), "0"), (ord("9"), "9"), (10, "#"), (13, "#"), (curses.KEY_ENTER, "#"), (127, "*"), (8, "*"),
     (curses.KEY_BACKSPACE, "*"), (27, "X"), (ord("x"), "X"), (ord("f"), "F"), (ord("s"), None), (ord("q"), None)],
)
def test_keyboard_keys_map_to_pin_pad_keys(key, pad):
    assert pad_key(key) == pad


# -- the real thing on a pseudo-terminal ------------------------------------------------------
ROWS, COLS = 44, 100


class Tty:
    """``posterm screen`` on the slave side of a pseudo-terminal; the test types on the master."""

    def __init__(self, cmd: list[str], env: dict) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm"},
                                     start_new_session=True)
        os.close(slave)
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def read_until(self, *wanted: str) -> None:
        end = time.monotonic() + WAIT
        while not all(w in self.text() for w in wanted):
            left = end - time.monotonic()
            assert left > 0, f"never saw {wanted}; the screen:\n{self.text()}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # the child closed the slave: nothing more will come
                    data = b""
                assert data, f"posterm screen ended before showing {wanted}:\n{bytes(self.raw[-2000:])!r}"
                self.raw += data
                self.stream.feed(data)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self) -> int:
        try:
            code = self.proc.wait(WAIT)
        finally:
            while True:  # drain what was written before exit
                ready, _, _ = select.select([self.master], [], [], 0)
                try:
                    data = os.read(self.master, 65536) if ready else b""
                except OSError:
                    data = b""
                if not data:
                    break
                self.raw += data
            os.close(self.master)
        return code


def test_a_sale_at_the_keyboard_on_a_real_pseudo_terminal(posterm_cmd, clean_env, tmp_path):
    data = tmp_path / "data"
    tty = Tty(posterm_cmd + ["screen", "--data-dir", str(data)], clean_env)
    try:
        tty.read_until("|READY", "PRINTER ROLL")
        tty.type(b"1250\r")
        tty.read_until("|SWIPE CARD")
        tty.type(b"s")
        tty.read_until("SWIPE A TEST CARD")
        tty.type(b"\r")  # the first card: unionpay_debit
        tty.read_until("|ENTER PIN:")
        tty.type(b"1234\r")
        tty.read_until("APPROVED / CNY 12.50", "*** CARDHOLDER COPY ***", "| reversals 0 advices 0 |")
        tty.type(b"q")
    except BaseException:
        tty.proc.kill()
        tty.finish()
        raise
    assert tty.finish() == 0
    out = bytes(tty.raw)
    assert b"Traceback" not in out and b"posterm: " not in out
    assert out.rstrip().endswith(b"\x1b>") or b"\x1b[?1049l" in out  # the terminal's own screen restored
    store = Store.open(data)
    try:
        (record,) = store.journal()
    finally:
        store.close()
    assert record.state is JournalState.APPROVED and record.amount == 1250


def test_stdout_not_a_terminal_is_refused_with_a_code(posterm_cmd, clean_env):
    master, slave = os.openpty()  # standard input is a terminal; standard output is a pipe
    try:
        out = subprocess.run(posterm_cmd + ["screen"], stdin=slave, capture_output=True, text=True, env=clean_env,
                             timeout=WAIT, check=False)
    finally:
        os.close(slave)
        os.close(master)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "posterm: error [screen.no_tty]: posterm screen needs a terminal on standard input and output"
    ]
    assert out.stdout == ""


def test_a_real_terminals_data_directory_is_refused_and_left_alone(tmp_path):
    """Screen loads lab keys and clears tamper records: never in a directory it did not make."""
    from crypto.provision import provision
    from crypto.tamper import tamper_status, zeroize
    from firmware.errors import ConfigError
    from firmware.screen import ScreenSession

    real = tmp_path / "real"
    provision(real)  # a terminal's own keys, no lab keys
    zeroize(real, reason="case opened", source="switch")
    with pytest.raises(ConfigError) as e:
        ScreenSession(data_dir=real).start()
    assert e.value.code == "screen.not_lab_dir"
    assert tamper_status(real) is not None  # still tampered


def test_a_new_directory_is_made_a_lab_directory_and_can_be_used_again(tmp_path):
    from firmware.screen import LAB_MARK, ScreenSession

    lab = tmp_path / "lab"
    for _ in range(2):
        session = ScreenSession(data_dir=lab).start()
        session.close()
    assert (lab / LAB_MARK).exists()


def test_posterm_screen_with_an_unusable_data_dir_prints_no_traceback(posterm_cmd, clean_env, tmp_path):
    """A failure before the screen's log is open is one line naming it, not the traceback Python's
    last-resort handler would print over the operator's terminal."""
    import os
    import pty
    import select

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    pid, fd = pty.fork()
    if pid == 0:  # the child: posterm screen on a real terminal
        os.execve(posterm_cmd[0], [*posterm_cmd, "screen", "--data-dir", str(blocker / "sub")], clean_env)
    out = b""
    while select.select([fd], [], [], 30)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    assert "posterm: error [os.enotdir]" in text, text
    assert "Traceback" not in text, text
