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

A PIN pad that cannot take or encrypt the PIN (``PinPadFailed``, from the runner: the DUKPT key exhausted,
its state not writable, the pad gone) ends the sale with a screen naming the fault, held like a decline's
outcome, never as the cardholder's CANCELLED (audit AU21 M3); nothing was journalled or sent and the runner
alerted the code. An exhausted DUKPT key is for good (``PIN_KEY_GONE``): from then on a transaction that
takes a PIN does not start (``_pin_refusal``), READY says why, as for a faulted printer. Its counters running
low (``PinKeyLow``, from the runner at boot and after each idle top-up) is alerted once (``keys.dukpt_low``)
and stays on the idle status line.
"""

from __future__ import annotations

from datetime import datetime

from firmware.core import screens
from firmware.core.actions import Action, Alert, DisableReader, Show
from firmware.core.events import PinKeyLow, PinPadFailed, PrinterFault, PrinterReady, ReaderFailed
from firmware.core.flows import flow_of
from firmware.core.model import Kind, State
from hal.display import Lines

__all__ = ["DeviceFaultMixin", "FAULT_LINES", "PIN_KEY_GONE"]

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

# PIN pad faults no retry mends: the DUKPT key has no counter left (a new initial key must be injected)
EXHAUSTED = "pinpad.dukpt.exhausted"
PIN_KEY_GONE = frozenset({EXHAUSTED})


class DeviceFaultMixin:
    """``Terminal``'s handlers for device faults; the printer's lives on the terminal (``printer_fault``)."""

    printer_fault: PrinterFault | None
    pin_key_gone: PinPadFailed | None
    pin_key_left: int | None

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
        return alert, screens.shown(self, ("PRINTER FAULT", "NO SALES", cause), ("NO SALES: PRINTER", cause) if cause else ())

    def _h_reader_failed(self, ev: ReaderFailed, now: datetime):
        """The reader failed while the card was awaited: the sale ends, nothing was sent (the runner alerted)."""
        wipe = self._wipe()
        state, actions = self._idle("READER FAULT", "SALE CANCELLED", "CHECK THE CARD READER",
                                    short=("SALE CANCELLED", "CHECK CARD READER"))
        return state, [DisableReader()] + wipe + actions

    def _h_pin_pad_failed(self, ev: PinPadFailed, now: datetime):
        """The PIN could not be taken or encrypted: the sale ends naming the fault, not as a cancel; nothing
        was journalled or sent (the runner alerted the code and cancelled the pad's entry)."""
        wipe = self._wipe()
        if ev.code in PIN_KEY_GONE:
            self.pin_key_gone = ev
            lines, short = ("PIN KEY EXHAUSTED", "SALE CANCELLED", "CALL SUPPORT"), ("PIN KEY EXHAUSTED", "CALL SUPPORT")
        else:  # its cause, read from the code as every failure's is (ENCRYPT FAILED); the text is in the alert
            cause = screens.cause(ev.code, screens._width(self))
            lines, short = ("PIN PAD FAULT", "SALE CANCELLED", cause), ("PIN PAD FAULT", cause)
        state, actions = self._idle(*lines, short=short)
        return state, wipe + actions

    def _pin_refusal(self, kind: Kind) -> tuple[Alert, Lines] | None:
        """The alert and screen that refuse a transaction while the PIN key is exhausted; None if it may
        start. Every transaction started at READY or from the menu swipes a card and takes its PIN (the
        settlement, which takes none, is not started through here)."""
        if self.pin_key_gone is None:
            return None
        alert = Alert(self.pin_key_gone.code, f"the DUKPT PIN key is exhausted: no {kind.value} starts until a "
                                              "new initial key is injected (posterm keys inject-dukpt)")
        return alert, screens.shown(self, ("PIN KEY EXHAUSTED", "NO CARD SALES", "CALL SUPPORT"),
                                  ("NO SALES: PIN KEY", "CALL SUPPORT"))

    def _h_pin_key_low(self, ev: PinKeyLow, now: datetime):
        """The DUKPT key's counters run low: alerted the first time, then only the status line's count. None
        left (a terminal restarted after its key ran out) is the exhausted key's hold, as a failed PIN sets it."""
        if ev.left == 0:
            told = self.pin_key_gone is not None
            self.pin_key_gone = PinPadFailed(EXHAUSTED, "the DUKPT key is exhausted: inject a new initial key")
            alert = [] if told else [Alert(EXHAUSTED, "the DUKPT PIN key is exhausted: no transaction that takes a "
                                                      "PIN starts until a new initial key is injected")]
            return self.state, alert + self._status_refreshed(not told)
        told = self.pin_key_left is not None
        self.pin_key_left = ev.left
        alert = [] if told else [Alert("keys.dukpt_low", f"the DUKPT PIN key has {ev.left} counters left: "
                                                         "inject a new initial key before it runs out")]
        return self.state, alert + self._status_refreshed(not told)
