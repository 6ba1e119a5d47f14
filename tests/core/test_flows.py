"""The sale, its failures and recovery, at the level of the sans-IO core."""

from __future__ import annotations

from datetime import timedelta

import pytest

from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    CardRead,
    CardUnreadable,
    HostAnswered,
    HostFrameRejected,
    LinkDropped,
    PinCancelled,
    PinEntered,
    StorageOk,
    TimerExpired,
)
from firmware.core.model import (
    BootState,
    Copy,
    Counters,
    JournalState,
    NetworkKind,
    PendingAdvice,
    PendingReversal,
    PrintJob,
    SaleRecord,
    State,
    Timer,
)
from firmware.core.settings import OfflineLimits

from .helpers import (
    CARD,
    NOW,
    SETTINGS,
    Driver,
    printed_all,
    replace,
    reply,
    request_stan,
    to_authorising,
    to_card,
    to_idle,
    to_pin,
    to_printing,
)


def names(actions):
    return [a.name for a in actions]


def test_approved_sale_commits_before_sending_and_before_printing():
    d = to_authorising()
    batch = d.batches[-1]
    assert names(batch).index("open_request") < names(batch).index("send_request")
    opened = d.last(A.OpenRequest)
    assert opened.record.amount == 1250 and opened.record.state is JournalState.REQUESTED
    assert opened.counters.stan == opened.record.stan + 1
    out = d.feed(HostAnswered(reply(stan=opened.record.stan)))
    assert names(out).index("record_outcome") < names(out).index("wipe_card") < names(out).index("print")
    outcome = d.last(A.RecordOutcome)
    assert outcome.record.state is JournalState.APPROVED and outcome.reversal_reason is None
    assert outcome.copies == (Copy.MERCHANT, Copy.CARDHOLDER)
    assert d.state is State.PRINTING
    printed_all(d)
    assert [a.copy for a in d.all(A.MarkPrinted)] == [Copy.MERCHANT, Copy.CARDHOLDER]
    assert d.state is State.IDLE


def test_declined_sale_records_the_code_and_prints_nothing():
    d = to_authorising()
    out = d.feed(HostAnswered(reply(stan=request_stan(d), response_code="51", approved=False, auth_code=None)))
    assert d.state is State.IDLE
    assert d.last(A.RecordOutcome).record.state is JournalState.DECLINED
    assert d.last(A.RecordOutcome).record.reason == "51"
    assert not d.all(A.Print)
    assert any(tuple(s.lines)[1:3] == ("51 INSUFFICIENT", "FUNDS") for s in d.all(A.Show))  # wrapped, whole
    assert "wipe_card" in names(out)


@pytest.mark.parametrize(
    "change, why",
    [
        (dict(stan=999), "STAN"),
        (dict(mti="0230"), "MTI"),
        (dict(terminal_id="87654321"), "terminal"),
    ],
)
def test_an_answer_that_does_not_match_is_rejected_and_the_sale_keeps_waiting(change, why):
    d = to_authorising()
    answer = replace(reply(stan=request_stan(d)), **change)
    out = d.feed(HostAnswered(answer))
    assert d.state is State.AUTHORISING
    assert names(out) == ["note"] and why in out[0].text
    assert not d.all(A.RecordOutcome)


@pytest.mark.parametrize("amount, why", [(1, "amount 1, expected"), (None, "no amount, expected")])
@pytest.mark.parametrize("approved", [True, False])
def test_an_answer_to_the_request_for_another_amount_reverses_it_at_once_with_reason_06(amount, why, approved):
    """Its MTI, STAN and terminal are the request's: the host processed this very request, perhaps for money
    the cashier never keyed. Reversed now (reason 06, committed with the outcome before it goes), not after
    the response timeout as an unanswered request (98)."""
    d = to_authorising()
    stan = request_stan(d)
    answer = replace(reply(stan=stan), amount=amount, response_code="00" if approved else "51", approved=approved)
    out = d.feed(HostAnswered(answer))
    assert d.state is State.UPLINK
    alert = d.last(A.Alert)
    assert alert.code == "host.amount_mismatch" and why in alert.text
    (outcome,) = d.all(A.RecordOutcome)
    assert (outcome.record.state.value, outcome.reversal_reason) == ("reversing", "06")
    rev = d.last(A.SendReversal)
    assert (rev.reversal.stan, rev.reversal.reason) == (stan, "06")
    order = names(out)
    assert order.index("record_outcome") < order.index("send_reversal")
    assert "cancel_timer" in order and "wipe_card" in order


