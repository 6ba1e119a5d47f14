"""Operators in the core: the signed-out idle, sign-in, refusals by code, the supervisor's prompt, lock-out."""

from __future__ import annotations

from dataclasses import replace
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import actions as A
from firmware.core.events import CardRead, OperatorChecked, PinEntered, SettleRequested
from firmware.core.model import State
from firmware.core.settings import OperatorRules

from .helpers import CARD, OPERATOR_SETTINGS, SETTINGS, Driver, signed_in, to_idle, to_sign_in


def notes(d: Driver) -> list[str]:
    return [n.code for n in d.all(A.Note)]


def shown(d: Driver) -> tuple[str, ...]:
    return d.last(A.Show).lines


def test_without_required_operators_the_terminal_sells_as_before_with_the_config_operator():
    d = to_idle(SETTINGS)
    d.keys("1250#")
    assert d.state is State.CARD
    d.feed(CardRead(CARD), PinEntered())
    assert d.last(A.OpenRequest).record.operator == "01"


def test_signed_out_idle_asks_for_a_sign_in_and_refuses_a_sale():
    d = to_idle(OPERATOR_SETTINGS)
    assert "PLEASE SIGN IN" in shown(d)
    d.keys("1")
    assert d.state is State.SIGN_IN  # a digit is the operator number, never an amount
    assert not d.all(A.EnableReader)


def test_sign_in_masks_the_password_and_hands_it_to_the_runner_as_a_secret():
    d = to_sign_in("07")
    d.keys("4711")
    assert shown(d)[2] == "****"
    assert "4711" not in " ".join(line for a in d.all(A.Show) for line in a.lines)
    d.keys("#")
    assert d.state is State.CHECKING
    verify = d.last(A.VerifyOperator)
    assert (verify.number, verify.purpose) == ("07", "sign_in")
    assert verify.password.reveal() == b"4711"
    assert "4711" not in repr(verify) and "4711" not in repr(d.t.__dict__)


def test_signed_in_cashier_goes_on_the_record_and_the_settlement():
    d = signed_in("07")
    assert d.state is State.IDLE and d.t.operator == "07" and "operator.signed_in" in notes(d)
    d.keys("1250#")
    d.feed(CardRead(CARD), PinEntered())
    assert d.last(A.OpenRequest).record.operator == "07"


@pytest.mark.parametrize("code, text", [
    ("operator.wrong_password", "WRONG PASSWORD"),
    ("operator.unknown", "UNKNOWN OPERATOR"),
    ("operator.inactive", "OPERATOR INACTIVE"),
])
def test_a_refused_sign_in_says_why_and_leaves_nobody_signed_in(code, text):
    d = to_sign_in("05")
    d.keys("9999#")
    d.feed(OperatorChecked("05", "sign_in", False, code, text))
    assert d.state is State.IDLE and d.t.operator is None
    assert code in notes(d) and text in shown(d)
    d.keys("1")
    assert d.state is State.SIGN_IN


def test_the_supervisor_cannot_sign_in_to_sell():
    d = to_sign_in("00")
    assert d.state is State.IDLE and "operator.not_cashier" in notes(d) and not d.all(A.VerifyOperator)


def test_a_wrong_password_shows_the_tries_left_the_runner_counted():
    d = to_sign_in("01")
    d.keys("1#")
    d.feed(OperatorChecked("01", "sign_in", False, "operator.wrong_password", "WRONG PASSWORD", tries_left=2))
    assert shown(d) == ("WRONG PASSWORD", "2 TRIES LEFT") and "operator.locked_out" not in notes(d)


