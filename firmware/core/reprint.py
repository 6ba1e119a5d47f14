"""Reprints from the function menu's second page: 8 the newest receipt, 9 the newest settlement's report.

A reprint prints what is already recorded, once, marked "*** REPRINT ***", and
changes nothing stored: no copy is marked printed or skipped, no report is
marked printed. What to reprint is known without reading the journal: storage
hands the newest of each over at start-up (``BootState.last_report``,
``last_receipt``) and the core keeps them current as it settles and prints.

The report of a batch whose upload is still owed is not reprinted: it has not
been printed yet, and would not be true until the upload completes.
"""

from __future__ import annotations

from firmware.core import screens
from firmware.core.actions import Action, PrintReport, Show
from firmware.core.model import Copy, PrintJob, State
from firmware.core.report import build_report

__all__ = ["ReprintMixin"]

Result = tuple[State, list[Action]]


class ReprintMixin:
    """The reprint handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    def _reprint_report(self, head: list[Action]) -> Result:
        s = self.last_report
        if s is None:
            return self._rest(head, note="NO REPORT YET")
        if s.upload_owed:
            return self._rest(head, note="UPLOAD PENDING")
        return State.PRINTING, head + [
            Show(screens.fit(("REPRINT", f"BATCH {s.batch:06d}", "PRINTING REPORT"),
                             (f"REPRINT BATCH {s.batch:06d}", "PRINTING REPORT"))),
            PrintReport(s, build_report(s, self.settings, reprint=True), reprint=True),
        ]

    def _reprint_receipt(self, head: list[Action]) -> Result:
        """One copy (the first the configuration prints) of the newest transaction's receipt."""
        record = self.last_receipt
        if record is None:
            return self._rest(head, note="NO RECEIPT YET")
        copy = self.settings.copies[0] if self.settings.copies else Copy.MERCHANT
        self.print_queue = [PrintJob(record, copy, reprint=True)]
        shown = screens.fit(("REPRINT", f"TRACE {record.stan:06d}", "PRINTING..."),
                            (f"REPRINT TRACE {record.stan:06d}", "PRINTING..."))
        return self._print_next(head + [Show(shown)])