def test_timeout_reverses_once_before_anything_else_goes_online():
    d = to_authorising()
    stan = request_stan(d)
    out = d.feed(TimerExpired(Timer.RESPONSE))
    assert d.state is State.UPLINK
    rev = d.last(A.SendReversal)
    assert (rev.reversal.stan, rev.reversal.reason, rev.repeat) == (stan, "98", False)
    assert "wipe_card" in names(out)
    assert not d.all(A.RecordOutcome)  # the record stays REQUESTED with its reversal armed
    d.feed(HostAnswered(reply(mti="0410", stan=stan)))
    assert d.last(A.ReversalDone).txn_no == rev.reversal.txn_no
    assert len(d.all(A.SendReversal)) == 1
    assert d.state is State.IDLE and not d.t.reversals


def test_bad_mac_on_an_approval_commits_a_reversal_a0_and_prints_nothing():
    d = to_authorising()
    d.feed(HostAnswered(reply(stan=request_stan(d), mac_ok=False)))
    outcome = d.last(A.RecordOutcome)
    assert outcome.reversal_reason == "A0" and outcome.record.state is JournalState.REVERSING
    # the host's keys may not be ours (a sign-on answer lost): sign on, then reverse under its keys
    job = d.last(A.SendNetwork).job
    assert job.kind is NetworkKind.SIGN_ON and not d.all(A.SendReversal)
    d.feed(HostAnswered(reply(mti="0810", stan=job.stan, amount=None, mac_ok=None)))
    assert d.last(A.SendReversal).reversal.reason == "A0"
    assert not d.all(A.Print)
    assert d.state is State.UPLINK


def test_an_approval_without_any_mac_is_not_trusted():
    d = to_authorising()
    d.feed(HostAnswered(reply(stan=request_stan(d), mac_ok=None)))
    assert d.last(A.RecordOutcome).reversal_reason == "A0"
    assert not d.all(A.Print)


def test_garbage_frames_are_noted_and_the_timeout_still_reverses():
    d = to_authorising()
    d.feed(HostFrameRejected("host.malformed", "field 39 at byte 40: not 2 characters"))
    assert d.state is State.AUTHORISING
    d.feed(TimerExpired(Timer.RESPONSE))
    assert d.last(A.SendReversal).reversal.reason == "98"


def test_a_dropped_link_while_waiting_reverses_at_once():
    d = to_authorising()
    d.feed(LinkDropped("link.closed", "peer closed"))
    assert d.state is State.UPLINK and d.last(A.SendReversal)


def test_queued_reversal_goes_out_before_the_next_request():
    pending = PendingReversal(txn_no=7, stan=41, amount=500)
    d = Driver(boot=BootState(counters=Counters(stan=42, txn_no=8), reversals=(pending,)))
    assert d.state is State.UPLINK  # recovery sends it straight away
    d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert len(d.all(A.SendReversal)) == SETTINGS.reversal_retries
    assert [a.repeat for a in d.all(A.SendReversal)] == [False, True, True]
    assert d.last(A.Alert).code == "reversal.pending"
    assert d.state is State.IDLE
    d.keys("1250#")
    d.feed(CardRead(CARD))
    out = d.feed(PinEntered())
    assert d.state is State.UPLINK
    assert names(out).index("send_reversal") >= 0 and "send_request" not in names(out)
    d.feed(HostAnswered(reply(mti="0410", stan=41, amount=500)))
    assert d.state is State.AUTHORISING
    assert names(d.batches[-1]).index("reversal_done") < names(d.batches[-1]).index("send_request")


def test_unreachable_host_approves_offline_within_limits_and_queues_the_advice():
    d = to_authorising()
    d.feed(ActionFailed(d.last(A.SendRequest), "link.down", "connection refused", sent=False))
    outcome = d.last(A.RecordOutcome)
    assert outcome.record.state is JournalState.OFFLINE_APPROVED and outcome.advice
    assert d.state is State.PRINTING
    assert d.t.advices and d.t.advices[0].stan == outcome.record.stan
    printed_all(d)
    assert d.state is State.IDLE
    assert any(isinstance(a, A.StartTimer) and a.timer is Timer.UPLOAD for a in d.batches[-1])


def test_a_request_that_may_have_left_is_reversed_not_approved_offline():
    d = to_authorising()
    d.feed(ActionFailed(d.last(A.SendRequest), "link.send_failed", "broken pipe", sent=None))
    assert d.state is State.UPLINK
    assert not any(a.advice for a in d.all(A.RecordOutcome))


