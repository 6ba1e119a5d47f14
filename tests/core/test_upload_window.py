"""The pipelined upload of stored offline sales, at the level of the sans-IO core.

``host.upload_window`` advices may be in flight on the one connection; their
answers are matched by MTI, STAN, terminal ID and amount in any order. The
window's marks ("sent before") are one commit before any of its frames leave,
and every later transmission is a repeat (0221). A window of 1 is exactly the
uplink as it was before the window existed: the first test pins that down
action by action.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    Booted,
    HostAnswered,
    HostFrameRejected,
    KeyPressed,
    LinkDropped,
    SignOnRequested,
    StorageOk,
    TimerExpired,
    UploadRequested,
)
from firmware.core.model import (
    BootState,
    Counters,
    PendingAdvice,
    PendingReversal,
    State,
    Timer,
)
from firmware.errors import StateError

from .helpers import NOW, SETTINGS, Driver, reply

T = SETTINGS.response_timeout


def window(n: int):
    return replace(SETTINGS, upload_window=n)


def advice(txn: int, amount: int, sent: bool = False) -> PendingAdvice:
    return PendingAdvice(txn, txn, amount, NOW, sent_before=sent)


def ack(a: PendingAdvice, **kw) -> HostAnswered:
    return HostAnswered(reply(**{"mti": "0230", "stan": a.stan, "amount": a.amount, **kw}))


def sent(a: PendingAdvice) -> PendingAdvice:
    return replace(a, sent_before=True)


def boot(n: int, *advices: PendingAdvice, reversals=()) -> Driver:
    d = Driver(window(n))
    d.feed(Booted(BootState(counters=Counters(stan=50, txn_no=50), advices=advices, reversals=reversals)))
    return d


def screen(stan: int) -> A.Show:
    return A.Show(("SENDING OFFLINE SALE", f"TRACE {stan:06d}", "PLEASE WAIT"))


HOST_REF = ("000000000001", "123456", "1122")  # an acceptance's RRN, authorisation and settlement date (reply())
IDLE_SCREEN = A.Show(("POSTERM DEMO SHOP", "READY", "KEY AMOUNT TO SELL", ""))


# -- a window of 1 is today's uplink --------------------------------------------------
def test_a_window_of_one_is_the_uplink_as_before_action_by_action():
    a3, a4, a5 = advice(3, 800), advice(4, 900), advice(5, 700, sent=True)
    d = boot(1, a3, a4, a5)
    wait = A.StartTimer(Timer.RESPONSE, T)
    assert d.batches[-1] == [screen(3), A.AdviceSending(3), A.SendAdvice(sent(a3), repeat=False), wait]
    assert d.feed(TimerExpired(Timer.RESPONSE)) == [
        A.Note("uplink.retry", "attempt 2: no answer"), A.SendAdvice(sent(a3), repeat=True), wait]
    assert d.feed(ack(a3)) == [
        A.CancelTimer(Timer.RESPONSE), A.AdviceDone(3, "00", True, *HOST_REF),
        screen(4), A.AdviceSending(4), A.SendAdvice(sent(a4), repeat=False), wait]
    assert d.feed(ack(a4, amount=1)) == [  # its answer, for another amount: not taken, it goes again
        A.Note("uplink.retry", "attempt 2: answered for amount 1, expected 900"), A.SendAdvice(sent(a4), repeat=True), wait]
    assert d.feed(ack(a4, mac_ok=None)) == [  # (a MAC that fails also brings a sign-on: test_host_codes.py)
        A.Note("uplink.retry", "attempt 3: acknowledgement carries no MAC"), A.SendAdvice(sent(a4), repeat=True), wait]
    assert d.feed(ack(a4, response_code="51", approved=False)) == [
        A.CancelTimer(Timer.RESPONSE), A.AdviceDone(4, "51", False, HOST_REF[0]),  # a refusal keeps its RRN only
        A.Alert("advice.declined", "offline sale trace 000004 declined by the host: 51 Insufficient funds"),
        screen(5), A.SendAdvice(a5, repeat=True), wait]
    assert d.feed(HostFrameRejected("host.malformed", "bad frame")) == [
        A.Note("host.malformed", "host frame rejected: bad frame")]
    assert d.feed(LinkDropped("link.closed", "peer closed")) == [
        A.Note("uplink.retry", "attempt 2: peer closed"), A.SendAdvice(a5, repeat=True), wait]
    assert d.feed(TimerExpired(Timer.RESPONSE)) == [
        A.Note("uplink.retry", "attempt 3: no answer"), A.SendAdvice(a5, repeat=True), wait]
    assert d.feed(TimerExpired(Timer.RESPONSE)) == [
        A.CancelTimer(Timer.RESPONSE), A.Disconnect(),
        A.Alert("advice.pending", "offline sale trace 000005 not delivered (no answer); it stays queued"),
        A.CancelTimer(Timer.INPUT), A.CancelTimer(Timer.RESPONSE),
        A.Show(("POSTERM DEMO SHOP", "READY", "KEY AMOUNT TO SELL", "1 OFFLINE QUEUED")),
        A.StartTimer(Timer.UPLOAD, SETTINGS.upload_interval)]
    assert d.state is State.IDLE
    assert d.feed(UploadRequested()) == [
        A.CancelTimer(Timer.UPLOAD), screen(5), A.SendAdvice(a5, repeat=True), wait]
    failed = ActionFailed(A.SendAdvice(a5, repeat=True), "link.down", "refused", sent=False)
    assert d.feed(failed) == [
        A.Alert("link.down", "refused"), A.Note("uplink.retry", "attempt 2: refused"),
        A.SendAdvice(a5, repeat=True), wait]
    assert d.feed(ack(a5)) == [
        A.CancelTimer(Timer.RESPONSE), A.AdviceDone(5, "00", True, *HOST_REF),
        A.CancelTimer(Timer.INPUT), A.CancelTimer(Timer.RESPONSE), IDLE_SCREEN]
    assert d.state is State.IDLE and not d.t.advices


# -- a window of 4 ------------------------------------------------------------------------
def sends(actions) -> list[tuple[int, bool]]:
    return [(a.advice.txn_no, a.repeat) for a in actions if isinstance(a, A.SendAdvice)]


def in_flight(d: Driver) -> list[int]:
    return [f.advice.txn_no for f in d.t.job.flights]


def test_the_window_is_marked_in_one_commit_before_its_frames_leave_back_to_back():
    queue = [advice(1, 101), advice(2, 102, sent=True), advice(3, 103), advice(4, 104), advice(5, 105)]
    d = boot(4, *queue)
    batch = d.batches[-1]
    assert d.state is State.UPLINK
    assert batch[0] == A.Show(("SENDING OFFLINE", "5 SALES QUEUED", "PLEASE WAIT"))
    (mark,) = [a for a in batch if isinstance(a, A.AdviceSending)]  # one commit for the window
    assert mark.txn_nos == (1, 3, 4)  # the one sent before (perhaps before a power cut) needs no mark
    assert batch.index(mark) == 1 and all(isinstance(a, A.SendAdvice) for a in batch[2:6])
    assert sends(batch) == [(1, False), (2, True), (3, False), (4, False)]  # 2 may have reached the host: 0221
    assert batch[-1] == A.StartTimer(Timer.RESPONSE, T)
    assert in_flight(d) == [1, 2, 3, 4] and all(a.sent_before for a in d.t.advices[:4])
    assert not d.t.advices[4].sent_before


def test_answers_in_any_order_each_commit_and_refill_the_window():
    queue = [advice(n, 100 + n) for n in range(1, 8)]
    d = boot(4, *queue)
    out = d.feed(ack(queue[2]))  # the third answered first
    assert out == [A.CancelTimer(Timer.RESPONSE), A.AdviceDone(3, "00", True, *HOST_REF), A.AdviceSending(5),
                   A.SendAdvice(sent(queue[4]), repeat=False), A.StartTimer(Timer.RESPONSE, T)]
    assert in_flight(d) == [1, 2, 4, 5]
    out = d.feed(ack(queue[3], response_code="51", approved=False))  # declined: committed and alerted
    assert out[:3] == [A.CancelTimer(Timer.RESPONSE), A.AdviceDone(4, "51", False, HOST_REF[0]),
                       A.Alert("advice.declined", "offline sale trace 000004 declined by the host: 51 Insufficient funds")]
    assert sends(out) == [(6, False)] and in_flight(d) == [1, 2, 5, 6]
    d.feed(ack(queue[5]))
    assert in_flight(d) == [1, 2, 5, 7]
    out = d.feed(ack(queue[0], response_code="94", approved=False))  # 94: the host had it already, no alert
    assert out == [A.CancelTimer(Timer.RESPONSE), A.AdviceDone(1, "94", True, HOST_REF[0]), A.StartTimer(Timer.RESPONSE, T)]
    for n in (7, 2, 5):
        assert d.state is State.UPLINK
        d.feed(ack(queue[n - 1]))
    assert d.state is State.IDLE and not d.t.advices and d.t.job is None
    done = [a.txn_no for a in d.all(A.AdviceDone)]
    assert sorted(done) == list(range(1, 8)) and len(d.all(A.AdviceSending)) == 4  # the window, then 3 refills


def test_an_answer_that_fits_nothing_in_flight_changes_nothing():
    queue = [advice(n, 100 + n) for n in range(1, 6)]
    d = boot(4, *queue)
    assert d.feed(ack(queue[4])) == [A.Note("host.unmatched", "answer rejected: STAN 000005, expected 000001")]
    assert d.feed(HostAnswered(reply(mti="0410", stan=1, amount=101))) == [
        A.Note("host.unmatched", "answer rejected: MTI 0410, expected 0230")]
    assert d.state is State.UPLINK and in_flight(d) == [1, 2, 3, 4] and not d.all(A.AdviceDone)


def test_an_advice_answered_for_another_amount_goes_again_by_itself_then_is_named():
    """Its MTI, STAN and terminal, another amount: the host answered this advice but not as stored. It is not taken
    (nor waited out as silence): it alone goes again, and once its attempts are spent the alert names the amount and
    the way out (the acquirer, then posterm journal resolve), as for a reversal the host keeps refusing."""
    queue = [advice(n, 100 + n) for n in range(1, 4)]
    d = boot(4, *queue)
    wait = A.StartTimer(Timer.RESPONSE, T)
    assert d.feed(ack(queue[1], amount=999)) == [
        A.Note("uplink.retry", "attempt 2: answered for amount 999, expected 102 (trace 000002)"),
        A.SendAdvice(sent(queue[1]), repeat=True), wait]
    d.feed(ack(queue[1], amount=999))
    out = d.feed(ack(queue[1], amount=999))
    assert A.Alert("advice.pending", "offline sale trace 000002 not delivered (answered for amount 999, expected 102); "
                   "it stays queued; if the host goes on answering so, settle it with the acquirer, then posterm "
                   "journal resolve --txn 2") in out
    assert [a.txn_no for a in d.t.advices] == [1, 2, 3] and not d.all(A.AdviceDone)


@pytest.mark.parametrize(
    "failure, why",
    [
        (TimerExpired(Timer.RESPONSE), "no answer"),
        (LinkDropped("link.closed", "the host closed the connection"), "the host closed the connection"),
    ],
)
def test_silence_or_a_drop_with_several_in_flight_sends_every_one_again_as_a_repeat(failure, why):
    queue = [advice(n, 100 + n) for n in range(1, 7)]
    d = boot(4, *queue)
    d.feed(ack(queue[1]))  # 2 answered; 5 refilled
    out = d.feed(failure)
    assert out == [
        *[A.Note("uplink.retry", f"attempt 2: {why} (trace {n:06d})") for n in (1, 3, 4, 5)],
        *[A.SendAdvice(sent(queue[n - 1]), repeat=True) for n in (1, 3, 4, 5)],
        A.StartTimer(Timer.RESPONSE, T),
    ]
    assert not any(isinstance(a, A.AdviceSending) for a in out)  # marked already: no commit for a retry
    d.feed(ack(queue[3]))  # an answer to either transmission completes it; the refill's first send is an 0220
    assert sends(d.batches[-1]) == [(6, False)]


def test_a_failed_send_part_way_through_the_window_sends_the_whole_window_again():
    queue = [advice(n, 100 + n) for n in range(1, 5)]
    d = boot(4, *queue)
    third = [a for a in d.batches[-1] if isinstance(a, A.SendAdvice)][2]
    out = d.feed(ActionFailed(third, "link.send_failed", "could not send to the host", sent=None))
    assert out[0] == A.Alert("link.send_failed", "could not send to the host")
    assert sends(out) == [(1, True), (2, True), (3, True), (4, True)]  # all marked: even 4, never sent, is a 0221
    assert d.state is State.UPLINK


def test_a_bad_mac_fails_only_its_own_advice():
    queue = [advice(n, 100 + n) for n in range(1, 5)]
    d = boot(4, *queue)
    assert d.feed(ack(queue[2], mac_ok=False)) == [
        A.Note("uplink.retry", "attempt 2: acknowledgement failed its MAC (trace 000003)"),
        A.SendAdvice(sent(queue[2]), repeat=True), A.StartTimer(Timer.RESPONSE, T)]
    assert in_flight(d) == [1, 2, 3, 4] and not d.all(A.AdviceDone)


@pytest.mark.parametrize("unusable, why", [
    (dict(response_code="96", approved=False), "not processed: 96 Declined"),
    (dict(mac_ok=False), "acknowledgement failed its MAC"),
])
def test_an_unusable_answer_twice_in_one_arrival_sends_one_repeat_and_a_later_one_answers_the_repeat(unusable, why):
    """The second copy came in the same read as the first, so before the repeat the first asked for left: it cannot
    be that repeat's answer. One attempt spent, one repeat sent; the next read's answer is the repeat's, as before."""
    queue = [advice(n, 100 + n) for n in range(1, 3)]
    d = boot(4, *queue)
    first = d.feed(replace(ack(queue[0], **unusable), arrival=7))
    assert sends(first) == [(1, True)] and A.Note("uplink.retry", f"attempt 2: {why} (trace 000001)") in first
    again = d.feed(replace(ack(queue[0], **unusable), arrival=7))
    assert again == [A.Note("uplink.stale_retry", f"{why} again in the same arrival, before its repeat left: "
                                                  "ignored (trace 000001)")]
    assert in_flight(d) == [1, 2] and d.state is State.UPLINK
    later = d.feed(replace(ack(queue[0], **unusable), arrival=8))  # after the repeat went: the repeat's answer
    assert sends(later) == [(1, True)] and A.Note("uplink.retry", f"attempt 3: {why} (trace 000001)") in later
    assert d.feed(replace(ack(queue[0]), arrival=9))[1] == A.AdviceDone(1, "00", True, *HOST_REF)


