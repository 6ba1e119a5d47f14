"""What a host's response code means for the queued messages: a reversal is closed only by an
answer that says it is done, a stored advice the host did not process goes again, and an answer
that shows the host's keys are not the terminal's brings a sign-on before anything else.

Each rule here guards the merchant's books against the bank's: a reversal taken as done
when the host refused it leaves the card charged with no receipt; an offline sale closed on
a malfunction is never paid; a terminal whose keys the host no longer holds can never have
its reversal acknowledged, and so can never sell or settle again.
"""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.events import CardRead, HostAnswered, PinEntered, SignOnRequested, TimerExpired
from firmware.core.model import BatchHeld, BootState, Counters, JournalState, NetworkJob, NetworkKind, PendingAdvice, PendingReversal, State, Timer
from firmware.errors import ConfigError
from firmware.host.profiles import get_profile
from firmware.host.spec import Profile

from .helpers import CARD, NOW, Driver, reply, to_pin

REVERSAL = PendingReversal(4, 4, 100)


def booted(*, reversals=(), advices=(), held: BatchHeld = BatchHeld()) -> Driver:
    return Driver(boot=BootState(counters=Counters(stan=50, txn_no=50), reversals=reversals, advices=advices,
                                 batch_held=held))


def rev_answer(code: str, **kw) -> HostAnswered:
    return HostAnswered(reply(mti="0410", stan=REVERSAL.stan, amount=REVERSAL.amount, response_code=code,
                              approved=code == "00", **kw))


def signon_answer(d: Driver, **kw) -> HostAnswered:
    return HostAnswered(reply(mti="0810", stan=d.last(A.SendNetwork).job.stan, amount=None, mac_ok=None, **kw))


def alerts(d: Driver) -> list[str]:
    return [a.code for a in d.all(A.Alert)]


# -- reversals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["00", "25", "94"])
def test_a_reversal_is_closed_by_done_no_such_original_or_already_reversed(code):
    d = booted(reversals=(REVERSAL,))
    d.feed(rev_answer(code))
    assert d.last(A.ReversalDone).response_code == code
    assert not d.t.reversals and d.state is State.IDLE


@pytest.mark.parametrize("code", ["96", "91", "05", "30", "12"])
def test_a_reversal_the_host_refused_goes_again_and_is_closed_only_when_done(code):
    d = booted(reversals=(REVERSAL,))
    out = d.feed(rev_answer(code))
    assert not d.all(A.ReversalDone)
    assert d.last(A.SendReversal).repeat and len(d.all(A.SendReversal)) == 2
    assert any(isinstance(a, A.Note) and f"reversal refused: {code}" in a.text for a in out)
    d.feed(rev_answer("00"))
    assert d.last(A.ReversalDone).response_code == "00" and not d.t.reversals


def test_a_reversal_refused_every_time_stays_queued_and_the_operator_is_told():
    d = booted(reversals=(REVERSAL,))
    for _ in range(3):
        d.feed(rev_answer("96"))
    assert not d.all(A.ReversalDone)
    assert [r.txn_no for r in d.t.reversals] == [REVERSAL.txn_no] and "reversal.pending" in alerts(d)
    assert "96 " in d.last(A.Alert).text
    assert d.state is State.IDLE


def test_a_reversal_answered_for_another_amount_is_not_taken_goes_again_at_once_and_is_named():
    """Its MTI, STAN and terminal, another amount, even "00": the host did not reverse what was sent. It is not
    closed, nor waited out as silence: it goes again at once, and the alert names the amount and the way out."""
    d = booted(reversals=(REVERSAL,))
    other = REVERSAL.amount + 1
    out = d.feed(HostAnswered(reply(mti="0410", stan=REVERSAL.stan, amount=other, response_code="00")))
    assert d.last(A.SendReversal).repeat and len(d.all(A.SendReversal)) == 2
    assert A.Note("uplink.retry", f"attempt 2: answered for amount {other}, expected {REVERSAL.amount}") in out
    for _ in range(2):
        d.feed(HostAnswered(reply(mti="0410", stan=REVERSAL.stan, amount=other, response_code="00")))
    assert not d.all(A.ReversalDone) and [r.txn_no for r in d.t.reversals] == [REVERSAL.txn_no]
    assert d.last(A.Alert) == A.Alert(
        "reversal.pending", f"reversal trace {REVERSAL.stan:06d} not delivered (answered for amount {other}, expected "
        f"{REVERSAL.amount}); it stays queued; if the host goes on answering so, settle it with the acquirer, then "
        f"posterm journal resolve --txn {REVERSAL.txn_no}")
    assert d.state is State.IDLE


def test_a_reversal_answered_mac_error_signs_on_first_then_goes_again():
    """A0: the host could not check our MAC, its keys are not ours (a sign-on answer was lost)."""
    d = booted(reversals=(REVERSAL,))
    d.feed(rev_answer("A0"))
    job = d.last(A.SendNetwork).job
    assert job.kind is NetworkKind.SIGN_ON and len(d.all(A.SendReversal)) == 1
    d.feed(signon_answer(d))
    assert d.last(A.InstallWorkingKeys) and len(d.all(A.SendReversal)) == 2
    d.feed(rev_answer("00"))
    assert not d.t.reversals and d.state is State.IDLE