@pytest.mark.parametrize(
    "limits, advices, amount, code",
    [
        (OfflineLimits(enabled=False), (), "1250", "offline.disabled"),
        (OfflineLimits(floor_limit=1000), (), "1250", "offline.floor_limit"),
        (OfflineLimits(max_count=1), ((1, 100),), "1250", "offline.max_count"),
        (OfflineLimits(max_amount=2000), ((1, 1000),), "1250", "offline.max_amount"),
        (OfflineLimits(max_age=timedelta(hours=1)), ((1, 100),), "1250", "offline.too_old"),
    ],
)
def test_over_the_offline_limits_is_declined_with_the_reason(limits, advices, amount, code):
    settings = replace(SETTINGS, offline=limits)
    queue = tuple(PendingAdvice(n, n, a, NOW - timedelta(hours=2)) for n, a in advices)
    d = Driver(settings, BootState(counters=Counters(txn_no=10, stan=10), advices=queue))
    # the queued advice cannot go either: the link is down
    while d.state is State.UPLINK:
        d.feed(ActionFailed(d.last(A.SendAdvice), "link.down", "refused", sent=False))
    d.keys(amount + "#")
    d.feed(CardRead(CARD))
    d.feed(PinEntered())
    d.feed(ActionFailed(d.last(A.SendRequest), "link.down", "refused", sent=False))
    outcome = d.last(A.RecordOutcome)
    assert outcome.record.state is JournalState.DECLINED and outcome.record.reason == code
    assert not outcome.advice and not d.all(A.Print)
    assert d.last(A.Alert).code == code
    assert d.state is State.IDLE


def test_card_that_needs_online_is_never_approved_offline():
    d = to_pin(card=replace(CARD, online_only=True))
    d.feed(PinEntered())
    d.feed(ActionFailed(d.last(A.SendRequest), "link.down", "refused", sent=False))
    assert d.last(A.RecordOutcome).record.reason == "offline.card_online_only"


def test_advices_are_forwarded_with_the_repeat_mti_after_a_first_attempt():
    advice = PendingAdvice(txn_no=3, stan=3, amount=800, created_at=NOW)
    d = Driver(boot=BootState(counters=Counters(stan=4, txn_no=4), advices=(advice,)))
    assert d.state is State.UPLINK
    first = d.batches[-1]
    assert names(first).index("advice_sending") < names(first).index("send_advice")
    assert d.last(A.SendAdvice).repeat is False  # the first transmission is an 0220
    d.feed(TimerExpired(Timer.RESPONSE))
    assert d.last(A.SendAdvice).repeat is True  # the retry is a repeat (0221)
    d.feed(HostAnswered(reply(mti="0230", stan=3, amount=800)))
    assert d.last(A.AdviceDone).txn_no == 3
    assert len(d.all(A.AdviceSending)) == 1
    assert d.state is State.IDLE and not d.t.advices


def test_an_advice_declined_afterwards_raises_an_alert():
    advice = PendingAdvice(txn_no=3, stan=3, amount=800, created_at=NOW, sent_before=True)
    d = Driver(boot=BootState(counters=Counters(stan=4, txn_no=4), advices=(advice,)))
    assert not d.all(A.AdviceSending)
    assert d.last(A.SendAdvice).repeat is True  # it may have reached the host before the restart
    d.feed(HostAnswered(reply(mti="0230", stan=3, amount=800, response_code="51", approved=False)))
    assert d.last(A.Alert).code == "advice.declined"


def test_a_declined_advice_keeps_the_hosts_reference_as_a_declined_sale_does():
    """So a refund keyed with the RRN the refusal named finds the sale in the journal and is refused there
    (``refund.advice_declined``) rather than sent as another terminal's sale."""
    advice = PendingAdvice(txn_no=3, stan=3, amount=800, created_at=NOW, sent_before=True)
    d = Driver(boot=BootState(counters=Counters(stan=4, txn_no=4), advices=(advice,)))
    d.feed(HostAnswered(reply(mti="0230", stan=3, amount=800, response_code="05", approved=False, rrn="000000000777")))
    done = d.last(A.AdviceDone)
    assert (done.txn_no, done.accepted, done.rrn) == (3, False, "000000000777")


def test_printer_failure_holds_the_receipt_until_retried_or_skipped():
    d = to_printing()
    first = d.last(A.Print)
    d.feed(ActionFailed(first, "printer.paper_out", "out of paper", sent=False))  # found before the write
    assert d.state is State.RECEIPT_HELD
    d.keys("5")  # other keys do nothing
    assert d.state is State.RECEIPT_HELD
    d.keys("#")
    assert d.state is State.PRINTING and d.last(A.Print).job == first.job
    d.feed(ActionFailed(d.last(A.Print), "printer.paper_out", "out of paper"))
    d.keys("X")  # skip the merchant copy
    assert d.last(A.MarkPrinted).skipped and d.last(A.MarkPrinted).copy is Copy.MERCHANT
    assert d.last(A.Print).job.copy is Copy.CARDHOLDER
    printed_all(d)
    assert d.state is State.IDLE


