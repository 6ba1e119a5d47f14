"""The simulated PIN pad as an instrument: key pacing, type-ahead, prompts, faults."""

from __future__ import annotations

import pytest

from crypto.keys import KeyUsage
from crypto.pinblock import decrypt_iso0
from crypto.provision import lab_key
from crypto.secrets import Pan
from firmware.errors import PinPadError, ScenarioError
from hal.pinpad import Key, KeyPress, PinEntered, PinEntryRequest, PinProgress
from hal.registry import open_device

PAN = "4761739001010010"


@pytest.fixture
def pad(lab_context):
    p = open_device("pinpad", "sim://", lab_context)
    yield p
    p.close()


def keys(events):
    return "".join(e.key.value for e in events)


def test_outside_a_prompt_keys_are_key_presses(pad):
    pad.press("1250#")
    assert pad.poll() == [KeyPress(Key(c)) for c in "1250#"]
    pad.press("F")
    assert pad.poll() == [KeyPress(Key.FUNCTION)]
    pad.press("*X")
    assert keys(pad.poll()) == "*X"
    assert pad.poll() == []
    pad.assert_idle()


def test_one_poll_hands_out_keys_up_to_a_state_changing_key(pad):
    pad.press("12#34X5F6")
    assert pad.next_deadline() is not None
    assert [keys(pad.poll()) for _ in range(5)] == ["12#", "34X", "5F", "6", ""]
    assert pad.next_deadline() is None


def test_keys_typed_ahead_are_read_by_the_pin_prompt_that_follows(pad):
    pad.press("1250#9876#")
    assert keys(pad.poll()) == "1250#"  # the amount
    assert pad.next_deadline() is not None  # the rest is waiting
    pad.begin_pin_entry(Pan(PAN))  # the runner reacts before polling again
    events = pad.poll()
    assert decrypt_iso0(events[-1].block, PAN, lab_key(KeyUsage.PIN)) == b"9876"
    pad.assert_idle()


def test_held_keys_wait_for_a_pin_prompt_even_across_polls(pad):
    pad.press("9876#", hold_for_pin=True)
    pad.press("5")  # pressed after: waits behind the held keys
    assert pad.poll() == [] and pad.poll() == []
    assert pad.next_deadline() is None and pad.keys_pending == 6
    pad.begin_pin_entry(Pan(PAN))
    assert pad.next_deadline() is not None
    events = pad.poll()
    assert isinstance(events[-1], PinEntered)
    assert decrypt_iso0(events[-1].block, PAN, lab_key(KeyUsage.PIN)) == b"9876"
    assert pad.poll() == [KeyPress(Key.D5)]


def test_prompts_are_recorded_with_the_pan_masked(pad):
    pad.begin_pin_entry(Pan(PAN), min_len=4, max_len=6, allow_bypass=True)
    pad.cancel_pin_entry()
    pad.begin_pin_entry(Pan(PAN))
    assert pad.prompts == [
        PinEntryRequest("476173******0010", 4, 6, True),
        PinEntryRequest("476173******0010", 4, 12, False),
    ]


def test_assert_idle_names_what_is_left(pad):
    pad.press("12")
    with pytest.raises(AssertionError, match="2 pressed key"):
        pad.assert_idle()
    pad.poll()
    pad.begin_pin_entry(Pan(PAN))
    with pytest.raises(AssertionError, match="PIN prompt is still open"):
        pad.assert_idle()
    pad.cancel_pin_entry()
    pad.assert_idle()


def test_a_silent_pad_refuses_a_prompt_and_holds_its_keys(pad):
    pad.stop_answering()
    with pytest.raises(PinPadError) as info:
        pad.begin_pin_entry(Pan(PAN))
    assert info.value.code == "pinpad.not_responding" and not pad.in_pin_entry and pad.prompts == []
    pad.press("1#")
    assert pad.poll() == [] and pad.next_deadline() is None
    pad.resume()
    assert keys(pad.poll()) == "1#"


def test_pressing_a_key_the_pad_does_not_have_is_a_scenario_error(pad):
    with pytest.raises(ScenarioError) as info:
        pad.press("12a#")
    assert info.value.code == "scenario.bad_key" and "'a'" in info.value.text
    assert pad.keys_pending == 0


def test_progress_events_count_digits(pad):
    pad.begin_pin_entry(Pan(PAN))
    pad.press("1")
    assert pad.poll() == [PinProgress(1)]


def test_key_enum():
    assert Key.from_char("#") is Key.ENTER and Key.from_char("*") is Key.CLEAR
    assert Key.from_char("X") is Key.CANCEL and Key.from_char("F") is Key.FUNCTION
    assert Key.from_char("a") is None and Key.D7.is_digit and not Key.ENTER.is_digit
    assert str(Key.D0) == "0"
