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
  write a warning line 40,000 times a second). The first poll that works ends the rest;
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
from firmware.core.events import Tampered
from firmware.core.model import State
from firmware.errors import TerminalError

__all__ = ["WaitMixin", "TAMPER_POLL", "DEVICE_RETRY", "DEVICE_RETRY_MAX", "CHECKPOINT_IDLE"]

log = logging.getLogger("posterm.runner")

# Housekeeping: the write-ahead log is checkpointed once the terminal has been idle
# this long (so no sale ever waits for a checkpoint's fsyncs), or at once in IDLE if
# the log has grown past the hard limit.
CHECKPOINT_IDLE = 2.0
TAMPER_POLL = 1.0  # seconds between looks for a zeroize done by another process
DEVICE_RETRY = 0.5  # seconds before a device whose poll failed is polled again, doubling ...
DEVICE_RETRY_MAX = 8.0  # ... up to this


class _Trouble:
    """A device whose poll failed: how often in a row, its last fault, and when to poll it again."""

    __slots__ = ("failures", "code", "until")

    def __init__(self) -> None:
        self.failures, self.code, self.until = 0, "", 0.0


class WaitMixin:
    """The waiting side of ``Runner`` (``runner.py``)."""

    def _init_wait(self) -> None:
        self._trouble: dict[int, _Trouble] = {}  # id(device) -> its trouble
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
        trouble = self._trouble.get(id(device))
        if trouble is not None and time.monotonic() < trouble.until:
            return []
        try:
            items = device.poll()
        except TerminalError as e:
            if trouble is None:
                trouble = self._trouble[id(device)] = _Trouble()
            trouble.failures += 1
            trouble.until = time.monotonic() + min(DEVICE_RETRY_MAX, DEVICE_RETRY * 2 ** (trouble.failures - 1))
            if e.code != trouble.code:
                trouble.code = e.code
                self._alert(e.code, f"{device.kind}: {e.text}")
            else:
                log.debug("%s still failing (%s): %s", device.kind, e.code, e.text)
            raise
        if trouble is not None:
            del self._trouble[id(device)]
            log.info("%s works again after %d failed poll(s)", device.kind, trouble.failures)
        return items

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
        device_times += [t.until for t in self._trouble.values()]
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
