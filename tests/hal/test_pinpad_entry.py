"""Soft PIN entry through the simulated PIN pad: the block is right and the digits never leak."""

from __future__ import annotations

import logging

import pytest

from crypto.keys import KeyUsage
from crypto.pinblock import decrypt_iso0
from crypto.provision import lab_key
from crypto.secrets import Pan, PinBlock, SecretKey
from firmware.errors import ConfigError, PinPadError
from hal.base import DeviceContext
from hal.pinpad import Key, KeyPress, PinBypassed, PinCancelled, PinEntered, PinProgress
from hal.pinpad.entry import PinEntryRequest, SoftPinEntry
from hal.registry import open_device

PAN = "6205500000000000004"  # masked 620550*********0004
PIN = "8317"  # digits that appear nowhere in the masked PAN


@pytest.fixture
def pad(lab_context):
    p = open_device("pinpad", "sim://", lab_context)
    yield p
    p.close()


def pin_of(event: PinEntered, pan: str = PAN) -> str:
    return decrypt_iso0(event.block, pan, lab_key(KeyUsage.PIN)).decode()


def test_a_pin_decrypts_with_the_lab_key_to_what_was_typed(pad):
    pad.begin_pin_entry(Pan(PAN))
    pad.press(PIN + "#")
    events = pad.poll()
    assert events[:4] == [PinProgress(1), PinProgress(2), PinProgress(3), PinProgress(4)]
    assert isinstance(events[4], PinEntered) and len(events) == 5
    assert isinstance(events[4].block, PinBlock) and events[4].block.format == 0
    assert pin_of(events[4]) == PIN
    assert not pad.in_pin_entry
    pad.assert_idle()


def test_the_digits_appear_in_no_event_repr_log_or_prompt(pad, caplog):
    caplog.set_level(logging.DEBUG)
    pad.begin_pin_entry(Pan(PAN))
    pad.press(PIN[:2])
    shown = [repr(e) for e in pad.poll()]
    pad.press("*" + PIN[2:] + "9#")
    events = pad.poll()
    shown += [repr(e) for e in events] + [str(e) for e in events] + [repr(pad), repr(pad.prompts)]
    assert pin_of(events[-1]) == PIN[:1] + PIN[2:] + "9"
    everything = "\n".join(shown) + caplog.text
    for secret in (PIN, PIN[1:], PIN[:1] + PIN[2:] + "9", PAN):
        assert secret not in everything
    assert "620550*********0004" in caplog.text  # what is logged is the masked PAN
    assert all(not isinstance(e, KeyPress) for e in events)


def test_an_entry_in_progress_does_not_show_its_digits(lab_context):
    entry = SoftPinEntry(PinEntryRequest("620550*********0004"), Pan(PAN), lab_key(KeyUsage.PIN))
    for ch in PIN:
        entry.feed(Key(ch))
    assert repr(entry) == "<SoftPinEntry 620550*********0004 4 digits>"
    entry.abandon()
    assert entry.count == 0 and entry.done


def test_clear_removes_the_last_digit(pad):
    pad.begin_pin_entry(Pan(PAN))
    pad.press("12*")
    assert pad.poll() == [PinProgress(1), PinProgress(2), PinProgress(1)]
    pad.press("**3456#")
    events = pad.poll()
    assert events[:2] == [PinProgress(0), PinProgress(0)]
    assert pin_of(events[-1]) == "3456"


def test_cancel_ends_the_prompt_and_later_keys_are_key_presses(pad):
    pad.begin_pin_entry(Pan(PAN))
    pad.press("12X3")
    assert pad.poll() == [PinProgress(1), PinProgress(2), PinCancelled()]
    assert not pad.in_pin_entry
    assert pad.poll() == [KeyPress(Key.D3)]


def test_enter_on_an_empty_pin_bypasses_only_when_allowed(pad):
    pad.begin_pin_entry(Pan(PAN), allow_bypass=True)
    pad.press("#")
    assert pad.poll() == [PinBypassed()]
    pad.begin_pin_entry(Pan(PAN))
    pad.press("#")
    assert pad.poll() == [PinProgress(0)]
    assert pad.in_pin_entry
    pad.cancel_pin_entry()
    assert not pad.in_pin_entry