def test_unusable_answers_of_unknown_arrival_each_send_a_repeat_as_before():
    """A caller that does not say which read brought an answer (``arrival`` None) gets each one acted on."""
    queue = [advice(1, 101)]
    d = boot(4, *queue)
    for attempt in (2, 3):
        out = d.feed(ack(queue[0], response_code="96", approved=False))
        assert sends(out) == [(1, True)] and out[0].text.startswith(f"attempt {attempt}:")


def test_when_one_advice_has_used_every_attempt_the_upload_stops_and_all_in_flight_stay_queued():
    queue = [advice(n, 100 + n) for n in range(1, 7)]
    d = boot(4, *queue)  # SETTINGS.reversal_retries: 3 attempts each
    d.feed(TimerExpired(Timer.RESPONSE))
    d.feed(ack(queue[1]))  # 2 done; 5 refilled at its first attempt
    d.feed(TimerExpired(Timer.RESPONSE))  # 1, 3, 4 at attempt 3; 5 at 2
    out = d.feed(TimerExpired(Timer.RESPONSE))
    assert out[:2] == [A.CancelTimer(Timer.RESPONSE), A.Disconnect()]
    alerts = [a for a in out if isinstance(a, A.Alert)]
    assert [a.text for a in alerts] == [
        f"offline sale trace {n:06d} not delivered (no answer); it stays queued" for n in (1, 3, 4)]
    assert A.Note("uplink.abandoned", "also left in flight, still queued: trace 000005") in out
    assert not any(isinstance(a, A.SendAdvice) for a in out)
    assert d.state is State.IDLE and d.t.job is None and d.t.link_up is False
    assert [(a.txn_no, a.sent_before) for a in d.t.advices] == [(1, True), (3, True), (4, True), (5, True), (6, False)]
    # a late answer is not the core's business now: the runner notes it and the advice goes again as a 0221
    with pytest.raises(StateError) as err:
        d.t.handle(ack(queue[0]), NOW)
    assert err.value.code == "state.illegal_event"
    out = d.feed(UploadRequested())
    assert [a for a in out if isinstance(a, A.AdviceSending)] == []  # all four were marked before
    assert sends(out) == [(1, True), (3, True), (4, True), (5, True)]


