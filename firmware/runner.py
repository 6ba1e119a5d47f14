"""The runner: the only place where the transaction core meets devices, storage and time.

It turns device input, host frames and timer expiries into events, gives
them to the core, and carries out the actions that come back *in order*,
stopping a batch at the first action that fails and feeding ``ActionFailed``
back (advisory actions excepted, see ``firmware.core.actions.ADVISORY``).
That order is the durability order: the record and its reversal are
committed before the request is sent, and the outcome before anything prints.

The runner never blocks inside a device. It polls every device, then waits
with ``select()`` on the devices that have a file descriptor, until the
earliest timer or device deadline.

Card data passes through here on its way between the reader, the PIN pad and
the message encoder, always sealed in a ``CardSession`` except for the length
of one call.

This module holds the loop itself: the entry points (``boot``, ``dispatch``,
``drain``, ``run_until``, ``run_forever``, ``close``), the timers, the wait,
the idle housekeeping (checkpoint, hang-up, lock-outs, tamper watch) and
``_execute``, which keeps the durability order. ``Runner`` is the one class
callers use; its other methods come from mixins, by concern:
``runner_boot.py`` (what survived a power-off), ``runner_input.py`` (swipes,
PIN pad and host frames into events) and ``runner_actions.py`` (one ``_a_*``
carrier per core action, and the key and card-session helpers they share).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from crypto.keyring import Keyring
from crypto.provision import TerminalKeys
from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    Booted,
    Event,
    PinKeyLow,
    TimerExpired,
    UploadRequested,
)
from firmware.core.machine import Terminal
from firmware.core.model import KeyState, State, Timer
from firmware.core.settings import CoreSettings
from firmware.errors import TerminalError
from firmware.history import History
from firmware.operators import Lockouts
from firmware.bridge import HostBridge
from firmware.runner_actions import CARRIERS, HANGUP_BOUND, ActionsMixin
from firmware.runner_boot import BootMixin
from firmware.runner_input import InputMixin
from firmware.runner_wait import CHECKPOINT_IDLE, WaitMixin
from firmware.sealed import CardSession
from hal.magstripe.policy import FallbackPolicy
from storage.store import Store

__all__ = ["Runner", "Devices", "PowerCut", "CrashPlan", "INPUT_STATES"]


def _unbounded(seconds: float) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


log = logging.getLogger("posterm.runner")

# States in which the terminal waits for a person, not for a machine.
INPUT_STATES = frozenset(
    {
        State.IDLE,
        State.AMOUNT,
        State.CARD,
        State.PIN,
        State.RECEIPT_HELD,
        State.SUSPENDED,
        State.MENU,
        State.TRACE,
        State.CONFIRM,
        State.TOTALS,
        State.SIGNED_OFF,
        State.LOCKED,
        State.REFERENCE,
        State.ORIGINAL_DATE,
        State.SIGN_IN,
        State.SUPERVISOR,
        State.ACCOUNT,
        State.REPRINT,
    }
)

WAL_HARD_LIMIT = 4000  # commits in the log (about a page each: ~16 MB): then a checkpoint even if busy


if TYPE_CHECKING:
    from crypto.dukpt_reserve import DukptPinCipher


class PowerCut(BaseException):
    """Raised at a named crash point to simulate the power going off. Not an Exception:
    nothing in the runner may catch it and carry on."""


@dataclass
class CrashPlan:
    """Cut the power at the ``count``-th time the runner reaches ``point``.

    Points are ``before:<action>`` and ``after:<action>`` for every action name
    (``after:open_request``, ``before:send_request``, ``after:record_outcome``,
    ``after:print`` ...), and ``after:answer`` when a host frame has arrived.
    """

    ANSWER: ClassVar[str] = "after:answer"  # a host frame has arrived (runner_input)

    point: str
    count: int = 1
    seen: int = 0

    @staticmethod
    def points() -> frozenset[str]:
        """Every point the runner checks: derived from the actions themselves, so a new action is a point
        at once, and a scenario naming one that does not exist is refused (``firmware.scenario.steps``)."""
        names = {cls.name for cls in vars(A).values()
                 if isinstance(cls, type) and issubclass(cls, A.Action) and cls is not A.Action}
        return frozenset({f"{when}:{name}" for name in names for when in ("before", "after")} | {CrashPlan.ANSWER})

    def check(self, point: str) -> None:
        if point == self.point:
            self.seen += 1
            if self.seen >= self.count:
                raise PowerCut(point)


@dataclass
class Devices:
    reader: object
    pinpad: object
    printer: object
    display: object
    link: object
    tamper: object | None = None

    def all(self) -> tuple:
        devices = (self.reader, self.pinpad, self.printer, self.display, self.link)
        return devices + ((self.tamper,) if self.tamper is not None else ())

    def inputs(self) -> tuple:
        """The devices the loop polls for input (the printer and display are read only inside their own calls)."""
        return (self.reader, self.pinpad, self.link) + ((self.tamper,) if self.tamper is not None else ())

    def close(self) -> None:
        for device in self.all():
            try:
                device.close()
            except Exception:  # closing after a fault must not mask the fault
                log.debug("closing %r failed", device, exc_info=True)


class Runner(BootMixin, InputMixin, ActionsMixin, WaitMixin):
    """Devices, storage, keys and time around one ``Terminal`` core (see the module docstring)."""

    def __init__(
        self,
        *,
        settings: CoreSettings,
        devices: Devices,
        store: Store,
        keys: TerminalKeys | None,
        bridge: HostBridge,
        ring: Keyring | None = None,
        key_state: KeyState = KeyState.READY,
        lock_reason: str | None = None,
        data_dir: Path | None = None,
        connect_timeout: float | None = None,  # None: the link's own connect_timeout option
        fallback: FallbackPolicy = FallbackPolicy.ALLOW,
        crash: CrashPlan | None = None,
        dukpt: DukptPinCipher | None = None,
        clock: Callable[[], datetime] = datetime.now,
        monotonic: Callable[[], float] = time.monotonic,
        set_clock: Callable[[timedelta], None] | None = None,  # moves the clock by; clock_from_host: firmware.sysclock
    ) -> None:
        self.core = Terminal(settings)
        self.devices = devices
        self.store = store
        self.keys = keys
        self.ring = ring
        self.key_state = key_state
        self.lock_reason = lock_reason
        self.data_dir = data_dir
        self.bridge = bridge
        self._signon_keys = None  # the encrypted working keys of the last sign-on answer
        self._arrivals = 0  # the reads of the link that brought frames (HostAnswered.arrival)
        self._tamper_checked = 0.0
        self.connect_timeout = connect_timeout
        self.fallback = FallbackPolicy(fallback)
        self.crash = crash
        # host.pin_keys = "dukpt": the PIN pad encrypts under a DUKPT key per PIN (crypto.dukpt_reserve),
        # whose counters idle housekeeping reserves ahead so that a sale writes none.
        self.dukpt = dukpt
        self._pin_context = None  # (the session PIN key, its TDES context): see pin_cipher
        self.clock = clock
        self.monotonic = monotonic
        self.set_clock = set_clock
        self.lockouts = Lockouts(settings.operators.lockout_seconds, monotonic)  # operators locked out, until when
        self.timers: dict[Timer, float] = {}
        self.pending: deque[Event] = deque()
        self.session: CardSession | None = None
        # (journal number of a void, the keyed hash of its original's PAN): the card
        # swiped for that void must hash the same (the core never sees a PAN).
        self._original_card: tuple[int, bytes] | None = None
        # What it did, the newest of each kept (firmware.history: a run of months must not grow); a scenario
        # keeps everything (keep_history).
        self.alerts: History[tuple[str, str]] = History()
        self.notes: History[tuple[str, str]] = History()
        self.printed: History[tuple[int, str]] = History()  # (journal number, copy) in the order printed
        self.stopped = False
        self.last_activity = monotonic()
        self.wal_dirty = True
        # Wraps the device calls that block by design (a connect, a modem's hang-up) with
        # their bound in seconds; ``posterm run`` keeps systemd's watchdog fed through it.
        self.blocking: Callable[[float], contextlib.AbstractContextManager] = _unbounded
        self._init_wait()

    def keep_history(self) -> None:
        """Keep every alert, note and printed copy from now on (a scenario reads them all; ``firmware.history``)."""
        for history in (self.alerts, self.notes, self.printed):
            history.keep_all()

    # -- entry points ------------------------------------------------------
    def boot(self) -> None:
        """Read what survived, then let the core resume it (reversals, advices, owed receipts)."""
        if self.keys is not None:
            self._abandon_unopenable()
        self.dispatch(Booted(self._recovered_state(self.key_state)))
        self._tell_dukpt_left()
        self.drain()

    def request_upload(self) -> None:
        self.dispatch(UploadRequested())

    def dispatch(self, event: Event) -> None:
        self.last_activity = self.monotonic()
        if not self.core.accepts(event):
            self._unaccepted(event)
            return
        actions = self.core.handle(event, self.clock())
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %s: %s", type(event).__name__, self.core.state.name, [a.name for a in actions])
        self._execute(actions)

    def drain(self) -> bool:
        """Handle everything that is ready now. True if anything happened."""
        busy = False
        while True:
            if self.pending:
                self.dispatch(self.pending.popleft())
            elif not self._poll_devices() and not self._fire_timers():
                self._housekeeping()
                return busy
            busy = True

    def _housekeeping(self) -> None:
        """Notice a zeroize done behind our back; hang up an idle line; checkpoint the log while idle."""
        self._watch_tamper()
        self._retry_faulted()
        self._hang_up_if_idle()
        self._end_lockouts()
        if self.core.state is not State.IDLE or self.pending:
            return
        idle_for = self.monotonic() - self.last_activity
        if self.dukpt is not None and idle_for >= CHECKPOINT_IDLE:
            self._reserve_dukpt()
        if not self.wal_dirty:
            return
        if idle_for < CHECKPOINT_IDLE and not self._wal_too_big():
            return
        try:
            self.store.checkpoint()
            self.wal_dirty = False
        except TerminalError as e:  # not fatal: the log keeps everything; we try again later
            log.warning("checkpoint failed (%s): %s", e.code, e.text)
            self.last_activity = self.monotonic()

    def _reserve_dukpt(self) -> None:
        """Reserve DUKPT counters ahead while idle, so that no sale pays the state's fsyncs."""
        try:
            wrote = self.dukpt.top_up()
        except TerminalError as e:  # not fatal here: the next PIN tries again, and says so if it cannot
            log.warning("DUKPT reservation failed (%s): %s", e.code, e.text)
            self.last_activity = self.monotonic()
            return
        if wrote:
            self._tell_dukpt_left()

    def _tell_dukpt_left(self) -> None:
        """The core learns the DUKPT key's counters left once they are below ``LOW_COUNTERS`` (at boot and
        after each top-up): it alerts ``keys.dukpt_low`` the first time and keeps it on the status line,
        rather than only ``posterm selftest`` saying so (audit AU21 M3)."""
        if self.dukpt is None:
            return
        if self.dukpt.device.exhausted:  # at boot: refused at READY from the start, not after a swipe and a PIN
            self.dispatch(PinKeyLow(0))
            return
        from crypto.dukpt_reserve import LOW_COUNTERS  # here: a terminal without DUKPT never imports it

        left = self.dukpt.left
        if left < LOW_COUNTERS:
            self.dispatch(PinKeyLow(left))

    def pin_cipher(self):
        """What the soft PIN pad encrypts under: the DUKPT cipher, or the session PIN key (None: none).

        The session key is handed over as a TDES context, made once per key (``_pin_context``), as the MAC
        key is (``keys.mac``): making it at every PIN cost more than the PIN block itself (about 8 us against
        5). A wiped key, or one TDES refuses, goes over as it is, so encrypting fails just as it did
        (``pinpad.encrypt_failed``)."""
        if self.dukpt is not None:
            return self.dukpt
        key = self.keys.pin_key if self.keys is not None else None
        if key is None or key.wiped:
            self._pin_context = None
            return key
        if self._pin_context is None or self._pin_context[0] is not key:  # a sign-on installs a new key object
            from crypto.des import TdesEcb
            from firmware.errors import CryptoError

            try:
                self._pin_context = (key, TdesEcb(key.reveal()))
            except CryptoError:  # not a TDES key: the PIN pad says so when it encrypts
                self._pin_context = None
                return key
        return self._pin_context[1]

    def _end_lockouts(self) -> None:
        """A lock-out whose time is up is cleared in storage at once, so that a later boot
        does not take it for one the power cut interrupted."""
        if not self.lockouts or not self.lockouts.due():
            return
        from storage.operators import OperatorBook

        book = OperatorBook(self.store.conn)
        for number in self.lockouts.due():
            try:
                book.clear_tries(number)
            except TerminalError as e:  # kept: it ends at the next check, or starts again at the next boot
                log.warning("clearing the lock-out of operator %s failed (%s): %s", number, e.code, e.text)
                return
            self.lockouts.forget(number)
            self.wal_dirty = True
            self.notes.append(("operator.unlocked", f"operator {number}'s lock-out is over"))

    def _hang_up_if_idle(self) -> None:
        link = self.devices.link
        due = link.hangup_deadline()
        if due is None or due > time.monotonic() or self.core.state is not State.IDLE or self.pending:
            return
        with self.blocking(HANGUP_BOUND):
            link.disconnect()
        log.info("hung up the idle host line")

    def _wal_too_big(self) -> bool:
        """A terminal that never rests long enough still checkpoints before the log grows
        past the hard limit (counted in commits: the file's size is its high-water mark)."""
        return self.store.commits_since_checkpoint >= WAL_HARD_LIMIT

    def waiting_for_person(self) -> bool:
        """Nothing to do until someone swipes, keys or fixes something."""
        return self.core.state in INPUT_STATES and not self.pending

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        end = self.monotonic() + timeout
        while True:
            self.drain()
            if predicate():
                return True
            now = self.monotonic()
            if now >= end:
                return False
            self._wait(min(end, self.next_wakeup(default=end)) - now)

    def run_forever(self, *, tick: Callable[[], None] | None = None, max_wait: float | None = None) -> None:
        """Until ``stopped``. ``tick`` runs at every turn of the loop (the systemd watchdog's
        ping), and the loop never sleeps longer than ``max_wait`` seconds."""
        while not self.stopped:
            self.drain()
            if tick is not None:
                tick()
            wake = self.next_wakeup(default=None)
            timeout = None if wake is None else wake - self.monotonic()
            if max_wait is not None:
                timeout = max_wait if timeout is None else min(timeout, max_wait)
            self._wait(timeout)

    def _fire_timers(self) -> bool:
        now = self.monotonic()
        due = [t for t, at in self.timers.items() if at <= now]
        for timer in sorted(due, key=self.timers.get):
            del self.timers[timer]
            self.dispatch(TimerExpired(timer))
        return bool(due)

    # -- actions -----------------------------------------------------------------
    def _execute(self, actions: list[A.Action]) -> None:
        carriers = CARRIERS
        for action in actions:
            if self.crash:
                self.crash.check(f"before:{action.name}")
            try:
                # ``_do``, without its call: some 40 actions a sale
                carry_out = carriers.get(type(action))
                result = carry_out(self, action) if carry_out is not None else self._do(action)
            except TerminalError as e:
                if isinstance(action, A.ADVISORY):
                    log.warning("%s failed (%s): %s", action.name, e.code, e.text)
                    self.notes.append((e.code, f"{action.name}: {e.text}"))
                    continue
                log.warning("%s failed (%s): %s", action.name, e.code, e.text)
                sent = getattr(e, "sent", None)
                self.pending.append(ActionFailed(action, e.code, e.text, sent))
                return
            if isinstance(action, A.PERSISTENT):
                self.wal_dirty = True
            if self.crash:
                self.crash.check(f"after:{action.name}")
            if result is not None:
                self.pending.append(result)

    # -- housekeeping ----------------------------------------------------------------
    def close(self) -> None:
        if self.session is not None:
            self.session.wipe()
            self.session = None
        self.devices.close()
        if self.dukpt is not None:  # a clean stop: the counters reserved but unused are given back
            dukpt, self.dukpt = self.dukpt, None
            try:
                dukpt.close()
            except TerminalError as e:  # the reservation on disk still holds: counters are skipped, not reused
                log.warning("DUKPT state not written at close (%s): %s", e.code, e.text)
        self.store.close()
        self.close_wait()

