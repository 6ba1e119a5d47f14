"""The Z protocol PIN pad: the real driver and real pyserial against a PIN pad simulator on a real pty."""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Callable, Iterator

import pytest

from crypto.des import TdesEcb
from crypto.keys import KeyUsage
from crypto.pinblock import decrypt_iso0
from crypto.provision import lab_key
from crypto.secrets import Pan
from firmware.errors import ConfigError, PinPadError
from hal.base import DeviceContext
from hal.pinpad import Key, KeyPress, PinBypassed, PinCancelled, PinEntered
from hal.pinpad.ptysim import PtyZPinPadSim
from hal.pinpad.zpad import REARM_BACKOFF, ZPinPad
from hal.registry import make_device, open_device

PAN = "6228480402564890018"  # 19 digits: the pad is sent only the 13 on the right
PIN = "1234"
FAST = "response_timeout=0.3"
WAIT = 5.0  # the longest any step may wait; a bound, not a speed requirement


def pad_context() -> DeviceContext:
    """The lab PIN key encrypted under the lab TMK, as build_runner provides it."""
    cryptogram = TdesEcb(lab_key(KeyUsage.TMK).reveal()).encrypt(lab_key(KeyUsage.PIN).reveal())
    return DeviceContext(pin_key_for_pad=lambda: cryptogram)


@pytest.fixture
def sim() -> Iterator[PtyZPinPadSim]:
    with PtyZPinPadSim() as s:
        yield s


@pytest.fixture
def connect(sim) -> Iterator[Callable[..., ZPinPad]]:
    """Open a driver on the simulator's port; every driver opened is closed before the simulator goes."""
    pads: list[ZPinPad] = []

    def open_pad(options: str = FAST, context: DeviceContext | None = None) -> ZPinPad:
        pad = open_device("pinpad", f"{sim.url}?{options}", context or pad_context())
        pads.append(pad)
        return pad

    yield open_pad
    for pad in pads:
        pad.close()


def wait_events(pad: ZPinPad, count: int = 1) -> list:
    """Wait on the port as the runner does (select on fileno) and poll until ``count`` events."""
    got: list = []
    give_up = time.monotonic() + WAIT
    while len(got) < count:
        assert time.monotonic() < give_up, f"only {got} arrived"
        deadline = pad.next_deadline()
        select.select([pad], [], [], WAIT if deadline is None else max(0.0, deadline - time.monotonic()))
        got += pad.poll()
    return got


def pin_block_of(events) -> bytes:
    (event,) = events
    assert isinstance(event, PinEntered)
    return decrypt_iso0(event.block, PAN, lab_key(KeyUsage.PIN))


# -- the cashier's keypad ----------------------------------------------------------------------
def test_opening_selects_the_key_slot_shows_the_idle_text_and_arms_a_key_read(sim, connect):
    sim.keep_messages()
    connect(FAST + "&idle_text=HELLO")
    assert sim.idents == ["08", "Z2", "Z42"]
    assert sim.messages[0] == b"080" and sim.display == "HELLO"


def test_keys_typed_on_the_pad_reach_the_port(sim, connect):
    pad = connect()
    sim.press("1250#")
    assert wait_events(pad, 5) == [KeyPress(Key(c)) for c in "1250#"]
    sim.press("*XF")  # CLEAR, CANCEL, F1: the pad's codes / * A become the port's * X F
    assert wait_events(pad, 2) == [KeyPress(Key.CLEAR), KeyPress(Key.CANCEL)]
    assert wait_events(pad, 1) == [KeyPress(Key.FUNCTION)]
    assert pad.poll() == [] and pad.next_deadline() is None  # nothing waiting, a key read armed
    assert sim.idents.count("Z42") == 9 and sim.mode == "key read"  # one key read per key, and one now


def test_an_expired_key_read_is_armed_again(sim, connect):
    pad = connect()
    sim.expire_key_read()
    sim.wait_until(lambda s: s.mode == "idle")
    assert wait_events_or_none(pad) == []
    sim.wait_until(lambda s: s.idents.count("Z42") == 2)
    sim.press("7")
    assert wait_events(pad) == [KeyPress(Key.D7)]


