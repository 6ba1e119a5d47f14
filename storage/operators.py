"""The operators table (schema v6): who may sign in, and each one's password hash.

A row holds the number (two digits; 00 is the supervisor), a salted scrypt hash of
the password (``crypto.passwords``), never the password itself, and an active flag.
Each change is one durable commit (``storage.db.transaction``). The supervisor can be
neither removed nor deactivated: it is the only one who can unlock the guarded
functions, and a terminal without it could never settle under ``supervisor_for``.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from crypto.passwords import DEFAULT_SUPERVISOR_HASH, KdfCost, Password, check_new, hash_password, verify_password
from firmware.errors import StorageError
from storage.db import storage_error, transaction

__all__ = ["Operator", "OperatorBook", "SUPERVISOR", "check_number", "Verdict"]

SUPERVISOR = "00"


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

    @property
    def supervisor(self) -> bool:
        return self.number == SUPERVISOR

    def __repr__(self) -> str:  # the hash is not secret, but it has no business in a log line
        return f"Operator({self.number}, active={self.active})"


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
        return [self._row(r) for r in self._query("SELECT number, active, password_hash FROM operators ORDER BY number",
                                                  ())]

    def get(self, number: str) -> Operator | None:
        rows = self._query("SELECT number, active, password_hash FROM operators WHERE number = ?", (number,))
        return self._row(rows[0]) if rows else None

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

    def set_active(self, number: str, active: bool, now: datetime) -> Operator:
        check_number(number)
        if number == SUPERVISOR and not active:
            raise StorageError("the supervisor cannot be deactivated", code="operator.is_supervisor")
        self._must_exist(number)
        with transaction(self.conn, "changing an operator") as c:
            c.execute("UPDATE operators SET active = ?, updated_at = ? WHERE number = ?",
                      (int(active), _stamp(now), number))
        return self.get(number)

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
        number, active, digest = row
        return Operator(number, bool(active), digest == DEFAULT_SUPERVISOR_HASH, digest)

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise storage_error(e, "reading the operators") from None


def _stamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds")
