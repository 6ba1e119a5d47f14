"""The refund, driven through the sans-IO core: menu, reference number, date, lookup, confirm, amount,
then the sale's path; a refund the host leaves unanswered is sent again, never reversed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    CardRead,
    HostAnswered,
    LinkDropped,
    OriginalFound,
    OriginalRefused,
    OriginalUnknown,
    PinEntered,
    Printed,
    TimerExpired,
)
from firmware.core.flows import FLOWS, Candidate, Recovery, Refusal, judge
from firmware.core.model import BootState, JournalState, Kind, NetworkKind, OriginalRef, PendingAdvice, State, Timer
from firmware.core.receipt import build_receipt
from firmware.core.refund import judge_refund, valid_date
from hal.printer.document import plain_text

from .helpers import (
    CARD,
    DATE,
    NOW,
    ORIGINAL,
    RRN,
    SETTINGS,
    Driver,
    printed_all,
    reply,
    to_idle,
    to_original_date,
    to_reference,
    to_refund_lookup,
)

REFUND = FLOWS[Kind.REFUND]
PARTLY = replace(ORIGINAL, refunded=250)  # 12.50, of which 2.50 already refunded


def texts(actions) -> str:
    return " | ".join(" / ".join(a.lines) for a in actions if isinstance(a, A.Show))


def notes(actions) -> list[str]:
    return [a.code for a in actions if isinstance(a, A.Note)]


def to_refund_amount(original=PARTLY) -> Driver:
    d = to_refund_lookup()
    d.feed(OriginalFound(original) if original is not None else OriginalUnknown())
    d.keys("#")
    return d


def to_refund_authorising(amount: str = "500", original=PARTLY) -> Driver:
    d = to_refund_amount(original)
    d.keys(amount + "#")
    d.feed(CardRead(CARD), PinEntered())
    return d


def test_confirm_says_a_refund_of_the_sale_is_still_to_go():
    """A refund keyed before a power cut or while the host was silent is sent by itself later; a cashier who
    saw no slip might key it again. The confirm screen says what is still unsent in place of the card."""
    d = to_refund_lookup()
    out = d.feed(OriginalFound(replace(ORIGINAL, refunded=250, refund_pending=250)))
    assert d.state is State.CONFIRM and "LEFT CNY 10.00" in texts(out) and "UNSENT CNY 2.50" in texts(out)
    assert CARD.masked_pan not in texts(out)


def answer(d: Driver, **changes):
    record = d.last(A.OpenRequest).record
    base = dict(mti="0230", stan=record.stan, amount=record.amount)
    base.update(changes)
    return d.feed(HostAnswered(reply(**base)))


# -- the row ---------------------------------------------------------------------------
def test_refund_row_is_online_only_money_back_never_reversed():
    assert REFUND.recovery is Recovery.ADVICE and REFUND.by_reference and not REFUND.offline
    assert REFUND.refund and REFUND.keyed_amount and REFUND.same_card and REFUND.of == {Kind.SALE, Kind.PREAUTH_COMPLETE}


# -- the walk ----------------------------------------------------------------------------
def test_whole_refund_walk_approved_partial():
    d = to_reference()
    assert d.state is State.REFERENCE and "ORIGINAL REF NO:" in texts(d.batches[-1])
    d.keys(RRN + "#")
    assert d.state is State.ORIGINAL_DATE and "ORIGINAL DATE MMDD:" in texts(d.batches[-1])
    out = d.keys(DATE + "#")
    find = d.last(A.FindOriginal)
    assert d.state is State.LOOKUP and find.kind is Kind.REFUND and find.reference == OriginalRef(RRN, DATE)
    assert not [a for a in out if isinstance(a, (A.OpenRequest, A.SendRequest))]
    out = d.feed(OriginalFound(PARTLY))
    assert d.state is State.CONFIRM and "LEFT CNY 10.00" in texts(out) and CARD.masked_pan in texts(out)
    out = d.keys("#")
    assert d.state is State.AMOUNT and texts(out).startswith("REFUND")
    out = d.keys("500#")
    assert d.state is State.CARD and "REFUND CNY 5.00" in texts(out)
    d.feed(CardRead(CARD))
    assert d.state is State.PIN and d.last(A.BeginPin).allow_bypass is False
    out = d.feed(PinEntered())
    assert [type(a) for a in out if isinstance(a, (A.OpenRequest, A.SendRequest))] == [A.OpenRequest, A.SendRequest]
    record = d.last(A.OpenRequest).record
    assert (record.kind, record.amount, record.original, record.reference) == (
        Kind.REFUND, 500, PARTLY, OriginalRef(RRN, DATE))
    assert d.t.expect.mti == "0230" and d.t.expect.amount == 500  # a refund is a 0220: its answer a 0230
    out = answer(d)
    outcome = d.last(A.RecordOutcome)
    assert outcome.record.state is JournalState.APPROVED and outcome.reversal_reason is None
    kinds = [type(a) for a in out]
    assert kinds.index(A.RecordOutcome) < kinds.index(A.Print)  # committed before printing
    assert "REFUND APPROVED" in texts(out) and "-CNY 5.00" in texts(out)
    receipt = build_receipt(d.last(A.Print).job, SETTINGS)
    lines = [f"{line.text} {line.right or ''}" for line in receipt.lines]
    assert any("TRANS TYPE" in s and "REFUND" in s for s in lines)
    assert any("ORIG REF NO:" in s and RRN in s for s in lines) and any("ORIG DATE:" in s and f"{DATE[:2]}-{DATE[2:]}" in s for s in lines)
    assert any("-CNY 5.00" in s for s in lines)
    printed_all(d)
    assert d.state is State.IDLE and not d.all(A.SendReversal)


def test_refund_of_a_sale_the_journal_lacks_is_left_to_the_host():
    d = to_refund_lookup()
    out = d.feed(OriginalUnknown())
    assert d.state is State.CONFIRM and "NOT ON THIS TERMINAL" in texts(out) and RRN in texts(out)
    assert "refund.original_elsewhere" in notes(out)
    d.keys("#")
    d.keys("99999#")  # no local limit: the host knows the sale's amount
    assert d.state is State.CARD
    d.feed(CardRead(CARD), PinEntered())
    record = d.last(A.OpenRequest).record
    assert record.original is None and record.reference == OriginalRef(RRN, DATE) and record.amount == 99999


def test_refund_above_what_is_left_is_refused_then_keyed_again():
    d = to_refund_amount(PARTLY)
    out = d.keys("1001#")  # 10.01 > 10.00 left
    assert d.state is State.AMOUNT and "refund.over_amount" in notes(out) and "OVER REFUNDABLE" in texts(out)
    assert not d.all(A.EnableReader)
    d.keys("****1000#")  # exactly what is left
    assert d.state is State.CARD and d.t.sale.amount == 1000


@pytest.mark.parametrize("keys, state, note", [
    ("123#", State.REFERENCE, "KEY ALL 12 DIGITS"),
    ("#", State.REFERENCE, "KEY ALL 12 DIGITS"),
])
def test_reference_needs_all_twelve_digits(keys, state, note):
    d = to_reference()
    out = d.keys(keys)
    assert d.state is state and note in texts(out)


def test_reference_takes_twelve_digits_at_most_and_clears():
    d = to_reference()
    d.keys("1234567890123")
    assert d.t.sale.rrn == "123456789012"
    d.keys("*")
    assert d.t.sale.rrn == "12345678901"


@pytest.mark.parametrize("date", ["1332", "0230", "0000", "1200", "12", "0431"])
def test_bad_dates_are_keyed_again(date):
    d = to_original_date()
    out = d.keys(date + "#")
    assert d.state is State.ORIGINAL_DATE and "DATE IS MMDD" in texts(out) and not d.all(A.FindOriginal)


@pytest.mark.parametrize("date, ok", [("0229", True), ("1231", True), ("0101", True), ("0230", False),
                                      ("013", False), ("ab12", False), ("0631", False)])
def test_valid_date(date, ok):
    assert valid_date(date) is ok


def test_clear_on_an_empty_date_goes_back_to_the_reference():
    d = to_original_date()
    d.keys("*")
    assert d.state is State.REFERENCE and d.t.sale.rrn == RRN


@pytest.mark.parametrize("start", [to_reference, to_original_date, to_refund_amount])
def test_cancel_anywhere_before_the_card_goes_idle_having_written_nothing(start):
    d = start()
    d.keys("X")
    assert d.state is State.IDLE and not d.all(A.OpenRequest)


def test_refusal_goes_back_to_idle_with_its_code_naming_the_rrn():
    d = to_refund_lookup()
    out = d.feed(OriginalRefused("refund.voided", "SALE VOIDED"))
    assert d.state is State.IDLE
    assert "refund.voided" in notes(out) and "SALE VOIDED" in texts(out) and f"REF {RRN}" in texts(out)
    assert "NOT REFUNDED" in texts(out) and not d.all(A.OpenRequest)


def test_the_look_up_names_the_original_as_its_prompt_and_receipt_do():
    """ORIGINAL REF NO: was keyed and REF NO is printed; the screen between them said RRN (UX24)."""
    d = to_refund_lookup()
    shown = d.last(A.Show).lines
    assert f"REF {RRN}" in shown and not any("RRN" in line for line in (*shown, *shown.short)), shown


def test_unknown_original_is_a_refusal_for_a_void():
    from .helpers import to_lookup

    d = to_lookup()
    out = d.feed(OriginalUnknown())
    assert d.state is State.IDLE and "void.not_found" in notes(out)


# -- judging ------------------------------------------------------------------------------
def candidate(**changes) -> Candidate:
    base = dict(facts=ORIGINAL, state=JournalState.APPROVED)
    base.update(changes)
    return Candidate(**base)


@pytest.mark.parametrize("found, code", [
    (candidate(facts=replace(ORIGINAL, kind=Kind.REFUND)), "refund.is_refund"),
    (candidate(facts=replace(ORIGINAL, kind=Kind.VOID)), "refund.wrong_kind"),
    (candidate(facts=replace(ORIGINAL, kind=Kind.BALANCE)), "refund.wrong_kind"),
    (candidate(state=JournalState.DECLINED), "refund.not_approved"),
    (candidate(state=JournalState.REVERSED), "refund.not_approved"),
    (candidate(claims=(JournalState.APPROVED,)), "refund.voided"),
    (candidate(facts=replace(ORIGINAL, kind=Kind.PREAUTH_COMPLETE), claims=(JournalState.APPROVED,)), "refund.voided"),
    (candidate(facts=replace(ORIGINAL, kind=Kind.PREAUTH)), "refund.wrong_kind"),  # a hold took nothing
    (candidate(claims=(JournalState.REQUESTED,)), "refund.void_unresolved"),
    (candidate(facts=replace(ORIGINAL, refunded=ORIGINAL.amount)), "refund.fully_refunded"),
])
def test_judge_refund_refuses_with_exact_codes(found, code):
    verdict = judge_refund(found)
    assert isinstance(verdict, Refusal) and verdict.code == code


COMPLETION = replace(ORIGINAL, kind=Kind.PREAUTH_COMPLETE)


@pytest.mark.parametrize("found, code", [
    (candidate(state=JournalState.OFFLINE_APPROVED, declined=True), "refund.advice_declined"),
    (candidate(facts=COMPLETION, state=JournalState.OFFLINE_APPROVED, declined=True), "refund.advice_declined"),
    (candidate(state=JournalState.OFFLINE_APPROVED), "refund.not_uploaded"),
    (candidate(facts=COMPLETION, state=JournalState.OFFLINE_APPROVED), "refund.not_uploaded"),
])
def test_an_offline_approval_is_refunded_only_once_the_host_accepted_its_advice(found, code):
    """The void's rule (``flows.stored_advice_refusal``): a refused advice never took the money, and a queued one
    would reach the host after the refund that names it; an accepted one is refunded as any sale."""
    verdict = judge_refund(found)
    assert isinstance(verdict, Refusal) and verdict.code == code
    assert verdict.text == ("DECLINED BY HOST" if found.declined else "NOT YET UPLOADED")
    assert judge_refund(replace(found, forwarded=True, declined=False)) == found.facts


def test_judge_refund_lets_through_and_leaves_unknown_to_the_host():
    assert judge_refund(None) is None
    assert judge_refund(candidate(claims=(JournalState.DECLINED, JournalState.REVERSED))) == ORIGINAL
    assert judge_refund(candidate(facts=PARTLY, refunds=(JournalState.APPROVED,))) == PARTLY
    # 退货 of a pre-auth completion, as of a sale (a completion advice the host accepted)
    assert judge_refund(candidate(facts=COMPLETION, state=JournalState.OFFLINE_APPROVED, forwarded=True)) == COMPLETION


@pytest.mark.parametrize("state", [JournalState.APPROVED, JournalState.REQUESTED])
def test_a_refunded_sale_cannot_be_voided(state):
    verdict = judge(FLOWS[Kind.VOID], candidate(refunds=(state,)))
    assert isinstance(verdict, Refusal) and verdict.code == "void.refunded"
    assert judge(FLOWS[Kind.VOID], candidate(refunds=(JournalState.DECLINED,))) == ORIGINAL


# -- a refund the host did not answer usably: sent again, never reversed ----------------------
@pytest.mark.parametrize("silence", [TimerExpired(Timer.RESPONSE), LinkDropped("link.closed", "peer closed")])
def test_unanswered_refund_is_sent_again_as_an_advice_not_reversed(silence):
    d = to_refund_authorising()
    record = d.last(A.OpenRequest).record
    out = d.feed(silence)
    assert not d.all(A.SendReversal) and not d.t.reversals
    assert d.state is State.UPLINK and "REFUND QUEUED" in texts(out)
    send = d.last(A.SendAdvice)
    assert send.advice.txn_no == record.txn_no and send.repeat and send.advice.kind is Kind.REFUND
    assert not d.all(A.AdviceSending)  # its repeat was committed with the request, already "sent"
    out = d.feed(HostAnswered(reply(mti="0230", stan=record.stan, amount=500, rrn="000000000042")))
    done = d.last(A.AdviceOutcome)
    assert (done.txn_no, done.state, done.response_code, done.rrn) == (
        record.txn_no, JournalState.APPROVED, "00", "000000000042")
    assert "refund.approved" in [a.code for a in out if isinstance(a, A.Alert)]
    assert not d.all(A.AdviceDone) and not d.t.advices
    # money went back to the card: its receipts are owed with the outcome, then print, marked late
    assert done.copies == tuple(SETTINGS.copies) and SETTINGS.copies
    kinds = [type(a) for a in out]
    assert kinds.index(A.AdviceOutcome) < kinds.index(A.Print) and d.state is State.PRINTING
    jobs = []
    while d.state is State.PRINTING:
        jobs.append(d.last(A.Print))
        d.feed(Printed(jobs[-1].job.record.txn_no, jobs[-1].job.copy))
    assert [j.job.copy for j in jobs] == list(SETTINGS.copies) and all(j.job.late for j in jobs)
    assert {(j.job.record.state, j.job.record.rrn) for j in jobs} == {(JournalState.APPROVED, "000000000042")}
    paper = plain_text(jobs[0].receipt, 32)
    assert "LATE HOST ANSWER" in paper and "REFUND" in paper
    assert [(m.txn_no, m.copy) for m in d.all(A.MarkPrinted)] == [(record.txn_no, c) for c in SETTINGS.copies]
    assert d.state is State.IDLE and d.t.last_receipt.txn_no == record.txn_no


def test_refund_declined_when_sent_again_is_recorded_declined():
    d = to_refund_authorising()
    record = d.last(A.OpenRequest).record
    d.feed(TimerExpired(Timer.RESPONSE))
    out = d.feed(HostAnswered(reply(mti="0230", stan=record.stan, amount=500, response_code="25", approved=False)))
    assert d.last(A.AdviceOutcome).state is JournalState.DECLINED
    assert "refund.declined" in [a.code for a in out if isinstance(a, A.Alert)]


def test_refund_answered_with_a_bad_mac_is_sent_again():
    d = to_refund_authorising()
    out = answer(d, mac_ok=False)
    assert not d.all(A.RecordOutcome) and not d.all(A.SendReversal) and "HOST MAC ERROR" in texts(out)
    job = d.last(A.SendNetwork).job  # the host's keys may not be ours: sign on first
    assert job.kind is NetworkKind.SIGN_ON and not d.all(A.SendAdvice)
    d.feed(HostAnswered(reply(mti="0810", stan=job.stan, amount=None, mac_ok=None)))
    assert d.last(A.SendAdvice).repeat


def test_refund_sent_again_stays_queued_after_its_retries():
    d = to_refund_authorising()
    d.feed(TimerExpired(Timer.RESPONSE))
    out = d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert d.state is State.IDLE and [a.kind for a in d.t.advices] == [Kind.REFUND]
    assert any(isinstance(a, A.Alert) and a.code == "advice.pending" and "refund" in a.text for a in out)


def test_refund_is_online_only():
    d = to_refund_authorising()
    out = d.feed(ActionFailed(d.last(A.SendRequest), "link.refused", "refused", sent=False))
    outcome = d.last(A.RecordOutcome)
    assert (outcome.record.state, outcome.record.reason) == (JournalState.DECLINED, "refund.online_only")
    assert not d.t.advices and not d.all(A.SendAdvice) and "NOT REFUNDED" in texts(out)


def test_refund_whose_outcome_cannot_be_committed_is_never_printed_nor_reversed():
    d = to_refund_authorising()
    answer(d)
    out = d.feed(ActionFailed(d.last(A.RecordOutcome), "storage.full", "storage is full"))  # the Print after it dropped
    assert d.state is State.SUSPENDED and not d.t.print_queue and not d.t.reversals
    assert not [a for a in out if isinstance(a, (A.Print, A.SendReversal))]
    assert [(a.kind, a.sent_before) for a in d.t.advices] == [(Kind.REFUND, True)]  # the host answers it again


def test_a_waiting_refund_does_not_count_against_the_offline_limits():
    from firmware.core.settings import OfflineLimits

    settings = replace(SETTINGS, offline=OfflineLimits(max_count=1, max_amount=1000))
    boot = BootState(advices=(PendingAdvice(9, 9, 99999, NOW, sent_before=True, kind=Kind.REFUND),))
    d = Driver(settings, boot)
    assert [a.kind for a in d.t.advices] == [Kind.REFUND]
    assert d.t.offline_refusal(500, CARD, d.now) is None
    d.t.advices.append(PendingAdvice(10, 10, 600, NOW))  # a stored offline sale does count
    assert d.t.offline_refusal(500, CARD, d.now)[0] == "offline.max_count"


def test_refund_queued_before_a_power_cut_goes_out_at_boot_and_takes_its_outcome():
    item = PendingAdvice(4, 12, 700, NOW, sent_before=True, kind=Kind.REFUND)
    d = to_idle(boot=BootState(advices=(item,), interrupted=(4,)))
    send = d.last(A.SendAdvice)
    assert send.advice == item and send.repeat
    assert "sent again" in " ".join(a.text for a in d.all(A.Alert))
    d.feed(HostAnswered(reply(mti="0230", stan=12, amount=700)))
    # no record came with it, so no receipt can be built: the outcome is committed owing none
    assert d.last(A.AdviceOutcome).txn_no == 4 and d.last(A.AdviceOutcome).copies == ()
    assert d.state is State.IDLE and not d.all(A.Print)


def test_menu_offers_refund_and_balance():
    d = to_idle()
    out = d.keys("F")
    assert "6 REFUND" in texts(out) and "7 BALANCE" in texts(out)


# -- settlement: refunds are credits ---------------------------------------------------------------
def test_report_and_totals_screen_list_refunds_among_the_credits():
    from firmware.core import screens
    from firmware.core.batch import Totals
    from firmware.core.report import total_lines

    t = Totals(2, 3000, 3, 1500, refund_count=2, refund_amount=1000)
    lines = [f"{line.text}|{line.right}" for line in total_lines(t, SETTINGS)]
    assert "VOID          1|-CNY 5.00" in lines and "REFUND        2|-CNY 10.00" in lines
    assert "TOTAL         5|CNY 15.00" in lines
    plain = [f"{line.text}|{line.right}" for line in total_lines(Totals(2, 3000, 1, 500), SETTINGS)]
    assert "VOID          1|-CNY 5.00" in plain and not any(s.startswith("REFUND") for s in plain)
    d = to_idle()
    d.t.totals = t
    assert screens.totals(d.t)[2] == "CREDIT 3 CNY 15.00"
    d.t.totals = Totals(2, 3000, 1, 500)
    assert screens.totals(d.t)[2] == "VOID 1 CNY 5.00"


def test_late_answer_that_cannot_be_committed_suspends_and_keeps_the_refund_queued():
    from firmware.core.events import StorageOk

    d = to_refund_authorising()
    record = d.last(A.OpenRequest).record
    d.feed(TimerExpired(Timer.RESPONSE))
    d.feed(HostAnswered(reply(mti="0230", stan=record.stan, amount=500)))
    d.feed(ActionFailed(d.last(A.AdviceOutcome), "storage.full", "storage is full"))
    assert d.state is State.SUSPENDED
    item = PendingAdvice(record.txn_no, record.stan, 500, NOW, sent_before=True, kind=Kind.REFUND)
    d.feed(StorageOk(BootState(advices=(item,))))  # still queued in storage: it goes out again
    assert d.state is State.UPLINK and d.last(A.SendAdvice).advice == item


def test_an_approval_whose_commit_failed_prints_nothing_when_the_refund_is_then_declined():
    """The refund sent again is approved, but its outcome cannot be committed (a full disk): its
    receipts must not stay owed in memory. Sent again once storage works, the host declines it:
    no receipt of an approval the terminal never recorded may print (found by the property test)."""
    from firmware.core.events import StorageOk

    d = to_refund_authorising()
    record = d.last(A.OpenRequest).record
    d.feed(TimerExpired(Timer.RESPONSE))
    d.feed(HostAnswered(reply(mti="0230", stan=record.stan, amount=500, mac_ok=False)))  # a sign-on is owed
    d.feed(HostAnswered(reply(mti="0230", stan=record.stan, amount=500)))
    assert d.last(A.SendNetwork)  # the sign-on went before the receipts printed
    d.feed(ActionFailed(d.last(A.AdviceOutcome), "storage.full", "storage is full"))
    item = PendingAdvice(record.txn_no, record.stan, 500, NOW, sent_before=True, kind=Kind.REFUND)
    d.feed(StorageOk(BootState(advices=(item,))))
    d.feed(HostAnswered(reply(mti="0810", stan=d.last(A.SendNetwork).job.stan, amount=None, mac_ok=None)))
    out = d.feed(HostAnswered(reply(mti="0230", stan=record.stan, amount=500, response_code="51", approved=False)))
    assert d.last(A.AdviceOutcome).state is JournalState.DECLINED
    assert not [a for a in out if isinstance(a, A.Print)]