def wait_events_or_none(pad) -> list:
    """One wait as the runner does it, then a poll: events only if they were already on their way."""
    deadline = pad.next_deadline()
    select.select([pad], [], [], 0.2 if deadline is None else max(0.0, deadline - time.monotonic()))
    return pad.poll()


def test_show_puts_text_on_the_pad(sim, connect):
    pad = connect()
    pad.show("INSERT CARD")
    assert sim.display == "INSERT CARD"
    assert sim.idents[-3:] == ["72", "Z2", "Z42"]  # the key read is aborted, then armed again


# -- PIN entry ----------------------------------------------------------------------------------
def test_a_pin_typed_on_the_pad_comes_back_as_a_block_under_the_working_key(sim, connect):
    pad = connect()
    sim.keep_messages()  # the Z62 whole, account field and all: this test's explicit choice
    pad.begin_pin_entry(Pan(PAN))
    assert pad.in_pin_entry and sim.idents[-2:] == ["72", "Z62"]
    (request,) = sim.pin_requests
    assert (request.account_digits, request.min_len, request.max_len, request.allow_null) == (13, 4, 12, False)
    assert PAN[-13:].encode() in sim.messages[-1] and PAN.encode() not in sim.messages[-1]
    sim.enter_pin(PIN)
    assert pin_block_of(wait_events(pad)) == PIN.encode()
    assert not pad.in_pin_entry
    wait_events_or_none(pad)
    assert sim.idents[-1] == "Z42"  # back to the cashier's keypad


def test_a_pin_typed_before_the_request_is_used_by_it(sim, connect):
    pad = connect("response_timeout=0.3&pin_min=5&pin_max=6&pin_timeout=90")
    sim.enter_pin("54321")
    pad.begin_pin_entry(Pan(PAN))
    assert pin_block_of(wait_events(pad)) == b"54321"
    assert sim.pin_requests[0].min_len == 5 and sim.pin_requests[0].timeout_digit == "3"


@pytest.mark.parametrize(
    "customer, allow_bypass, expected",
    [("cancel", False, PinCancelled()), ("let_time_out", False, PinCancelled()), ("bypass", True, PinBypassed())],
)
def test_the_prompt_ends_as_the_customer_chose(sim, connect, customer, allow_bypass, expected):
    pad = connect()
    pad.begin_pin_entry(Pan(PAN), allow_bypass=allow_bypass)
    assert sim.pin_requests[0].allow_null is allow_bypass
    getattr(sim, customer)()
    assert wait_events(pad) == [expected]
    assert not pad.in_pin_entry


def test_a_bypass_where_none_is_allowed_is_refused_by_the_pad(sim, connect):
    pad = connect()
    pad.begin_pin_entry(Pan(PAN), allow_bypass=False)
    sim.bypass()
    sim.wait_until(lambda s: s.ignored_bypasses == 1)
    assert wait_events_or_none(pad) == [] and pad.in_pin_entry
    sim.enter_pin(PIN)
    assert pin_block_of(wait_events(pad)) == PIN.encode()


def test_the_terminal_can_end_the_prompt(sim, connect):
    pad = connect()
    pad.begin_pin_entry(Pan(PAN))
    pad.cancel_pin_entry()
    assert not pad.in_pin_entry and sim.mode == "idle" and sim.idents[-1] == "72"
    sim.press("3")
    assert wait_events(pad) == [KeyPress(Key.D3)]


def test_the_master_key_slot_option_picks_the_key_the_pad_decrypts_with():
    with PtyZPinPadSim(slot=3) as sim:
        sim.keep_messages()
        wrong = open_device("pinpad", f"{sim.url}?{FAST}", pad_context())  # slot 0: empty on this pad
        try:
            with pytest.raises(PinPadError) as e:
                wrong.begin_pin_entry(Pan(PAN))
            assert e.value.code == "pinpad.refused"
        finally:
            wrong.close()
        pad = open_device("pinpad", f"{sim.url}?{FAST}&slot=3", pad_context())
        try:
            assert sim.messages[-3] == b"083"
            pad.begin_pin_entry(Pan(PAN))
            sim.enter_pin(PIN)
            assert pin_block_of(wait_events(pad)) == PIN.encode()
        finally:
            pad.close()


