"""The core and its devices' faults (``firmware/core/device_faults.py``).

A terminal whose printer is known to be faulted takes no transaction that prints (a card charged with no
merchant copy printed), names the fault, shows it on the idle screen's status line, and sells again once
the runner says the printer works. A reader that fails while the card is awaited ends the wait naming it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.core import actions as A
from firmware.core.events import CardRead, PrinterFault, PrinterReady, ReaderFailed
from firmware.core.model import State

from tests.core.helpers import CARD, SETTINGS, to_card, to_idle

FAULTS = [
    ("printer.disconnected", "NOT CONNECTED"),
    ("printer.paper_out", "OUT OF PAPER"),
    ("printer.not_responding", "NOT RESPONDING"),
    ("printer.cover_open", "COVER OPEN"),
    ("printer.not_open", "NOT CONNECTED"),
]


def shown(actions) -> list[str]:
    return [line.strip() for a in actions if isinstance(a, A.Show) for line in a.lines]


@pytest.mark.parametrize(("code", "line"), FAULTS)
def test_a_sale_is_refused_at_its_first_key_while_the_printer_is_faulted_and_the_fault_is_named(code, line):
    d = to_idle()
    d.feed(PrinterFault(code, "the printer failed"))
    out = d.keys("1")
    assert d.state is State.IDLE and not d.all(A.EnableReader) and d.t.sale is None
    assert shown(out)[:3] == ["PRINTER FAULT", "NO SALES", line]
    alert = d.last(A.Alert)
    assert alert.code == "printer.fault" and code in alert.text


def test_the_idle_status_line_names_a_printer_fault_and_clears_once_it_works():
    d = to_idle()
    out = d.feed(PrinterFault("printer.paper_out", "the printer is out of paper"))
    assert shown(out)[-1] == "PRINTER FAULT"
    out = d.feed(PrinterReady())
    assert shown(out) and shown(out)[-1] == ""
    d.keys("1250#")
    assert d.state is State.CARD and d.all(A.EnableReader)


def test_a_menu_transaction_that_prints_is_refused_and_an_inquiry_is_not():
    d = to_idle()
    d.feed(PrinterFault("printer.disconnected", "the connection to the printer failed"))
    d.keys("F01")  # a void, from the menu
    assert d.state is State.IDLE and "PRINTER FAULT" in shown(d.batches[-1])
    d = to_idle()
    d.feed(PrinterFault("printer.disconnected", "the connection to the printer failed"))
    d.keys("F7")  # a balance inquiry prints nothing
    assert d.state is State.CARD


def test_a_terminal_that_prints_no_copies_sells_whatever_its_printer_does():
    d = to_idle(replace(SETTINGS, copies=()))
    d.feed(PrinterFault("printer.disconnected", "the connection to the printer failed"))
    d.keys("1250#")
    assert d.state is State.CARD


def test_a_fault_under_way_changes_no_state_and_a_sale_under_way_goes_on():
    d = to_card()
    out = d.feed(PrinterFault("printer.paper_out", "the printer is out of paper"))
    assert d.state is State.CARD and out == []
    d.feed(CardRead(CARD))
    assert d.state is State.PIN


def test_a_reader_failing_while_the_card_is_awaited_ends_the_sale_naming_the_reader():
    d = to_card()
    out = d.feed(ReaderFailed("reader.io_failed", "the card reader stopped working"))
    assert d.state is State.IDLE and d.t.sale is None
    assert any(isinstance(a, A.DisableReader) for a in out)
    assert shown(out)[:2] == ["READER FAULT", "SALE CANCELLED"]
    assert not d.all(A.OpenRequest)
    d.keys("800#")  # the terminal is usable: the next sale starts
    assert d.state is State.CARD
