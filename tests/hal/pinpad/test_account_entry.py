"""Account entry on the PIN pad (a transfer's destination): keyed twice, checked, never shown or kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.pinpad import Key
from hal.pinpad.account import (
    AccountCancelled,
    AccountEntered,
    AccountEntry,
    AccountProgress,
    AccountRejected,
    card_shaped,
    luhn_ok,
)
from hal.pinpad.sim import SimPinPad

TO = "6228480402564890018"  # card-shaped, Luhn-valid


def feed(entry: AccountEntry, keys: str) -> list:
    return [e for e in (entry.feed(Key.from_char(c)) for c in keys) if e is not None]


def test_keyed_twice_gives_the_account_and_only_counts_before():
    entry = AccountEntry()
    events = feed(entry, f"{TO}#{TO}#")
    *progress, last = events
    assert isinstance(last, AccountEntered) and last.account.reveal_str() == TO
    assert all(isinstance(e, AccountProgress) for e in progress)
    assert progress[len(TO)] == AccountProgress(0, True)  # ENTER after the first keying: key it again
    assert entry.done and TO not in repr(events) and TO not in repr(entry)


@pytest.mark.parametrize("first, again, code", [
    ("12345678901", None, "transfer.account_length"),  # 11 digits
    ("6228480402564890019", None, "transfer.account_check_digit"),  # card-shaped, Luhn wrong
    (TO, "6228480402564890026", "transfer.account_mismatch"),  # the second keying differs
    (TO, TO[:-1], "transfer.account_mismatch"),
])
def test_refusals_name_their_code_and_start_again(first, again, code):
    entry = AccountEntry()
    keys = f"{first}#" + (f"{again}#" if again is not None else "")
    rejected = [e for e in feed(entry, keys) if isinstance(e, AccountRejected)]
    assert [r.code for r in rejected] == [code] and not entry.done
    assert first not in repr(rejected)
    last = feed(entry, f"{TO}#{TO}#")[-1]  # the entry goes on from its first keying
    assert isinstance(last, AccountEntered) and last.account.reveal_str() == TO


def test_a_bank_account_number_is_not_luhn_checked():
    number = "110123456780"  # 12 digits: not card-shaped (and Luhn-invalid)
    assert not card_shaped(number.encode()) and not luhn_ok(number.encode())
    last = feed(AccountEntry(), f"{number}#{number}#")[-1]
    assert isinstance(last, AccountEntered)


def test_clear_cancel_and_function():
    entry = AccountEntry()
    assert feed(entry, "12*") == [AccountProgress(1), AccountProgress(2), AccountProgress(1)]
    assert feed(entry, "F") == []
    assert feed(entry, "X") == [AccountCancelled()] and entry.done


@settings(max_examples=80, deadline=None)
@given(st.text("0123456789", min_size=0, max_size=22), st.text("0123456789", min_size=0, max_size=22))
def test_entered_only_when_valid_and_keyed_the_same_twice(first, again):
    events = feed(AccountEntry(), f"{first}#{again}#")
    first, again = first[:19], again[:19]  # keys past 19 digits are ignored, as a PIN's past 12
    entered = [e for e in events if isinstance(e, AccountEntered)]
    valid = 12 <= len(first) <= 19 and (not card_shaped(first.encode()) or luhn_ok(first.encode()))
    assert bool(entered) == (valid and first == again)
    if entered:
        assert entered[0].account.reveal_str() == first


def test_the_sim_pad_collects_it_between_swipe_and_pin(sim_ctx=None):
    from hal.base import DeviceContext

    pad = SimPinPad("sim://", DeviceContext(None, None, None))
    pad.open()
    pad.press(f"{TO}#{TO}#1234#", hold_for_pin=True)
    assert pad.poll() == []  # held until a prompt opens
    pad.begin_account_entry()
    events = pad.poll() + pad.poll()
    assert isinstance(events[-1], AccountEntered) and not pad.in_pin_entry
    assert pad.keys_ahead == 5  # the PIN's keys wait for the PIN prompt, never read as plain keys
    pad.cancel_pin_entry()
    pad.close()