def test_without_a_pin_key_no_request_is_sent(sim, connect):
    pad = connect(context=DeviceContext(pin_key_for_pad=lambda: None))
    with pytest.raises(PinPadError) as e:
        pad.begin_pin_entry(Pan(PAN))
    assert e.value.code == "pinpad.no_key" and "Z62" not in sim.idents


# -- the link: retries and faults ----------------------------------------------------------------
def test_a_frame_with_a_bad_check_byte_is_sent_again(sim, connect):
    pad = connect()
    sim.corrupt_next(2)
    sim.press("5")
    assert wait_events(pad) == [KeyPress(Key.D5)]
    assert sim.naks_received == 2


def test_a_pin_response_with_a_bad_check_byte_is_sent_again(sim, connect):
    pad = connect()
    pad.begin_pin_entry(Pan(PAN))
    sim.corrupt_next()
    sim.enter_pin(PIN)
    assert pin_block_of(wait_events(pad)) == PIN.encode()
    assert sim.naks_received == 1


def test_three_bad_frames_are_a_protocol_error(sim, connect):
    pad = connect()
    pad.begin_pin_entry(Pan(PAN))
    sim.corrupt_next(3)
    sim.enter_pin(PIN)
    with pytest.raises(PinPadError) as e:
        wait_events(pad)
    assert e.value.code == "pinpad.protocol" and not pad.in_pin_entry
    sim.wait_until(lambda s: s.naks_received == 3)


def test_three_naks_are_a_protocol_error(sim, connect):
    pad = connect()
    sim.nak_everything()
    with pytest.raises(PinPadError) as e:
        pad.begin_pin_entry(Pan(PAN))
    assert e.value.code == "pinpad.protocol" and not pad.in_pin_entry
    assert sim.naks_sent == 3


# AU24: a pad that answers after the driver gave up on a frame (pinpad.silent) left that answer in the port, and the
# next frame took it for its own. A late ACK passed a PIN request the pad refused (the terminal waited for a PIN the
# pad never asked for, then read the pad's refusal as the customer cancelling); a late EOT refused one the pad took
# (the terminal reported a PIN pad fault while the pad asked the customer for a PIN). An answer waiting before a
# frame is written answers an earlier one: it is dropped.
def answer_show_late(sim, pad, *, refused: bool) -> None:
    """``show`` gives up on its Z2 (pinpad.silent); then the pad's answer to it, ACK or EOT, reaches the port."""
    if refused:
        sim.refuse_next("Z2")
    sim.answer_late("Z2")
    with pytest.raises(PinPadError) as e:
        pad.show("INSERT CARD")
    assert e.value.code == "pinpad.silent"
    sim.answer_now()
    assert select.select([pad], [], [], WAIT)[0]  # the late answer waits in the driver's port


def test_a_late_ack_does_not_pass_a_pin_request_the_pad_refused(sim, connect, caplog):
    caplog.set_level(logging.DEBUG, logger="hal.pinpad.zpad")
    pad = connect()
    answer_show_late(sim, pad, refused=False)
    sim.refuse_next("Z62")
    with pytest.raises(PinPadError) as e:
        pad.begin_pin_entry(Pan(PAN))
    assert e.value.code == "pinpad.refused" and not pad.in_pin_entry
    assert "dropped a late ACK" in caplog.text


def test_a_late_eot_does_not_refuse_a_pin_request_the_pad_took(sim, connect):
    pad = connect()
    answer_show_late(sim, pad, refused=True)
    pad.begin_pin_entry(Pan(PAN))
    assert pad.in_pin_entry and sim.mode == "PIN entry"
    sim.enter_pin(PIN)
    assert pin_block_of(wait_events(pad)) == PIN.encode()


