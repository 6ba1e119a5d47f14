"""The runner's password check on a real database file: wrong tries counted and committed before the
answer, a lock-out per operator (the supervisor's on 00) timed in monotonic time, reset by a right
password, and started again in full by a new runner (a restart) that finds it in storage."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from crypto.passwords import KdfCost, Password
from firmware.core.actions import VerifyOperator
from firmware.core.settings import OperatorRules
from firmware.operators import Lockouts, check_password
from storage import operators as operators_module
from storage.operators import OperatorBook
from storage.store import DB_FILE, Store

RULES = OperatorRules(required=True, max_tries=3, lockout_seconds=60.0)
NOW = datetime(2026, 11, 22, 9, 30)
RIGHT, WRONG = "2580", "9999"


class Clock:
    """A monotonic clock the test moves (a new one per boot: monotonic time restarts with the device)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(tmp_path):
    store = Store.open(tmp_path)
    book = OperatorBook(store.conn, cost=KdfCost(4))
    book.add("07", Password(RIGHT), NOW)
    book.passwd("00", Password("24681357"), NOW)
    store.close()
    return tmp_path


class Terminal:
    """The runner's half as a runner has it: its own connection and its own lock-out timing."""

    def __init__(self, data) -> None:
        self.store = Store.open(data)
        self.clock = Clock()
        self.lockouts = Lockouts(RULES.lockout_seconds, self.clock)
        for operator in OperatorBook(self.store.conn).locked():  # as Runner._operators_at_boot
            self.lockouts.begin(operator.number)

    def check(self, number: str, password: str, purpose: str = "sign_in"):
        typed = Password(password)
        answer = check_password(self.store.conn, VerifyOperator(number, typed, purpose), rules=RULES,
                                lockouts=self.lockouts, now=NOW)
        assert typed.wiped
        return answer

    def close(self) -> None:
        self.store.close()


def stored(data, number: str) -> tuple[int, bool]:
    """What another connection reads: committed, not merely in the runner's transaction."""
    conn = sqlite3.connect(data / DB_FILE)
    try:
        tries, locked_at = conn.execute("SELECT failed_tries, locked_at FROM operators WHERE number = ?",
                                        (number,)).fetchone()
        return tries, locked_at is not None
    finally:
        conn.close()


@pytest.mark.parametrize("number, purpose", [("07", "sign_in"), ("00", "void")], ids=["cashier", "supervisor"])
def test_wrong_tries_are_committed_before_the_answer_and_the_last_one_locks_out(db, number, purpose):
    t = Terminal(db)
    answers = []
    for n in range(3):
        answers.append(t.check(number, WRONG, purpose))
        assert stored(db, number) == ((n + 1, False) if n < 2 else (0, True))
    assert [(a.code, a.tries_left, a.locked_for) for a in answers] == [
        ("operator.wrong_password", 2, 0), ("operator.wrong_password", 1, 0), ("operator.wrong_password", 0, 60)]
    right = t.check(number, RIGHT if number == "07" else "24681357", purpose)
    assert (right.ok, right.code, right.locked_for) == (False, "operator.locked_out", 60)
    other = "00" if number == "07" else "07"
    assert stored(db, other) == (0, False)  # per operator: the other is not locked out
    t.close()


def test_a_locked_out_operator_is_refused_without_a_password_check(db, monkeypatch):
    t = Terminal(db)
    for _ in range(3):
        t.check("07", WRONG)
    checked = []
    monkeypatch.setattr(operators_module, "verify_password", lambda *a: checked.append(a) or True)
    assert t.check("07", RIGHT).code == "operator.locked_out" and checked == []
    t.close()


def test_the_lock_out_ends_after_its_seconds_of_monotonic_time_then_a_right_password_signs_in(db):
    t = Terminal(db)
    for _ in range(3):
        t.check("07", WRONG)
    t.clock.t += 59.5
    assert t.check("07", RIGHT).locked_for == 1  # whole seconds, rounded up
    t.clock.t += 0.5
    answer = t.check("07", RIGHT)
    assert answer.ok and stored(db, "07") == (0, False)
    t.close()


def test_a_right_password_resets_the_count(db):
    t = Terminal(db)
    t.check("07", WRONG)
    t.check("07", WRONG)
    assert t.check("07", RIGHT).ok and stored(db, "07") == (0, False)
    assert t.check("07", WRONG).tries_left == 2
    t.close()


def test_a_restart_does_not_clear_a_lock_out_it_starts_it_again_in_full(db):
    """The attack the durability stops: guess max_tries times, cycle the power, guess again."""
    t = Terminal(db)
    for _ in range(3):
        t.check("07", WRONG)
    t.clock.t += 59  # one second left when the power goes
    t.close()
    t = Terminal(db)  # a new runner on the same file: the wall clock is not trusted, the full time runs again
    assert t.check("07", RIGHT).code == "operator.locked_out"
    t.clock.t += 59
    assert t.check("07", RIGHT).locked_for == 1
    t.clock.t += 1
    assert t.check("07", RIGHT).ok
    t.close()


def test_a_count_short_of_a_lock_out_survives_a_restart_too(db):
    t = Terminal(db)
    t.check("07", WRONG)
    t.check("07", WRONG)
    t.close()
    t = Terminal(db)
    answer = t.check("07", WRONG)
    assert (answer.tries_left, answer.locked_for) == (0, 60)
    t.close()


def test_unknown_numbers_count_nothing_and_lock_nobody(db):
    t = Terminal(db)
    for _ in range(5):
        answer = t.check("42", WRONG)
        assert (answer.code, answer.tries_left, answer.locked_for) == ("operator.unknown", None, 0)
    assert t.check("07", RIGHT).ok and not t.lockouts
    t.close()


def test_an_unwritable_count_refuses_never_lets_through(db):
    t = Terminal(db)
    t.store.conn.execute("PRAGMA query_only = ON")  # every write now fails, as on a read-only disk
    answer = t.check("07", WRONG)
    assert not answer.ok and answer.text == "CANNOT CHECK"
    t.close()
