"""What the real drivers share: a printer on a byte stream that answers ``DLE EOT n``.

``SerialPrinter`` and ``NetworkPrinter`` only move bytes (``_send``,
``_drain``, ``_recv``, ``_discard_input``); writing receipts and asking for
status is done here once. A status is three real-time requests (``DLE EOT
1, 2, 4``, see ``hal.printer.status``), each answered by one byte within
``timeout``. Bytes that are not status bytes (XON/XOFF, automatic status
back, a late answer to an earlier request) are skipped, and stale input is
discarded before each request.

A status asked with a shorter ``timeout`` (``status(timeout=...)``: the
runner's checks while idle) waits that long for each answer, the request's
send and a network printer's reconnection included, so a printer that is
switched off holds the loop a moment, not the option's whole ``timeout``.

A receipt's write returns once its bytes have left the terminal (sent, then
drained, within one deadline), so the status the port asks after it gets
its whole ``timeout`` to answer instead of waiting behind a receipt still
on the wire at 9600 baud. The answer, not the drain, proves the printer
took every byte: it reads the request after them.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping
from typing import ClassVar

from firmware.errors import ConfigError, PrinterError
from hal.base import DeviceContext
from hal.printer import ReceiptPrinter
from hal.printer.status import STATUS_REQUESTS, PrinterStatus, StatusRequest, decode_status, is_status_byte, request_bytes
from hal.url import DeviceUrl, Option

__all__ = ["StreamPrinter"]


class StreamPrinter(ReceiptPrinter):
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        **ReceiptPrinter.OPTIONS,
        "timeout": Option(float, 2.0, "seconds to wait for a status answer (and for a write, beyond its transfer time)"),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        if not self.timeout > 0:
            raise ConfigError(
                f"option 'timeout' in {self.url.shown!r} expects a number of seconds above 0, got {self.timeout:g}",
                code="config.bad_option",
            )

    @property
    def timeout(self) -> float:
        return self.options["timeout"]

    # -- ReceiptPrinter hooks -------------------------------------------
    def _write(self, data: bytes) -> None:
        deadline = time.monotonic() + self._write_timeout(len(data))
        self._send(data, deadline - time.monotonic())
        self._drain(deadline)

    def _query_status(self, timeout: float | None = None) -> PrinterStatus:
        wait = self.timeout if timeout is None else min(timeout, self.timeout)
        return decode_status(*(self._ask(n, wait) for n in STATUS_REQUESTS))

    def _ask(self, n: StatusRequest, timeout: float) -> int:
        """Send ``DLE EOT n`` and return the status byte that answers it within ``timeout`` s."""
        try:
            self._discard_input()
            self._send(request_bytes(n), timeout)
        except PrinterError:
            raise
        except TimeoutError:  # flow control holds the line: the printer takes nothing
            raise PrinterError("the printer did not take a status request", code="printer.not_responding") from None
        except OSError:
            raise PrinterError("the connection to the printer failed", code="printer.disconnected") from None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PrinterError(
                    f"the printer did not answer a status request within {timeout:g} s", code="printer.not_responding"
                )
            try:
                chunk = self._recv(remaining)
            except OSError:
                raise PrinterError("the connection to the printer failed", code="printer.disconnected") from None
            for value in chunk:
                if is_status_byte(value):
                    return value

    def _write_timeout(self, size: int) -> float:
        """How long a write of ``size`` bytes may take."""
        return self.timeout

    # -- transport hooks ---------------------------------------------------
    @abc.abstractmethod
    def _send(self, data: bytes, timeout: float) -> None:
        """Send all of ``data`` within ``timeout`` s (a connection made again first, within it too);
        raise ``TimeoutError`` or another ``OSError``."""

    @abc.abstractmethod
    def _drain(self, deadline: float) -> None:
        """Return once what was sent has left the terminal; ``TimeoutError`` at ``deadline`` (``time.monotonic()``)."""

    @abc.abstractmethod
    def _recv(self, timeout: float) -> bytes:
        """Bytes that arrive within ``timeout`` s (``b""`` if none); raise ``OSError`` if the stream is gone."""

    @abc.abstractmethod
    def _discard_input(self) -> None:
        """Drop whatever arrived and was not read."""