def test_after_a_pin_request_left_unanswered_the_next_message_first_ends_the_prompt_the_pad_may_hold(sim, connect):
    """The pad took the Z62 and prompts the customer, but its ACK never came (pinpad.silent): the driver
    thinks no prompt is open. Its next message goes after an abort (72), not to a pad whose prompt
    refuses everything else until the customer or its timeout ends it."""
    pad = connect()
    sim.answer_late("Z62")
    with pytest.raises(PinPadError) as e:
        pad.begin_pin_entry(Pan(PAN))
    assert e.value.code == "pinpad.silent" and not pad.in_pin_entry and sim.mode == "PIN entry"
    pad.show("INSERT CARD")  # refused by the prompt (pinpad.refused) before the abort
    assert sim.mode == "key read" and sim.display == "INSERT CARD"
    pad.show("THANK YOU")  # the prompt's abort went once; this 72 ends the key read the first show armed
    after = sim.idents[len(sim.idents) - 1 - sim.idents[::-1].index("Z62"):]
    assert after == ["Z62", "72", "Z2", "Z42", "72", "Z2", "Z42"] and sim.display == "THANK YOU"


@pytest.mark.parametrize("fault, code", [("silent", "pinpad.silent"), ("refuse_next", "pinpad.refused")])
def test_a_pad_that_does_not_take_the_pin_request(sim, connect, fault, code):
    pad = connect()
    getattr(sim, fault)(*(["Z62"] if fault == "refuse_next" else []))
    with pytest.raises(PinPadError) as e:
        pad.begin_pin_entry(Pan(PAN))
    assert e.value.code == code and not pad.in_pin_entry


@pytest.mark.parametrize(
    "fault, code", [("silent", "pinpad.silent"), ("nak_everything", "pinpad.protocol"), ("refuse_next", "pinpad.refused")]
)
def test_a_pad_that_fails_at_open(sim, fault, code):
    getattr(sim, fault)()
    pad = make_device("pinpad", f"{sim.url}?{FAST}", pad_context())
    with pytest.raises(PinPadError) as e:
        pad.open()
    assert e.value.code == code and not pad.is_open and pad.fileno() is None


def test_a_missing_port_cannot_be_opened(tmp_path):
    with pytest.raises(PinPadError) as e:
        open_device("pinpad", f"serial://{tmp_path}/ttyNONE", pad_context())
    assert e.value.code == "pinpad.open_failed"


@pytest.mark.parametrize(
    "query, code",
    [("slot=10", "config.bad_option"), ("pin_min=8&pin_max=6", "config.bad_option"), ("key_timeout=0", "config.bad_option"),
     ("parity=E", "config.unknown_option")],
)
def test_bad_options_are_refused(query, code):
    with pytest.raises(ConfigError) as e:
        make_device("pinpad", f"serial:///dev/ttyUSB2?{query}")
    assert e.value.code == code


# -- secrets -------------------------------------------------------------------------------------
def test_no_pin_digit_or_key_reaches_a_log_or_a_repr(sim, connect, caplog):
    caplog.set_level(logging.DEBUG)
    cryptogram = TdesEcb(lab_key(KeyUsage.TMK).reveal()).encrypt(lab_key(KeyUsage.PIN).reveal())
    pad = connect()
    pad.begin_pin_entry(Pan(PAN))
    sim.enter_pin("97531")
    events = wait_events(pad)
    block = events[0].block.reveal()
    texts = [caplog.text, repr(pad), repr(sim), repr(events), repr(pad.context), str(events[0].block)]
    secrets = ["97531", PAN, PAN[-13:], cryptogram.hex().upper(), block.hex().upper(), lab_key(KeyUsage.PIN).reveal().hex().upper(),
               lab_key(KeyUsage.TMK).reveal().hex().upper()]
    for text in texts:
        for secret in secrets:
            assert secret not in text.upper()
    assert "Z62" in caplog.text or "PIN prompt" in caplog.text


