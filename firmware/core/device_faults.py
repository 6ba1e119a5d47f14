"""Devices that fail under a transaction: no sale on a terminal whose printer is gone, and a reader that
fails while the card is awaited.

A card charged with no merchant copy printed is a sale the merchant cannot prove, so while the printer is
known to be faulted (the last print or status check failed and nothing since succeeded: ``PrinterFault``
until ``PrinterReady``) a transaction that prints a receipt does not start (``_refused_start`` asks
``_printer_refusal``). The runner tells the core both ways and checks a faulted printer on a back-off
(``runner_wait``), so the terminal takes sales again by itself once paper is loaded or the cable is back.

Not refused: a transaction that prints nothing (an inquiry, ``Flow.moves_money`` False, or a terminal
configured with no copies, ``printing.copies = []``), and the settlement, which charges no card: refusing
it would keep the day's money from the merchant for a slip the menu prints again (the report reprint).
Receipts already held stay held (``printing.py``).

A reader whose poll fails while the terminal waits for the card (``ReaderFailed``, from the runner: unplugged,
its port dead) ends that wait at once with a screen naming it, rather than SWIPE CARD until the input timeout
with the cause in a log line only; nothing was sent. Its port reopens by itself (``hal.serialport``), so the
next sale reads the reader plugged back.
"""

from __future__ import annotations

from datetime import datetime

from firmware.core import screens
from firmware.core.actions import Action, Alert, DisableReader, Show
from firmware.core.events import PrinterFault, PrinterReady, ReaderFailed
from firmware.core.flows import flow_of
from firmware.core.model import Kind, State
from hal.display import Lines

__all__ = ["DeviceFaultMixin", "FAULT_LINES"]

# the screen's name for each fault; another code shows as PRINTER FAULT alone
FAULT_LINES = {
    "printer.disconnected": "NOT CONNECTED",
    "printer.not_open": "NOT CONNECTED",
    "printer.open_failed": "NOT CONNECTED",
    "printer.paper_out": "OUT OF PAPER",
    "printer.not_responding": "NOT RESPONDING",
    "printer.cover_open": "COVER OPEN",
    "printer.offline": "OFFLINE",
}


class DeviceFaultMixin:
    """``Terminal``'s handlers for device faults; the printer's lives on the terminal (``printer_fault``)."""

    printer_fault: PrinterFault | None

    def _h_printer_fault(self, ev: PrinterFault, now: datetime):
        changed = self.printer_fault is None or self.printer_fault.code != ev.code
        self.printer_fault = ev
        return self.state, self._status_refreshed(changed)

    def _h_printer_ready(self, ev: PrinterReady, now: datetime):
        changed = self.printer_fault is not None
        self.printer_fault = None
        return self.state, self._status_refreshed(changed)

    def _status_refreshed(self, changed: bool) -> list[Action]:
        """The idle screen again, for its status line, when the printer's fault changed while idle."""
        if changed and self.state is State.IDLE and self.sale is None:
            return [Show(screens.idle(self))]
        return []

    def _printer_refusal(self, kind: Kind) -> tuple[Alert, Lines] | None:
        """The alert and screen that refuse ``kind`` while the printer is faulted; None if it may start.
        On 2 rows: NO SALES: PRINTER, and the cause."""
        fault = self.printer_fault
        if fault is None or not self.settings.copies or not flow_of(kind).moves_money:
            return None
        alert = Alert("printer.fault", f"the printer is faulted ({fault.code}: {fault.text}): no transaction "
                                       "that prints a receipt starts until it works again")
        cause = FAULT_LINES.get(fault.code, "")
        return alert, screens.fit(("PRINTER FAULT", "NO SALES", cause), ("NO SALES: PRINTER", cause) if cause else ())

    def _h_reader_failed(self, ev: ReaderFailed, now: datetime):
        """The reader failed while the card was awaited: the sale ends, nothing was sent (the runner alerted)."""
        wipe = self._wipe()
        state, actions = self._idle("READER FAULT", "SALE CANCELLED", "CHECK THE CARD READER",
                                    short=("SALE CANCELLED", "CHECK CARD READER"))
        return state, [DisableReader()] + wipe + actions
