"""The function menu, sign-on and sign-off, and the lock: the ``Terminal`` handlers of MENU,
SIGNED_OFF and LOCKED (``machine.py``), and where the terminal rests when nothing goes on.

Page 1 of the menu: 1 upload, 2 sign on, 3 sign off, 4 void, 5 settle, 6 refund, 7
balance, 0 the other page; page 2: 1-4 the pre-authorisation family, 6 the completion
made as an advice without the host (预授权完成通知), 8 and 9 the
reprints (8 asks for a trace: ENTER alone is the newest receipt), ``*`` signs the cashier out. What a key starts is data where it can be
(``flows.MENU_FLOWS`` and ``MENU_MORE_FLOWS``); the handlers are here.
"""

from __future__ import annotations

from datetime import datetime

from firmware.core import screens
from firmware.core.actions import (
    Action,
    Alert,
    CancelPin,
    CancelTimer,
    DisableReader,
    Show,
    StartTimer,
    Zeroize,
)
from firmware.core.events import (
    Event,
    KeyPressed,
    Tampered,
    TimerExpired,
)
from firmware.core.model import (
    KeyState,
    Kind,
    NetworkKind,
    State,
    Timer,
)
from firmware.core.flows import MENU_ADVICE_KEY, MENU_FLOWS, MENU_MORE_FLOWS, flow_of
from firmware.core.operators import KEY_SIGN_OUT
from firmware.core.uplink import Then

__all__ = ["MenuMixin", "MENU_MORE", "ENTER", "CANCEL", "FUNCTION"]

MENU_UPLOAD, MENU_SIGN_ON, MENU_SIGN_OFF, MENU_SETTLE = "1", "2", "3", "5"
MENU_REPRINT_RECEIPT, MENU_REPRINT_REPORT = "8", "9"  # after 4, 6, 7 (void, refund, balance: flows.MENU_FLOWS)
MENU_MORE = "0"  # the menu's other page: there 1-4 start the pre-auth family and 5 a transfer
# (flows.MENU_MORE_FLOWS); every other key works from either page

Result = tuple[State, list[Action]]
ENTER, CANCEL, FUNCTION = "#", "X", "F"  # the cashier keys the core reads (CLEAR is machine.py's)