def test_a_mac_error_the_sign_on_did_not_cure_takes_the_ordinary_retries():
    d = booted(reversals=(REVERSAL,))
    d.feed(rev_answer("A0"))
    d.feed(signon_answer(d))
    d.feed(rev_answer("A0"), rev_answer("A0"))  # once per reversal: no sign-on loop
    assert len(d.all(A.SendNetwork)) == 1
    d.feed(rev_answer("A0"))
    assert [r.txn_no for r in d.t.reversals] == [REVERSAL.txn_no] and "reversal.pending" in alerts(d)


def test_an_acknowledgement_failing_our_mac_check_brings_a_sign_on_too():
    d = booted(reversals=(REVERSAL,))
    d.feed(rev_answer("00", mac_ok=False))
    assert not d.all(A.ReversalDone) and d.t.network is NetworkKind.SIGN_ON
    d.feed(rev_answer("00", mac_ok=False), rev_answer("00", mac_ok=False))  # its retries, then given up
    assert "reversal.pending" in alerts(d)
    d.feed(SignOnRequested())  # the next uplink: the sign-on first
    assert d.last(A.SendNetwork).job.kind is NetworkKind.SIGN_ON


# -- stored advices ----------------------------------------------------------------------------
ADVICE = PendingAdvice(6, 6, 700, NOW)


def adv_answer(code: str, **kw) -> HostAnswered:
    return HostAnswered(reply(mti="0230", stan=ADVICE.stan, amount=ADVICE.amount, response_code=code,
                              approved=code == "00", **kw))


@pytest.mark.parametrize("code", ["96", "91", "30", "68"])
def test_a_stored_sale_the_host_did_not_process_goes_again_not_closed(code):
    d = booted(advices=(ADVICE,))
    d.feed(adv_answer(code))
    assert not d.all(A.AdviceDone) and d.last(A.SendAdvice).repeat
    d.feed(adv_answer("00"))
    assert d.last(A.AdviceDone).response_code == "00" and not d.t.advices
    assert "advice.declined" not in alerts(d)


def test_a_stored_sale_refused_for_now_every_time_stays_queued():
    d = booted(advices=(ADVICE,))
    d.feed(adv_answer("96"), adv_answer("96"), adv_answer("96"))
    assert not d.all(A.AdviceDone) and [a.txn_no for a in d.t.advices] == [ADVICE.txn_no]
    assert "advice.pending" in alerts(d)


def test_a_stored_sale_the_issuer_declines_is_closed_and_the_operator_told():
    d = booted(advices=(ADVICE,))
    d.feed(adv_answer("51"))
    assert d.last(A.AdviceDone).response_code == "51" and "advice.declined" in alerts(d)


def test_a_stored_sale_answered_mac_error_is_sent_again_after_a_sign_on():
    from firmware.core.events import UploadRequested

    d = booted(advices=(ADVICE,))
    d.feed(adv_answer("A0"), adv_answer("A0"), adv_answer("A0"))  # its attempts, under the old keys
    assert not d.all(A.AdviceDone) and d.t.network is NetworkKind.SIGN_ON and d.state is State.IDLE
    sent = len(d.all(A.SendAdvice))
    d.feed(UploadRequested())  # the next upload: the sign-on first, then the advice under the new keys
    assert d.last(A.SendNetwork).job.kind is NetworkKind.SIGN_ON and len(d.all(A.SendAdvice)) == sent
    d.feed(signon_answer(d))
    assert len(d.all(A.SendAdvice)) == sent + 1 and d.last(A.SendAdvice).repeat
    d.feed(adv_answer("00"))
    assert d.last(A.AdviceDone).response_code == "00" and not d.t.advices


# -- the batch a sign-on names -----------------------------------------------------------------
def test_a_sign_on_adopts_the_hosts_batch_when_the_open_one_is_empty():
    d = booted()
    d.feed(SignOnRequested())
    d.feed(signon_answer(d, batch=7))
    assert d.last(A.InstallWorkingKeys).counters.batch == 7


def test_a_sign_on_keeps_an_open_batch_that_holds_transactions():
    d = booted(held=BatchHeld(debit_count=3, debit_amount=3750))
    d.feed(SignOnRequested())
    d.feed(signon_answer(d, batch=7))
    assert d.last(A.InstallWorkingKeys).counters.batch == 1
    assert "signon.batch_kept" in alerts(d)


# -- the profile's lists -----------------------------------------------------------------------
@pytest.mark.parametrize("attr", ["reversal_done_codes", "try_again_codes", "key_error_codes"])
def test_a_profile_refuses_a_malformed_code_in_its_lists(attr):
    cup = get_profile("cup")
    fields = {f: getattr(cup, f) for f in Profile.__dataclass_fields__}
    fields[attr] = frozenset({"0"})
    with pytest.raises(ConfigError) as info:
        Profile(**fields)
    assert info.value.code == "config.bad_response_code"


