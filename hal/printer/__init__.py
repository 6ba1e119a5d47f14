"""The receipt printer: the document model the core builds, and the port drivers implement.

The transaction core describes a receipt as data (``Receipt`` of ``Line``);
the printer decides how to put it on paper. ``ReceiptPrinter`` writes the
logic every driver shares once: check the printer's status, refuse to print
into an empty or open printer, render through python-escpos, write, check
the status again, and turn a failed write into the error that names its
cause. A driver implements two hooks, ``_write(data)`` and ``_query_status()``.

Drivers (see ``hal.registry``): ``sim://`` (``hal.printer.sim``),
``serial:///dev/ttyUSB0`` (``hal.printer.serial``), ``tcp://host:9100``
(``hal.printer.network``).

Importing this package does not import python-escpos: it is imported the
first time a receipt is rendered, or by ``warm_up()`` when the runner is idle.

A printed receipt means the printer took all its bytes and, asked after the
last of them, still had paper, a closed cover and no error. A printer
without flow control (serial ``flow=none``, or TCP) keeps reading the line
after its roll ends, so a write that succeeds proves nothing: the status
asked after it (one check a receipt; a stream driver first waits for the
bytes to leave) raises the same ``PrinterError`` as the check before it,
the runner does not mark the copy printed, and the receipt is held and
printed again whole once paper is loaded. A printer that answered before
the write and not after it raises ``printer.not_responding`` like the check
before: the operator is told and decides (ENTER prints again, CANCEL
skips), since the printer may have been switched off mid-receipt. An error
from the check before the write carries ``sent = False`` (the attribute the
runner reads into ``ActionFailed.sent``): nothing of the receipt left the
terminal, so the copy held is not on paper and prints again plain. The
check cannot see a roll that ends later, while the printer prints from its
own buffer what it already took; the status before the next receipt does.
``last_status`` and ``paper_near_end`` tell the runner to warn the operator
while printing goes on.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from firmware.errors import ConfigError, PrinterError
from hal.base import Device, DeviceContext
from hal.printer import render
from hal.printer.capabilities import check_columns
from hal.printer.document import Align, Line, Receipt, Row, cell_width, layout, plain_text
from hal.printer.status import PrinterStatus
from hal.url import DeviceUrl, Option

__all__ = [
    "Align",
    "Line",
    "Receipt",
    "Row",
    "layout",
    "plain_text",
    "cell_width",
    "PrinterStatus",
    "ReceiptPrinter",
    "status_error",
    "MIN_COLUMNS",
    "MAX_COLUMNS",
]

log = logging.getLogger(__name__)

MIN_COLUMNS, MAX_COLUMNS = 8, 255

_STATUS_ERRORS: dict[PrinterStatus, tuple[str, str]] = {
    PrinterStatus.PAPER_OUT: ("the printer is out of paper", "printer.paper_out"),
    PrinterStatus.COVER_OPEN: ("the printer cover is open", "printer.cover_open"),
    PrinterStatus.OFFLINE: ("the printer is offline", "printer.offline"),
}


def status_error(status: PrinterStatus) -> PrinterError:
    """The error for a status that stops printing (PAPER_OUT, COVER_OPEN, OFFLINE)."""
    text, code = _STATUS_ERRORS[status]
    return PrinterError(text, code=code)


class ReceiptPrinter(Device):
    """Port: a receipt printer. Drivers override ``_write`` and ``_query_status``."""

    kind: ClassVar[str] = "printer"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "profile": Option(str, "default", "python-escpos capability profile of the printer model"),
        "columns": Option(int, 32, "characters per row in the normal font: 32 for 58 mm paper, 42 or 48 for 80 mm"),
        "encoding": Option(str, "", "force one code page, e.g. CP437; empty lets python-escpos pick per character"),
        "cjk": Option(str, "none", "the printer's Chinese mode (FS &) and what it takes: gb18030 prints Chinese "
                      "(CJK) text in it; none: the printer has no Chinese font", choices=("none", *render.CJK_ENCODINGS)),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        columns = self.options["columns"]
        if not MIN_COLUMNS <= columns <= MAX_COLUMNS:
            raise ConfigError(
                f"option 'columns' in {self.url.shown!r} expects a whole number from {MIN_COLUMNS} to {MAX_COLUMNS}, got {columns}",
                code="config.bad_option",
            )
        check_columns(self.profile, columns, self.url.shown)  # before any sale, without importing python-escpos
        self.last_status: PrinterStatus | None = None
        self._profile_checked = False

    # -- configuration ----------------------------------------------------
    @property
    def columns(self) -> int:
        return self.options["columns"]

    @property
    def profile(self) -> str:
        return self.options["profile"]

    @property
    def cjk(self) -> str:
        """The encoding of the printer's Chinese mode (``cjk`` option), or "" when it has none."""
        value = self.options["cjk"]
        return "" if value == "none" else value

    @property
    def cache_dir(self) -> Path:
        return render.default_cache_dir(self.context.data_dir)

    def warm_up(self) -> None:
        """Import python-escpos and check the profile and code page now; safe from a background thread.

        Raises ``ConfigError`` for a profile or code page python-escpos does not know, and for more
        ``columns`` than the profile's Font A has.
        """
        render.check_profile(self.profile, self.columns, self.options["encoding"], cache_dir=self.cache_dir,
                             url=self.url.shown)
        self._profile_checked = True

    def render(self, receipt: Receipt) -> bytes:
        """The bytes this printer is sent for ``receipt``."""
        if not self._profile_checked:
            self.warm_up()
        return render.render_escpos(
            receipt,
            profile=self.profile,
            columns=self.columns,
            encoding=self.options["encoding"],
            cjk=self.cjk,
            cache_dir=self.cache_dir,
        )

    # -- status -----------------------------------------------------------
    def status(self, timeout: float | None = None) -> PrinterStatus:
        """Ask the printer now. Raises ``PrinterError`` ``printer.not_responding`` when it does not answer.

        ``timeout``: wait at most this many seconds for each answer, never longer than the driver's own
        (a stream driver's ``timeout`` option). The runner's checks while idle pass a short one, so a
        printer switched off keeps the keys and the reader waiting a moment, not the whole timeout.
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(f"a status timeout is a number of seconds above 0, got {timeout!r}")
        self._require_open()
        status = self._query_status(timeout)
        self._note(status)
        return status

    @property
    def paper_near_end(self) -> bool:
        """The last status said the roll is nearly used up: printing goes on, the operator should be told."""
        return self.last_status is PrinterStatus.PAPER_NEAR_END

    def _note(self, status: PrinterStatus) -> None:
        if status is PrinterStatus.PAPER_NEAR_END and self.last_status is not status:
            log.warning("printer %s: paper roll near its end", self.url.shown)
        self.last_status = status

    # -- printing ---------------------------------------------------------
    def print_receipt(self, receipt: Receipt) -> None:
        """Check status, render, write, check status again. Raises ``PrinterError`` with the code of the cause.

        Returning means the receipt is on paper as far as the printer can
        tell; raising means it may not be, and is to be printed again whole.
        """
        try:
            self._check_can_print()
        except PrinterError as e:
            e.sent = False  # nothing of this receipt left the terminal: a copy held now is not on paper
            raise
        data = self.render(receipt)
        try:
            self._write(data)
        except PrinterError:
            raise
        except OSError:
            raise self._diagnose() from None
        self._check_can_print()  # a roll that ended while the bytes went out: the write itself succeeded
        log.info("printer %s: printed %s (%d bytes)", self.url.shown, receipt.title or "a receipt", len(data))

    def _check_can_print(self) -> None:
        """Ask the printer; raise the ``PrinterError`` of a status that stops printing (or of no answer)."""
        status = self.status()
        if not status.can_print:
            raise status_error(status)

    def _diagnose(self) -> PrinterError:
        """Why a write failed, asked of the printer itself."""
        try:
            status = self._query_status()
        except PrinterError as err:
            return err
        self._note(status)
        if not status.can_print:
            return status_error(status)
        return PrinterError("the printer did not take the whole receipt", code="printer.write_failed")

    def _require_open(self) -> None:
        if not self.is_open:
            raise PrinterError("the printer is not open", code="printer.not_open")

    # -- hooks --------------------------------------------------------------
    @abc.abstractmethod
    def _write(self, data: bytes) -> None:
        """Send ``data`` to the printer, returning once it has left the terminal (so the status asked next
        answers for all of it). Raise ``OSError`` (or a ``PrinterError`` naming the cause) on failure."""

    @abc.abstractmethod
    def _query_status(self, timeout: float | None = None) -> PrinterStatus:
        """Ask the printer. Raise ``PrinterError`` ``printer.not_responding`` when there is no answer.

        ``timeout`` (None: the driver's own) bounds the wait for each answer; a driver that answers at
        once (the simulator) may ignore it."""
