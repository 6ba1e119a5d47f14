"""Settlement (结算): total the batch, confirm, send the 0500 last on the uplink, close the batch.

The handlers of ``Terminal`` for the COUNTING and TOTALS states and for the
answer to a settlement. The order that makes it safe:

1. every due reversal and stored offline sale goes out first (``Then.SETTLE``),
   so the totals the runner counts next are final;
2. the operator confirms the totals; the 0500 travels as a network job, last
   on the uplink like a sign-off, with the uplink's retries;
3. on the 0510: ``CloseBatch`` commits the settlement and the new batch
   number in ONE commit, and only then does the report print (it is owed
   durably until ``MarkReportPrinted``).

Silence or a refusal leaves the batch open: the operator is told and may
settle again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from firmware.core import screens
from firmware.core.actions import (
    Action,
    Alert,
    CancelTimer,
    CloseBatch,
    CountBatch,
    MarkReportPrinted,
    PrintReport,
    Show,
    StartTimer,
)
from firmware.core.events import BatchCounted, Event, KeyPressed, ReportPrinted
from firmware.core.model import NetworkKind, Settlement, SettleResult, State, Timer
from firmware.core.report import build_report

__all__ = ["SettleMixin", "BATCH_MAX"]

BATCH_MAX = 999999
Result = tuple[State, list[Action]]


class SettleMixin:
    """Settlement handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    def _settle(self, head: list[Action]) -> Result:
        """Deliver the queues first; then count the batch."""
        from firmware.core.uplink import Then

        if self.reversals or self.advices:
            return self._uplink(Then.SETTLE, head + [CancelTimer(Timer.UPLOAD)])
        return self._count(head)

    def _count(self, head: list[Action]) -> Result:
        return State.COUNTING, head + [
            Show(screens.fit(("SETTLEMENT", f"BATCH {self.counters.batch:06d}", "COUNTING..."))),
            CountBatch(self.counters.batch),
        ]

    def _h_settle_requested(self, ev: Event, now: datetime) -> Result:
        return self._settle([CancelTimer(Timer.MESSAGE)])

    def _h_batch_counted(self, ev: BatchCounted, now: datetime) -> Result:
        self.totals = ev.totals
        return State.TOTALS, [
            Show(screens.totals(self)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_totals_key(self, ev: KeyPressed, now: datetime) -> Result:
        if ev.key == "#":
            if self.totals.unsent:  # an offline sale or reversal is still owed: the host would not match
                self.totals = None
                return self._rest([CancelTimer(Timer.INPUT)], note="UPLOAD FIRST")
            self.network = NetworkKind.SETTLE
            from firmware.core.uplink import Then

            return self._uplink(Then.IDLE, [CancelTimer(Timer.INPUT)])
        if ev.key == "X":
            self.totals = None
            return self._rest([CancelTimer(Timer.INPUT)], note="CANCELLED")
        return State.TOTALS, []

    def _settle_answered(self, job, reply, now: datetime) -> Result:
        """The 0510: close the batch (one commit), then print the report."""
        actions: list[Action] = [CancelTimer(Timer.RESPONSE)]
        self.network = None
        self.job = None
        if not reply.approved:
            code = reply.response_code or "??"
            self.totals = None
            actions.append(Alert("settle.refused", f"the host refused the settlement: {code} "
                                 f"{self.settings.response_text(code)}; the batch stays open"))
            return self._rest(actions, note=f"SETTLE REFUSED {code}")
        try:
            result = SettleResult(reply.settle_result or "3")
        except ValueError:
            result = SettleResult.ERROR
        batch = self.counters.batch
        settlement = Settlement(batch=batch, totals=job.item.totals, result=result, when=now, stan=job.item.stan,
                                operator=self.settings.operator)
        self.counters = replace(self.counters, batch=batch % BATCH_MAX + 1)  # the STAN carries on
        self.totals = None
        self.report = settlement
        code = "settle.ok" if settlement.balanced else "settle.unbalanced"
        text = f"batch {batch:06d} settled, totals {result.name.lower()}"
        actions += [CloseBatch(settlement, self.counters), Alert(code, text)]
        return self._print_report(actions)

    def _print_report(self, head: list[Action], *, reprint: bool = False) -> Result:
        s = self.report
        return State.PRINTING, head + [
            Show(screens.fit(("SETTLED", f"BATCH {s.batch:06d}", "PRINTING REPORT"))),
            PrintReport(s, build_report(s, self.settings, reprint=reprint)),
        ]

    def _h_report_printed(self, ev: ReportPrinted, now: datetime) -> Result:
        self.report = None
        state, more = self._after_printing()
        return state, [MarkReportPrinted(ev.settlement.batch)] + more
