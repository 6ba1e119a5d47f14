"""The Z PIN pad simulator keeps no card data unless a test asks (FX11's finding).

Before: ``messages`` kept every message whole and without limit, each Z62 with 12 digits of the PAN in its
account field and the encrypted session key. Now it keeps message ids (bounded) and the safe facts of each
PIN request always, and whole messages only after ``keep_messages()``, the last ``limit`` of them.
"""

from __future__ import annotations

import select
import time
from collections import deque
from collections.abc import Iterator

import pytest

import hal.pinpad.ptysim as ptysim
from crypto.des import TdesEcb
from crypto.keys import KeyUsage
from crypto.provision import lab_key
from crypto.secrets import Pan
from hal.base import DeviceContext
from hal.pinpad import PinEntered
from hal.pinpad.ptysim import PtyZPinPadSim
from hal.registry import open_device

PAN = "6228480402564890018"
DIGITS = PAN[-13:-1].encode()  # the 12 PAN digits a Z62's account field carries


def _held_bytes(obj, seen=None) -> Iterator[bytes]:
    """Every bytes-like value reachable from ``obj``'s attributes and containers (the simulator's memory)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, (bytes, bytearray, memoryview)):
        yield bytes(obj)
    elif isinstance(obj, (list, tuple, deque, set, frozenset)):
        for item in obj:
            yield from _held_bytes(item, seen)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _held_bytes(item, seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith(("hal.", "crypto.")):
        yield from _held_bytes(vars(obj), seen)


def _one_pin_entry(sim: PtyZPinPadSim) -> None:
    """The real zpad driver asks for a PIN; the customer types it; the block comes back."""
    cryptogram = TdesEcb(lab_key(KeyUsage.TMK).reveal()).encrypt(lab_key(KeyUsage.PIN).reveal())
    pad = open_device("pinpad", f"{sim.url}?response_timeout=0.3", DeviceContext(pin_key_for_pad=lambda: cryptogram))
    try:
        pad.begin_pin_entry(Pan(PAN))
        sim.enter_pin("1234")
        assert _wait_pin(pad), "no PIN block came back"
    finally:
        pad.close()


def _wait_pin(pad) -> bool:
    """Wait on the port as the runner does (select on fileno), polling until the PIN block arrives."""
    give_up = time.monotonic() + 5
    while time.monotonic() < give_up:
        select.select([pad], [], [], 0.2)
        if any(isinstance(e, PinEntered) for e in pad.poll()):
            return True
    return False


def test_a_pin_entry_leaves_no_pan_digits_in_the_simulator_by_default():
    with PtyZPinPadSim() as sim:
        _one_pin_entry(sim)
        assert "Z62" in sim.idents and sim.pin_requests[0].account_digits == 13
        assert not any(DIGITS in held for held in _held_bytes(sim))
        with pytest.raises(AssertionError, match="keep_messages"):
            sim.messages


def test_whole_messages_are_kept_only_when_asked_and_only_the_last_ones():
    with PtyZPinPadSim() as sim:
        sim.keep_messages(limit=3)
        _one_pin_entry(sim)
        messages = sim.messages
        assert len(messages) == 3 and len(sim.idents) > 3
        assert [m[:2] for m in messages] == [i.encode()[:2] for i in sim.idents[-3:]]


def test_message_ids_are_bounded(monkeypatch):
    monkeypatch.setattr(ptysim, "IDENTS_KEPT", 4)
    with PtyZPinPadSim() as sim:
        _one_pin_entry(sim)
        assert len(sim.idents) == 4