def test_the_timer_still_retries_a_reversal():
    d = booted(reversals=(REVERSAL,))
    d.feed(TimerExpired(Timer.RESPONSE))
    assert d.last(A.SendReversal).repeat


# -- a sign-on owed when a sale goes online ----------------------------------------------------
def sale_with_sign_on_owed() -> Driver:
    d = to_pin()
    d.t.network = NetworkKind.SIGN_ON  # an inquiry's answer failed its MAC (nothing queued to carry it)
    d.feed(PinEntered())
    return d


def test_a_sign_on_owed_goes_before_the_sale():
    d = sale_with_sign_on_owed()
    assert d.last(A.SendNetwork).job.kind is NetworkKind.SIGN_ON and not d.all(A.SendRequest)
    d.feed(signon_answer(d))
    assert d.last(A.InstallWorkingKeys) and d.last(A.SendRequest)
    assert d.state is State.AUTHORISING


def test_a_refused_sign_on_lets_the_sale_go_on_under_the_keys_it_has():
    d = sale_with_sign_on_owed()
    d.feed(signon_answer(d, response_code="97", approved=False))
    assert "signon.refused" in alerts(d) and d.last(A.SendRequest)
    assert d.state is State.AUTHORISING


def test_an_unanswered_sign_on_sends_the_sale_to_its_offline_decision():
    d = sale_with_sign_on_owed()
    d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert "signon.failed" in alerts(d) and not d.all(A.SendRequest)
    assert d.t.network is None
    # the host is out of reach, as for a reversal that could not go: approved offline within the limits
    assert d.last(A.RecordOutcome).record.state is JournalState.OFFLINE_APPROVED
    assert d.state is State.PRINTING


def test_a_refused_sign_on_before_a_sale_still_lets_the_queued_reversal_go_first():
    d = booted(reversals=(REVERSAL,))
    d.feed(*[TimerExpired(Timer.RESPONSE)] * 3)  # the reversal stays queued
    d.keys("1250#")
    d.feed(CardRead(CARD))
    d.t.network = NetworkKind.SIGN_ON
    d.feed(PinEntered())
    d.feed(signon_answer(d, response_code="97", approved=False))
    assert d.last(A.SendReversal) and not d.all(A.SendRequest)
    d.feed(rev_answer("00"))
    assert d.last(A.SendRequest) and not d.t.reversals


# -- a reversal's first transmission is noted --------------------------------------------------
def test_a_reversals_first_transmission_is_noted_before_it_leaves():
    d = booted(reversals=(REVERSAL,))
    first = d.batches[-1]
    names = [a.name for a in first]
    assert names.index("reversal_sending") < names.index("send_reversal")
    assert not d.last(A.SendReversal).repeat
    d.feed(TimerExpired(Timer.RESPONSE))
    assert d.last(A.SendReversal).repeat and len(d.all(A.ReversalSending)) == 1


def test_a_reversal_sent_before_a_power_cut_goes_as_a_repeat_without_a_new_note():
    from dataclasses import replace

    d = booted(reversals=(replace(REVERSAL, sent_before=True),))
    assert d.last(A.SendReversal).repeat and not d.all(A.ReversalSending)


def test_a_sign_on_whose_keys_fail_their_check_before_a_sale_ends_that_sale_and_wipes_its_card():
    from firmware.core.events import ActionFailed

    d = sale_with_sign_on_owed()
    txn = d.t.sale.txn_no
    d.feed(signon_answer(d))
    out = d.feed(ActionFailed(d.last(A.InstallWorkingKeys), "signon.check_value", "the MAC key fails its check value"))
    assert A.WipeCard(txn) in out
    assert d.t.sale is None and d.state is not State.AUTHORISING


@pytest.mark.parametrize("queued", ["reversal", "advice"])
def test_a_host_whose_answers_always_fail_the_mac_brings_one_sign_on_not_a_loop(queued):
    """Once per message: if the sign-on does not cure it, the message takes its ordinary retries and
    stays queued; the terminal must not sign on and send again for ever by itself."""
    if queued == "reversal":
        d, bad = booted(reversals=(REVERSAL,)), rev_answer("00", mac_ok=False)
    else:
        d, bad = booted(advices=(ADVICE,)), adv_answer("00", mac_ok=False)
    from firmware.core.events import UploadRequested

    for _ in range(3):  # three uploads (the idle timer, F 1): each sends the message again
        for _ in range(30):
            if d.state is not State.UPLINK:
                break
            job = d.t.job
            if job is not None and not hasattr(job, "flights") and isinstance(job.item, NetworkJob):
                d.feed(signon_answer(d))
            else:
                d.feed(bad)
        assert d.state is not State.UPLINK, "still signing on and sending after 30 answers"
        d.feed(UploadRequested())
    assert len(d.all(A.SendNetwork)) == 1
