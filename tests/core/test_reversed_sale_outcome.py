"""A transaction reversed for want of a usable answer ends on a screen that says so (audit AU20 M5).

Before, the screens ran "NO ANSWER FROM HOST / REVERSING...", "SENDING REVERSAL", then READY: nothing said
the sale was not approved, nor its amount, and a cashier who looked away handed the goods over. Now the
uplink that sends the reversal rests on the outcome (``screens.reversed_outcome``), held by the message
timer like a decline's, with a 2-row form.
"""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.events import HostAnswered, TimerExpired
from firmware.core.model import State, Timer
from hal.display import fit_screen

from . import helpers as h


def _reversed(delivered: bool, cause=lambda d: d.feed(TimerExpired(Timer.RESPONSE))):
    d = h.to_authorising()
    stan = h.request_stan(d)
    cause(d)
    assert d.state is State.UPLINK and d.last(A.SendReversal).reversal.stan == stan
    if delivered:
        d.feed(HostAnswered(h.reply(mti="0410", stan=stan)))
    else:  # the link stays down: every retry unanswered, the reversal stays queued
        while d.state is State.UPLINK:
            d.feed(TimerExpired(Timer.RESPONSE))
    assert d.state is State.IDLE
    return d


def test_a_sale_reversed_after_a_timeout_ends_not_approved_with_its_amount_and_no_charge():
    d = _reversed(delivered=True)
    out = d.batches[-1]
    assert tuple(d.last(A.Show).lines) == ("SALE NOT APPROVED", "CNY 12.50", "NOTHING CHARGED", "NO ANSWER FROM HOST")
    assert A.StartTimer(Timer.MESSAGE, h.SETTINGS.message_seconds) in out  # held like a decline's, then READY
    assert fit_screen(d.last(A.Show).lines, 2, 20) == ("SALE NOT APPROVED   ", "CNY 12.50           ")


def test_a_reversal_still_queued_is_not_said_to_have_undone_the_charge():
    d = _reversed(delivered=False)
    assert tuple(d.last(A.Show).lines) == ("SALE NOT APPROVED", "CNY 12.50", "REVERSAL QUEUED", "NO ANSWER FROM HOST")


def test_a_sale_approved_in_part_and_reversed_ends_the_same_way():
    def partial(d):
        d.feed(HostAnswered(h.reply(stan=h.request_stan(d), response_code="10", approved=False)))
    d = _reversed(delivered=True, cause=partial)
    assert tuple(d.last(A.Show).lines) == ("SALE NOT APPROVED", "CNY 12.50", "NOTHING CHARGED", "PARTIAL APPROVAL")


def test_the_outcome_is_shown_once_and_a_new_sale_does_not_inherit_it():
    d = _reversed(delivered=True)
    d.feed(TimerExpired(Timer.MESSAGE))
    assert d.last(A.Show).lines[1] == "READY"
    assert d.t.reversed_txn is None


@pytest.mark.parametrize("delivered", [True, False], ids=["delivered", "queued"])
def test_the_outcome_says_itself_on_two_rows_without_the_fallback(delivered, caplog):
    d = _reversed(delivered)
    with caplog.at_level("WARNING", logger="hal.display"):
        two = fit_screen(d.last(A.Show).lines, 2, 20)
    assert not caplog.records and "NOT APPROVED" in two[0] and "12.50" in two[1]
