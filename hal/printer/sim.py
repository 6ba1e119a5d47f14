"""``sim://``: an in-process receipt printer that acts as an instrument.

It records what a real printer would get and what the paper would show::

    printer = SimPrinter("sim://?columns=32&paper=/tmp/paper.txt")
    printer.open()
    printer.print_receipt(receipt)
    printer.assert_printed("APPROVED")
    printer.paper_out()               # the next print raises printer.paper_out
    printer.paper_out_after(200)      # ... or the one that runs the roll out part-way

``output`` holds every byte that reached paper, exactly as python-escpos made it (Chinese text
between ``FS &`` and ``FS .`` with ``cjk=gb18030``); ``receipts`` the plain text of each receipt
(``hal.printer.plain_text``: Chinese as it is with ``cjk``, each wide character ``??`` without).
Its status goes through the same ESC/POS status bits as a real printer's (``hal.printer.status``).

``paper=PATH`` appends each receipt's text and a line ``=====`` to PATH and
closes the file after each receipt, so the paper survives the process being
killed (crash tests); ``read_paper(PATH)`` reads it back.

Paper running out mid-receipt (``paper_out_after(n)``): the roll takes the
next ``n`` print bytes and the rest is lost, the write itself succeeds (as
on a real printer without flow control, which keeps reading the line), and
the status now says paper end, so ``print_receipt`` raises
``printer.paper_out`` from the status it asks after every write. The rows
whose line feed was among those bytes are on paper: they go to ``torn`` (not
``receipts``) and to the paper file followed by ``===== PAPER OUT``. A roll
that ends with a receipt's last byte tears it too: the printer cannot tell,
and a copy printed twice is better than one lost. A real printer may keep
what it received in its buffer and print it once paper is loaded, so the
stub continues on the new roll; either way the remedy is a whole reprint.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import ClassVar

from firmware.errors import ConfigError, PrinterError
from hal.base import DeviceContext
from hal.printer import ReceiptPrinter, Receipt, plain_text
from hal.printer.decode import decode_lines
from hal.printer.status import (
    DeviceState,
    PaperLevel,
    PrinterStatus,
    SensorFaults,
    StatusRequest,
    decode_status,
    encode_status,
    feed_paper,
)
from hal.url import DeviceUrl, Option

__all__ = ["SimPrinter", "read_paper", "SEPARATOR", "TORN_SEPARATOR"]

SEPARATOR = "====="
TORN_SEPARATOR = "===== PAPER OUT"
_SPACES = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def read_paper(path: str | Path) -> list[str]:
    """The receipts printed whole into a ``paper=`` file, in order (torn ones left out)."""
    receipts: list[str] = []
    current: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines(keepends=True):
        if line.rstrip("\n") == SEPARATOR:
            receipts.append("".join(current))
            current = []
        elif line.startswith(SEPARATOR):
            current = []
        else:
            current.append(line)
    return receipts  # a receipt without its separator was being written when the process died


class SimPrinter(SensorFaults, ReceiptPrinter):
    scheme: ClassVar[str] = "sim"
    OPTIONS = {
        **ReceiptPrinter.OPTIONS,
        "paper": Option(str, "", "file that receives each receipt's text, for crash tests"),
    }

    def __init__(self, url: DeviceUrl | str = "sim://", context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        self._output = bytearray()
        self._receipts: list[str] = []
        self._torn: list[str] = []
        self._state = DeviceState()
        self._answering = True
        self._partial: bytes | None = None  # what reached paper of a receipt the roll's end cut short

    @property
    def paper_path(self) -> Path | None:
        name = self.options["paper"]
        if not name:
            return None
        path = Path(name)
        if not path.is_absolute() and self.context.data_dir is not None:
            path = Path(self.context.data_dir) / path
        return path

    def _do_open(self) -> None:
        path = self.paper_path
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"the folder for the simulated paper {str(path)!r} does not exist", code="config.bad_option")

    # -- hooks --------------------------------------------------------------
    def _query_status(self, timeout: float | None = None) -> PrinterStatus:  # answers at once: no wait to bound
        if not self._answering:
            raise PrinterError("the printer did not answer a status request", code="printer.not_responding")
        state = self._state
        return decode_status(*(encode_status(state, n) for n in (StatusRequest.PRINTER, StatusRequest.OFFLINE_CAUSE, StatusRequest.ROLL_PAPER)))

    def _write(self, data: bytes) -> None:
        before = self._state
        self._state, printed = feed_paper(before, data)
        self._output += printed
        if self._state.paper is PaperLevel.OUT and before.paper is not PaperLevel.OUT:
            self._partial = printed

    def print_receipt(self, receipt: Receipt) -> None:
        self._partial = None
        try:
            super().print_receipt(receipt)
        except PrinterError:
            if self._partial is not None:
                rows, _unprinted = decode_lines(self._partial)
                text = "".join(self._plain(receipt).splitlines(keepends=True)[: len(rows)])
                self._partial = None
                self._torn.append(text)
                self._to_paper(text, TORN_SEPARATOR)
            raise
        text = self._plain(receipt)
        self._receipts.append(text)
        self._to_paper(text, SEPARATOR)

    def _plain(self, receipt: Receipt) -> str:
        """The receipt's text as this printer puts it on paper: ``??`` for a wide character without ``cjk``."""
        return plain_text(receipt, self.columns, cjk=bool(self.cjk))

    def _to_paper(self, text: str, separator: str) -> None:
        path = self.paper_path
        if path is not None:
            with open(path, "a", encoding="utf-8") as paper:  # closed, so flushed, after every receipt
                paper.write(text + separator + "\n")

    # -- instrument: what was printed ---------------------------------------
    @property
    def output(self) -> bytes:
        """Every byte that reached paper, exactly as python-escpos made it (all that was sent, unless the roll ended)."""
        return bytes(self._output)

    @property
    def receipts(self) -> list[str]:
        """The plain text of each receipt printed whole, oldest first."""
        return list(self._receipts)

    @property
    def torn(self) -> list[str]:
        """The rows that reached paper of receipts cut short by the paper running out."""
        return list(self._torn)

    @property
    def last_receipt(self) -> str | None:
        return self._receipts[-1] if self._receipts else None

    @property
    def text(self) -> str:
        """All whole receipts, one after the other."""
        return "".join(self._receipts)

    def text_contains(self, text: str) -> bool:
        """Whether ``text`` was printed, ignoring layout: any run of spaces or line breaks matches any other."""
        return _squash(text) in _squash(self.text)

    def assert_printed(self, text: str) -> None:
        if self.text_contains(text):
            return
        if not self._receipts:
            torn = f" ({len(self._torn)} receipt(s) were torn by paper out)" if self._torn else ""
            raise AssertionError(f"{text!r} was not printed: no receipt was printed{torn}")
        raise AssertionError(
            f"{text!r} was not printed in {len(self._receipts)} receipt(s); the last one reads:\n{self._receipts[-1]}"
        )

    def clear(self) -> None:
        """Forget what was printed (not the faults)."""
        self._output.clear()
        self._receipts.clear()
        self._torn.clear()

    # -- instrument: faults -------------------------------------------------
    def _set(self, **changes: object) -> None:
        self._state = dataclasses.replace(self._state, **changes)

    def stop_answering(self) -> None:
        """Status requests get no answer (printer switched off, cable pulled)."""
        self._answering = False

    def resume(self) -> None:
        """Back to normal after ``stop_answering``, ``open_cover`` or ``go_offline``: the roll stays as it is."""
        self._answering = True
        self._set(cover_open=False, error=False)
