"""Operators at the terminal: cashiers sign in, the supervisor's password guards functions.

With ``operators.required`` the idle terminal is *signed out* until a cashier signs
in: the idle screen asks for the operator number, a digit starts it (``SIGN_IN``),
ENTER asks for the password (masked: one ``*`` per digit), ENTER again hands both
to the runner in ``VerifyOperator`` (``CHECKING``), and ``OperatorChecked`` comes
back. Sales, voids, refunds, inquiries and settlement are refused while signed out
(``operator.sign_in_required``); uploads, sign-on/off and reprints are not (they
are the terminal's housekeeping, not a cashier's business). The signed-in number
goes on every record (so on receipts and in field 63) and on a settlement instead
of ``terminal.operator``. Menu ``*`` signs the cashier out. The sign-in is durable
(``RecordSignIn``, committed before SIGNED IN shows): a terminal that lost its power
mid-shift comes back with the same cashier signed in, as UnionPay terminals keep the
operator until sign-out or settlement; a sign-out or an accepted settlement ends it
(the cashier signs in again for the next batch).

Functions named in ``operators.supervisor_for`` (void, refund, settle) ask for the
supervisor's (00) password before they start (``SUPERVISOR``): right, the function
starts as if its key had just been pressed; wrong, it is refused
(``operator.supervisor_refused``). Each authorisation is for one function, once.

Why the runner checks the password (an action and an event, like ``FindOriginal``):
the hashes are in storage, which the core only mirrors, and a slow KDF is the kind
of work the core must not hide inside a transition. The runner also keeps the count
of wrong passwords per operator (the supervisor's password counts on 00) and the
lock-out after ``operators.max_tries`` of them (``firmware.operators.check_password``):
both must be committed before WRONG PASSWORD shows, or pulling the plug would clear
them, and the lock-out's ``operators.lockout_seconds`` are counted in monotonic time,
which the core does not have (its ``now`` is a wall clock that can jump). The core
shows what the answer says: tries left, or how long the lock-out lasts.

The typed password is a ``crypto.passwords.Password`` from the first digit: masked
in any repr, handed over in the action (the runner wipes it once checked) and wiped
here on cancel or time-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crypto.passwords import Password
from firmware.core import screens
from firmware.core.actions import Action, CancelTimer, Note, RecordSignIn, Show, StartTimer, VerifyOperator
from firmware.core.events import KeyPressed, OperatorChecked, TimerExpired
from firmware.core.model import State, Timer

__all__ = ["OperatorMixin", "SIGN_IN", "SUPERVISOR_NO"]

SIGN_IN = "sign_in"  # the purpose of a check that signs a cashier in; otherwise the guarded function's name
SUPERVISOR_NO = "00"
KEY_SIGN_OUT = "*"  # in the function menu
_DIGITS = frozenset("0123456789")
_ENTER, _CLEAR, _CANCEL = "#", "*", "X"

Result = tuple[State, list[Action]]


@dataclass
class _Entry:
    """What is being keyed: the operator's number, then the password."""

    purpose: str  # SIGN_IN, or the guarded function: "void", "refund", "settle"
    number: str = ""
    password: Password | None = None
    resume: str = ""  # the menu key to carry on with once the supervisor is checked


