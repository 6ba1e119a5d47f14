"""Starting a transaction that refers to an earlier one (a void; a refund, see ``refund.py``).

The cashier picks the kind from the function menu, keys the original's trace
number (TRACE), the runner looks it up in the journal and judges it
(LOOKUP: ``FindOriginal`` answered by ``OriginalFound`` or ``OriginalRefused``),
and the original's amount and masked card are shown for confirmation
(CONFIRM). From there the flow is the sale's: CARD, PIN, AUTHORISING,
PRINTING, driven by the kind's row in ``flows.FLOWS``.

Nothing is written or sent before the confirmation and the card: a refusal
costs the journal nothing.
"""

from __future__ import annotations

from datetime import datetime

from firmware.core import screens
from firmware.core.actions import Action, CancelTimer, EnableReader, FindOriginal, Note, Show, StartTimer
from firmware.core.events import KeyPressed, OriginalFound, OriginalRefused
from firmware.core.flows import flow_of
from firmware.core.model import Kind, State, Timer
from firmware.core.preauth import hold_refusal

__all__ = ["OriginalMixin", "TRACE_DIGITS", "edited"]

Result = tuple[State, list[Action]]

TRACE_DIGITS = 6
DIGITS = frozenset("0123456789")
ENTER, CLEAR, CANCEL = "#", "*", "X"


def edited(keyed: str, key: str, limit: int) -> str:
    """A digit entry after ``key``: a digit taken (up to ``limit`` of them), CLEAR taking the last back; any
    other key leaves it as it is (ENTER and CANCEL are the caller's)."""
    if key in DIGITS:
        return keyed + key if len(keyed) < limit else keyed
    if key == CLEAR:
        return keyed[:-1]
    return keyed


class OriginalMixin:
    """The TRACE, LOOKUP and CONFIRM handlers of ``Terminal`` (``machine.py``)."""

    def _begin_original(self, kind: Kind, head: list[Action]) -> Result:
        self.sale = self._new_sale(kind)
        return State.TRACE, head + [
            CancelTimer(Timer.MESSAGE),
            CancelTimer(Timer.UPLOAD),
            Show(screens.trace(self)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_trace_key(self, ev: KeyPressed, now: datetime) -> Result:
        sale, note = self.sale, ""
        sale.trace = edited(sale.trace, ev.key, TRACE_DIGITS)
        if ev.key == CANCEL:
            return self._idle("CANCELLED")
        elif ev.key == ENTER:
            if int(sale.trace or "0") == 0:
                note = "ENTER THE TRACE NO"
            else:
                find = FindOriginal(sale.kind, int(sale.trace), self.counters.batch, sale.txn_no)
                return State.LOOKUP, [CancelTimer(Timer.INPUT), Show(screens.searching(self)), find]
        return State.TRACE, [
            Show(screens.trace(self, note)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_original_found(self, ev: OriginalFound, now: datetime) -> Result:
        if self.sale.kind is Kind.PREAUTH_COMPLETE:  # its pre-auth's hold lapsed: refused, online or as an advice
            lapsed = hold_refusal(ev.original, now, self.settings.local_zone)
            if lapsed is not None:
                return self._h_original_refused(OriginalRefused(lapsed.code, lapsed.text), now)
        self.sale.original = ev.original
        return State.CONFIRM, [
            Show(screens.confirm(self)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _original_label(self) -> str:
        """How the cashier named the original: its trace (a void), its reference number (a refund) or
        its authorisation code (a pre-auth's cancel or completion), in the words its prompt and receipt use
        (REF NO: the screen after ORIGINAL REF NO said RRN, a second name for the same number)."""
        sale = self.sale
        if flow_of(sale.kind).by_auth_code:
            return f"AUTH {sale.auth}"
        if flow_of(sale.kind).by_reference:
            return f"REF {sale.rrn}"
        return f"TRACE {int(sale.trace or '0'):06d}"

    def _h_original_refused(self, ev: OriginalRefused, now: datetime) -> Result:
        flow, label = flow_of(self.sale.kind), self._original_label()
        note = Note(ev.code, f"{flow.kind.value} of {label.lower()} refused: {ev.text}")  # before _idle forgets it
        state, actions = self._idle(ev.text, label, flow.undone, short=(ev.text, flow.undone))
        return state, [note] + actions

    def _h_confirm_key(self, ev: KeyPressed, now: datetime) -> Result:
        if ev.key == ENTER:
            sale = self.sale
            if flow_of(sale.kind).keyed_amount:  # a refund: how much of it goes back is keyed next
                return State.AMOUNT, [
                    Show(screens.amount(self)),
                    StartTimer(Timer.INPUT, self.settings.input_timeout),
                ]
            return State.CARD, [
                EnableReader(sale.txn_no),
                Show(screens.swipe(self)),
                StartTimer(Timer.INPUT, self.settings.input_timeout),
            ]
        if ev.key == CANCEL:
            return self._idle("CANCELLED")
        return State.CONFIRM, []
