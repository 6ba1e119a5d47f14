"""The pre-authorisation family through the sans-IO core: menu page 2, the walks, the journal's
judgements (exact ``preauth.*`` codes), the amount rules, and what happens when the host is silent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.core import actions as A
from firmware.core.events import (
    CardRead,
    HostAnswered,
    LinkDropped,
    OriginalFound,
    OriginalRefused,
    OriginalUnknown,
    PinEntered,
    TimerExpired,
)
from firmware.core.flows import (
    FLOWS,
    MENU_MORE_FLOWS,
    PREAUTH_FLOWS,
    Candidate,
    Recovery,
    Refusal,
)
from firmware.core.model import (
    BootState,
    Copy,
    JournalState,
    KeyState,
    Kind,
    OriginalRef,
    PrintJob,
    State,
    Timer,
)
from firmware.core.preauth import completion_limit, judge_preauth
from firmware.core.receipt import build_receipt

from .helpers import (
    CARD,
    DATE,
    ORIGINAL,
    SETTINGS,
    Driver,
    reply,
    to_menu,
)

AUTH = "654321"
PREAUTH = replace(ORIGINAL, kind=Kind.PREAUTH, amount=10000, stan=3, rrn="000000000003", auth_code=AUTH)
COMPLETION = replace(ORIGINAL, txn_no=5, kind=Kind.PREAUTH_COMPLETE, amount=11000, stan=9, rrn="000000000009",
                     auth_code="222222")


def notes(actions) -> list[str]:
    return [a.code for a in actions if isinstance(a, A.Note)]


def page2(key: str) -> Driver:
    d = to_menu()
    d.keys("0" + key)
    return d


def answer(d: Driver, mti: str, **changes):
    record = d.last(A.OpenRequest).record
    base = {"mti": mti, "stan": record.stan, "amount": record.amount}
    base.update(changes)
    return d.feed(HostAnswered(reply(**base)))


def named(key: str, original=PREAUTH, auth: str = AUTH, date: str = DATE) -> Driver:
    """Cancel (2) or completion (3): auth code, date, the runner's verdict, confirmed."""
    d = page2(key)
    d.keys(auth + "#" + date + "#")
    d.feed(OriginalFound(original) if original is not None else OriginalUnknown())
    d.keys("#")
    return d


# -- the rows and the menu ----------------------------------------------------------------
def test_rows_are_online_reversed_and_name_what_they_should():
    assert set(PREAUTH_FLOWS) == {Kind.PREAUTH, Kind.PREAUTH_VOID, Kind.PREAUTH_COMPLETE, Kind.PREAUTH_COMPLETE_VOID}
    for flow in PREAUTH_FLOWS.values():
        assert FLOWS[flow.kind] is flow and not flow.offline and flow.recovery is Recovery.REVERSAL
        assert flow.prefix == "preauth" and flow.moves_money
    assert not FLOWS[Kind.PREAUTH].original and FLOWS[Kind.PREAUTH].keyed_amount
    for kind in (Kind.PREAUTH_VOID, Kind.PREAUTH_COMPLETE):
        f = FLOWS[kind]
        assert f.by_reference and f.by_auth_code and f.keyed_amount and f.same_card and f.of == {Kind.PREAUTH}
    assert FLOWS[Kind.PREAUTH_VOID].exact_amount and FLOWS[Kind.PREAUTH_COMPLETE].tolerance == 15
    cv = FLOWS[Kind.PREAUTH_COMPLETE_VOID]
    assert cv.original and not cv.by_reference and not cv.keyed_amount and cv.of == {Kind.PREAUTH_COMPLETE}


def test_page_two_shows_and_starts_the_family():
    d = to_menu()
    d.keys("0")
    assert "1 PREAUTH  2 CANCEL" in d.last(A.Show).lines
    assert MENU_MORE_FLOWS == {"1": Kind.PREAUTH, "2": Kind.PREAUTH_VOID, "3": Kind.PREAUTH_COMPLETE,
                               "4": Kind.PREAUTH_COMPLETE_VOID, "5": Kind.TRANSFER}  # 5: transfer.py
    assert page2("1").state is State.AMOUNT and page2("1").t.sale.kind is Kind.PREAUTH
    d = page2("2")
    assert d.state is State.REFERENCE and "ORIGINAL AUTH NO:" in d.last(A.Show).lines
    assert page2("3").state is State.REFERENCE and page2("3").t.sale.kind is Kind.PREAUTH_COMPLETE
    assert page2("4").state is State.TRACE and page2("4").t.sale.kind is Kind.PREAUTH_COMPLETE_VOID


def test_page_one_keys_keep_their_meaning():
    d = to_menu()
    d.keys("2")  # sign on, from page 1
    assert d.state is State.UPLINK


def test_page_two_refused_without_working_keys():
    d = Driver(boot=BootState(keys=KeyState.NEED_SIGN_ON))
    d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    assert d.state is State.SIGNED_OFF
    d.keys("F01")
    assert d.state is State.MENU and "SIGN ON FIRST" in d.last(A.Show).lines