def test_the_wrong_password_that_locks_out_says_so_and_for_how_long():
    """The count and the lock-out are the runner's (storage, monotonic time); the core shows them."""
    d = to_sign_in("01")
    d.keys("1#")
    d.feed(OperatorChecked("01", "sign_in", False, "operator.wrong_password", "WRONG PASSWORD", tries_left=0,
                           locked_for=60))
    assert "operator.locked_out" in notes(d) and "TRY AGAIN IN 60 S" in shown(d)
    d.keys("01#1#")  # a try during the lock-out: refused by the runner without a check
    d.feed(OperatorChecked("01", "sign_in", False, "operator.locked_out", "LOCKED OUT", tries_left=0, locked_for=42))
    assert d.state is State.IDLE and d.t.operator is None and "TRY AGAIN IN 42 S" in shown(d)
    assert notes(d).count("operator.locked_out") == 2


def test_a_locked_out_supervisor_refuses_the_function_and_says_for_how_long():
    d = signed_in()
    d.keys("F41#")
    d.feed(OperatorChecked("00", "void", False, "operator.locked_out", "LOCKED OUT", tries_left=0, locked_for=30))
    assert d.state is State.IDLE and shown(d)[:2] == ("SUPERVISOR LOCKED", "TRY AGAIN IN 30 S")
    assert "operator.supervisor_refused" in notes(d) and not d.all(A.FindOriginal)


def test_a_sign_in_is_committed_before_it_shows_and_a_sign_out_too():
    d = to_sign_in("07")
    d.keys("4711#")
    out = d.feed(OperatorChecked("07", "sign_in", True))
    kinds = [type(a) for a in out]
    assert A.RecordSignIn(number="07") in out and kinds.index(A.RecordSignIn) < kinds.index(A.Show)
    d.keys("F*")
    assert d.last(A.RecordSignIn) == A.RecordSignIn(None) and d.t.operator is None


def test_a_sign_in_not_saved_leaves_nobody_signed_in():
    from firmware.core.events import ActionFailed

    d = to_sign_in("07")
    d.keys("4711#")
    d.feed(OperatorChecked("07", "sign_in", True))
    d.feed(ActionFailed(A.RecordSignIn("07"), "storage.full", "the disk is full"))
    assert d.state is State.IDLE and d.t.operator is None and "SIGN-IN NOT SAVED" in shown(d)


def test_the_cashier_storage_kept_is_signed_in_after_a_restart_and_only_with_sign_in_required():
    from firmware.core.model import BootState

    d = to_idle(OPERATOR_SETTINGS, boot=BootState(operator="07"))
    assert d.t.operator == "07" and "operator.resumed" in notes(d)
    d.keys("1250#")
    assert d.state is State.CARD
    d = to_idle(SETTINGS, boot=BootState(operator="07"))
    assert d.t.operator is None and d.t.operator_no == "01"


def test_cancel_and_time_out_wipe_the_password_typed_so_far():
    d = to_sign_in("01")
    d.keys("12")
    typed = d.t._op_entry.password
    d.keys("X")
    assert d.state is State.IDLE and typed.wiped
    d = to_sign_in("01")
    d.keys("34")
    typed = d.t._op_entry.password
    from firmware.core.events import TimerExpired
    from firmware.core.model import Timer

    d.feed(TimerExpired(Timer.INPUT))
    assert d.state is State.IDLE and typed.wiped


def test_sign_out_from_the_menu():
    d = signed_in("03")
    d.keys("F0")
    assert "8 RCPT 9 RPT *OUT 03" in shown(d)
    d.keys("*")
    assert d.state is State.IDLE and d.t.operator is None and "operator.signed_out" in notes(d)
    d.keys("X")
    assert "PLEASE SIGN IN" in shown(d)


@pytest.mark.parametrize("key, function", [("4", "void"), ("6", "refund"), ("5", "settle"), ("01", "preauth"),
                                           ("02", "preauth_void"), ("03", "preauth_complete"),
                                           ("04", "preauth_complete_void"), ("05", "transfer")])
def test_signed_out_menu_refuses_transactions_and_settlement(key, function):
    d = to_idle(OPERATOR_SETTINGS)
    d.keys("F" + key)
    assert d.state is State.MENU and "operator.sign_in_required" in notes(d)


