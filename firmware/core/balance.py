"""Balance inquiry (余额查询): card, PIN, one online 0200; the balance is shown, and only shown.

The handlers of ``Terminal`` that differ from a sale's (``flows.FLOWS``
row ``Kind.BALANCE``: no amount, online only, ``Recovery.NONE``).

F 7 goes straight to CARD; the PIN follows the sale's rule; the request
(processing code 310000, 60.1 = 01, no field 4) takes the sale's durable path:
its journal record is committed before it is sent and its outcome after the
answer. The record is there because the inquiry uses a STAN, and every STAN
the host sees has its row (``posterm journal`` and the host's message log
match one to one); its amount is 0 and its kind keeps it out of the batch
totals, the receipts and the reversal queue. No money moves, so nothing is
reversed: public UnionPay POS code never reverses an inquiry, and an
unanswered one is simply recorded as not answered (reason 98, or A0 for an
answer whose MAC failed). The balance itself (field 54) goes to the display
and nowhere else: not to the journal, a log line or paper.
"""

from __future__ import annotations

from dataclasses import replace

from firmware.core import screens
from firmware.core.actions import Action, CancelTimer, EnableReader, RecordOutcome, Show, StartTimer, WipeCard
from firmware.core.flows import flow_of
from firmware.core.model import JournalState, Kind, SaleRecord, State, Timer

__all__ = ["BalanceMixin"]

Result = tuple[State, list[Action]]


class BalanceMixin:
    """The balance inquiry's handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    def _begin_inquiry(self, kind: Kind, head: list[Action]) -> Result:
        self.sale = self._new_sale(kind)
        return State.CARD, head + [
            CancelTimer(Timer.MESSAGE),
            CancelTimer(Timer.UPLOAD),
            EnableReader(self.sale.txn_no),
            Show(screens.swipe(self)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _inquiry_answered(self, record: SaleRecord, reply, head: list[Action]) -> Result:
        """Commit the outcome (never the balance), wipe the card, then show the balance or the refusal."""
        if reply.approved:
            record = replace(record, state=JournalState.APPROVED)
            message = screens.balance(self, record, reply.balance)
        else:
            code = reply.response_code or "??"
            record = replace(record, state=JournalState.DECLINED, reason=reply.response_code)
            message = screens.declined(self, record.kind, code, self.settings.response_text(code),
                                       self.settings.display_text(code), None)
        commit = [RecordOutcome(record), WipeCard(record.txn_no)]
        state, actions = self._idle(*message, short=message.short)  # the balance's own 2-row form
        return state, head + commit + actions

    def _inquiry_unanswered(self, record: SaleRecord, reason: str, text: str) -> Result:
        """Nothing to undo: record that no usable answer came, and say so."""
        record = replace(record, state=JournalState.DECLINED, reason=reason)
        head = [CancelTimer(Timer.RESPONSE), RecordOutcome(record), WipeCard(record.txn_no)]
        undone = flow_of(record.kind).undone
        state, actions = self._idle(text, undone, "TRY AGAIN", short=(text, undone))
        return state, head + actions
