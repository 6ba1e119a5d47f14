"""A dial-up host link through a Hayes (AT command) modem on a serial port.

``modem:///dev/ttyUSB0?baud=115200&number=95516`` opens the serial port with
pyserial (imported when the link is opened, not when this module is).
Connecting speaks the AT command set: ``AT`` (is anyone there?), the init
string, then ``ATDT<number>`` (``ATDP`` for pulse) and the modem's result
code. After ``CONNECT`` the port carries the host's framed messages like a
socket: ``fileno()`` is the port, so the runner ``select()``s on it.

Result codes and their errors (``LinkError``):

* no answer to ``AT``: ``link.modem_silent``;
* ``ERROR`` to the init string or the dial command: ``link.modem_error``;
* ``BUSY``, ``NO DIALTONE``, ``NO CARRIER``, ``NO ANSWER``: ``link.down``,
  whose text names the result ("the modem reported BUSY");
* nothing within the connect timeout: ``link.connect_timeout`` (the dial is
  aborted and the modem hung up first).

Options, beside ``connect_timeout``: ``number`` (required; the characters
Hayes dial strings use: ``0-9 * # ,`` and ``W``), ``init`` (an AT command
line; a ``&`` in it is written ``%26`` in the URL), ``dial`` (``tone`` or
``pulse``), ``command_timeout`` (seconds an AT command may take),
``carrier`` (``dcd`` or ``none``, below) and ``guard_time`` (the escape
sequence's guard, the modem's S12; ``ATS12=`` changes the modem's side).

``connect_timeout`` defaults to 60 s, not TCP's 10: dialling, ringing and
training take 20-40 s on the PSTN, and the bound sits above the modem's own
wait for carrier (S7, 50 s on most modems) so that the modem reports ``NO
CARRIER``/``NO ANSWER`` itself, which says more than a timeout. A caller
that passes its own timeout to ``connect()`` (the runner passes
``[host] connect_timeout``) overrides it.

The dial string is not card data, but it is logged at debug level only: the
info log says that a call was placed and at what speed, not where.
"""

from __future__ import annotations

import logging
import re
import select
import termios
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from firmware.errors import ConfigError, LinkError
from hal.link import Link, closed_error
from hal.link.hayes import DIAL_FAILURES, Result, ResultCode, ResultReader
from hal.serialport import close_quietly, open_serial
from hal.url import DeviceUrl, Option

__all__ = ["DEFAULT_INIT", "ModemLink"]

log = logging.getLogger(__name__)

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
DEFAULT_INIT = "ATE0V1Q0X4&C1&D2"  # no echo, word results, extended results, DCD follows carrier, DTR drop hangs up
READ_SIZE = 4096
DTR_DROP = 0.25  # seconds DTR stays low: well above the 50 ms most modems need (S25)
_NUMBER = re.compile(r"[0-9*#,W]{1,40}")
_INIT = re.compile(r"AT[\x20-\x7e]{0,60}", re.IGNORECASE)


