"""Printing receipts: a transaction's copies, receipts owed by late answers, and a printer
that fails (RECEIPT_HELD: ENTER prints again, CANCEL skips the copy).

A copy held after a failure that came once its bytes had started to go (``ActionFailed.sent``
not False) prints again marked ``*** PRINTED AGAIN ***``: whatever the printer said (no answer
to the status check after the write, paper out, the cover opened, offline), part of the copy
or all of it may be on paper, with the amount, the card and the signature line, and two such
slips must never stand for two charges (audit AU20 L2: a roll that ran out under the copy's
last rows). A hold the port says sent nothing (its check before the write: ``sent`` False)
prints the plain copy.

Every receipt printed here has its outcome committed first; each copy printed or skipped
is marked (``MarkPrinted``), so a power cut prints again only what was owed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from firmware.core import screens
from firmware.core.actions import Action, MarkPrinted, Print, Show
from firmware.core.events import ActionFailed, KeyPressed, Printed
from firmware.core.menu import CANCEL, ENTER
from firmware.core.model import PrintJob, SaleRecord, State
from firmware.core.receipt import build_receipt
from firmware.core.uplink import Then

__all__ = ["PrintingMixin"]

Result = tuple[State, list[Action]]

class PrintingMixin:
    """The printing handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    # -- printing ------------------------------------------------------------------
    def _print_sale(self, record: SaleRecord, head: list[Action]) -> Result:
        self.print_queue = [PrintJob(record, copy) for copy in self.settings.copies]
        if self.print_queue:
            self.last_receipt = record
        if not self.print_queue:
            state, more = self._after_printing()
            return state, head + more
        return self._print_next(head)

    def _print_next(self, head: list[Action]) -> Result:
        job = self.print_queue[0]
        return State.PRINTING, head + [Print(job, build_receipt(job, self.settings))]

    def _h_printed(self, ev: Printed, now: datetime) -> Result:
        job = self.print_queue.pop(0)
        actions: list[Action] = [] if job.reprint else [MarkPrinted(job.record.txn_no, job.copy)]
        if self.print_queue:
            return self._print_next(actions)
        state, more = self._after_printing()
        return state, actions + more

    def _print_owed(self, head: list[Action]) -> Result | None:
        """Receipts owed by answers that came late (a refund answered when sent again), committed
        with their outcome: printed now that the terminal is between transactions. None if none."""
        if not self.owed_prints:
            return None
        self.print_queue, self.owed_prints = self.owed_prints, []
        self.last_receipt = self.print_queue[-1].record
        return self._print_next(head + [Show(screens.shown(self, ("LATE HOST ANSWER", "PRINTING RECEIPT")))])

    def _after_printing(self) -> Result:
        self.sale = None
        owed = self._print_owed([])
        if owed is not None:
            return owed
        if self.report is not None:  # owed since before a power cut, after the receipts
            return self._print_report([])
        if (self._queued() and (self.link_up or self.recovering)) or self.network:
            return self._uplink(Then.IDLE, [])
        self.recovering = False
        return self._rest()

    def _print_failed(self, ev: ActionFailed) -> Result:
        """The copy at the head of the queue is held; marked to print again if it may be on paper already."""
        job = ev.action.job
        if ev.sent is not False and self.print_queue and self.print_queue[0] == job:
            self.print_queue[0] = replace(job, again=True)
        return State.RECEIPT_HELD, [Show(screens.printer_problem(ev.text, screens._width(self)))]

    def _h_held_key(self, ev: KeyPressed, now: datetime) -> Result:
        if ev.key == ENTER:
            return self._print_next([Show(screens.shown(self, ("PRINTING...",)))])
        if ev.key == CANCEL:
            job = self.print_queue.pop(0)
            actions: list[Action] = [] if job.reprint else [MarkPrinted(job.record.txn_no, job.copy, skipped=True)]
            if self.print_queue:
                return self._print_next(actions)
            state, more = self._after_printing()
            return state, actions + more
        return State.RECEIPT_HELD, []
