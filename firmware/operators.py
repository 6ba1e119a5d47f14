"""``posterm operators``: cashiers and the supervisor, and the runner's password check.

    posterm operators list [--json]
    posterm operators add NN            # a cashier, 01-99
    posterm operators passwd NN         # a cashier's new password
    posterm operators remove NN
    posterm operators set-supervisor    # the supervisor's (00) new password

A password is read with ``getpass`` (typed twice) at a terminal, or as one line from
standard input otherwise (``--password-stdin``, or any pipe) for scripts: never from
the command line, where ``ps`` and the shell history would show it. It is held in a
``Password`` and wiped once hashed. New hashes use ``operators.kdf_cost``.

A fresh terminal has the supervisor only, with the password 123456 (as UnionPay
terminals ship); ``posterm selftest`` warns while it is unchanged and operators are
in use (``operators.required`` or ``operators.supervisor_for``).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from firmware.errors import StorageError, TerminalError

if TYPE_CHECKING:  # the CLI's parser imports this module: nothing heavy at the top (hmac pulls in hashlib)
    from crypto.passwords import Password
    from firmware.core.actions import VerifyOperator
    from firmware.core.events import OperatorChecked

__all__ = ["check_password", "add_operators_commands", "read_password", "check_operators"]


def check_password(conn: sqlite3.Connection, a: VerifyOperator) -> OperatorChecked:
    """The runner's half of ``VerifyOperator``: the verdict only; the password is wiped whatever happens."""
    from firmware.core.events import OperatorChecked
    from storage.operators import OperatorBook

    try:
        verdict = OperatorBook(conn).verify(a.number, a.password)
        code, text, ok = verdict.code, verdict.text, verdict.ok
    except TerminalError as e:  # unreadable operators: refused, never let through
        code, text, ok = e.code, "CANNOT CHECK", False
    finally:
        a.password.wipe()
    return OperatorChecked(a.number, a.purpose, ok, code, text)


def check_operators(target):
    """``posterm selftest`` (when operators are in use): WARN while the supervisor has the default
    password, or a stored hash is cheaper than ``crypto.passwords.PRODUCTION``; FAIL without a cashier
    when sign-in is required (nobody could sell)."""
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
def read_password(*, from_stdin: bool, confirm: bool = True) -> Password:
    """A new password from a terminal (getpass, twice) or one line of standard input."""
    import getpass

    from crypto.passwords import Password

    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return Password(line.rstrip("\r\n").encode("ascii", "replace"))
    first = Password(getpass.getpass("new password (4-12 digits): ").encode("ascii", "replace"))
    if confirm:
        again = Password(getpass.getpass("again: ").encode("ascii", "replace"))
        same = first == again
        again.wipe()
        if not same:
            first.wipe()
            raise StorageError("the two passwords differ; nothing was changed", code="operator.mismatch")
    return first


def _book(args):
    from crypto.passwords import KdfCost
    from firmware.cli import _config
    from storage.operators import OperatorBook
    from storage.store import Store

    config = _config(args)
    if args.data_dir:
        config = config.replace({"storage": {"data_dir": args.data_dir}})
    store = Store.open(config.data_dir)
    return store, OperatorBook(store.conn, cost=KdfCost(config.operators.kdf_cost))


def cmd_operators(args) -> int:
    from storage.operators import SUPERVISOR, check_number

    number = SUPERVISOR if args.action == "set-supervisor" else getattr(args, "number", None)
    if number is not None:
        check_number(number)  # before any password is asked for
        if args.action in ("add", "passwd") and number == SUPERVISOR:
            raise StorageError("00 is the supervisor, who always exists: use posterm operators set-supervisor",
                               code="operator.is_supervisor")
    store, book = _book(args)
    try:
        now = datetime.now()
        if args.action == "list":
            rows = [{"number": o.number, "role": "supervisor" if o.supervisor else "cashier", "active": o.active,
                     "default_password": o.default_password} for o in book.all()]
            if args.json:
                print(json.dumps(rows, indent=2))
            for r in [] if args.json else rows:
                flags = ("" if r["active"] else " inactive") + (" DEFAULT PASSWORD" if r["default_password"] else "")
                print(f"{r['number']}  {r['role']}{flags}")
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
    ls = with_config(actions.add_parser("list", help="the operators, their role and state (never a password)"))
    ls.add_argument("--json", action="store_true")
    for name, text in (("add", "add a cashier (01-99)"), ("passwd", "change a cashier's password"),
                       ("remove", "remove a cashier"), ("disable", "stop a cashier signing in (kept on file)"),
                       ("enable", "let a disabled cashier sign in again")):
        p = with_config(actions.add_parser(name, help=text))
        p.add_argument("number", help="two digits, 01-99")
        if name in ("add", "passwd"):
            p.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin")
    s = with_config(actions.add_parser("set-supervisor", help="change the supervisor's (00) password"))
    s.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin")
    o.set_defaults(func=cmd_operators)