# -- the pre-auth ------------------------------------------------------------------------
def preauth_authorising(amount: str = "10000") -> Driver:
    d = page2("1")
    d.keys(amount + "#")
    assert d.state is State.CARD
    d.feed(CardRead(CARD), PinEntered())
    return d


def test_preauth_walk_approved_prints_a_preauth():
    d = preauth_authorising()
    record = d.last(A.OpenRequest).record
    assert d.state is State.AUTHORISING and record.kind is Kind.PREAUTH and record.amount == 10000
    assert d.t.expect.mti == "0110"
    out = answer(d, "0110")
    outcome = next(a for a in out if isinstance(a, A.RecordOutcome))
    assert outcome.record.state is JournalState.APPROVED and d.state is State.PRINTING
    assert "PREAUTH APPROVED" in d.last(A.Show).lines
    assert any(line.right == "PREAUTH" for line in d.last(A.Print).receipt.lines)


@pytest.mark.parametrize("event", [TimerExpired(Timer.RESPONSE), LinkDropped("link.dropped", "the host hung up")])
def test_unanswered_preauth_is_reversed(event):
    d = preauth_authorising()
    d.feed(event)
    assert d.state is State.UPLINK and [r.stan for r in d.t.reversals] == [d.last(A.OpenRequest).record.stan]
    assert not d.t.advices


def test_declined_preauth_is_recorded_and_nothing_prints():
    d = preauth_authorising()
    answer(d, "0110", response_code="51", approved=False)
    assert d.last(A.RecordOutcome).record.state is JournalState.DECLINED and d.state is State.IDLE
    assert not d.all(A.Print) and "NOT AUTHORISED" not in d.last(A.Show).lines  # a decline says its code
    assert "PREAUTH DECLINED" in d.last(A.Show).lines


# -- cancel and completion -----------------------------------------------------------------
def test_cancel_keys_auth_code_and_date_then_the_runner_looks_it_up():
    d = page2("2")
    d.keys("65432#")
    assert d.state is State.REFERENCE and "KEY ALL 6 DIGITS" in d.last(A.Show).lines
    d.keys("1#" + DATE + "#")
    find = d.last(A.FindOriginal)
    assert d.state is State.LOOKUP and find.kind is Kind.PREAUTH_VOID
    assert find.reference == OriginalRef("", DATE, AUTH)


def test_cancel_must_key_the_preauths_amount():
    d = named("2")
    assert d.state is State.AMOUNT
    out = d.keys("9999#")
    assert d.state is State.AMOUNT and notes(out) == ["preauth.amount_mismatch"]
    d.keys("*" * 5 + "10000#")
    assert d.state is State.CARD
    d.feed(CardRead(CARD), PinEntered())
    record = d.last(A.OpenRequest).record
    assert record.kind is Kind.PREAUTH_VOID and record.amount == 10000 and record.original == PREAUTH
    assert record.reference == OriginalRef("", DATE, AUTH) and d.t.expect.mti == "0110"


def test_completion_up_to_the_tolerance():
    assert completion_limit(FLOWS[Kind.PREAUTH_COMPLETE], 10000) == 11500
    d = named("3")
    out = d.keys("11501#")
    assert d.state is State.AMOUNT and notes(out) == ["preauth.over_amount"]
    d.keys("*" * 5 + "11500#")
    assert d.state is State.CARD


def test_completion_of_a_preauth_elsewhere_is_left_to_the_host():
    d = page2("3")
    d.keys(AUTH + "#" + DATE + "#")
    out = d.feed(OriginalUnknown())
    assert d.state is State.CONFIRM and notes(out) == ["preauth.original_elsewhere"]
    assert "NOT ON THIS TERMINAL" in d.last(A.Show).lines and f"AUTH {AUTH}" in d.last(A.Show).lines
    d.keys("#99999#")  # any amount: the host knows the pre-auth
    assert d.state is State.CARD
    d.feed(CardRead(CARD), PinEntered())
    record = d.last(A.OpenRequest).record
    assert record.original is None and record.reference.auth_code == AUTH and d.t.expect.mti == "0210"
    answer(d, "0210")
    assert d.last(A.RecordOutcome).record.state is JournalState.APPROVED
    lines = {(line.text, line.right) for line in d.last(A.Print).receipt.lines}
    assert ("ORIG AUTH NO:", AUTH) in lines and ("TRANS TYPE:", "AUTH COMPLETE") in lines


@pytest.mark.parametrize("key", ["2", "3"])
def test_a_refused_lookup_goes_back_to_idle_with_its_code(key):
    d = page2(key)
    d.keys(AUTH + "#" + DATE + "#")
    out = d.feed(OriginalRefused("preauth.completed", "ALREADY COMPLETED"))
    assert d.state is State.IDLE and notes(out) == ["preauth.completed"] and not d.all(A.OpenRequest)