@pytest.mark.parametrize("key, function, then", [
    ("4", "void", State.TRACE), ("6", "refund", State.REFERENCE), ("5", "settle", State.COUNTING),
    ("02", "preauth_void", State.REFERENCE), ("01", "preauth", State.AMOUNT), ("05", "transfer", State.AMOUNT)])
def test_a_guarded_function_asks_for_the_supervisor_then_starts(key, function, then):
    rules = replace(OPERATOR_SETTINGS.operators,
                    supervisor_for=OPERATOR_SETTINGS.operators.supervisor_for | {"preauth_void", "preauth", "transfer"})
    d = signed_in(settings=replace(OPERATOR_SETTINGS, operators=rules))
    d.keys("F" + key)
    title = f"SUPERVISOR: {function.upper()}"  # 20 columns; it was cut (SUPERVISOR: PREAUTH_), now the word alone
    assert d.state is State.SUPERVISOR and shown(d)[0] == (title if len(title) <= 20 else "SUPERVISOR")
    d.keys("123456#")
    verify = d.last(A.VerifyOperator)
    assert (verify.number, verify.purpose) == ("00", function)
    d.feed(OperatorChecked("00", function, True))
    assert d.state is then


@pytest.mark.parametrize("key, function", [("4", "void"), ("6", "refund"), ("5", "settle")])
def test_a_wrong_supervisor_password_refuses_the_function(key, function):
    d = signed_in()
    d.keys("F" + key + "1#")
    d.feed(OperatorChecked("00", function, False, "operator.wrong_password", "WRONG PASSWORD"))
    assert d.state is State.IDLE and "operator.supervisor_refused" in notes(d)
    assert "SUPERVISOR REFUSED" in shown(d)
    assert not d.all(A.FindOriginal) and not d.all(A.CountBatch)


def test_an_unguarded_function_starts_at_once():
    rules = OperatorRules(required=True, supervisor_for=frozenset({"settle"}))
    d = signed_in(settings=replace(OPERATOR_SETTINGS, operators=rules))
    d.keys("F4")
    assert d.state is State.TRACE


def test_a_settle_request_from_outside_meets_the_same_guard():
    d = signed_in()
    d.feed(SettleRequested())
    assert d.state is State.SUPERVISOR
    d = to_idle(OPERATOR_SETTINGS)
    d.feed(SettleRequested())
    assert d.state is State.IDLE and not d.all(A.CountBatch)


def test_a_stray_answer_signs_nobody_in():
    d = to_sign_in("01")
    d.keys("1234#")
    d.feed(OperatorChecked("02", "sign_in", True))
    assert d.state is State.IDLE and d.t.operator is None


def test_a_failed_check_refuses_and_wipes():
    d = to_sign_in("01")
    d.keys("1234#")
    verify = d.last(A.VerifyOperator)
    from firmware.core.events import ActionFailed

    d.feed(ActionFailed(verify, "storage.io", "storage input/output error"))
    assert d.state is State.IDLE and d.t.operator is None and d.t._op_entry is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789#*XF", max_size=40))
def test_signed_out_no_key_sequence_starts_a_transaction(keys):
    """Whatever is keyed while nobody is signed in (and no password is accepted), nothing is sold,
    looked up or settled, and every password check names a two-digit operator."""
    from firmware.core.events import KeyPressed

    d = to_idle(OPERATOR_SETTINGS)
    for key in keys:
        if d.t.accepts(KeyPressed(key)):
            d.keys(key)
        elif d.state is not State.CHECKING:  # waiting for a machine (a sign-on from the menu): stop here
            break
        else:  # the runner answers first (wrong password)
            v = d.last(A.VerifyOperator)
            d.feed(OperatorChecked(v.number, v.purpose, False, "operator.wrong_password", "WRONG PASSWORD"))
    for kind in (A.EnableReader, A.OpenRequest, A.FindOriginal, A.CountBatch):
        assert not d.all(kind)
    assert d.t.operator is None
    assert all(len(v.number) == 2 and v.number.isdigit() and v.number != "00" for v in d.all(A.VerifyOperator))
