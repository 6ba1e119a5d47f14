"""Settlement in the core: queues first, totals confirmed, 0500 last, one CloseBatch commit, then the report."""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.batch import Settlement, SettleResult
from firmware.core.events import ActionFailed, ReportPrinted, SettleRequested, TimerExpired
from firmware.core.model import BootState, NetworkKind, PendingReversal, State, Timer

from .helpers import NOW, TOTALS, reply, to_idle, to_totals


def _answer(d, **kw):
    job = d.last(A.SendNetwork).job
    base = dict(mti="0510", stan=job.stan, amount=None, rrn=None, auth_code=None, settle_result="1")
    base.update(kw)
    return d.feed(__import__("firmware.core.events", fromlist=["HostAnswered"]).HostAnswered(reply(**base)))


def test_confirm_sends_the_counted_totals_last_on_the_uplink():
    d = to_totals()
    assert d.state is State.TOTALS
    d.keys("#")
    send = d.last(A.SendNetwork)
    assert d.state is State.UPLINK and send.job.kind is NetworkKind.SETTLE and send.job.totals == TOTALS
    assert isinstance(d.all(A.SaveCounters)[-1], A.SaveCounters)  # the STAN is durable before it goes


def test_a_balanced_answer_closes_the_batch_in_one_commit_before_the_report():
    d = to_totals()
    d.keys("#")
    batch = d.t.counters.batch
    actions = _answer(d, settle_result="1")
    names = [a.name for a in actions]
    assert names.index("close_batch") < names.index("print_report")
    assert "send_upload" not in names
    close = d.last(A.CloseBatch)
    assert close.settlement.batch == batch and close.settlement.result is SettleResult.BALANCED
    assert close.settlement.totals == TOTALS and not close.settlement.uploaded
    assert close.counters.batch == batch + 1 and d.t.counters.batch == batch + 1
    assert d.state is State.PRINTING
    d.feed(ReportPrinted(close.settlement))
    assert d.state is State.IDLE and d.last(A.MarkReportPrinted).batch == batch


@pytest.mark.parametrize("digit, result", [("2", SettleResult.UNBALANCED), ("3", SettleResult.ERROR)])
def test_an_answer_not_balanced_closes_the_batch_then_uploads_it_before_any_report(digit, result):
    d = to_totals()
    d.keys("#")
    batch = d.t.counters.batch
    actions = _answer(d, settle_result=digit)
    names = [a.name for a in actions]
    assert names.index("close_batch") < names.index("send_upload") and "print_report" not in names
    close = d.last(A.CloseBatch)
    assert close.settlement.result is result and not close.settlement.uploaded
    assert close.counters.batch == batch + 1  # the next batch is open: sales may go on
    assert d.state is State.UPLINK and d.last(A.SendUpload).job.batch == batch


def test_refused_settlement_leaves_the_batch_open():
    d = to_totals()
    d.keys("#")
    batch = d.t.counters.batch
    _answer(d, response_code="96", approved=False)
    assert not d.all(A.CloseBatch) and d.t.counters.batch == batch
    assert d.last(A.Alert).code == "settle.refused" and d.state is State.IDLE


def test_host_silent_retries_then_the_batch_stays_open_and_the_operator_is_told():
    d = to_totals()
    d.keys("#")
    for _ in range(3):
        d.feed(TimerExpired(Timer.RESPONSE))
    assert len(d.all(A.SendNetwork)) == 3
    assert d.state is State.IDLE and not d.all(A.CloseBatch)
    assert d.last(A.Alert).code == "settle.failed"


def test_queued_reversal_goes_before_the_count():
    d = to_idle(boot=BootState(reversals=(PendingReversal(3, 3, 500),)))
    # the boot itself delivers it; answer it, then settle with a fresh reversal queued
    d.t.reversals.append(PendingReversal(4, 4, 700))
    d.t.state = State.IDLE
    d.feed(SettleRequested())
    assert d.state is State.UPLINK and isinstance(d.last(A.SendReversal), A.SendReversal)
    rev = d.last(A.SendReversal).reversal
    from firmware.core.events import HostAnswered

    while d.state is State.UPLINK:
        rev = d.last(A.SendReversal).reversal
        d.feed(HostAnswered(reply(mti="0410", stan=rev.stan, amount=rev.amount)))
    assert d.state is State.COUNTING and d.last(A.CountBatch).batch == d.t.counters.batch


def test_cancel_on_the_totals_screen_sends_nothing():
    d = to_totals()
    d.keys("X")
    assert d.state is State.IDLE and not d.all(A.SendNetwork)


def test_unsent_items_in_the_totals_refuse_to_settle():
    d = to_totals(TOTALS.__class__(1, 100, 0, 0, unsent=1))
    d.keys("#")
    assert d.state is State.IDLE and not d.all(A.SendNetwork)


def test_close_batch_failure_suspends_with_the_old_batch_open():
    d = to_totals()
    d.keys("#")
    batch = d.t.counters.batch
    _answer(d)
    d.feed(ActionFailed(d.last(A.CloseBatch), "storage.full", "storage is full"))
    assert d.state is State.SUSPENDED and d.t.counters.batch == batch


def test_owed_report_prints_at_boot():
    owed = Settlement(4, TOTALS, SettleResult.BALANCED, NOW, 77)
    d = to_idle(boot=BootState(report=owed))
    assert isinstance(d.all(A.PrintReport)[0], A.PrintReport)


