"""Settlement (结算) and batch upload (批上送): total the batch, confirm, send the 0500, close the batch.

The handlers of ``Terminal`` for the COUNTING and TOTALS states, for the
answers to a settlement and to a batch upload, and for the report. The order
that makes it safe:

1. every due reversal and stored offline sale goes out first (``Then.SETTLE``),
   so the totals the runner counts next are final; an upload still owed from
   the batch before goes out first too;
2. the operator confirms the totals; the 0500 travels as a network job, last
   on the uplink like a sign-off, with the uplink's retries;
3. on the 0510: ``CloseBatch`` commits the settlement (totals and the host's
   verdict) and the new batch number in ONE commit. The next batch is open
   from then on: sales may go on whatever follows.
4. balanced: the report prints (it is owed durably until ``MarkReportPrinted``).
   Not balanced (result 2, or 3: the UnionPay terminals upload on anything but
   "balanced"): the settlement row itself, ``uploaded = 0``, says the upload is
   owed. It travels on the uplink like a queued message: the batch's
   transactions in 0320s (online sales and voids eight to a message in field
   48, each offline sale in a message of its own, as the public UnionPay POS
   code packs them), each answered 0330, then the "batch upload end" 0320 with
   the count. Only on the end's 0330 does ``UploadDone`` commit ``uploaded = 1``;
   then the report prints, saying BATCH UPLOADED.

An upload interrupted (no answer after the retries, a power cut) goes on at
the next upload (the idle upload timer, F 1, the next boot) from the first
message the host has not acknowledged (a refusal sends it again whole: the
host may refuse the end's count, which the end alone would never mend): each 0330 is
noted (``UploadProgress``, no fsync of its own), since an upload that started
again whole after every cut might never finish (a big batch over a slow line;
the crash test met it). The note may be lost with the power, so the host must
take a repeated message as the same upload, which is what UnionPay hosts do
with a batch's transactions (the simulator records them by batch and trace).
The operator is told (``settle.upload_owed``), the display's
status line says so, and the report waits: it is printed once, when it is
true. A void of a sale of the closed batch is refused meanwhile, as for any
settled batch.

Silence or a refusal of the 0500 leaves the batch open: the operator is told
and may settle again.
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
    SettleSending,
    Show,
    StartTimer,
    UploadDone,
    UploadProgress,
)
from firmware.core.batch import OwedUpload, Settlement, SettleResult
from firmware.core.events import BatchCounted, Event, KeyPressed, ReportPrinted
from firmware.core.model import BatchHeld, NetworkKind, State, Timer
from firmware.core.report import build_report

__all__ = ["SettleMixin", "BATCH_MAX"]

BATCH_MAX = 999999
Result = tuple[State, list[Action]]


class SettleMixin:
    """Settlement handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    def _settle(self, head: list[Action]) -> Result:
        """Deliver the queues (and an owed upload) first; then count the batch."""
        from firmware.core.uplink import Then

        if self.reversals or self.advices or self.upload is not None:
            return self._uplink(Then.SETTLE, head + [CancelTimer(Timer.UPLOAD)])
        return self._count(head)

    def _count(self, head: list[Action]) -> Result:
        return State.COUNTING, head + [
            Show(screens.shown(self, ("SETTLEMENT", f"BATCH {self.counters.batch:06d}", "COUNTING..."),
                             (screens._first_fit(screens._width(self), f"SETTLEMENT {self.counters.batch:06d}",
                                                 f"SETTLE {self.counters.batch:06d}"), "COUNTING..."))),
            CountBatch(self.counters.batch),
        ]

    def _h_settle_requested(self, ev: Event, now: datetime) -> Result:
        if self.signed_out:  # as from the menu (operators.py)
            return self._idle("SIGN IN FIRST")
        if "settle" in self.settings.operators.supervisor_for:
            return self._operator_gate("settle", "5", [CancelTimer(Timer.MESSAGE)], now)
        return self._settle([CancelTimer(Timer.MESSAGE)])

    def _h_batch_counted(self, ev: BatchCounted, now: datetime) -> Result:
        self.totals = ev.totals
        self.plan = ev.plan
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
            self.totals = self.plan = None
            return self._rest([CancelTimer(Timer.INPUT)], note="CANCELLED")
        return State.TOTALS, []

    def _settle_answered(self, job, reply, now: datetime) -> Result:
        """The 0510: close the batch (one commit); then the report, or first the batch upload."""
        from firmware.core.uplink import Then

        actions: list[Action] = [CancelTimer(Timer.RESPONSE)]
        self.network = None
        self.job = None
        unheard, self.settle_unheard = self.settle_unheard, False
        self.settle_interrupted = False  # answered: CloseBatch (below) or this clears it in storage
        if not reply.approved:
            code = reply.response_code or "??"
            self.totals = None
            refused = f"the host refused the settlement: {code} {self.settings.response_text(code)}"
            if unheard:  # an earlier 0500 went unanswered: the host may have closed the batch then, unheard
                self.settle_interrupted = True  # the mark stays, in storage too: no transaction until one is answered
                actions.append(Alert("settle.refused", f"{refused}; an earlier settlement of batch "
                                     f"{self.counters.batch:06d} got no answer, so the batch takes no transaction "
                                     "until a settlement is answered: settle again, or ask the acquirer"))
                return self._rest(actions, note=f"SETTLE REFUSED {code}")
            actions.append(SettleSending(self.counters.batch, sending=False))
            actions.append(Alert("settle.refused", f"{refused}; the batch stays open"))
            return self._rest(actions, note=f"SETTLE REFUSED {code}")
        try:
            result = SettleResult(reply.settle_result or "3")
        except ValueError:
            result = SettleResult.ERROR
        batch = self.counters.batch
        settlement = Settlement(batch=batch, totals=job.item.totals, result=result, when=now, stan=job.item.stan,
                                operator=self.operator_no, no_upload=job.item.plan is None)
        self.counters = replace(self.counters, batch=batch % BATCH_MAX + 1)  # the STAN carries on
        self.batch_held = BatchHeld()
        self._batch_emptied()  # its age starts again with the next batch's first transaction (overdue.py)
        self.totals = self.plan = None
        self.last_report = settlement
        actions.append(CloseBatch(settlement, self.counters))
        actions += self._end_shift()  # the batch closed: the cashier's shift ends with it (operators.py)
        if settlement.balanced:
            self.report = settlement
            actions.append(Alert("settle.ok", f"batch {batch:06d} settled, totals balanced"))
            return self._print_report(actions)
        if job.item.plan is None:  # the profile has no batch upload (ISO 8583:1987): reconciled by hand
            self.report = settlement
            actions.append(Alert("settle.unbalanced", f"batch {batch:06d} settled, totals {result.name.lower()}: "
                                 f"this host takes no batch upload; reconcile it by hand (posterm report "
                                 f"--batch {batch})"))
            return self._print_report(actions)
        self.upload = OwedUpload(settlement, job.item.plan)
        self.upload_next = 0
        actions.append(Alert("settle.unbalanced", f"batch {batch:06d} settled, totals {result.name.lower()}: "
                             "uploading the batch"))
        return self._uplink(Then.IDLE, actions, now)

    def _upload_answered(self, job, reply, now: datetime) -> Result:
        """A 0330: on to the next 0320; the end's answer completes the upload (one commit), then the report."""
        actions: list[Action] = [CancelTimer(Timer.RESPONSE)]
        item = job.item
        if not reply.approved:  # a refusal (of the end's count, say): the whole upload again, not this alone
            code = reply.response_code or "??"
            self.job = None
            self.upload_next = 0
            actions.append(UploadProgress(item.batch, 0, item.plan))
            actions.append(Alert("settle.upload_owed", f"the host refused the upload of batch {item.batch:06d}: "
                                 f"{code} {self.settings.response_text(code)}; it is sent again whole at the next "
                                 "upload"))
            return self._queue_stopped(job.then, actions, now)
        if not item.end:
            self.upload_next = item.part + 1
            actions.append(UploadProgress(item.batch, self.upload_next, item.plan))
            return self._uplink(job.then, actions, now)
        settlement = replace(self.upload.settlement, uploaded=True)
        self.upload = None
        self.upload_next = 0
        self.job = None
        self.report = settlement
        if self.last_report is None or self.last_report.batch == settlement.batch:
            self.last_report = settlement  # (an older batch's upload leaves the newer report the last)
        actions += [
            UploadDone(settlement.batch),
            Alert("settle.uploaded", f"batch {settlement.batch:06d} uploaded: {item.plan.count} transaction(s)"),
        ]
        return self._print_report(actions, then=job.then)

    # -- the report ----------------------------------------------------------------
    def _print_report(self, head: list[Action], *, then=None) -> Result:
        """Print the owed report; ``then`` SETTLE: a settlement waits for it (counting comes next)."""
        s = self.report
        self._report_then = then
        if _by_hand(s):  # nothing more the terminal can do: the merchant must act now (audit AU21 M1)
            shown = _call_acquirer(self, s, "PRINTING REPORT")
        else:
            shown = screens.shown(self, ("SETTLED", f"BATCH {s.batch:06d}", "PRINTING REPORT"),
                                (f"SETTLED {s.batch:06d}", "PRINTING REPORT"))
        return State.PRINTING, head + [Show(shown), PrintReport(s, build_report(s, self.settings))]

    def _h_report_printed(self, ev: ReportPrinted, now: datetime) -> Result:
        from firmware.core.uplink import Then

        if ev.reprint:
            return self._after_printing()
        self.report = None
        then, self._report_then = self._report_then, None
        done: list[Action] = [MarkReportPrinted(ev.settlement.batch)]
        if then is Then.SETTLE:  # a settlement waited for the batch before it
            return self._settle(done)
        state, more = self._after_printing()
        if state is State.IDLE and _by_hand(ev.settlement):  # the note stays after the report, as an outcome does
            more = [a for a in more if not isinstance(a, Show)]  # instead of READY, until the message timer
            more += [Show(_call_acquirer(self, ev.settlement)), StartTimer(Timer.MESSAGE, self.settings.message_seconds)]
        return state, done + more


def _by_hand(s: Settlement) -> bool:
    """Settled unbalanced on a host that takes no batch upload (iso87): only the acquirer can reconcile it,
    and the next batch is open already, so the screen says so rather than SETTLED."""
    return s.no_upload and not s.balanced


def _call_acquirer(term, s: Settlement, *more: str):
    """UNBALANCED / BATCH n / CALL ACQUIRER (and ``more``); on 2 rows the batch (whole: UNBAL. on 16 columns)
    and the call."""
    head = screens._first_fit(screens._width(term), f"UNBALANCED {s.batch:06d}", f"UNBAL. {s.batch:06d}")
    return screens.shown(term, ("UNBALANCED", f"BATCH {s.batch:06d}", "CALL ACQUIRER", *more), (head, "CALL ACQUIRER"))