def test_storage_failing_at_a_refill_mark_suspends_before_its_frame_leaves():
    queue = [advice(n, 100 + n) for n in range(1, 6)]
    d = boot(4, *queue)
    batch = d.feed(ack(queue[0]))
    mark = next(a for a in batch if isinstance(a, A.AdviceSending))
    d.feed(ActionFailed(mark, "storage.full", "storage is full"))
    assert d.state is State.SUSPENDED and d.t.job is None
    assert not d.t.accepts(ack(queue[1]))  # answers of the rest in flight are ignored
    d.feed(StorageOk(BootState(counters=Counters(stan=50, txn_no=50),
                               advices=tuple(sent(a) for a in queue[1:4]) + (queue[4],))))
    assert d.state is State.UPLINK
    assert sends(d.batches[-1]) == [(2, True), (3, True), (4, True), (5, False)]


@pytest.mark.parametrize("event", [KeyPressed("5"), KeyPressed("F"), UploadRequested(), SignOnRequested(),
                                   StorageOk(BootState())])
def test_events_the_uplink_does_not_take_are_refused_and_leave_the_window_alone(event):
    queue = [advice(n, 100 + n) for n in range(1, 6)]
    d = boot(4, *queue)
    with pytest.raises(StateError) as err:
        d.t.handle(event, NOW)
    assert err.value.code == "state.illegal_event"
    assert type(event).__name__ in err.value.text and "UPLINK" in err.value.text
    assert d.state is State.UPLINK and in_flight(d) == [1, 2, 3, 4]