def test_the_report_names_the_batch_the_totals_and_the_result():
    from firmware.core.batch import Totals
    from firmware.core.report import build_report
    from hal.printer.document import plain_text

    from .helpers import SETTINGS

    s = Settlement(7, Totals(debit_count=3, debit_amount=3750, credit_count=1, credit_amount=1250),
                   SettleResult.UNBALANCED, NOW, stan=42, operator="01")
    text = plain_text(build_report(s, SETTINGS, reprint=True), 32)
    for expected in ("SETTLEMENT REPORT", "BATCH NO:", "000007", "000042", "SALE          3", "37.50",
                     "VOID          1", "-", "12.50", "TOTAL         4", "25.00", "TOTALS UNBALANCED", "REPRINT"):
        assert expected in text, (expected, text)
    assert SETTINGS.terminal_id in text and SETTINGS.merchant_id in text


# -- a settlement that went unanswered ---------------------------------------------------------
def _silent_settlement():
    d = to_totals()
    d.keys("#")
    for _ in range(3):
        d.feed(TimerExpired(Timer.RESPONSE))
    return d


def test_the_0500_is_marked_under_way_durably_before_it_leaves_once():
    d = to_totals()
    d.keys("#")
    names = [a.name for a in d.batches[-1]]
    assert names.index("settle_sending") < names.index("send_network")
    assert d.last(A.SettleSending) == A.SettleSending(d.t.counters.batch, sending=True)
    d.feed(TimerExpired(Timer.RESPONSE))  # a retry is the same message: not marked again
    assert len(d.all(A.SettleSending)) == 1


def test_after_an_unanswered_settlement_no_transaction_enters_the_batch_until_it_is_settled():
    """The host may have closed the batch without the terminal hearing it: a sale keyed now could land
    in a batch the host no longer has, and a later 0500 would count it against a closed one."""
    d = _silent_settlement()
    d.keys("1250#")
    assert d.state is State.IDLE and d.t.sale is None and not d.all(A.OpenRequest)
    assert d.last(A.Alert).code == "settle.interrupted"
    d.feed(SettleRequested())  # settling again is what it asks for, and is allowed
    assert d.state is State.COUNTING and d.last(A.CountBatch).batch == d.t.counters.batch


def test_a_settlement_answered_at_last_lets_sales_go_on():
    d = _silent_settlement()
    d.feed(SettleRequested())
    from firmware.core.events import BatchCounted

    d.feed(BatchCounted(TOTALS))
    d.keys("#")
    _answer(d, settle_result="1")
    assert d.last(A.CloseBatch) and not d.t.settle_interrupted
    d.feed(ReportPrinted(d.last(A.CloseBatch).settlement))
    d.keys("1250#")
    assert d.state is State.CARD


def test_a_refused_settlement_is_an_answer_and_clears_the_mark():
    d = to_totals()
    d.keys("#")
    _answer(d, response_code="96", approved=False)
    assert d.last(A.SettleSending) == A.SettleSending(d.t.counters.batch, sending=False)
    d.keys("1250#")
    assert d.state is State.CARD


def test_a_terminal_restarted_with_its_settlement_unanswered_refuses_sales():
    d = to_idle(boot=BootState(settle_interrupted=True))
    d.keys("1250#")
    assert d.state is State.IDLE and d.last(A.Alert).code == "settle.interrupted"


# -- a 0500 that never left (the connect failed) cannot have been heard (AU4) ---------------------
def _unsent(d):
    d.feed(ActionFailed(d.last(A.SendNetwork), "link.down", "cannot connect", sent=False))


def test_a_refusal_after_a_first_try_that_never_left_leaves_the_batch_open():
    d = to_totals()
    d.keys("#")
    _unsent(d)  # the retry is the only 0500 the host ever gets
    _answer(d, response_code="96", approved=False)
    assert d.last(A.SettleSending) == A.SettleSending(d.t.counters.batch, sending=False)
    d.keys("1250#")
    assert d.state is State.CARD


def test_a_refusal_after_a_first_try_that_may_have_left_keeps_the_batch_closed():
    d = to_totals()
    d.keys("#")
    d.feed(TimerExpired(Timer.RESPONSE))  # silence: the host may have closed the batch
    _answer(d, response_code="96", approved=False)
    assert d.t.settle_interrupted and A.SettleSending(d.t.counters.batch, sending=False) not in d.all(A.SettleSending)
    d.keys("1250#")
    assert d.state is State.IDLE and d.last(A.Alert).code == "settle.interrupted"


def test_a_settlement_none_of_whose_tries_left_lifts_the_mark():
    """Every connect failed: no 0500 reached the host, so it cannot have closed the batch unheard."""
    d = to_totals()
    d.keys("#")
    for _ in range(3):
        _unsent(d)
    assert d.state is State.IDLE and not d.t.settle_interrupted
    assert d.last(A.SettleSending) == A.SettleSending(d.t.counters.batch, sending=False)
    d.keys("1250#")
    assert d.state is State.CARD


def test_a_settlement_one_of_whose_tries_may_have_left_keeps_the_mark():
    d = to_totals()
    d.keys("#")
    _unsent(d)
    d.feed(TimerExpired(Timer.RESPONSE))  # this one left, and went unanswered
    _unsent(d)
    assert d.state is State.IDLE and d.t.settle_interrupted
    d.keys("1250#")
    assert d.last(A.Alert).code == "settle.interrupted"