def test_too_short_is_ignored_and_entry_goes_on(pad):
    pad.begin_pin_entry(Pan(PAN), min_len=6, max_len=6)
    pad.press("12345#")
    assert pad.poll()[-1] == PinProgress(5)
    pad.press("6#")
    events = pad.poll()
    assert events[0] == PinProgress(6) and pin_of(events[1]) == "123456"


def test_digits_beyond_max_len_are_ignored(pad):
    pad.begin_pin_entry(Pan(PAN), max_len=5)
    pad.press("1234567#")
    events = pad.poll()
    assert events[4:7] == [PinProgress(5), PinProgress(5), PinProgress(5)]
    assert pin_of(events[7]) == "12345"


def test_a_twelve_digit_pin(pad):
    pad.begin_pin_entry(Pan(PAN))
    pad.press("123456789012#")
    assert pin_of(pad.poll()[-1]) == "123456789012"


def test_function_key_is_ignored_inside_a_prompt_but_ends_the_poll(pad):
    pad.begin_pin_entry(Pan(PAN))
    pad.press("1F2")
    assert pad.poll() == [PinProgress(1)]
    assert pad.poll() == [PinProgress(2)]


def test_the_pin_key_is_read_at_each_prompt(pad):
    keys = [lab_key(KeyUsage.PIN), SecretKey(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), "pin")]
    pad.context.pin_key = lambda: keys[0]
    for key in list(keys):
        pad.begin_pin_entry(Pan(PAN))
        pad.press("4321#")
        (*_, entered) = pad.poll()
        assert decrypt_iso0(entered.block, PAN, key) == b"4321"
        keys.pop(0)


@pytest.mark.parametrize("context", [DeviceContext(), DeviceContext(pin_key=lambda: None)])
def test_no_pin_key_is_refused_before_the_customer_types(context):
    pad = open_device("pinpad", "sim://", context)
    with pytest.raises(PinPadError) as info:
        pad.begin_pin_entry(Pan(PAN))
    assert info.value.code == "pinpad.no_key" and not pad.in_pin_entry


def test_an_unusable_key_fails_cleanly_and_ends_the_prompt(caplog):
    pad = open_device("pinpad", "sim://", DeviceContext(pin_key=lambda: SecretKey(b"short", "pin")))
    pad.begin_pin_entry(Pan(PAN))
    pad.press(PIN + "#")
    with pytest.raises(PinPadError) as info:
        pad.poll()
    assert info.value.code == "pinpad.encrypt_failed"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert PIN not in str(info.value) and not pad.in_pin_entry and pad.keys_pending == 0


@pytest.mark.parametrize(("min_len", "max_len"), [(3, 12), (4, 13), (8, 6), (0, 0)])
def test_length_limits_are_checked(pad, min_len, max_len):
    with pytest.raises(ConfigError) as info:
        pad.begin_pin_entry(Pan(PAN), min_len=min_len, max_len=max_len)
    assert info.value.code == "config.pin_limits"


def test_a_second_prompt_while_one_is_open_is_refused(pad):
    pad.begin_pin_entry(Pan(PAN))
    with pytest.raises(PinPadError) as info:
        pad.begin_pin_entry(Pan(PAN))
    assert info.value.code == "pinpad.busy"


def test_the_caller_may_wipe_its_pan_during_the_prompt(pad):
    pan = Pan(PAN)
    pad.begin_pin_entry(pan)
    pan.wipe()
    pad.press(PIN + "#")
    assert pin_of(pad.poll()[-1]) == PIN


def test_closing_the_pad_ends_the_prompt_and_forgets_the_keys(lab_context):
    pad = open_device("pinpad", "sim://", lab_context)
    pad.begin_pin_entry(Pan(PAN))
    pad.press("12")
    pad.poll()
    pad.press("34#")
    pad.close()
    assert not pad.in_pin_entry and pad.keys_pending == 0
    with pytest.raises(PinPadError) as info:
        pad.poll()
    assert info.value.code == "pinpad.not_open"
