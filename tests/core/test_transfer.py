"""The transfer's walk through the core (转账): menu page 2 key 5, amount, card, the destination account on the
PIN pad, PIN, online 0200 reversed like a sale; refusals with their exact codes; the core only ever sees a mask."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.core import actions as A
from firmware.core.events import (
    AccountCancelled,
    AccountCaptured,
    AccountProgress,
    AccountRejected,
    ActionFailed,
    HostAnswered,
    PinEntered,
    Tampered,
    TimerExpired,
)
from firmware.core.flows import FLOWS, MENU_MORE_FLOWS, Candidate, Recovery, Refusal, judge
from firmware.core.model import Copy, JournalState, Kind, PrintJob, State, Timer
from firmware.core.receipt import build_receipt
from firmware.core.refund import judge_refund

from .helpers import CARD, ORIGINAL, SETTINGS, reply, to_account, to_menu

MASK = "622848*********0018"


def to_pin():
    d = to_account()
    d.feed(AccountCaptured(MASK))
    return d


def test_the_row_is_online_only_reversible_with_a_destination():
    flow = FLOWS[Kind.TRANSFER]
    assert MENU_MORE_FLOWS["5"] is Kind.TRANSFER
    assert (flow.offline, flow.recovery, flow.destination, flow.refund, flow.keyed_amount) == (
        False, Recovery.REVERSAL, True, False, True)


def test_page_one_key_5_still_settles_and_page_two_key_5_transfers():
    d = to_menu()
    d.keys("05")
    assert d.state is State.AMOUNT and d.t.sale.kind is Kind.TRANSFER
    assert "TRANSFER" in d.last(A.Show).lines[0]
    d = to_menu()
    d.keys("5")
    assert d.state is not State.AMOUNT  # settlement's path (COUNTING or its queue first)


def test_the_whole_walk_approved():
    d = to_account()
    assert d.state is State.ACCOUNT and d.last(A.BeginAccount).txn_no == d.t.sale.txn_no
    assert not d.all(A.BeginPin)  # the PIN comes after the account
    d.feed(AccountProgress(4))
    assert "****" in d.last(A.Show).lines and "TO ACCOUNT NO:" in d.last(A.Show).lines
    d.feed(AccountProgress(0, True))
    assert "KEY IT AGAIN:" in d.last(A.Show).lines
    d.feed(AccountCaptured(MASK))
    assert d.state is State.PIN and d.t.sale.account == MASK and d.all(A.BeginPin)
    d.feed(PinEntered())
    opened = d.last(A.OpenRequest).record
    assert (opened.kind, opened.amount, opened.account) == (Kind.TRANSFER, 5000, MASK)
    d.feed(HostAnswered(reply(amount=5000)))
    assert d.state is State.PRINTING
    assert d.last(A.RecordOutcome).record.state is JournalState.APPROVED
    assert d.all(A.WipeCard)  # the sealed card and destination go once the host has answered
    assert "TRANSFER APPROVED" in d.all(A.Show)[-1].lines or "TRANSFER APPROVED" in d.all(A.Show)[-2].lines


def test_receipt_shows_the_masked_destination_on_both_copies():
    d = to_pin()
    d.feed(PinEntered())
    record = replace(d.last(A.OpenRequest).record, state=JournalState.APPROVED, rrn="000000000001")
    for copy in Copy:
        text = "\n".join(str(line) for line in build_receipt(PrintJob(record, copy), SETTINGS).lines)
        assert "TRANSFER" in text and MASK in text and "REFUNDED" not in text


def test_a_refused_account_is_shown_noted_and_keyed_again():
    d = to_account()
    d.feed(AccountRejected("transfer.account_check_digit", "CHECK DIGIT WRONG"))
    assert d.state is State.ACCOUNT
    assert d.last(A.Note).code == "transfer.account_check_digit"
    assert "CHECK DIGIT WRONG" in d.last(A.Show).lines


@pytest.mark.parametrize("event, undo", [
    (AccountCancelled(), []),
    (TimerExpired(Timer.INPUT), [A.CancelPin]),
])
def test_cancel_or_timeout_while_keying_ends_the_entry_and_wipes(event, undo):
    d = to_account()
    out = d.feed(event)
    assert d.state is State.IDLE and any(isinstance(a, A.WipeCard) for a in out)
    assert [type(a) for a in out if type(a) in undo] == undo
    assert not d.all(A.OpenRequest)


def test_tamper_while_keying_ends_the_entry():
    d = to_account()
    out = d.feed(Tampered("gpio", "case opened"))
    assert d.state is State.LOCKED and any(isinstance(a, A.CancelPin) for a in out)


def test_a_pad_that_cannot_collect_the_account_is_a_pin_pad_fault():
    d = to_account()
    d.feed(ActionFailed(d.last(A.BeginAccount), "pinpad.not_responding", "PIN pad not responding"))
    assert d.state is State.IDLE and "PIN PAD FAULT" in d.last(A.Show).lines


def test_unanswered_it_is_reversed_like_a_sale():
    d = to_pin()
    d.feed(PinEntered())
    record = d.last(A.OpenRequest).record
    d.feed(TimerExpired(Timer.RESPONSE))
    assert [r.txn_no for r in d.t.reversals] == [record.txn_no]
    assert d.last(A.SendReversal).reversal.txn_no == record.txn_no


def test_declined_says_so():
    d = to_pin()
    d.feed(PinEntered())
    d.feed(HostAnswered(reply(amount=5000, response_code="51", approved=False, auth_code=None)))
    assert d.state is State.IDLE and d.last(A.RecordOutcome).record.state is JournalState.DECLINED
    assert "TRANSFER DECLINED" in d.last(A.Show).lines


def test_not_approved_offline():
    from firmware.core.machine import Terminal

    t = Terminal(SETTINGS)
    assert t.offline_refusal(5000, CARD, ORIGINAL.when, Kind.TRANSFER) == ("transfer.online_only",
                                                                          "TRANSFER NEEDS ONLINE")


def test_no_void_names_a_transfer():
    """UnionPay terminals void a sale, never a transfer: the journal's void refuses it by name."""
    found = Candidate(replace(ORIGINAL, kind=Kind.TRANSFER), JournalState.APPROVED)
    assert judge(FLOWS[Kind.VOID], found) == Refusal("void.transfer", "CANNOT VOID TRANSFER")


def test_no_refund_names_a_transfer():
    found = Candidate(replace(ORIGINAL, kind=Kind.TRANSFER), JournalState.APPROVED)
    assert judge_refund(found) == Refusal("refund.transfer", "CANNOT REFUND TRANSFER")