class MenuMixin:
    """Handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    # -- keys: rest, menu, sign-on and sign-off, tamper ------------------------------------
    def _rest(self, head: list[Action] | None = None, note: str = "") -> Result:
        """Where the terminal waits when nothing is going on: IDLE with working keys, else SIGNED_OFF."""
        head = list(head or [])
        if self.keys is KeyState.READY:
            state, more = self._idle(note) if note else self._idle()
            return state, head + more
        self.sale = None
        self.expect = None
        return State.SIGNED_OFF, head + [CancelTimer(Timer.RESPONSE), Show(screens.signed_off(self, note))]

    def _menu(self) -> Result:
        self.menu_page = 0
        return State.MENU, [
            CancelTimer(Timer.MESSAGE),
            Show(screens.menu(self)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_menu_key(self, ev: KeyPressed, now: datetime) -> Result:
        back = [CancelTimer(Timer.INPUT)]
        if self.menu_page and ev.key in MENU_MORE_FLOWS:  # the second page: the pre-auth family
            if self.keys is not KeyState.READY:
                return State.MENU, [Show(screens.shown(self, ("SIGN ON FIRST", "0=BACK X=EXIT")))]
            return self._start(MENU_MORE_FLOWS[ev.key], MENU_MORE + ev.key, back, now)  # resumed as page 2's key
        if self.menu_page and ev.key == MENU_ADVICE_KEY:  # the completion made as an advice (preauth.py)
            if self.keys is not KeyState.READY:
                return State.MENU, [Show(screens.shown(self, ("SIGN ON FIRST", "0=BACK X=EXIT")))]
            return self._start(Kind.PREAUTH_COMPLETE, MENU_MORE + ev.key, back, now, self._begin_advice)
        if ev.key == MENU_SIGN_ON:
            self.network = NetworkKind.SIGN_ON
            return self._uplink(Then.IDLE, back)
        if ev.key == MENU_MORE:
            self.menu_page = 1 - self.menu_page
            return State.MENU, [Show(screens.menu(self))]
        if ev.key == MENU_REPRINT_REPORT:  # reprints (reprint.py) need no keys
            return self._reprint_report(back)
        if ev.key == MENU_REPRINT_RECEIPT:  # which: its trace, or ENTER alone for the newest
            return self._ask_reprint(back)
        if self.keys is not KeyState.READY and ev.key in (MENU_UPLOAD, MENU_SIGN_OFF, MENU_SETTLE, *MENU_FLOWS):
            return State.MENU, [Show(screens.shown(self, ("SIGN ON FIRST", "2=SIGN ON X=EXIT")))]
        if ev.key == KEY_SIGN_OUT:
            return self._sign_out(back)
        if ev.key in MENU_FLOWS:
            return self._start(MENU_FLOWS[ev.key], ev.key, back, now)
        if ev.key == MENU_SETTLE:  # a cashier signed in; the supervisor's password first?
            gate = self._operator_gate("settle", ev.key, back, now)
            return gate if gate is not None else self._settle(back)
        if ev.key == MENU_UPLOAD:
            if self._queued():
                return self._uplink(Then.IDLE, back + [CancelTimer(Timer.UPLOAD)])
            return self._rest(back, note="NOTHING TO UPLOAD")
        if ev.key == MENU_SIGN_OFF:
            return self._sign_off(back)
        if ev.key in (CANCEL, ENTER, FUNCTION):
            return self._rest(back)
        return State.MENU, [Show(screens.menu(self))]

    def _start(self, kind: Kind, resume_key: str, back: list[Action], now: datetime, begin=None) -> Result:
        """A transaction chosen on the menu: refused at once when it must not start (the clock behind, the batch
        full or its settlement unanswered: before any password is asked for), then the operator's gate (``_op_resume`` carries on after it), then ``begin``
        (``_begin`` unless given)."""
        closed = self._refused_start(kind, back, now)
        if closed is not None:
            return closed
        back = back + self._start_reminder(kind, now)  # an open batch left too long (overdue.py)
        gate = self._operator_gate(kind.value, resume_key, back, now)
        if gate is not None:
            return gate
        return begin(back) if begin is not None else self._begin(kind, back)

    def _begin(self, kind: Kind, head: list[Action]) -> Result:
        """A transaction from the menu: by its original's trace, by a reference number or auth code,
        by its amount (a pre-auth), or a card alone (an inquiry)."""
        flow = flow_of(kind)
        if flow.by_reference:
            return self._begin_refund(head, kind)
        if flow.original:
            return self._begin_original(kind, head)
        if flow.keyed_amount and flow.moves_money:
            return self._begin_keyed(kind, head)
        return self._begin_inquiry(kind, head)

    def _h_menu_timer(self, ev: TimerExpired, now: datetime) -> Result:
        if ev.timer is Timer.INPUT:
            return self._rest()
        return State.MENU, []

    def _h_sign_on_requested(self, ev: Event, now: datetime) -> Result:
        self.network = NetworkKind.SIGN_ON
        return self._uplink(Then.IDLE, [CancelTimer(Timer.UPLOAD)])

    def _h_sign_off_requested(self, ev: Event, now: datetime) -> Result:
        return self._sign_off([])

    def _sign_off(self, head: list[Action]) -> Result:
        if self._queued():  # they need the working keys to go out
            return self._rest(head, note="UPLOAD FIRST")
        self.network = NetworkKind.SIGN_OFF
        return self._uplink(Then.IDLE, head)

    def _h_signed_off_key(self, ev: KeyPressed, now: datetime) -> Result:
        if ev.key == FUNCTION:
            return self._menu()
        return State.SIGNED_OFF, [Show(screens.signed_off(self, ""))]

    def _h_locked_key(self, ev: KeyPressed, now: datetime) -> Result:
        return State.LOCKED, [Show(screens.locked(self))]

    def _h_ignore_timer(self, ev: TimerExpired, now: datetime) -> Result:
        return self.state, []

    def _lock(self, reason: str, head: list[Action]) -> Result:
        self.keys = KeyState.LOCKED
        self.lock_reason = reason
        self.sale = self.expect = self.job = None
        self.network = None
        self.print_queue = []
        return State.LOCKED, head + [Alert("keys.locked", f"transactions refused: {reason}"), Show(screens.locked(self))]

    def _h_tampered(self, ev: Tampered, now: datetime) -> Result:
        """Destroy the keys at once, whatever was going on; then refuse everything."""
        head: list[Action] = []
        if self.state is State.CARD:
            head.append(DisableReader())
        if self.state in (State.PIN, State.ACCOUNT):  # the pad's PIN prompt or account entry
            head.append(CancelPin())
        head += self._wipe()
        lost = len(self.reversals) + len(self.advices)
        head += [CancelTimer(Timer.RESPONSE), CancelTimer(Timer.INPUT), Zeroize(ev.source, ev.reason)]
        if lost:
            head.append(Alert("tamper.queue_lost", f"{lost} queued reversal(s)/offline sale(s) can no longer be sent"))
        self.reversals, self.advices, self.upload = [], [], None
        return self._lock(f"tamper ({ev.source}): {ev.reason}", head)
