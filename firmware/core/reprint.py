"""Reprints from the function menu's second page: 8 a receipt by its trace (ENTER alone: the newest), 9 the
newest settlement's report.

A reprint prints what is already recorded, once, marked "*** REPRINT ***", and
changes nothing stored: no copy is marked printed or skipped, no report is
marked printed. The newest of each is known without reading the journal: storage
hands them over at start-up (``BootState.last_report``, ``last_receipt``) and the
core keeps them current as it settles and prints.

Any other receipt is named by its trace (``TRACE NO (#=LAST)``, REPRINT) and looked
up in the open batch by the runner (REPRINT_LOOKUP: ``FindRecord`` answered by
``RecordFound``), as a void's original is: the core never reads storage. Only the
open batch: a UnionPay-style terminal's reprint covers the batch not yet settled, and
its rows are a rowid range from the journal's mark (``storage.live``), where another
batch's would be a scan. A record with no slip (a decline, an inquiry: ``Flow.moves_money``)
says so; a reprint of one a void has undone since says ``VOIDED BY TRACE n``, so an old
slip reprinted is not taken for a live charge.

The report of a batch whose upload is still owed is not reprinted: it has not
been printed yet, and would not be true until the upload completes.
"""

from __future__ import annotations

from datetime import datetime

from firmware.core import screens
from firmware.core.actions import Action, CancelTimer, FindRecord, PrintReport, Show, StartTimer
from firmware.core.events import KeyPressed, RecordFound, TimerExpired
from firmware.core.flows import FLOWS
from firmware.core.model import Copy, JournalState, KeyState, PrintJob, SaleRecord, State, Timer
from firmware.core.original import CANCEL, ENTER, TRACE_DIGITS, edited
from firmware.core.report import build_report

__all__ = ["ReprintMixin", "TRACE_PROMPT"]

Result = tuple[State, list[Action]]

TRACE_PROMPT = "TRACE NO (#=LAST)"
_SLIPPED = frozenset({JournalState.APPROVED, JournalState.OFFLINE_APPROVED})  # the states that printed a slip


class ReprintMixin:
    """The reprint handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    reprint_trace: str = ""  # the digits keyed at TRACE NO (#=LAST)

    def _reprint_report(self, head: list[Action]) -> Result:
        s = self.last_report
        if s is None:  # no batch settled yet: the open batch's totals are one key away (F 5, X leaves them)
            w = screens._width(self)
            first = screens._first_fit(w, "NO SETTLEMENT YET", "NOT SETTLED YET")
            if self.keys is not KeyState.READY:  # signed off: F 5 would not answer either
                return self._rest(head, note=first)
            how = screens._first_fit(w, "TOTALS: F THEN 5", "TOTALS: F,5")
            state, more = self._idle(first, how)
            return state, head + more
        if s.upload_owed:
            return self._rest(head, note="UPLOAD PENDING")
        return State.PRINTING, head + [
            Show(screens.shown(self, ("REPRINT", f"BATCH {s.batch:06d}", "PRINTING REPORT"),
                             (screens._first_fit(screens._width(self), f"REPRINT BATCH {s.batch:06d}",
                                                 f"REPRINT {s.batch:06d}"), "PRINTING REPORT"))),
            PrintReport(s, build_report(s, self.settings, reprint=True), reprint=True),
        ]

    # -- a receipt: by its trace, or the newest --------------------------------------------
    def _ask_reprint(self, head: list[Action]) -> Result:
        """F 8: which receipt (its trace; ENTER alone, the newest)."""
        self.reprint_trace = ""
        return State.REPRINT, head + [
            CancelTimer(Timer.MESSAGE),
            Show(self._reprint_prompt()),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _reprint_prompt(self, note: str = "") -> tuple[str, ...]:
        trace = self.reprint_trace or "_"
        return screens.shown(self, ("REPRINT", TRACE_PROMPT, trace, note or "#=OK  X=CANCEL"),
                           (note or TRACE_PROMPT, trace))

    def _h_reprint_key(self, ev: KeyPressed, now: datetime) -> Result:
        note = ""
        self.reprint_trace = edited(self.reprint_trace, ev.key, TRACE_DIGITS)  # the trace entry the void's is
        if ev.key == CANCEL:
            return self._reprint_end("CANCELLED")
        if ev.key == ENTER:
            if not self.reprint_trace:  # ENTER alone: the newest receipt, as F 8 always printed
                return self._reprint_receipt([CancelTimer(Timer.INPUT)])
            stan = int(self.reprint_trace)
            if stan == 0:
                note = "ENTER THE TRACE NO"
            else:
                shown = screens.shown(self, ("REPRINT", f"TRACE {stan:06d}", "SEARCHING..."),
                                    (f"REPRINT TRACE {stan:06d}", "SEARCHING..."))
                return State.REPRINT_LOOKUP, [CancelTimer(Timer.INPUT), Show(shown),
                                              FindRecord(stan, self.counters.batch)]
        return State.REPRINT, [Show(self._reprint_prompt(note)), StartTimer(Timer.INPUT, self.settings.input_timeout)]

    def _h_reprint_timer(self, ev: TimerExpired, now: datetime) -> Result:
        if ev.timer is not Timer.INPUT:
            return self.state, []
        return self._reprint_end("TIMED OUT")

    def _h_record_found(self, ev: RecordFound, now: datetime) -> Result:
        trace = f"{ev.stan:06d}"
        record = ev.record
        if record is None:
            return self._reprint_end("TRACE NOT FOUND", f"TRACE {trace}", "NOT IN OPEN BATCH",
                                     short=("TRACE NOT FOUND", f"TRACE {trace}"))
        flow = FLOWS.get(record.kind)
        if flow is None or not flow.moves_money or record.state not in _SLIPPED:  # a decline, an inquiry
            return self._reprint_end("NO SLIP FOR TRACE", trace, short=("NO SLIP FOR TRACE", trace))
        return self._reprint(record, [], voided_by=ev.voided_by)

    def _reprint_receipt(self, head: list[Action]) -> Result:
        """The newest transaction's receipt."""
        record = self.last_receipt
        if record is None:
            return self._rest(head, note="NO RECEIPT YET")
        return self._reprint(record, head)

    def _reprint(self, record: SaleRecord, head: list[Action], voided_by: int | None = None) -> Result:
        """One copy (the first the configuration prints) of ``record``'s receipt, marked a reprint."""
        copy = self.settings.copies[0] if self.settings.copies else Copy.MERCHANT
        self.print_queue = [PrintJob(record, copy, reprint=True, voided_by=voided_by)]
        shown = screens.shown(self, ("REPRINT", f"TRACE {record.stan:06d}", "PRINTING..."),
                            (f"REPRINT TRACE {record.stan:06d}", "PRINTING..."))
        return self._print_next(head + [Show(shown)])

    def _reprint_end(self, *message: str, short: tuple[str, ...] = ()) -> Result:
        """Back where the terminal rests, saying why nothing printed (signed off: its first line)."""
        if self.keys is KeyState.READY:
            return self._idle(*message, short=short)
        return self._rest([CancelTimer(Timer.INPUT)], note=message[0])

    def _reprint_failed(self, head: list[Action]) -> Result:
        """``FindRecord`` failed: the journal could not be read; nothing was printed or written."""
        state, actions = self._reprint_end("JOURNAL ERROR", "NOTHING REPRINTED")
        return state, head + actions
