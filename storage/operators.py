"""The operators table (schema v7, v8): who may sign in, each one's password hash, their lock-out.

A row holds the number (two digits; 00 is the supervisor), a salted scrypt hash of
the password (``crypto.passwords``), never the password itself, and an active flag.
Each change is one durable commit (``storage.db.transaction``). The supervisor can be
neither removed nor deactivated: it is the only one who can unlock the guarded
functions, and a terminal without it could never settle under ``supervisor_for``.

Since v8 a row also counts its wrong passwords in a row (``failed_tries``; the
supervisor's row counts the supervisor's password), holds when a lock-out began
(``locked_at``, NULL when none) and whether this is the cashier signed in
(``signed_in_at``): each written in one commit before the terminal shows the verdict, so
pulling the plug neither clears a lock-out nor signs the cashier out. How long a lock-out
lasts is the runner's business (``firmware.operators.Lockouts``, monotonic time): the
wall-clock ``locked_at`` is for people reading ``posterm operators list``.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from crypto.passwords import (DEFAULT_SUPERVISOR_HASH, KdfCost, Password, check_new, cost_of, hash_password,
                              verify_password)
from firmware.errors import StorageError
from storage.db import storage_error, transaction

__all__ = ["Operator", "OperatorBook", "SUPERVISOR", "check_number", "Verdict"]

SUPERVISOR = "00"
_COLUMNS = "number, active, password_hash, failed_tries, locked_at, signed_in_at"


def check_number(number: str) -> str:
    """Two digits, 00 to 99."""
    if not re.fullmatch(r"\d{2}", number or ""):
        raise StorageError(f"an operator number is two digits, 00 to 99 (got {number[:8]!r})",
                           code="operator.bad_number")
    return number


@dataclass(frozen=True)
class Operator:
    number: str
    active: bool
    default_password: bool  # the supervisor still has the password it shipped with
    password_hash: str  # the stored text: salt and digest, never the password
    failed_tries: int = 0  # wrong passwords in a row
    locked_at: str | None = None  # when a lock-out began (wall clock, ISO); None: not locked out
    signed_in_at: str | None = None  # set on the cashier signed in (kept across a restart)

    @property
    def supervisor(self) -> bool:
        return self.number == SUPERVISOR

    @property
    def locked(self) -> bool:
        return self.locked_at is not None

    @property
    def signed_in(self) -> bool:
        return self.signed_in_at is not None

    def tries_left(self, max_tries: int) -> int:
        return 0 if self.locked else max(0, max_tries - self.failed_tries)

    def __repr__(self) -> str:  # the hash is not secret, but it has no business in a log line
        return f"Operator({self.number}, active={self.active}, tries={self.failed_tries}, locked={self.locked})"


@dataclass(frozen=True)
class Verdict:
    """What a password check found: ``code`` is ``operator.ok`` or why it was refused."""

    ok: bool
    code: str
    text: str


class OperatorBook:
    """The operators on one database connection (the runner's, or a CLI's own)."""

    def __init__(self, conn: sqlite3.Connection, *, cost: KdfCost | None = None) -> None:
        self.conn = conn
        self.cost = cost if cost is not None else KdfCost()

    # -- reading --------------------------------------------------------------------
    def all(self) -> list[Operator]:
        return [self._row(r) for r in self._query(f"SELECT {_COLUMNS} FROM operators ORDER BY number", ())]

    def get(self, number: str) -> Operator | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM operators WHERE number = ?", (number,))
        return self._row(rows[0]) if rows else None

    def locked(self) -> list[Operator]:
        """The operators whose lock-out storage still holds (the runner times them from boot)."""
        return [o for o in self.all() if o.locked]

    def signed_in(self) -> Operator | None:
        """The cashier signed in when the power went, if still on file and active; else nobody."""
        rows = self._query(f"SELECT {_COLUMNS} FROM operators WHERE signed_in_at IS NOT NULL ORDER BY number", ())
        operator = self._row(rows[0]) if rows else None
        return operator if operator is not None and operator.active and not operator.supervisor else None

    def verify(self, number: str, password: Password) -> Verdict:
        """Check ``password`` for ``number``; an unknown number costs a hash too (no timing tells it)."""
        operator = self.get(number) if re.fullmatch(r"\d{2}", number or "") else None
        stored = operator.password_hash if operator is not None else DEFAULT_SUPERVISOR_HASH
        matches = verify_password(password, stored)
        if operator is None:
            return Verdict(False, "operator.unknown", "UNKNOWN OPERATOR")
        if not operator.active:
            return Verdict(False, "operator.inactive", "OPERATOR INACTIVE")
        if not matches:
            return Verdict(False, "operator.wrong_password", "WRONG PASSWORD")
        return Verdict(True, "operator.ok", "SIGNED IN")

    # -- changing (each one durable commit) -------------------------------------------
    def add(self, number: str, password: Password, now: datetime) -> Operator:
        check_number(number)
        if number == SUPERVISOR:
            raise StorageError("00 is the supervisor, who always exists: use passwd to change its password",
                               code="operator.is_supervisor")
        check_new(password)
        if self.get(number) is not None:
            raise StorageError(f"operator {number} already exists", code="operator.exists")
        digest = hash_password(password, self.cost)
        with transaction(self.conn, "adding an operator") as c:
            c.execute("INSERT INTO operators (number, password_hash, active, updated_at) VALUES (?, ?, 1, ?)",
                      (number, digest, _stamp(now)))
        return self.get(number)

    def passwd(self, number: str, password: Password, now: datetime) -> Operator:
        check_number(number)
        check_new(password)
        self._must_exist(number)
        digest = hash_password(password, self.cost)
        with transaction(self.conn, "changing a password") as c:
            c.execute("UPDATE operators SET password_hash = ?, updated_at = ? WHERE number = ?",
                      (digest, _stamp(now), number))
        return self.get(number)

    def set_hash(self, number: str, stored: str, now: datetime) -> Operator:
        """Store a hash made elsewhere (``posterm provision --manifest``: the estate tool hashed the
        password, which never reaches the terminal). ``stored`` must parse (``operator.bad_hash``)."""
        check_number(number)
        cost_of(stored)
        self._must_exist(number)
        with transaction(self.conn, "setting a password hash") as c:
            c.execute("UPDATE operators SET password_hash = ?, updated_at = ? WHERE number = ?",
                      (stored, _stamp(now), number))
        return self.get(number)

    def set_active(self, number: str, active: bool, now: datetime) -> Operator:
        check_number(number)
        if number == SUPERVISOR and not active:
            raise StorageError("the supervisor cannot be deactivated", code="operator.is_supervisor")
        self._must_exist(number)
        with transaction(self.conn, "changing an operator") as c:
            c.execute("UPDATE operators SET active = ?, updated_at = ? WHERE number = ?",
                      (int(active), _stamp(now), number))
        return self.get(number)

    # -- the count of wrong passwords, the lock-out, the sign-in (v8; one commit each) ---------
    def record_wrong(self, number: str, max_tries: int, now: datetime) -> Operator:
        """One more wrong password for ``number``; the ``max_tries``-th locks it out (and restarts the count)."""
        with transaction(self.conn, "counting a wrong password") as c:
            c.execute("UPDATE operators SET failed_tries = failed_tries + 1 WHERE number = ? AND locked_at IS NULL",
                      (number,))
            c.execute("UPDATE operators SET failed_tries = 0, locked_at = ? WHERE number = ? AND failed_tries >= ?",
                      (_stamp(now), number, max_tries))
        return self.get(number)

    def clear_tries(self, number: str) -> Operator | None:
        """A right password, an unlock or a lock-out's end: no wrong tries, no lock-out (no commit if none)."""
        operator = self.get(number)
        if operator is not None and (operator.failed_tries or operator.locked):
            with transaction(self.conn, "clearing a lock-out") as c:
                c.execute("UPDATE operators SET failed_tries = 0, locked_at = NULL WHERE number = ?", (number,))
            operator = self.get(number)
        return operator

    def unlock(self, number: str) -> Operator:
        """``posterm operators unlock NN``: the lock-out and the count of wrong tries cleared."""
        check_number(number)
        self._must_exist(number)
        return self.clear_tries(number)

    def set_signed_in(self, number: str | None, now: datetime) -> None:
        """``number`` is the cashier signed in (None: nobody), in one commit."""
        with transaction(self.conn, "recording the sign-in") as c:
            c.execute("UPDATE operators SET signed_in_at = CASE WHEN number = ? THEN ? END "
                      "WHERE signed_in_at IS NOT NULL OR number = ?", (number, _stamp(now), number))

    def remove(self, number: str) -> None:
        check_number(number)
        if number == SUPERVISOR:
            raise StorageError("the supervisor cannot be removed", code="operator.is_supervisor")
        self._must_exist(number)
        with transaction(self.conn, "removing an operator") as c:
            c.execute("DELETE FROM operators WHERE number = ?", (number,))

    # -- internals ------------------------------------------------------------------
    def _must_exist(self, number: str) -> None:
        if self.get(number) is None:
            raise StorageError(f"there is no operator {number}", code="operator.unknown")

    def _row(self, row: tuple) -> Operator:
        number, active, digest, tries, locked_at, signed_in_at = row
        return Operator(number, bool(active), digest == DEFAULT_SUPERVISOR_HASH, digest, tries, locked_at, signed_in_at)

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise storage_error(e, "reading the operators") from None


def _stamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds")
