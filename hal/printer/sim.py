"""``sim://``: an in-process receipt printer that acts as an instrument.

It records what a real printer would get and what the paper would show::

    printer = SimPrinter("sim://?columns=32&paper=/tmp/paper.txt")
    printer.open()
    printer.print_receipt(receipt)
    printer.assert_printed("APPROVED")
    printer.paper_out()               # the next print raises printer.paper_out

``output`` holds every byte exactly as python-escpos made it; ``receipts`` the
plain text of each receipt (``hal.printer.plain_text``). Its status goes
through the same ESC/POS status bits as a real printer's (``hal.printer.status``).

``paper=PATH`` appends each receipt's text and a line ``=====`` to PATH and
closes the file after each receipt, so the paper survives the process being
killed (crash tests); ``read_paper(PATH)`` reads it back.

Paper running out mid-receipt (``fail_after_bytes(n)``): the printer takes
the first ``n`` bytes, the write fails, and a status query then reports
paper out, so ``print_receipt`` raises ``printer.paper_out`` through the
port's own diagnosis. The rows whose line feed was among those bytes are on
paper: they go to ``torn`` (not ``receipts``) and to the paper file followed
by ``===== PAPER OUT``. The rest is lost. A real printer differs: it keeps
what it received in its buffer and prints it once paper is loaded, so the
receipt continues on the new roll; either way the remedy is a reprint.
"""

from __future__ import annotations

import dataclasses
import errno
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
        self._bytes_left: int | None = None
        self._partial: bytes | None = None

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
    def _query_status(self) -> PrinterStatus:
        if not self._answering:
            raise PrinterError("the printer did not answer a status request", code="printer.not_responding")
        state = self._state
        return decode_status(*(encode_status(state, n) for n in (StatusRequest.PRINTER, StatusRequest.OFFLINE_CAUSE, StatusRequest.ROLL_PAPER)))

    def _write(self, data: bytes) -> None:
        left = self._bytes_left
        if left is not None and len(data) >= left:
            self._output += data[:left]
            self._bytes_left = None
            self._set(paper=PaperLevel.OUT)
            if len(data) > left:
                self._partial = data[:left]
                raise OSError(errno.EIO, "paper ran out mid-receipt")
            return
        self._output += data
        if left is not None:
            self._bytes_left = left - len(data)

    def print_receipt(self, receipt: Receipt) -> None:
        self._partial = None
        try:
            super().print_receipt(receipt)
        except PrinterError:
            if self._partial is not None:
                rows, _unprinted = decode_lines(self._partial)
                text = "".join(plain_text(receipt, self.columns).splitlines(keepends=True)[: len(rows)])
                self._partial = None
                self._torn.append(text)
                self._to_paper(text, TORN_SEPARATOR)
            raise
        text = plain_text(receipt, self.columns)
        self._receipts.append(text)
        self._to_paper(text, SEPARATOR)

    def _to_paper(self, text: str, separator: str) -> None:
        path = self.paper_path
        if path is not None:
            with open(path, "a", encoding="utf-8") as paper:  # closed, so flushed, after every receipt
                paper.write(text + separator + "\n")

    # -- instrument: what was printed ---------------------------------------
    @property
    def output(self) -> bytes:
        """Every byte sent, exactly as python-escpos made it."""
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

    def load_paper(self) -> None:
        super().load_paper()
        self._bytes_left = None

    def stop_answering(self) -> None:
        """Status requests get no answer (printer switched off, cable pulled)."""
        self._answering = False

    def resume(self) -> None:
        """Back to normal after ``stop_answering``, ``open_cover`` or ``go_offline``: the roll stays as it is."""
        self._answering = True
        self._set(cover_open=False, error=False)

    def fail_after_bytes(self, n: int) -> None:
        """The paper runs out once ``n`` more bytes have been printed (see the module docstring)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        self._bytes_left = n
