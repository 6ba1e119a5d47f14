"""How the runner waits between turns of its loop: on its input devices, its timers, a
device in trouble, and a stop asked for by a signal.

The loop turns when something can happen: a device has input, a timer or a device
deadline is due, housekeeping is due, or ``stop()`` is called. It must never turn when
nothing can: a descriptor that stays readable while no ``poll()`` reads it would make
``select()`` return at once, for ever, and pin the CPU. So:

* it waits only on the devices the loop reads (``Devices.inputs``: not the printer or the
  display, whose bytes are read only inside their own calls), and on the link only while
  it is connected (a modem on hook is not read; what it says unasked, a RING or the
  NO CARRIER after a hang-up, is flushed before the next dial);
* a device whose ``poll()`` failed rests: it is left out of the wait and polled again
  after a back-off (``DEVICE_RETRY`` doubling up to ``DEVICE_RETRY_MAX`` seconds), and
  its fault is alerted once, not at every turn (an unplugged reader would otherwise
  write a warning line 40,000 times a second). The first poll that works ends the rest.
  A serial port that failed has closed itself and opens again at such a poll
  (``hal.serialport.SerialLine``), so a device plugged back is read again;
* the devices that are not polled are tried again on the same back-off (``_retry_faulted``):
  the display shows the screen it failed to show (one plugged back would stay blank until
  the next screen), and a printer the core knows as faulted (``PrinterFault``) is asked
  its status while the terminal is idle, and ``PrinterReady`` dispatched once it answers
  well, so the terminal takes sales again by itself. Nothing is faulted: nothing is done,
  but for one status asked at the first idle since boot (a terminal that prints), so a
  fault that outlived a restart is known before the first sale. These checks wait
  ``printer_check`` (``PRINTER_CHECK``) for each answer, not the printer's whole
  ``timeout``: a key or a swipe waits behind a silent printer a moment at most;
* ``stop()`` (a signal handler's) writes to a pipe the loop also waits on: Python
  restarts an interrupted ``select()`` (PEP 475), so a flag alone would be seen only at
  the next input;
* the look for a zeroize done by another process (``TAMPER_POLL``: its record, or the key
  ring gone when a full disk kept the record from being written) is a deadline too.

``WaitMixin`` is one of ``Runner``'s mixins (``runner.py``); its state lives on the runner.
"""

from __future__ import annotations

import logging
import os
import select
import time

from crypto.tamper import tamper_status
from firmware.core.events import PrinterFault, PrinterReady, Tampered
from firmware.core.model import State
from firmware.errors import TerminalError
from hal.printer import status_error

__all__ = ["WaitMixin", "TAMPER_POLL", "DEVICE_RETRY", "DEVICE_RETRY_MAX", "CHECKPOINT_IDLE", "PRINTER_CHECK"]

log = logging.getLogger("posterm.runner")

# Housekeeping: the write-ahead log is checkpointed once the terminal has been idle
# this long (so no sale ever waits for a checkpoint's fsyncs), or at once in IDLE if
# the log has grown past the hard limit.
CHECKPOINT_IDLE = 2.0
TAMPER_POLL = 1.0  # seconds between looks for a zeroize done by another process
DEVICE_RETRY = 0.5  # seconds before a device whose poll failed is polled again, doubling ...
DEVICE_RETRY_MAX = 8.0  # ... up to this
# Seconds a printer has to answer each status request the runner asks while idle (a faulted printer's
# retry, the check at the first idle): an ESC/POS printer answers DLE EOT in real time, a few ms even
# through a USB-serial adapter's latency timer, so this is ten times that and more; the whole ``timeout``
# of the printer's URL (2 s) would keep a key or a swipe waiting behind a printer that is switched off.
PRINTER_CHECK = 0.25


class _Trouble:
    """A device whose poll failed: how often in a row, its last fault, and when to poll it again."""

    __slots__ = ("failures", "code", "until")

    def __init__(self) -> None:
        self.failures, self.code, self.until = 0, "", 0.0


