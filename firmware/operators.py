"""``posterm operators``: cashiers and the supervisor, and the runner's password check.

    posterm operators list [--json]
    posterm operators add NN            # a cashier, 01-99
    posterm operators passwd NN         # a cashier's new password
    posterm operators remove NN
    posterm operators unlock NN         # end a lock-out (a field engineer, for the supervisor)
    posterm operators set-supervisor    # the supervisor's (00) new password

A password is read with ``getpass`` (typed twice) at a terminal, or as one line from
standard input otherwise (``--password-stdin``, or any pipe) for scripts: never from
the command line, where ``ps`` and the shell history would show it. It is held in a
``Password`` and wiped once hashed. New hashes use ``operators.kdf_cost``.

A fresh terminal has the supervisor only, with the password 123456 (as UnionPay
terminals ship); ``posterm selftest`` warns while it is unchanged and operators are
in use (``operators.required`` or ``operators.supervisor_for``).

The runner's check counts wrong passwords per operator in storage and locks the
operator out after ``operators.max_tries`` of them, each committed before the
answer shows (``check_password``). The lock-out lasts ``operators.lockout_seconds``
of monotonic time (``Lockouts``): the wall clock of a terminal without a battery-backed
clock can be hours wrong after a power cut, and NTP may then step it either way. A
lock-out storage still holds at boot was active when the power went (its end is
cleared in storage as soon as it passes), so it starts again in full: cycling the
power never shortens one, at worst it lengthens one by the time the terminal was off.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from firmware.errors import StorageError, TerminalError

if TYPE_CHECKING:  # the CLI's parser imports this module: nothing heavy at the top (hmac pulls in hashlib)
    from crypto.passwords import Password
    from firmware.core.actions import VerifyOperator
    from firmware.core.events import OperatorChecked
    from firmware.core.settings import OperatorRules

__all__ = ["check_password", "add_operators_commands", "read_password", "check_operators", "Lockouts",
           "supervisor_approves"]


class Lockouts:
    """When each operator's lock-out ends, in monotonic seconds; storage says who is locked out.

    A lock-out storage holds that nothing here has timed (found at boot, or begun by
    another process) begins now, in full."""

    def __init__(self, seconds: float, monotonic: Callable[[], float]) -> None:
        self.seconds = seconds
        self.monotonic = monotonic
        self._until: dict[str, float] = {}

    def begin(self, number: str) -> None:
        self._until[number] = self.monotonic() + self.seconds

    def left(self, number: str) -> float:
        if number not in self._until:
            self.begin(number)
        return max(0.0, self._until[number] - self.monotonic())

    def forget(self, number: str) -> None:
        self._until.pop(number, None)

    def due(self) -> list[str]:
        """The lock-outs whose time is up (storage still holds them until they are cleared)."""
        now = self.monotonic()
        return sorted(n for n, until in self._until.items() if until <= now)

    def next_end(self) -> float | None:
        return min(self._until.values(), default=None)

    def __bool__(self) -> bool:
        return bool(self._until)


def check_password(conn: sqlite3.Connection, a: VerifyOperator, *, rules: OperatorRules, lockouts: Lockouts,
                   now: datetime) -> OperatorChecked:
    """The runner's half of ``VerifyOperator``: the verdict, with the wrong tries and a lock-out
    committed first; the password is wiped whatever happens. An operator locked out is refused
    without a hash computed (no guess is checked); unreadable or unwritable operators refuse."""
    from firmware.core.events import OperatorChecked
    from storage.operators import OperatorBook

    book = OperatorBook(conn)
    try:
        operator = book.get(a.number)
        if operator is not None and operator.locked:
            left = lockouts.left(a.number)
            if left > 0:
                return OperatorChecked(a.number, a.purpose, False, "operator.locked_out", "LOCKED OUT", tries_left=0,
                                       locked_for=math.ceil(left))
            book.clear_tries(a.number)  # its time is up: a fresh count
            lockouts.forget(a.number)
        verdict = book.verify(a.number, a.password)
        if verdict.code == "operator.wrong_password":
            after = book.record_wrong(a.number, rules.max_tries, now)
            if after.locked:
                lockouts.begin(a.number)
                return OperatorChecked(a.number, a.purpose, False, verdict.code, verdict.text, tries_left=0,
                                       locked_for=math.ceil(rules.lockout_seconds))
            return OperatorChecked(a.number, a.purpose, False, verdict.code, verdict.text,
                                   tries_left=after.tries_left(rules.max_tries))
        if verdict.ok:
            book.clear_tries(a.number)
        return OperatorChecked(a.number, a.purpose, verdict.ok, verdict.code, verdict.text)
    except TerminalError as e:  # unreadable or unwritable operators: refused, never let through
        return OperatorChecked(a.number, a.purpose, False, e.code, "CANNOT CHECK")
    finally:
        a.password.wipe()


def supervisor_approves(conn: sqlite3.Connection, config, *, purpose: str, from_stdin: bool) -> None:
    """Outside the runner (``posterm journal resolve``): when the terminal guards functions with the supervisor's
    password (``operators.required`` or ``operators.supervisor_for``), ask for it and check it as the runner
    does (``check_password``: a wrong one counts, and locks 00 out after ``operators.max_tries``). Raises
    ``StorageError`` naming why it was refused; returns when it was right or no supervisor guards anything."""
    rules = config.operators
    if not (rules.required or rules.supervisor_for):
        return
    import time

    from firmware.core.actions import VerifyOperator
    from firmware.core.settings import OperatorRules
    from storage.operators import SUPERVISOR

    password = read_password(from_stdin=from_stdin, confirm=False, prompt="supervisor (00) password: ")
    checked = check_password(
        conn, VerifyOperator(SUPERVISOR, password, purpose),
        rules=OperatorRules(rules.required, frozenset(rules.supervisor_for), rules.max_tries, rules.lockout_seconds),
        lockouts=Lockouts(rules.lockout_seconds, time.monotonic), now=datetime.now())
    if checked.ok:
        return
    if checked.code == "operator.locked_out":
        why = "the supervisor (00) is locked out after wrong passwords (posterm operators unlock 00)"
    elif checked.code == "operator.wrong_password":
        left = checked.tries_left
        why = ("wrong supervisor (00) password; " + (f"{left} tries left" if left else
                                                     "00 is now locked out (posterm operators unlock 00)"))
    else:
        why = f"the supervisor's (00) password could not be checked: {checked.text.lower()}"
    raise StorageError(f"{why}: nothing was changed", code=checked.code)


def check_operators(target):
    """``posterm selftest`` (when operators are in use): WARN while an operator is locked out, the
    supervisor has the default password, or a stored hash is cheaper than ``crypto.passwords.PRODUCTION``;
    FAIL without a cashier when sign-in is required (nobody could sell)."""
    from crypto.passwords import PRODUCTION, cost_of
    from firmware.selftest import CheckResult, Status, _worst
    from storage.operators import OperatorBook
    from storage.store import DB_FILE, Store

    config = target.config
    if not (config.data_dir / DB_FILE).exists():
        return CheckResult("operators", Status.WARN, "operator.default_password",
                           "no database yet: the supervisor will have the default password; change it "
                           "(posterm operators set-supervisor)")
    store = Store.open_read_only(config.data_dir)
    try:
        operators = OperatorBook(store.conn).all()
    finally:
        store.close()
    findings = []
    cashiers = [o for o in operators if not o.supervisor and o.active]
    if config.operators.required and not cashiers:
        findings.append((Status.FAIL, "operator.no_cashier",
                         "sign-in is required but there is no active cashier: posterm operators add NN"))
    locked = [o.number for o in operators if o.locked]
    if locked:  # first among the warnings: someone may be guessing passwords
        findings.append((Status.WARN, "operator.locked_out", f"locked out after wrong passwords: {', '.join(locked)} "
                         "(posterm operators unlock NN)"))
    if any(o.supervisor and o.default_password for o in operators):
        findings.append((Status.WARN, "operator.default_password",
                         "the supervisor (00) still has the default password: posterm operators set-supervisor"))
    weak = [o.number for o in operators if cost_of(o.password_hash).below(PRODUCTION)]
    if weak:
        findings.append((Status.WARN, "operator.weak_hash", f"password hash of {', '.join(weak)} below the "
                         "production cost (operators.kdf_cost under 14): set the password again"))
    return _worst("operators", findings, f"{len(cashiers)} cashier(s), supervisor password changed",
                  [f"supervisor for {', '.join(config.operators.supervisor_for) or 'nothing'}"])


# -- the CLI ---------------------------------------------------------------------------
def read_password(*, from_stdin: bool, confirm: bool = True, prompt: str = "new password (4-12 digits): ") -> Password:
    """A new password from a terminal (getpass, twice) or one line of standard input; ``confirm=False``: once,
    as for a password that is checked rather than set."""
    import getpass

    from crypto.passwords import Password

    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return Password(line.rstrip("\r\n").encode("ascii", "replace"))
    first = Password(getpass.getpass(prompt).encode("ascii", "replace"))
    if confirm:
        again = Password(getpass.getpass("again: ").encode("ascii", "replace"))
        same = first == again
        again.wipe()
        if not same:
            first.wipe()
            raise StorageError("the two passwords differ; nothing was changed", code="operator.mismatch")
    return first


# The actions that may make the database in a provisioned terminal's data directory (before its first start);
# the others refuse a directory without one (storage.missing): there is nothing to list or change there.
CREATING = ("add", "set-supervisor")


def require_terminal_dir(data_dir) -> None:
    """``storage.missing`` unless ``data_dir`` is a provisioned terminal's: its database, its key ring or its
    identity file is there. Any existing directory (a home, /tmp, a misspelt path's parent) got a database
    holding a cashier the terminal never reads."""
    from crypto.keyring import KEYRING_FILE
    from firmware.provisioning import IDENTITY_FILE
    from storage.store import DB_FILE, require_data_dir

    require_data_dir(data_dir)
    if not any((Path(data_dir) / name).exists() for name in (DB_FILE, KEYRING_FILE, IDENTITY_FILE)):
        raise StorageError(f"{data_dir} is not a provisioned terminal's data directory (no {KEYRING_FILE}, "
                           f"{IDENTITY_FILE} or {DB_FILE}): check --data-dir or storage.data_dir, or provision the "
                           "terminal first (posterm provision)", code="storage.missing")


def _book(args):
    from crypto.passwords import KdfCost
    from firmware.cli import _config
    from storage.operators import OperatorBook
    from storage.store import Store

    config = _config(args)
    if args.data_dir:
        config = config.replace({"storage": {"data_dir": args.data_dir}})
    if args.action in CREATING:  # a terminal's first cashiers may come before its first start
        require_terminal_dir(config.data_dir)
        store = Store.open(config.data_dir)
    else:
        store = Store.open(config.data_dir, create=False)
    return store, OperatorBook(store.conn, cost=KdfCost(config.operators.kdf_cost)), config


def cmd_operators(args) -> int:
    from storage.operators import SUPERVISOR, check_number

    number = SUPERVISOR if args.action == "set-supervisor" else getattr(args, "number", None)
    if number is not None:
        check_number(number)  # before any password is asked for
        if args.action in ("add", "passwd") and number == SUPERVISOR:
            raise StorageError("00 is the supervisor, who always exists: use posterm operators set-supervisor",
                               code="operator.is_supervisor")
    store, book, config = _book(args)
    try:
        now = datetime.now()
        if args.action == "list":
            max_tries = config.operators.max_tries
            rows = [{"number": o.number, "role": "supervisor" if o.supervisor else "cashier", "active": o.active,
                     "default_password": o.default_password, "locked_out": o.locked, "locked_at": o.locked_at,
                     "tries_left": o.tries_left(max_tries), "signed_in": o.signed_in} for o in book.all()]
            if args.json:
                print(json.dumps(rows, indent=2))
            for r in [] if args.json else rows:
                flags = ("" if r["active"] else " inactive") + (" DEFAULT PASSWORD" if r["default_password"] else "")
                flags += " signed in" if r["signed_in"] else ""
                flags += (f" LOCKED OUT since {r['locked_at']} (posterm operators unlock {r['number']})"
                          if r["locked_out"] else f" {r['tries_left']}/{max_tries} tries left")
                print(f"{r['number']}  {r['role']}{flags}")
            return 0
        if args.action == "unlock":  # a field engineer, for the supervisor: no password is asked
            was = book.get(number)
            book.unlock(number)
            print(f"operator {number} unlocked" if was is not None and was.locked
                  else f"operator {number} was not locked out; wrong tries cleared")
            return 0
        if args.action == "remove":
            book.remove(number)
            print(f"operator {number} removed")
            return 0
        if args.action in ("disable", "enable"):  # kept on file (their records name them), signing in or not
            book.set_active(number, args.action == "enable", now)
            print(f"operator {number} {args.action}d")
            return 0
        if args.action == "add" and book.get(number) is not None:  # before the password is typed
            raise StorageError(f"operator {number} already exists", code="operator.exists")
        with read_password(from_stdin=args.password_stdin) as password:
            if args.action == "add":
                book.add(number, password, now)
                print(f"operator {number} added")
            else:
                book.passwd(number, password, now)
                print(f"password of {'the supervisor' if number == SUPERVISOR else 'operator ' + number} changed")
        return 0
    finally:
        store.close()


def add_operators_commands(sub, with_config) -> None:
    """``posterm operators``: registered by ``firmware.cli``; ``with_config`` adds --config and --data-dir."""
    o = sub.add_parser("operators", help="cashiers (01-99) and the supervisor (00): list, add, passwords, disable, remove")
    actions = o.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = with_config(actions.add_parser("list", help="the operators, their role, state, tries left and lock-outs "
                                                     "(never a password)"))
    ls.add_argument("--json", action="store_true")
    for name, text in (("add", "add a cashier (01-99)"), ("passwd", "change a cashier's password"),
                       ("remove", "remove a cashier"), ("disable", "stop a cashier signing in (kept on file)"),
                       ("enable", "let a disabled cashier sign in again"),
                       ("unlock", "end an operator's lock-out after wrong passwords (00: the supervisor's)")):
        p = with_config(actions.add_parser(name, help=text))
        p.add_argument("number", help="two digits, 00-99" if name == "unlock" else "two digits, 01-99")
        if name in ("add", "passwd"):
            p.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin")
    s = with_config(actions.add_parser("set-supervisor", help="change the supervisor's (00) password"))
    s.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin")
    o.set_defaults(func=cmd_operators)
