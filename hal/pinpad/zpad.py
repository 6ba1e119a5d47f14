"""``serial:///dev/ttyUSB2?baud=9600``: an external PIN pad speaking the Verifone "Z" protocol.

Many PIN pads (Verifone PINpad 1000SE, Uniform Industrial PP791 and other
compatibles) hold the terminal master key in their own secure module. The
terminal sends the working PIN key encrypted under that master key with each
PIN request (Z62); the pad decrypts it inside, takes the PIN and answers
with an ISO 9564 format 0 block (message 71). This driver never holds a
clear PIN and never a clear key: it gets the key cryptogram from
``context.pin_key_for_pad`` and hands the encrypted block on as a
``PinBlock``. Wire format: ``hal.pinpad.zproto``.

Outside a PIN prompt the pad is the cashier's keypad. The driver shows
``idle_text`` on it (Z2) and keeps one key read (Z42) outstanding; each key
comes back as Z43, is acknowledged, turned into the port's key and the read
is armed again. Nothing blocks for a key: ``poll()`` takes what has arrived.
Sending a message does wait for the pad's ACK, at most ``response_timeout``
seconds a try, which on a serial line takes milliseconds.

An ACK, NAK or EOT names no message, so before a frame is written the driver
reads what is waiting: frames are handled (keys are keys), but a control, or a
``71``, can only answer an earlier message it gave up on (``pinpad.silent``)
and is dropped, not taken as the new frame's answer. An answer later still,
arriving once the new frame is on the wire, cannot be told from its own.

A Z62 left unanswered may still have been taken (only its ACK lost): the pad
may be prompting the customer while the driver holds no prompt, and a pad in a
prompt refuses every other message. So the next message goes after an abort
(72), once.

``begin_pin_entry`` aborts the key read (72), sends Z62 with the 13
rightmost account digits (the 12 that format 0 uses and the check digit:
the pad needs no more, so no more crosses the cable) and returns; ``poll()``
then yields ``PinEntered``, ``PinBypassed`` (a null PIN, only where allowed)
or ``PinCancelled`` (the pad sends EOT when the customer cancels or its own
timeout, ``pin_timeout``, expires).

Errors (``PinPadError``), none quoting a byte from the pad:

``pinpad.open_failed``  the port cannot be opened
``pinpad.silent``       no answer within ``response_timeout`` (at open, or to a message)
``pinpad.protocol``     ``retries`` NAKs to one message, ``retries`` frames in a row with
                        a bad LRC, or a malformed answer
``pinpad.refused``      the pad answered a message with EOT (or refused the key slot)
``pinpad.disconnected`` the port failed under us (unplugged: it opens again at a later use,
                        every ``reopen`` seconds, and the pad is set up again, ``hal.serialport``)
``pinpad.no_key``       no PIN key is loaded (sign on first)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from crypto.secrets import Pan, PinBlock
from firmware.errors import ConfigError, PinPadError
from hal.base import Device, DeviceContext
from hal.pinpad import PinPad
from hal.pinpad import zproto as z
from hal.pinpad.entry import PIN_MAX, PIN_MIN, PinEntryRequest
from hal.pinpad.keys import PinBypassed, PinCancelled, PinEntered, PinPadEvent
from hal.serialport import close_quietly, open_serial, reopen_option
from hal.url import DeviceUrl, Option

__all__ = ["ZPinPad"]

log = logging.getLogger(__name__)

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
REARM_BACKOFF = 5.0  # seconds before arming the key read again after the pad failed to take it


class ZPinPad(PinPad):
    scheme: ClassVar[str] = "serial"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "baud": Option(int, 9600, "line speed the PIN pad is set to", choices=BAUD_RATES),
        "slot": Option(int, 0, "master key slot holding the terminal master key", choices=tuple(range(10))),
        "pin_min": Option(int, PIN_MIN, "fewest PIN digits the pad accepts", choices=tuple(range(PIN_MIN, PIN_MAX + 1))),
        "pin_max": Option(int, PIN_MAX, "most PIN digits the pad accepts", choices=tuple(range(PIN_MIN, PIN_MAX + 1))),
        "pin_timeout": Option(int, 60, "seconds the pad waits for a PIN", choices=tuple(range(30, 271, 30))),
        "key_timeout": Option(int, 60, "seconds one key read (Z42) lasts before it is armed again"),
        "response_timeout": Option(float, 2.0, "seconds to wait for the pad to acknowledge a message"),
        "retries": Option(int, 3, "NAKs, or bad frames in a row, before giving up", choices=(1, 2, 3, 4, 5)),
        "idle_text": Option(str, "WELCOME", "what the pad shows outside a PIN prompt"),
        **reopen_option(),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        if not self.url.path or self.url.host:
            raise ConfigError(
                f"serial PIN pad URL {self.url.shown!r} must name a device: serial:///dev/ttyUSB2", code="config.bad_url"
            )
        o = self.options
        if o["pin_min"] > o["pin_max"] or not 1 <= o["key_timeout"] <= 255 or not o["response_timeout"] > 0:
            raise ConfigError(
                f"PIN pad URL {self.url.shown!r}: pin_min must not exceed pin_max, key_timeout is 1-255 s "
                "and response_timeout above 0",
                code="config.bad_option",
            )
        self._port: Any = None
        self._rx = z.Receiver()
        self._keys = bytearray()  # key characters collected from Z43, not yet handed to the port
        self._armed = False  # a Z42 is outstanding
        self._rearm_at = 0.0
        self._bad_frames = 0
        self._pin: PinEntryRequest | None = None  # the PIN prompt in progress on the pad
        # a Z62 went unanswered: the pad may have taken it and be prompting the customer (only its ACK lost), so
        # the next message goes after an abort (72), not to a pad whose prompt refuses everything else
        self._prompt_unsure = False
        self._events: list[PinPadEvent] = []  # PIN events received, not yet polled
        self._replies: list[z.Frame] = []  # administration answers (08) waited for by _do_open

    @property
    def device_path(self) -> str:
        return self.url.path

    # -- lifecycle ---------------------------------------------------------------
    def _do_open(self) -> None:
        self._port = open_serial(
            self.device_path,
            self.options["baud"],
            write_timeout=self.options["response_timeout"],
            error=PinPadError,
            what="PIN pad",
            code="pinpad.open_failed",
            reopen=self.options["reopen"],
            on_reopen=self._set_up,  # a pad plugged back knows nothing: set it up again before the next use
        )
        try:
            self._set_up()
        except BaseException:
            self._release()
            raise

    def _set_up(self) -> None:
        """Key slot, idle text and a key read, on a port just opened (or opened again after a replug)."""
        self._rx = z.Receiver()
        self._armed, self._pin, self._bad_frames = False, None, 0
        self._prompt_unsure = False  # a pad plugged back was powered off: it holds no prompt
        self._replies.clear()
        self._io(self._port.reset_input_buffer)
        self._send(z.select_key(self.options["slot"]), short=True)
        self._select_answer()
        self._send(z.display(self.options["idle_text"]))
        self._arm()
        log.debug("%s: set up, master key slot %d", self, self.options["slot"])

    def _select_answer(self) -> None:
        """The pad confirms the key slot with ``08`` + status (PP791); a status other than 0 refuses it."""
        deadline = time.monotonic() + self.options["response_timeout"]
        while not self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._receive(remaining):
                raise PinPadError("the PIN pad did not confirm its master key slot", code="pinpad.silent")
        if self._replies.pop(0).message != b"080":
            raise PinPadError(f"the PIN pad refused master key slot {self.options['slot']}", code="pinpad.refused")

    def close(self) -> None:
        """Close without the base's ``cancel_pin_entry``: ``_do_close`` aborts on the pad, best effort."""
        self._consume(len(self._ahead))
        Device.close(self)

    def _do_close(self) -> None:
        if self._port is not None and (self._armed or self._pin is not None):
            try:
                self._send(z.abort(), eot_ok=True)  # leave the pad idle, not waiting for a key
            except PinPadError:
                pass  # closing after a fault: the pad may be gone
        self._release()

    def _release(self) -> None:
        port, self._port = self._port, None
        self._armed, self._pin = False, None
        self._wipe_keys()
        for event in self._events:
            if isinstance(event, PinEntered):
                event.block.wipe()
        self._events.clear()
        self._replies.clear()
        close_quietly(port)

    def fileno(self) -> int | None:
        return self._port.fileno() if self._port is not None else None

    # -- the port ------------------------------------------------------------------
    @property
    def in_pin_entry(self) -> bool:
        return self._pin is not None

    def begin_pin_entry(
        self, pan: Pan, *, min_len: int | None = None, max_len: int | None = None, allow_bypass: bool = False
    ) -> None:
        """Ask the pad for a PIN for ``pan``; the answer comes through ``poll()``."""
        self._require_open()
        if self._pin is not None:
            raise PinPadError("a PIN prompt is already in progress", code="pinpad.busy")
        request = PinEntryRequest(
            pan.masked(),
            self.options["pin_min"] if min_len is None else min_len,
            self.options["pin_max"] if max_len is None else max_len,
            allow_bypass,
        )
        fetch = self.context.pin_key_for_pad
        cryptogram = fetch() if fetch is not None else None
        if cryptogram is None:
            raise PinPadError("no PIN key is loaded: sign on first", code="pinpad.no_key")
        self._abort_key_read()
        self._wipe_keys()  # keys typed before the prompt belong to the cashier's screen, not the PIN
        self._consume(len(self._ahead))
        account = bytearray(pan.reveal()[-13:])
        message = z.pin_request(
            account,
            bytes(cryptogram),
            min_len=request.min_len,
            max_len=request.max_len,
            allow_null=allow_bypass,
            timeout=self.options["pin_timeout"],
        )
        self._pin = request  # before sending: the answer may follow the ACK in the same read
        try:
            self._send(message)
        except PinPadError as e:
            self._pin = None
            self._prompt_unsure = e.code == "pinpad.silent"
            raise
        except BaseException:
            self._pin = None
            raise
        finally:
            message[:] = bytes(len(message))
            account[:] = bytes(len(account))
        log.debug("%s: PIN prompt for %s, %d..%d digits", self, request.masked_pan, request.min_len, request.max_len)

    def cancel_pin_entry(self) -> None:
        """End the PIN prompt on the pad (72) without an event."""
        if self._pin is None:
            return
        self._pin = None
        log.debug("%s: PIN prompt cancelled by the terminal", self)
        self._send(z.abort(), eot_ok=True)

    def poll(self) -> list[PinPadEvent]:
        self._require_open()
        self._receive(0)
        if self._events:
            events, self._events = self._events, []
            return events
        if self._pin is not None:
            return []
        if not self._armed and time.monotonic() >= self._rearm_at:
            self._arm()  # before handing keys out: if it fails, they wait for the next poll
        return super().poll()  # hands out the keys collected by _read_keys

    def _read_keys(self) -> str:
        try:
            return self._keys.decode("ascii")
        finally:
            self._wipe_keys()

    def next_deadline(self) -> float | None:
        now = time.monotonic()
        if self._events or self._keys or self._ahead:
            return now
        if self._port is not None and not self._armed and self._pin is None:
            return max(now, self._rearm_at)
        return None

    def show(self, text: str) -> None:
        """Show ``text`` on the pad's own display (Z2, cleared first); not during a PIN prompt."""
        self._require_open()
        if self._pin is not None:
            raise PinPadError("the PIN pad display belongs to the PIN prompt", code="pinpad.busy")
        self._abort_key_read()
        self._send(z.display(text))
        self._arm()

    # -- key reads -------------------------------------------------------------------
    def _arm(self) -> None:
        """Send Z42; if the pad does not take it, try again only after ``REARM_BACKOFF``.

        A key read the pad takes ends the back-off: one armed early (by the set-up of a pad plugged back,
        or by ``show``) is followed by the next at once after each key, not at the back-off's end."""
        self._armed = True  # before sending: a key may follow the ACK in the same read
        try:
            self._send(z.read_key(self.options["key_timeout"]))
        except PinPadError:
            self._armed = False
            self._rearm_at = time.monotonic() + REARM_BACKOFF
            raise
        self._rearm_at = 0.0

    def _abort_key_read(self) -> None:
        if self._armed:
            self._armed = False
            self._send(z.abort(), eot_ok=True)
            self._receive(0)  # a key that crossed the abort on the wire

    def _wipe_keys(self) -> None:
        self._keys[:] = bytes(len(self._keys))
        self._keys.clear()

    # -- the link ----------------------------------------------------------------------
    def _send(self, message: bytes | bytearray, *, short: bool = False, eot_ok: bool = False) -> None:
        """Send one frame until the pad ACKs it; NAKs resend it, up to ``retries`` tries."""
        aborting = bytes(message[:2]) == z.abort()
        if self._prompt_unsure and not aborting:
            self._send(z.abort(), eot_ok=True)  # ends a prompt the pad may hold (EOT) or does nothing (ACK)
        frame = z.encode(message, short=short)
        ident = z.Frame(bytes(message[:3])).ident
        try:
            for _ in range(self.options["retries"]):
                self._receive(0, late=True)  # nothing waiting now answers this frame
                self._write(frame)
                answer = self._await_control(ident)
                if answer is z.Control.ACK or (answer is z.Control.EOT and eot_ok):
                    self._prompt_unsure = self._prompt_unsure and not aborting
                    return
                if answer is z.Control.EOT:
                    raise PinPadError(f"the PIN pad refused message {ident}", code="pinpad.refused")
            self._write(bytes([z.EOT]))  # the sender gives up with EOT
            raise PinPadError(
                f"the PIN pad rejected message {ident} {self.options['retries']} times", code="pinpad.protocol"
            )
        finally:
            frame[:] = bytes(len(frame))

    def _await_control(self, ident: str) -> z.Control:
        deadline = time.monotonic() + self.options["response_timeout"]
        while True:
            control = self._receive(deadline - time.monotonic(), want_control=True)
            if isinstance(control, z.Control):
                return control
            if time.monotonic() >= deadline:
                raise PinPadError(f"the PIN pad did not answer message {ident}", code="pinpad.silent")

    def _receive(self, timeout: float, *, want_control: bool = False, late: bool = False) -> z.Control | bool:
        """Read what the pad sent (waiting up to ``timeout`` for the first byte) and handle it.

        With ``want_control``, the first ACK/NAK/EOT is returned (it answers the
        frame just sent); frames are handled either way. With ``late`` (read just
        before a frame is written), controls and a ``71`` answer a message given
        up on and are dropped. Returns whether anything came.
        """
        data = self._read(timeout)
        found: z.Control | None = None
        for item in self._rx.feed(data):
            if isinstance(item, z.Frame):
                self._on_frame(item, late=late)
            elif want_control and found is None:
                found = item
            elif late:
                log.debug("%s: dropped a late %s", self, item.name)
            else:
                self._on_control(item)
        return found if found is not None else bool(data)

    def _on_frame(self, frame: z.Frame, *, late: bool = False) -> None:
        if not frame.good:
            self._bad_frames += 1
            self._write(bytes([z.NAK]))
            if self._bad_frames >= self.options["retries"]:
                self._bad_frames = 0
                self._armed, self._pin = False, None  # the pad gives up on that frame
                raise PinPadError(
                    f"the PIN pad sent {self.options['retries']} frames with a bad check byte", code="pinpad.protocol"
                )
            return
        self._bad_frames = 0
        self._write(bytes([z.ACK]))
        message = frame.message
        if frame.short:
            self._replies.append(frame)
        elif message[:3] == b"Z43":
            self._on_key(message[3:4])
        elif message[:2] == b"71" and self._pin is not None and not late:
            self._on_pin(message)
        else:
            log.debug("%s: ignored message %s", self, frame.ident)

    def _on_key(self, code: bytes) -> None:
        if not self._armed:
            return  # a key read we aborted
        self._armed = False
        key = z.key_from_code(code[0]) if code else None
        if key is not None and self._pin is None:
            self._keys += key.value.encode("ascii")

    def _on_pin(self, message: bytes) -> None:
        request, self._pin = self._pin, None
        answer = z.parse_pin_response(message)
        if answer.error is not None:
            raise PinPadError("the PIN pad could not take the PIN request", code="pinpad.refused")
        if answer.null:
            if not request.allow_bypass:
                raise PinPadError("the PIN pad let an empty PIN through where none is allowed", code="pinpad.protocol")
            self._events.append(PinBypassed())
        else:
            self._events.append(PinEntered(PinBlock(answer.block, format=0)))
        log.debug("%s: PIN prompt ended: %s", self, type(self._events[-1]).__name__)

    def _on_control(self, control: z.Control) -> None:
        if control is not z.Control.EOT:
            return  # a stray ACK/NAK answers nothing we wait for
        if self._pin is not None:  # the customer cancelled, or the pad's PIN timeout expired
            self._pin = None
            self._events.append(PinCancelled())
            log.debug("%s: PIN prompt ended: cancelled or timed out on the pad", self)
        elif self._armed:
            self._armed = False  # the pad ended the key read; it is armed again at the next poll

    # -- the port's bytes -----------------------------------------------------------------
    def _write(self, data: bytes | bytearray) -> None:
        self._io(self._port.write, data)

    def _read(self, timeout: float) -> bytes:
        port = self._port
        timeout = max(timeout, 0.0)
        if port.timeout != timeout:
            self._io(setattr, port, "timeout", timeout)
        first = self._io(port.read, 1)
        if not first:
            return b""
        waiting = self._io(lambda: port.in_waiting)
        return first + (self._io(port.read, waiting) if waiting else b"")

    def _io(self, fn, *args):
        import termios

        import serial

        try:
            return fn(*args)
        except (OSError, termios.error, serial.SerialException):
            # the port closed itself and is opened (and the pad set up) again at a later use (``SerialLine``):
            # nothing is outstanding on the pad that comes back
            self._armed, self._pin = False, None
            raise PinPadError("the PIN pad port failed", code="pinpad.disconnected") from None