def test_storage_failure_before_sending_suspends_sales_and_sends_nothing():
    d = to_authorising()
    d.feed(ActionFailed(d.last(A.OpenRequest), "storage.full", "storage is full"))
    assert d.state is State.SUSPENDED
    assert d.last(A.WipeCard)
    d.keys("1")  # no sale starts while suspended
    assert d.state is State.SUSPENDED and d.t.sale is None
    d.keys("#")
    assert d.last(A.CheckStorage)
    d.feed(StorageOk(BootState(counters=Counters(stan=5, txn_no=5))))
    assert d.state is State.IDLE


def test_an_approval_that_cannot_be_recorded_is_reversed_and_never_printed():
    d = to_authorising()
    stan = request_stan(d)
    d.feed(HostAnswered(reply(stan=stan)))
    d.feed(ActionFailed(d.last(A.RecordOutcome), "storage.full", "storage is full"))
    assert not d.t.print_queue
    rev = d.last(A.SendReversal)
    assert (rev.reversal.stan, rev.reversal.reason) == (stan, "96")
    d.feed(HostAnswered(reply(mti="0410", stan=stan)))
    assert d.state is State.SUSPENDED


@pytest.mark.parametrize("answered", [True, False], ids=["reversal_done_failed", "reversal_unanswered"])
def test_an_approval_not_recorded_keeps_reason_96_when_storage_works_again(answered):
    """The full disk refused the outcome, the advisory mark (ReversalSending) and, once the host acknowledged
    the reversal, its ReversalDone: storage still holds the reversal armed in its row, reason 98, never sent
    (AU14). After CHECK AGAIN the core sends it again with the reason it chose, as the repeat it is, writes
    the lost mark first, and records 96, not 98."""
    d = to_authorising()
    stan = request_stan(d)
    d.feed(HostAnswered(reply(stan=stan)))
    d.feed(ActionFailed(d.last(A.RecordOutcome), "storage.full", "storage is full"))
    first = d.last(A.SendReversal).reversal
    if answered:
        d.feed(HostAnswered(reply(mti="0410", stan=stan)))
        d.feed(ActionFailed(d.last(A.ReversalDone), "storage.full", "storage is full"))
    else:
        d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert d.state is State.SUSPENDED
    d.keys("#")
    armed = PendingReversal(first.txn_no, first.stan, first.amount)  # as storage gives it back: 98, unmarked
    out = d.feed(StorageOk(BootState(counters=Counters(stan=stan + 1, txn_no=first.txn_no + 1), reversals=(armed,))))
    assert A.ReversalSending(first.txn_no, "96") in out
    again = d.last(A.SendReversal)
    assert (again.reversal.txn_no, again.reversal.reason, again.repeat) == (first.txn_no, "96", True)
    d.feed(HostAnswered(reply(mti="0410", stan=stan)))
    assert d.last(A.ReversalDone) == A.ReversalDone(first.txn_no, "00", "96")
    assert d.t.unkept_reasons == {}


def test_boot_prints_owed_receipts_then_delivers_reversals_then_advices():
    record = SaleRecord(1, 900, 1, 1, NOW, "620550*********0004", state=JournalState.APPROVED, rrn="1", auth_code="2")
    boot = BootState(
        counters=Counters(stan=9, txn_no=9),
        reversals=(PendingReversal(2, 2, 300),),
        advices=(PendingAdvice(3, 3, 400, NOW),),
        receipts=(PrintJob(record, Copy.CARDHOLDER, recovered=True),),
        interrupted=(2,),
    )
    d = Driver(boot=boot)
    assert d.state is State.PRINTING
    assert "PRINTED AFTER POWER LOSS" in str(d.last(A.Print).receipt)
    assert {a.code for a in d.all(A.Alert)} == {"recovery.interrupted", "recovery.receipts"}
    printed_all(d)
    assert d.state is State.UPLINK and d.last(A.SendReversal).reversal.txn_no == 2
    d.feed(HostAnswered(reply(mti="0410", stan=2, amount=300)))
    assert d.last(A.SendAdvice).advice.txn_no == 3
    d.feed(HostAnswered(reply(mti="0230", stan=3, amount=400)))
    assert d.state is State.IDLE


