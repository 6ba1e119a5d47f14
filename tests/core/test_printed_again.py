"""AU16 L1: a copy held after a failure that may have left it on paper whole prints again marked.

The printer takes the whole merchant copy, then does not answer the status check after it
(``printer.not_responding``): ENTER printed a second, identical signature slip. Now it says
``*** PRINTED AGAIN ***``; a hold where the printer said why it stopped (nothing, or not all, on paper)
prints the plain copy as before, except a roll that ran out while the copy went out (AU20 L2): the torn
slip may carry the amount and the signature line, so the copy after it is marked too.
"""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.events import ActionFailed, KeyPressed, Printed
from firmware.core.model import Copy, State
from hal.printer import plain_text

from . import helpers as h

MARK = "*** PRINTED AGAIN ***"


def text(action: A.Print) -> str:
    return plain_text(action.receipt, 32)  # as a 58 mm printer prints it


def _held(*failures: tuple[str, bool | None]) -> h.Driver:
    d = h.to_printing()
    for code, sent in failures:
        d.feed(ActionFailed(d.last(A.Print), code, "the printer stopped", sent))
        assert d.state is State.RECEIPT_HELD
        if (code, sent) != failures[-1]:
            d.feed(KeyPressed("#"))
    return d


def _again(d: h.Driver) -> A.Print:
    d.feed(KeyPressed("#"))
    assert d.state is State.PRINTING
    return d.last(A.Print)


@pytest.mark.parametrize(
    "code",
    [
        "printer.not_responding",  # every byte went, then no answer to the status check: it may be whole
        "printer.disconnected",
        "printer.paper_out",  # AU20 L2: the roll ran out under the copy, perhaps only under its last rows
        "printer.cover_open",  # opened while it printed: what went is on paper
        "printer.offline",
        "printer.write_failed",  # the printer took part of it
    ],
)
def test_a_copy_part_or_all_of_which_may_be_on_paper_prints_again_marked(code):
    d = _held((code, None))
    assert MARK not in text(d.all(A.Print)[0])
    again = _again(d)
    assert again.job.copy is Copy.MERCHANT and again.job.again
    assert MARK in text(again) and "MAY DUPLICATE THE SLIP BEFORE IT" in text(again)


@pytest.mark.parametrize(
    "code", ["printer.paper_out", "printer.cover_open", "printer.offline", "printer.not_responding"]
)
def test_a_copy_the_port_sent_nothing_of_prints_plain(code):
    """The port's check before the write failed (``sent`` False): nothing of the copy is on paper."""
    again = _again(_held((code, False)))
    assert not again.job.again and MARK not in text(again)


def test_the_mark_stays_through_a_second_hold_and_only_on_that_copy():
    d = _held(("printer.not_responding", None), ("printer.paper_out", None))
    again = _again(d)
    assert MARK in text(again)
    d.feed(Printed(again.job.record.txn_no, again.job.copy))
    cardholder = d.last(A.Print)
    assert cardholder.job.copy is Copy.CARDHOLDER and MARK not in text(cardholder)
