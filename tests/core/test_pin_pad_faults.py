"""The core and a PIN pad that cannot encrypt (audit AU21 M3, ``firmware/core/device_faults.py``).

The sale ends naming the fault (never the cardholder's CANCELLED), nothing journalled or sent; an exhausted
DUKPT key refuses every transaction that takes a PIN at READY, as a faulted printer does; a DUKPT key running
low is alerted once and stays on the idle status line.
"""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.events import PinCancelled, PinKeyLow, PinPadFailed, PrinterFault, TimerExpired
from firmware.core.model import State, Timer

from tests.core.helpers import to_idle, to_pin


def shown(actions) -> list[str]:
    return [line.strip() for a in actions if isinstance(a, A.Show) for line in a.lines]


@pytest.mark.parametrize(
    ("code", "lines"),
    [
        ("pinpad.dukpt.exhausted", ["PIN KEY EXHAUSTED", "SALE CANCELLED", "CALL SUPPORT"]),
        ("storage.dukpt_state", ["PIN PAD FAULT", "SALE CANCELLED", "STORAGE DUKPT STATE"]),
        ("pinpad.encrypt_failed", ["PIN PAD FAULT", "SALE CANCELLED", "ENCRYPT FAILED"]),  # from the code, whole
    ],
)
def test_a_pin_the_pad_cannot_encrypt_ends_the_sale_naming_the_fault_not_as_a_cancel(code, lines):
    d = to_pin()
    txn = d.t.sale.txn_no
    out = d.feed(PinPadFailed(code, "the PIN could not be encrypted"))
    assert d.state is State.IDLE and d.t.sale is None
    assert shown(out)[:3] == lines and "CANCELLED" not in shown(out)
    assert [a.txn_no for a in out if isinstance(a, A.WipeCard)] == [txn]
    assert not d.all(A.OpenRequest) and not d.all(A.RecordOutcome)  # nothing journalled or sent
    assert any(isinstance(a, A.StartTimer) and a.timer is Timer.MESSAGE for a in out)  # held, then READY


def test_the_cardholders_cancel_is_still_cancelled():
    d = to_pin()
    assert shown(d.feed(PinCancelled()))[0] == "CANCELLED"


def test_an_exhausted_pin_key_refuses_every_pin_transaction_at_ready_and_says_so_on_the_status_line():
    d = to_pin()
    d.feed(PinPadFailed("pinpad.dukpt.exhausted", "PIN could not be encrypted: the DUKPT key is exhausted"))
    out = d.feed(TimerExpired(Timer.MESSAGE))
    assert shown(out)[-1] == "PIN KEY EXHAUSTED"
    enabled = len(d.all(A.EnableReader))  # the failed sale's card wait
    out = d.keys("1")
    assert d.state is State.IDLE and d.t.sale is None
    assert shown(out)[:3] == ["PIN KEY EXHAUSTED", "NO CARD SALES", "CALL SUPPORT"]
    assert d.last(A.Alert).code == "pinpad.dukpt.exhausted"
    d.keys("F01")  # a void from the menu
    d.keys("F7")  # a balance inquiry takes a PIN too
    assert d.state is State.IDLE and len(d.all(A.EnableReader)) == enabled
    assert [a.code for a in d.all(A.Alert)][-2:] == ["pinpad.dukpt.exhausted"] * 2


def test_a_pin_pad_fault_that_may_mend_refuses_nothing_after():
    d = to_pin()
    d.feed(PinPadFailed("storage.dukpt_state", "cannot write the DUKPT state"))
    d.keys("1250#")
    assert d.state is State.CARD


def test_a_faulted_printer_is_named_first_at_ready():
    d = to_pin()
    d.feed(PinPadFailed("pinpad.dukpt.exhausted", "the DUKPT key is exhausted"))
    d.feed(PrinterFault("printer.paper_out", "the printer is out of paper"))
    assert shown(d.keys("1"))[0] == "PRINTER FAULT"


def test_a_low_pin_key_is_alerted_once_and_kept_on_the_idle_status_line():
    d = to_idle()
    out = d.feed(PinKeyLow(9_000))
    assert [(a.code, "9000" in a.text) for a in out if isinstance(a, A.Alert)] == [("keys.dukpt_low", True)]
    assert shown(out)[-1] == "PIN KEY LOW"
    out = d.feed(PinKeyLow(8_000))  # after a top-up: no second alert, no screen redrawn
    assert out == [] and d.t.pin_key_left == 8_000
    d.keys("1250#")
    assert d.state is State.CARD  # a warning, not a refusal


def test_a_low_pin_key_told_under_a_sale_changes_nothing_on_its_screen():
    d = to_pin()
    out = d.feed(PinKeyLow(5))
    assert d.state is State.PIN and [type(a) for a in out] == [A.Alert]