class WaitMixin:
    """The waiting side of ``Runner`` (``runner.py``)."""

    def _init_wait(self) -> None:
        self._trouble: dict[int, _Trouble] = {}  # id(device) -> its trouble
        self.device_backoff = (DEVICE_RETRY, DEVICE_RETRY_MAX)  # first rest and longest, in seconds
        self.printer_check = PRINTER_CHECK  # seconds for each status answer of the checks while idle
        self._printer_checked = False  # the printer's status asked once, at the first idle since boot
        self._owed_screen = None  # what the display failed to show, shown again after its rest
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def close_wait(self) -> None:
        """Close the stop pipe (``close`` does; so does a scenario's simulated power cut, which skips ``close``)."""
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def stop(self) -> None:
        """Stop the loop at its next turn, now if it is waiting. Safe in a signal handler."""
        self.stopped = True
        try:
            os.write(self._wake_w, b"s")
        except OSError:  # the pipe is full (it already says so) or closed (the runner is closing)
            pass

    # -- a device in trouble ---------------------------------------------------------
    def _polled(self, device) -> list:
        """``device.poll()``, unless it rests after a failure; a failure alerts once per fault."""
        if self._trouble and self._rests(device):  # no device in trouble: the usual turn, no look-ups
            return []
        try:
            items = device.poll()
        except TerminalError as e:
            self._failed(device, e)
            raise
        if self._trouble:
            self._worked(device)
        return items

    def _rests(self, device) -> bool:
        trouble = self._trouble.get(id(device))
        return trouble is not None and time.monotonic() < trouble.until

    def _failed(self, device, e: TerminalError, *, alert: bool = True) -> None:
        """``device`` failed: it rests, longer at each failure in a row; a new fault is alerted once."""
        trouble = self._trouble.get(id(device))
        if trouble is None:
            trouble = self._trouble[id(device)] = _Trouble()
        trouble.failures += 1
        first, most = self.device_backoff
        trouble.until = time.monotonic() + min(most, first * 2 ** (trouble.failures - 1))
        if e.code != trouble.code:
            trouble.code = e.code
            if alert:
                self._alert(e.code, f"{device.kind}: {e.text}")
        else:
            log.debug("%s still failing (%s): %s", device.kind, e.code, e.text)

    def _worked(self, device) -> None:
        trouble = self._trouble.pop(id(device), None)
        if trouble is not None:
            log.info("%s works again after %d failure(s)", device.kind, trouble.failures)

    def _retry_faulted(self) -> None:
        """The screen the display owes, and a faulted printer's status while idle, once their rest is over."""
        display = self.devices.display
        if self._owed_screen is not None and not self._rests(display):
            try:
                display.show(self._owed_screen)
            except TerminalError as e:
                self._failed(display, e, alert=False)  # each failed show is logged (``_execute``)
            else:
                self._owed_screen = None
                self._worked(display)
        if self.core.state is not State.IDLE or self.pending:
            return
        fault = self.core.printer_fault
        if fault is None:
            self._check_printer_once()
            return
        printer = self.devices.printer
        if self._rests(printer):
            return
        try:
            self._ask_printer(printer)
        except TerminalError as e:
            self._failed(printer, e, alert=False)  # the core alerts a new fault
            if e.code != fault.code:
                self.dispatch(PrinterFault(e.code, e.text))
            return
        self._worked(printer)
        self.dispatch(PrinterReady())

    def _check_printer_once(self) -> None:
        """At the first idle since boot, a terminal that prints asks its printer once, so a printer that was
        out of paper or unplugged across a restart refuses the first sale rather than charging it and then
        failing to print it. A terminal with no copies (``printing.copies = []``, the bench) asks nothing."""
        if self._printer_checked:
            return
        self._printer_checked = True
        if not self.core.settings.copies:
            return
        printer = self.devices.printer
        try:
            self._ask_printer(printer)
        except TerminalError as e:
            self._failed(printer, e)  # alerted: nothing failed under a sale to say why the sales are refused
            self.dispatch(PrinterFault(e.code, e.text))

    def _ask_printer(self, printer) -> None:
        """The printer's status, within ``printer_check`` a request; raise the error of one that stops printing."""
        status = printer.status(timeout=self.printer_check)  # a port that failed opens again first (SerialLine)
        if not status.can_print:
            raise status_error(status)

    # -- waiting -------------------------------------------------------------
    def _watch_tamper(self) -> None:
        """``posterm keys zeroize`` (or another process) destroyed the keys: lock at once."""
        if not self._tamper_watched():
            return
        now = self.monotonic()
        if now - self._tamper_checked < TAMPER_POLL:
            return
        self._tamper_checked = now
        record = tamper_status(self.data_dir)
        if record is not None:
            self.dispatch(Tampered(record.source, record.reason))
        elif self.ring is not None and self.ring.removed():  # zeroized, but its record could not be written
            self.dispatch(Tampered("unknown", "key ring removed"))

    def _tamper_watched(self) -> bool:
        return self.data_dir is not None and self.keys is not None and self.core.state is not State.LOCKED

    def next_wakeup(self, default: float | None) -> float | None:
        """The monotonic time by which the loop must turn again (a timer, a device, a
        housekeeping deadline), or ``default``. Front ends that wait for input use it too."""
        times = list(self.timers.values())
        if (lockout_end := self.lockouts.next_end()) is not None:
            times.append(lockout_end)
        if self.wal_dirty and self.core.state is State.IDLE:
            times.append(self.last_activity + CHECKPOINT_IDLE)
        if self._tamper_watched():
            times.append(self._tamper_checked + TAMPER_POLL)
        # Devices keep time with time.monotonic(); the runner's clock may be another (tests inject one).
        device_times = [t for t in (d.next_deadline() for d in self.devices.all()) if t is not None]
        now = time.monotonic()  # a rest that is over is acted on in this turn (or waits for a state that acts)
        device_times += [t.until for t in self._trouble.values() if t.until > now]
        if self.core.state is State.IDLE and (hangup := self.devices.link.hangup_deadline()) is not None:
            device_times.append(hangup)
        if device_times:
            offset = self.monotonic() - time.monotonic()
            times += [t + offset for t in device_times]
        return min(times) if times else default

    def _device_fds(self) -> list[int]:
        """The input devices the loop will read now (not resting), by descriptor."""
        link = self.devices.link
        devices = [d for d in self.devices.inputs() if id(d) not in self._trouble and (d is not link or link.connected)]
        return [fd for fd in (d.fileno() for d in devices) if fd is not None and fd >= 0]

    def _wait(self, timeout: float | None) -> None:
        if self.stopped or (timeout is not None and timeout <= 0):
            return
        fds = self._device_fds()
        if not fds and timeout is None:
            timeout = 0.05  # simulated devices have no descriptor: look again soon
        if self._wake_r >= 0:
            fds.append(self._wake_r)
        try:
            ready = select.select(fds, [], [], timeout)[0]
        except (OSError, ValueError):  # a device closed under us: poll() will say which
            time.sleep(0.01)
            return
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 64)
            except OSError:
                pass