def test_a_reversal_goes_alone_and_first_then_the_window_opens():
    queue = [advice(n, 100 + n) for n in range(2, 6)]
    d = boot(4, *queue, reversals=(PendingReversal(1, 1, 500),))
    first = d.batches[-1]
    assert [a.name for a in first if a.name.startswith(("send", "advice"))] == ["send_reversal"]
    out = d.feed(HostAnswered(reply(mti="0410", stan=1, amount=500)))
    assert out[:2] == [A.CancelTimer(Timer.RESPONSE), A.ReversalDone(1, "00", "98")]
    assert sends(out) == [(2, False), (3, False), (4, False), (5, False)]
    assert out.index(next(a for a in out if isinstance(a, A.AdviceSending))) < out.index(
        next(a for a in out if isinstance(a, A.SendAdvice)))


def test_a_settlement_counts_the_batch_only_once_the_window_has_drained():
    queue = [advice(n, 100 + n) for n in range(1, 4)]
    d = boot(4, *queue)
    while d.state is State.UPLINK:  # the boot's upload cannot finish: the host is silent
        d.feed(TimerExpired(Timer.RESPONSE))
    d.keys("F5")  # settle: the queue goes first, in a window
    assert d.state is State.UPLINK and sends(d.batches[-1]) == [(1, True), (2, True), (3, True)]
    d.feed(ack(queue[2]), ack(queue[0]))
    assert not d.all(A.CountBatch)
    d.feed(ack(queue[1]))
    assert d.state is State.COUNTING and d.last(A.CountBatch)