class ModemLink(Link):
    """``modem://`` link: a Hayes modem dialling the acquirer.

    Carrier loss. With ``carrier=dcd`` (the default: a real modem's port has
    the line) a low DCD ends the call: ``poll()`` raises ``link.closed``. A
    port that reaches EOF or EIO (a USB modem unplugged; the pty simulator
    hanging up) is ``link.closed`` too, and the port is reopened at the next
    connect. ``carrier=none`` is for ports without modem status lines (a
    pseudo-terminal, a three-wire cable): only EOF/EIO then ends a call.

    The data stream is never scanned for ``NO CARRIER``: host messages are
    binary and length-framed, so those ten bytes may be part of a message
    (inside a field, or across a length prefix), and a driver that looked for
    them would hang up good calls. A modem that drops carrier does write
    ``NO CARRIER``; with DCD the driver stops reading at the drop, and
    without DCD the bytes reach the frame buffer like any noise on the line
    and the hang-up or the host timeout ends the exchange.
    """

    scheme: ClassVar[str] = "modem"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "connect_timeout": Option(float, 60.0, "seconds to dial, ring and train before giving up"),
        "number": Option(str, None, "the dial string, e.g. 95516 or 0,95516"),
        "baud": Option(int, 115200, "speed of the serial port to the modem", choices=BAUD_RATES),
        "init": Option(str, DEFAULT_INIT, "AT command line sent before each dial"),
        "dial": Option(str, "tone", "how the modem dials", choices=("tone", "pulse")),
        "command_timeout": Option(float, 2.0, "seconds the modem may take to answer an AT command"),
        "carrier": Option(str, "dcd", "how a lost carrier is noticed", choices=("dcd", "none")),
        "guard_time": Option(float, 1.0, "silence around +++ when hanging up without DTR (the modem's S12)"),
        "idle_hangup": Option(float, 2.0, "seconds without traffic after which an idle terminal hangs up; 0 keeps the line"),
    }

    def __init__(self, url: DeviceUrl | str, context: Any = None) -> None:
        super().__init__(url, context)
        form = "modem:///dev/ttyUSB0?number=95516"
        if not self.url.path or self.url.host:
            raise ConfigError(
                f"modem link URL {self.url.shown!r} must name a serial port, as {form}", code="config.bad_url"
            )
        number = self.options["number"]
        if number is None:
            raise ConfigError(
                f"modem link URL {self.url.shown!r} needs a number to dial, as {form}", code="config.bad_url"
            )
        if not _NUMBER.fullmatch(number):
            raise ConfigError(
                f"option 'number' in {self.url.shown!r} expects 1 to 40 of 0-9 * # , W", code="config.bad_option"
            )
        if not _INIT.fullmatch(self.options["init"]):
            raise ConfigError(
                f"option 'init' in {self.url.shown!r} expects an AT command line (write & as %26)",
                code="config.bad_option",
            )
        for name in ("command_timeout", "guard_time"):
            if not self.options[name] > 0:
                raise ConfigError(
                    f"option {name!r} in {self.url.shown!r} expects a number of seconds above 0",
                    code="config.bad_option",
                )
        self._port: Any = None
        self._dead = False  # the port hung up (EOF/EIO): close it and reopen at the next connect
        self._reader = ResultReader()
        self._rx = b""  # data that came in with the CONNECT line
        self.speed = ""  # what the last CONNECT reported

    @property
    def device_path(self) -> str:
        return self.url.path

    def fileno(self) -> int | None:
        return self._port.fileno() if self._port is not None else None

    def next_deadline(self) -> float | None:
        """Now, while data that came in with CONNECT waits to be polled (only on a live call:
        a dial that failed after CONNECT must not keep the runner spinning)."""
        return time.monotonic() if self._rx and self.connected else None

    # -- the port -------------------------------------------------------------
    def _do_open(self) -> None:
        self._open_port()

    def _do_close(self) -> None:
        super()._do_close()
        self._close_port()

    def _open_port(self) -> None:
        port = open_serial(
            self.device_path,
            self.options["baud"],
            write_timeout=self.options["command_timeout"],
            error=LinkError,
            what="modem",
            code="link.open_failed",
            reopen=None,  # the modem reopens on its own terms: at the next dial (``_dead``)
        )
        if self.options["carrier"] == "dcd":
            try:
                _ = port.cd  # TIOCMGET: fails on a port without modem status lines
            except (OSError, termios.error):
                port.close()
                raise LinkError(
                    f"the modem port {self.device_path} has no carrier-detect line; set carrier=none",
                    code="link.no_dcd",
                ) from None
        self._port, self._dead = port, False

    def _close_port(self) -> None:
        port, self._port = self._port, None
        close_quietly(port)

    def _recv(self, wait: float) -> bytes:
        """What the modem sent, waiting up to ``wait`` s for the first byte; OSError when the port is gone."""
        try:
            if not select.select([self._port.fileno()], [], [], max(0.0, wait))[0]:
                return b""
            return self._port.read(READ_SIZE)  # timeout 0: what is waiting; SerialException at EOF
        except (OSError, termios.error):
            self._dead = True
            raise OSError("modem port failed") from None

    def _send_raw(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (OSError, termios.error):  # SerialTimeoutException and SerialException are OSErrors
            raise OSError("modem port failed") from None

    # -- command mode ---------------------------------------------------------
    def _command(self, line: str, wait: float) -> ResultCode | None:
        """Send one AT command line; its final result code, or None after ``wait`` s."""
        try:
            self._port.reset_input_buffer()
        except (OSError, termios.error):
            pass
        self._reader.clear()
        self._send_raw(line.encode("ascii") + b"\r")
        return self._await_result(time.monotonic() + wait)

    def _await_result(self, deadline: float) -> ResultCode | None:
        while True:
            for code in self._reader.feed(self._recv(deadline - time.monotonic())):
                if code.final:
                    return code
            if time.monotonic() >= deadline:
                return None

    def _connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            if self._port is None or self._dead:
                self._close_port()
                self._open_port()
            self._dial(deadline, timeout)
        except LinkError:
            raise
        except OSError:
            self._dead = True
            self._close_port()
            raise LinkError(f"the modem port {self.device_path} stopped working", code="link.down") from None

    def _dial(self, deadline: float, timeout: float) -> None:
        for line in ("AT", self.options["init"]):
            wait = min(self.options["command_timeout"], deadline - time.monotonic())
            code = self._command(line, wait)
            if code is None and wait < self.options["command_timeout"]:
                raise LinkError(f"the modem did not connect within {timeout:g} s", code="link.connect_timeout")
            if code is None:
                raise LinkError("the modem does not answer AT commands", code="link.modem_silent")
            if code.result is not Result.OK:
                what = "its init string" if line != "AT" else "AT"
                raise LinkError(f"the modem refused {what} ({code.result.value})", code="link.modem_error")
        command = ("ATDT" if self.options["dial"] == "tone" else "ATDP") + self.options["number"]
        log.info("modem on %s: dialling the host (%s)", self.device_path, self.options["dial"])
        log.debug("modem on %s: %s", self.device_path, command)
        code = self._command(command, deadline - time.monotonic())
        if code is None:
            self._abort_dial()
            raise LinkError(f"the modem did not connect within {timeout:g} s", code="link.connect_timeout")
        if code.result in DIAL_FAILURES:
            raise LinkError(f"the modem reported {code.result.value}", code="link.down")
        if code.result is not Result.CONNECT:
            raise LinkError(f"the modem refused the dial command ({code.result.value})", code="link.modem_error")
        self._rx, self.speed = self._reader.rest, code.detail
        self._reader.clear()
        if self.options["carrier"] == "dcd" and not self._wait_for_dcd():
            self._hang_up()
            raise LinkError("the modem reported CONNECT but DCD stays low; check the cable or set carrier=none",
                            code="link.no_dcd")
        speed = f"{self.speed} bit/s" if self.speed else "an unreported speed"
        log.info("modem on %s connected at %s", self.device_path, speed)

    def _wait_for_dcd(self) -> bool:
        deadline = time.monotonic() + self.options["command_timeout"]
        while not self._port.cd:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _abort_dial(self) -> None:
        """Any character stops a modem that is dialling or training; then make sure it is on hook."""
        try:
            self._reader.clear()
            self._send_raw(b"\r")
            if self._await_result(time.monotonic() + self.options["command_timeout"]) is None:
                self._hang_up()
        except OSError:
            self._dead = True

    # -- data mode ------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._port is None or self._dead:
            raise LinkError("could not send to the host (the modem port is gone)", code="link.send_failed")
        if self.options["carrier"] == "dcd" and not self._carrier():
            raise LinkError("could not send to the host (the modem lost carrier)", code="link.send_failed")
        try:
            self._send_raw(data)
        except OSError:
            self._dead = True
            raise LinkError("could not send to the host", code="link.send_failed") from None

    def _read_nowait(self) -> bytes:
        if self._rx:
            data, self._rx = self._rx, b""
            return data
        if self._port is None or self._dead:
            raise closed_error()
        if self.options["carrier"] == "dcd" and not self._carrier():
            # Checked before reading: what follows the drop is the modem's NO CARRIER, not the host's data.
            log.info("modem on %s lost carrier", self.device_path)
            raise closed_error()
        try:
            data = self._recv(0)
        except OSError:
            log.info("modem port %s hung up", self.device_path)
            raise closed_error() from None
        return data

    def _carrier(self) -> bool:
        try:
            return bool(self._port.cd)
        except (OSError, termios.error):
            self._dead = True
            return False

    # -- hanging up -------------------------------------------------------------
    def _disconnect(self) -> None:
        self._rx = b""
        if self._port is None:
            return
        if self._dead:
            self._close_port()
            return
        try:
            done = self._hang_up()
        except OSError:
            done = False
        if not done:
            log.warning("modem on %s did not confirm the hang-up; closing its port", self.device_path)
            self._close_port()

    def _hang_up(self) -> bool:
        """Put the modem on hook: drop DTR if the port can (``&D2``), else ``+++`` and ``ATH0``."""
        if self._drop_dtr():
            return True
        guard = self.options["guard_time"]
        time.sleep(guard)
        self._reader.clear()
        self._send_raw(b"+++")
        # OK once the modem is back in command mode; nothing if it was there already (carrier lost).
        self._await_result(time.monotonic() + guard + self.options["command_timeout"])
        code = self._command("ATH0", self.options["command_timeout"])
        return code is not None and code.result is Result.OK

    def _drop_dtr(self) -> bool:
        port = self._port
        try:
            port.dtr = False
        except (OSError, termios.error):  # a pty or a cable without the line
            return False
        time.sleep(DTR_DROP)
        try:
            port.dtr = True
            if self.options["carrier"] == "dcd" and port.cd:
                return False  # the modem ignores DTR: fall through to the escape sequence
        except (OSError, termios.error):
            return False
        return True
