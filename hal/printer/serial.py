"""``serial:///dev/ttyUSB0?baud=9600&timeout=2``: an ESC/POS printer on a serial line, through pyserial.

pyserial is imported when the port is opened, not when this module is.
The port is opened exclusively (``flock``), so a second process cannot
interleave its bytes with ours. A write may take as long as the bytes need
at the line speed plus ``timeout``; a printer that holds the line longer
(flow control while it is out of paper) fails the write, and the port then
asks the printer why. The write waits for the bytes to leave the UART by
polling its output queue (``out_waiting``, ``TIOCOUTQ``) up to that same
deadline, never with ``tcdrain``, which has no timeout: a printer holding
CTS would hang the terminal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from firmware.errors import ConfigError, PrinterError
from hal.base import DeviceContext
from hal.printer.stream import StreamPrinter
from hal.serialport import close_quietly, open_serial, reopen_option
from hal.url import DeviceUrl, Option

__all__ = ["SerialPrinter"]

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
FLOW_CONTROL = ("none", "xonxoff", "rtscts", "dsrdtr")


class SerialPrinter(StreamPrinter):
    scheme: ClassVar[str] = "serial"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        **StreamPrinter.OPTIONS,
        "baud": Option(int, 9600, "line speed the printer is set to", choices=BAUD_RATES),
        "flow": Option(str, "none", "flow control the printer is set to", choices=FLOW_CONTROL),
        **reopen_option(),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        if not self.url.path or self.url.host:
            raise ConfigError(
                f"serial printer URL {self.url.shown!r} must name a device: serial:///dev/ttyUSB0", code="config.bad_url"
            )
        self._port: Any = None

    @property
    def device_path(self) -> str:
        return self.url.path

    def _do_open(self) -> None:
        flow = self.options["flow"]
        self._port = open_serial(
            self.device_path,
            self.options["baud"],
            timeout=self.timeout,
            write_timeout=self.timeout,
            xonxoff=flow == "xonxoff",
            rtscts=flow == "rtscts",
            dsrdtr=flow == "dsrdtr",
            error=PrinterError,
            what="printer",
            code="printer.open_failed",
            reopen=self.options["reopen"],  # unplugged and plugged back: the next print or status opens it again
        )

    def _do_close(self) -> None:
        port, self._port = self._port, None
        close_quietly(port)

    def fileno(self) -> int | None:
        return self._port.fileno() if self._port is not None else None

    # -- transport -----------------------------------------------------------
    def _write_timeout(self, size: int) -> float:
        return self.timeout + size * 10 / self.options["baud"]  # 10 bits a byte: start, 8 data, stop

    def _send(self, data: bytes, timeout: float) -> None:
        import serial

        port = self._port
        with _os_errors():
            if port.write_timeout != timeout:
                port.write_timeout = timeout
            try:
                port.write(data)
            except serial.SerialTimeoutException:
                raise TimeoutError("serial write timed out") from None

    def _drain(self, deadline: float) -> None:
        port, baud = self._port, self.options["baud"]
        with _os_errors():
            while waiting := port.out_waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the receipt did not leave the serial port")
                time.sleep(min(left, waiting * 10 / baud + 0.001))  # about when the queue is empty

    def _recv(self, timeout: float) -> bytes:
        port = self._port
        with _os_errors():
            if port.timeout != timeout:
                port.timeout = timeout
            return port.read(port.in_waiting or 1)

    def _discard_input(self) -> None:
        with _os_errors():
            self._port.reset_input_buffer()


@contextlib.contextmanager
def _os_errors() -> Iterator[None]:
    """pyserial lets ``termios.error`` (not an OSError) through when the device is gone."""
    import termios

    try:
        yield
    except termios.error:
        raise OSError("serial device failed") from None