# -- a whole sale through the runner ---------------------------------------------------------------
@pytest.mark.parametrize("pin, outcome", [(PIN, "approved"), ("9999", "declined")])
def test_a_sale_with_the_pin_taken_on_the_serial_pad(tmp_path, caplog, pin, outcome):
    """The host knows the card's PIN is 1234: it approves only if the pad's block carries it."""
    from crypto.provision import provision
    from firmware.app import Overrides, build_runner
    from firmware.config import Config
    from firmware.core.model import State
    from firmware.hostsim.ledger import Ledger
    from firmware.hostsim.processor import HostProcessor
    from firmware.hostsim.rules import Rule, RuleBook

    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    provision(data, lab=True)
    config = Config().replace({"storage": {"data_dir": str(data)}})
    ledger = Ledger(":memory:")
    host = HostProcessor(config.host.profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), ledger=ledger,
                         rules=RuleBook([Rule(pin=PIN)]))
    with PtyZPinPadSim() as sim:
        runner = build_runner(
            config.replace({"devices": {"pinpad": f"{sim.url}?{FAST}"}}), overrides=Overrides(host=host)
        )
        try:
            runner.boot()
            assert isinstance(runner.devices.pinpad, ZPinPad)
            sim.press("1250#")  # the cashier keys the amount on the pad
            runner.devices.reader.swipe_card("unionpay_debit")
            sim.enter_pin(pin)  # the customer, at the PIN request
            assert runner.run_until(lambda: runner.core.state is State.IDLE and runner.store.journal(), 10)
            (record,) = runner.store.journal()
            assert record.state.value == outcome and record.amount == 1250
            (posting,) = ledger.postings()
            assert posting["status"] == outcome
            assert len(sim.pin_requests) == 1 and sim.pin_requests[0].account_digits == 13
        finally:
            runner.close()
    assert sim.idents[-1] == "72"  # closing left the pad idle
    assert pin not in caplog.text and "C1D0F8FB" not in caplog.text.upper()


# Doubt from AU16 (brief FX14): after the pad failed to take the key read (Z42), the driver arms it again only
# after REARM_BACKOFF (5 s). Is a pad then unplugged and plugged back deaf for those 5 s? No: the port opened
# again runs the driver's set-up (SerialLine's on_reopen), which arms a key read at once whatever the back-off
# says. Replugged at the same path (a symlink, as udev gives /dev/ttyUSB2); the bound is half the back-off: the
# keys come back through the set-up's key read, not the back-off's.

def test_a_pad_plugged_back_after_a_refused_key_read_takes_keys_at_once(tmp_path):
    sims = [PtyZPinPadSim()]
    link = tmp_path / "pinpad"
    os.symlink(sims[0].port, link)
    pad = open_device("pinpad", f"serial://{link}?response_timeout=0.3&reopen=0.2", pad_context())
    try:
        old = sims[0]
        old.refuse_next("Z42")
        old.expire_key_read()  # the pad ends its key read; the driver's next one is refused
        old.wait_until(lambda s: s.mode == "idle")
        give_up = time.monotonic() + 5
        with pytest.raises(PinPadError) as err:
            while time.monotonic() < give_up:
                pad.poll()
                time.sleep(0.01)
        assert err.value.code == "pinpad.refused"
        refused_at = time.monotonic()  # the key read is armed again only after REARM_BACKOFF from here ...
        old.close()  # ... unless the pad is unplugged and plugged back
        with pytest.raises(PinPadError) as err:
            pad.poll()
        assert err.value.code == "pinpad.disconnected"
        new = PtyZPinPadSim()
        sims.append(new)
        os.symlink(new.port, tmp_path / "pinpad.new")
        os.replace(tmp_path / "pinpad.new", link)
        while True:  # the runner polls a resting device again after its back-off; the port opens every 0.2 s
            try:
                pad.poll()
                break
            except PinPadError as e:
                assert e.code == "pinpad.disconnected" and time.monotonic() < give_up
                time.sleep(0.05)
        assert new.idents == ["08", "Z2", "Z42"] and new.mode == "key read"  # set up, a key read armed at once
        new.press("12#")
        assert wait_events(pad, 3) == [KeyPress(Key.D1), KeyPress(Key.D2), KeyPress(Key.ENTER)]
        waited = time.monotonic() - refused_at
        assert waited < REARM_BACKOFF / 2, f"the keys waited {waited:.2f} s after the refused key read"
    finally:
        pad.close()
        for sim in sims:
            sim.close()