def test_stan_comes_from_the_durable_counter_and_wraps():
    d = to_idle(boot=BootState(counters=Counters(stan=999999, txn_no=20)))
    d.keys("5#")
    d.feed(CardRead(CARD))
    d.feed(PinEntered())
    opened = d.last(A.OpenRequest)
    assert opened.record.stan == 999999 and opened.counters.stan == 1
    assert opened.record.txn_no == 20 and opened.counters.txn_no == 21


@pytest.mark.parametrize(
    "keys, amount, note",
    [
        ("1250", 1250, ""),
        ("001250", 1250, ""),
        ("125*", 12, ""),
        ("#", 0, "ENTER AN AMOUNT"),
    ],
)
def test_amount_entry(keys, amount, note):
    d = to_idle()
    d.keys("0" + keys)  # a leading zero starts the sale and is dropped
    assert d.state is State.AMOUNT
    assert d.t.sale.amount == amount
    assert d.last(A.Show).lines[-1] == (note or "#=OK  X=CANCEL")


@pytest.mark.parametrize("cols, lines, short", [
    (20, ("SALE CNY 999999.99", "AMOUNT TOO LARGE", "MAX CNY 999999.99", "#=OK  X=CANCEL"),
     ("AMOUNT TOO LARGE", "MAX CNY 999999.99")),
    (16, ("CNY 999999.99", "TOO LARGE. MAX:", "CNY 999999.99", "#=OK  X=CANCEL"), ("TOO LARGE. MAX:", "CNY 999999.99")),
])
def test_a_digit_past_the_limit_says_so_and_shows_the_limit(cols, lines, short):
    """UX25: a refused digit said AMOUNT TOO LARGE, never what the limit is (money as every amount is shown)."""
    d = to_idle(replace(SETTINGS, display_cols=cols))
    d.keys("0999999999")  # the ninth 9 would pass 999999.99
    shown = d.last(A.Show).lines
    assert d.t.sale.amount == 99999999 and (tuple(shown), shown.short) == (lines, short)
    d.keys("*")  # the next key brings the entry screen back
    assert d.last(A.Show).lines[-1] == "#=OK  X=CANCEL" and "AMOUNT:" in d.last(A.Show).lines


def test_amounts_are_integers_all_the_way():
    d = to_authorising(amount="1999")
    rec = d.last(A.OpenRequest).record
    assert rec.amount == 1999 and type(rec.amount) is int


def test_cancel_and_timeouts_wipe_the_card():
    d = to_pin()
    d.feed(PinCancelled())
    assert d.state is State.IDLE and d.last(A.WipeCard)
    d = to_pin()
    d.feed(TimerExpired(Timer.INPUT))
    assert d.state is State.IDLE and d.last(A.CancelPin) and d.last(A.WipeCard)
    d = to_card()
    d.keys("X")
    assert d.state is State.IDLE and d.last(A.DisableReader)


def test_a_bad_swipe_asks_to_swipe_again():
    d = to_card()
    d.feed(CardUnreadable("card.parity", "CARD READ ERROR"))
    assert d.state is State.CARD
    assert "SWIPE AGAIN" in d.last(A.Show).lines


def test_a_read_error_says_swipe_again_once_under_what_happened():
    """What the runner sends for a read error (``hal.magstripe.policy``: its reason, then its step); the screen
    once read SWIPE AGAIN / SWIPE AGAIN / X=CANCEL."""
    d = to_card()
    d.feed(CardUnreadable("card.lrc", "CARD NOT READ"))
    shown = d.last(A.Show).lines
    assert d.state is State.CARD and shown[:3] == ("CARD NOT READ", "SWIPE AGAIN", "X=CANCEL")
    assert shown.short[0] == "CARD NOT READ"


@pytest.mark.parametrize(
    "pin_required, card_requires, bypass",
    [(True, False, False), (False, True, False), (False, False, True)],
)
def test_pin_bypass_only_where_nothing_requires_a_pin(pin_required, card_requires, bypass):
    settings = replace(SETTINGS, pin_required=pin_required)
    d = Driver(settings, BootState())
    d.keys("100#")
    d.feed(CardRead(replace(CARD, pin_required=card_requires)))
    assert d.last(A.BeginPin).allow_bypass is bypass


def test_device_failures_name_the_device_and_return_to_idle():
    d = to_card()
    # the reader failed to enable: the batch that asked for it is the card prompt
    d.feed(ActionFailed(A.EnableReader(1), "reader.not_responding", "card reader is not responding"))
    assert d.state is State.IDLE and d.last(A.Show).lines[0] == "CARD READER FAULT"
    d = to_pin()
    d.feed(ActionFailed(d.last(A.BeginPin), "pinpad.not_responding", "PIN pad is not responding"))
    assert d.state is State.IDLE and d.last(A.WipeCard)