class OperatorMixin:
    """Sign-in, sign-out and the supervisor's guard, for ``machine.Terminal``."""

    operator: str | None = None  # the signed-in cashier (or the supervisor)
    _op_entry: _Entry | None = None

    # -- what the rest of the core asks -------------------------------------------
    @property
    def signed_out(self) -> bool:
        return self.settings.operators.required and self.operator is None

    @property
    def operator_no(self) -> str:
        """The number records carry: the signed-in operator's, else ``terminal.operator``."""
        return self.operator or self.settings.operator

    def _operator_gate(self, function: str, resume: str, head: list[Action], now: datetime) -> Result | None:
        """Before a menu function starts: None lets it start; else the refusal or the supervisor prompt."""
        if self.signed_out:
            return State.MENU, [Note("operator.sign_in_required", f"{function} refused: no cashier signed in"),
                                Show(screens.shown(self, ("SIGN IN FIRST", "", "X=EXIT")))]
        if function not in self.settings.operators.supervisor_for:
            return None
        self._op_entry = _Entry(function, SUPERVISOR_NO, Password(""), resume)
        return State.SUPERVISOR, head + [CancelTimer(Timer.MESSAGE), Show(self._password_screen()),
                                         StartTimer(Timer.INPUT, self.settings.input_timeout)]

    def _sign_out(self, head: list[Action]) -> Result:
        if not self.settings.operators.required or self.operator is None:
            return State.MENU, [Show(screens.menu(self))]
        who, self.operator = self.operator, None
        state, actions = self._idle("SIGNED OUT", f"OPERATOR {who}")
        return state, head + [RecordSignIn(None), Note("operator.signed_out", f"operator {who} signed out")] + actions

    def _end_shift(self) -> list[Action]:
        """A settlement was accepted: the cashier's shift ends with the batch (signs in again for the next).
        Storage ends it in the batch's own commit (``CloseBatch``), so nothing more is written here."""
        if not self.settings.operators.required or self.operator is None:
            return []
        who, self.operator = self.operator, None
        return [Note("operator.signed_out", f"operator {who} signed out by the settlement")]

    def _resume_sign_in(self, number: str | None) -> list[Action]:
        """At boot: the cashier storage says was signed in when the power went stays signed in."""
        if not self.settings.operators.required or number is None:
            return []
        self.operator = number
        return [Note("operator.resumed", f"operator {number} still signed in after the restart")]

    # -- keying -----------------------------------------------------------------
    def _signed_out_key(self, key: str, now: datetime) -> Result:
        """IDLE while no cashier is signed in: a digit starts the operator number."""
        if key not in _DIGITS:
            return State.IDLE, [CancelTimer(Timer.MESSAGE), Show(screens.idle(self))]
        self._op_entry = _Entry(SIGN_IN, key)
        return State.SIGN_IN, [CancelTimer(Timer.MESSAGE), CancelTimer(Timer.UPLOAD), Show(self._number_screen()),
                               StartTimer(Timer.INPUT, self.settings.input_timeout)]

    def _h_sign_in_key(self, ev: KeyPressed, now: datetime) -> Result:
        entry, key = self._op_entry, ev.key
        if entry.password is None:  # the number
            if key in _DIGITS and len(entry.number) < 2:
                entry.number += key
            elif key == _CLEAR:
                entry.number = entry.number[:-1]
            elif key == _CANCEL:
                return self._op_cancel()
            elif key == _ENTER and entry.number == SUPERVISOR_NO:  # the supervisor guards, a cashier sells
                self._op_forget()
                state, actions = self._idle("00 IS THE SUPERVISOR", "SIGN IN AS A CASHIER")
                return state, [Note("operator.not_cashier", "the supervisor cannot sign in to sell")] + actions
            elif key == _ENTER and len(entry.number) == 2:
                entry.password = Password("")
                return State.SIGN_IN, [Show(self._password_screen()),
                                       StartTimer(Timer.INPUT, self.settings.input_timeout)]
            return State.SIGN_IN, [Show(self._number_screen()), StartTimer(Timer.INPUT, self.settings.input_timeout)]
        return self._password_key(State.SIGN_IN, key)

    def _h_supervisor_key(self, ev: KeyPressed, now: datetime) -> Result:
        return self._password_key(State.SUPERVISOR, ev.key)

    def _password_key(self, state: State, key: str) -> Result:
        entry = self._op_entry
        if key in _DIGITS:
            entry.password.append(key)
        elif key == _CLEAR:
            entry.password.backspace()
        elif key == _CANCEL:
            return self._op_cancel()
        elif key == _ENTER and len(entry.password):
            password, entry.password = entry.password, None  # the runner wipes it once checked
            return State.CHECKING, [CancelTimer(Timer.INPUT), Show(screens.shown(self, ("CHECKING PASSWORD", "PLEASE WAIT"))),
                                    VerifyOperator(entry.number, password, entry.purpose)]
        return state, [Show(self._password_screen()), StartTimer(Timer.INPUT, self.settings.input_timeout)]

    def _h_operator_timeout(self, ev: TimerExpired, now: datetime) -> Result:
        if ev.timer is not Timer.INPUT:
            return self.state, []
        return self._op_cancel()

    def _op_cancel(self) -> Result:
        self._op_forget()
        return self._idle()

    def _op_forget(self) -> None:
        if self._op_entry is not None and self._op_entry.password is not None:
            self._op_entry.password.wipe()
        self._op_entry = None

    # -- the runner's answer ---------------------------------------------------------
    def _h_operator_checked(self, ev: OperatorChecked, now: datetime) -> Result:
        entry = self._op_entry
        self._op_entry = None
        if entry is None or ev.number != entry.number or ev.purpose != entry.purpose:
            return self._idle()  # an answer nothing waits for: refuse by default
        if ev.ok:
            if entry.purpose == SIGN_IN:
                self.operator = entry.number
                state, actions = self._idle("SIGNED IN", f"OPERATOR {entry.number}")
                return state, [RecordSignIn(entry.number),
                               Note("operator.signed_in", f"operator {entry.number} signed in")] + actions
            return self._op_resume(entry.resume, [Note("operator.supervisor_ok", f"{entry.purpose} allowed by "
                                                                                 "the supervisor")])
        head: list[Action] = []
        if ev.locked_for and ev.code != "operator.locked_out":  # this wrong password began the lock-out
            head.append(Note("operator.locked_out", f"{self.settings.operators.max_tries} wrong passwords: operator "
                                                    f"{entry.number} locked out for {ev.locked_for} s"))
        tries = () if ev.tries_left is None else (f"{ev.tries_left} {'TRY' if ev.tries_left == 1 else 'TRIES'} LEFT",)
        if entry.purpose == SIGN_IN:
            lines = _lockout_lines(ev.locked_for) if ev.locked_for else (ev.text[:20],) + (tries or ("SIGN IN AGAIN",))
            short = ("WRONG PASSWORDS", f"LOCKED FOR {ev.locked_for} S") if ev.locked_for else ()
            state, actions = self._idle(*lines, short=short)
            return state, [Note(ev.code, f"operator {entry.number} not signed in: {ev.text.lower()}")] + head + actions
        lines = ("SUPERVISOR LOCKED", f"TRY AGAIN IN {ev.locked_for} S") if ev.locked_for else \
            ("SUPERVISOR REFUSED", ev.text[:20]) + tries
        not_started = f"{entry.purpose.upper()} NOT STARTED"
        state, actions = self._idle(*lines, not_started, short=(lines[0], not_started))
        return state, [Note("operator.supervisor_refused", f"{entry.purpose} refused: {ev.text.lower()}")] + head \
            + actions

    def _op_resume(self, key: str, head: list[Action]) -> Result:
        """The supervisor said yes: carry on as the menu would have (``machine.Terminal._h_menu_key``)."""
        from firmware.core.flows import MENU_ADVICE_KEY, MENU_FLOWS, MENU_MORE_FLOWS

        if key == "0" + MENU_ADVICE_KEY:  # page 2's completion advice (preauth.py)
            return self._begin_advice(head)
        if key in MENU_FLOWS:
            return self._begin(MENU_FLOWS[key], head)
        if len(key) == 2 and key[1] in MENU_MORE_FLOWS:  # "0" + a key of the menu's second page
            return self._begin(MENU_MORE_FLOWS[key[1]], head)
        return self._settle(head)

    # -- screens ---------------------------------------------------------------------
    def _number_screen(self) -> tuple[str, ...]:
        number = self._op_entry.number.ljust(2, "_")
        return screens.shown(self, ("SIGN IN", f"OPERATOR NO: {number}", "", "#=OK  X=CANCEL"),
                           (screens._first_fit(screens._width(self), f"SIGN IN: OPERATOR {number}",
                                               f"OPERATOR NO: {number}"), "#=OK  X=CANCEL"))

    def _password_screen(self) -> tuple[str, ...]:
        entry = self._op_entry
        w, what = screens._width(self), entry.purpose.upper()
        title = "SIGN IN " + entry.number if entry.purpose == SIGN_IN else screens._first_fit(
            w, f"SUPERVISOR: {what}", f"SUPERVISOR {what}", "SUPERVISOR")  # the cashier chose what it guards
        stars = "*" * len(entry.password)
        return screens.shown(self, (title, "PASSWORD:", stars, "#=OK  X=CANCEL"),
                             (title, screens._pair("PASSWORD:", stars, w)))


def _lockout_lines(seconds: int) -> tuple[str, ...]:
    return ("TOO MANY WRONG", "PASSWORDS: LOCKED", f"TRY AGAIN IN {seconds} S")