@pytest.mark.parametrize("key", ["2", "3"])
def test_unanswered_cancel_or_completion_is_reversed(key):
    d = named(key)
    d.keys("10000#")
    d.feed(CardRead(CARD), PinEntered(), TimerExpired(Timer.RESPONSE))
    assert d.state is State.UPLINK and len(d.t.reversals) == 1 and not d.t.advices


# -- completion void ---------------------------------------------------------------------------
def test_completion_void_takes_the_completions_amount_by_trace():
    d = page2("4")
    d.keys("9#")
    find = d.last(A.FindOriginal)
    assert find.kind is Kind.PREAUTH_COMPLETE_VOID and find.stan == 9 and find.reference is None
    d.feed(OriginalFound(COMPLETION))
    d.keys("#")
    assert d.state is State.CARD
    d.feed(CardRead(CARD), PinEntered())
    record = d.last(A.OpenRequest).record
    assert record.amount == 11000 and record.original == COMPLETION and d.t.expect.mti == "0210"
    answer(d, "0210")
    receipt = d.last(A.Print).receipt
    assert any(line.right and line.right.startswith("-") for line in receipt.lines)  # a credit, shown negative


# -- the journal's judgement ------------------------------------------------------------------
A_, R_ = JournalState.APPROVED, JournalState.REQUESTED
CANCEL, COMPLETE, CVOID = (FLOWS[k] for k in (Kind.PREAUTH_VOID, Kind.PREAUTH_COMPLETE, Kind.PREAUTH_COMPLETE_VOID))


@pytest.mark.parametrize(("flow", "found", "code"), [
    (CANCEL, Candidate(replace(PREAUTH, kind=Kind.SALE), A_), "preauth.wrong_kind"),
    (CANCEL, Candidate(PREAUTH, JournalState.DECLINED), "preauth.not_approved"),
    (CANCEL, Candidate(PREAUTH, JournalState.REVERSED), "preauth.not_approved"),
    (CANCEL, Candidate(PREAUTH, A_, claims=(A_,)), "preauth.cancelled"),
    (CANCEL, Candidate(PREAUTH, A_, claims=(R_,)), "preauth.cancel_unresolved"),
    (CANCEL, Candidate(PREAUTH, A_, completions=(A_,)), "preauth.completed"),
    (CANCEL, Candidate(PREAUTH, A_, completions=(JournalState.REVERSING,)), "preauth.complete_unresolved"),
    (COMPLETE, Candidate(PREAUTH, A_, claims=(A_,)), "preauth.cancelled"),
    (COMPLETE, Candidate(PREAUTH, A_, completions=(A_,)), "preauth.completed"),
    (COMPLETE, Candidate(PREAUTH, A_, completions=(JournalState.LOST,)), "preauth.complete_unresolved"),
    (CVOID, None, "preauth.not_found"),
    (CVOID, Candidate(PREAUTH, A_), "preauth.wrong_kind"),
    (CVOID, Candidate(COMPLETION, JournalState.REVERSING), "preauth.not_approved"),
    (CVOID, Candidate(COMPLETION, A_, claims=(A_,)), "preauth.already_voided"),
    (CVOID, Candidate(COMPLETION, A_, claims=(R_,)), "preauth.void_unresolved"),
    (CVOID, Candidate(COMPLETION, A_, refunds=(A_,)), "preauth.refunded"),  # it would be paid back twice
    (CVOID, Candidate(COMPLETION, A_, refunds=(R_,)), "preauth.refunded"),
])
def test_judge_refuses_with_exact_codes(flow, found, code):
    verdict = judge_preauth(flow, found)
    assert isinstance(verdict, Refusal) and verdict.code == code


def test_judge_accepts_and_leaves_the_unknown_to_the_host():
    assert judge_preauth(CANCEL, None) is None and judge_preauth(COMPLETE, None) is None
    assert judge_preauth(COMPLETE, Candidate(PREAUTH, A_, completions=(JournalState.DECLINED,))) == PREAUTH
    assert judge_preauth(CANCEL, Candidate(PREAUTH, A_, claims=(JournalState.REVERSED,))) == PREAUTH
    assert judge_preauth(CVOID, Candidate(COMPLETION, A_, claims=(JournalState.DECLINED,))) == COMPLETION
    assert judge_preauth(CVOID, Candidate(COMPLETION, A_, refunds=(JournalState.DECLINED,))) == COMPLETION


def test_a_recovered_cancel_receipt_names_the_auth_code():
    record = replace(_record_of_cancel(), state=JournalState.APPROVED)
    receipt = build_receipt(PrintJob(record, Copy.MERCHANT, recovered=True), SETTINGS)
    lines = {(line.text, line.right) for line in receipt.lines}
    assert ("ORIG AUTH NO:", AUTH) in lines and ("ORIG TRACE NO:", "000003") in lines
    assert ("TRANS TYPE:", "PREAUTH CANCEL") in lines


def _record_of_cancel():
    d = named("2")
    d.keys("10000#")
    d.feed(CardRead(CARD), PinEntered())
    return d.last(A.OpenRequest).record

