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
"""

from __future__ import annotations

import logging
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crypto.provision import TerminalKeys
from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    Booted,
    CardRead,
    CardUnreadable,
    Event,
    HostAnswered,
    HostFrameRejected,
    KeyPressed,
    LinkDropped,
    PinBypassed,
    PinCancelled,
    PinEntered,
    PinProgress,
    Printed,
    StorageOk,
    TimerExpired,
    UploadRequested,
)
from firmware.core.machine import Terminal
from firmware.core.model import CardFacts, EntryMode, State, Timer
from firmware.core.settings import CoreSettings
from firmware.errors import CardError, ConfigError, LinkError, ProtocolError, TerminalError
from firmware.bridge import HostBridge
from firmware.sealed import CardSession, ClearCard
from hal import pinpad as pad
from hal.magstripe import Swipe
from hal.magstripe.tracks import parse_swipe, summary
from storage.store import Store

__all__ = ["Runner", "Devices", "PowerCut", "CrashPlan", "INPUT_STATES"]

log = logging.getLogger("posterm.runner")

# States in which the terminal waits for a person, not for a machine.
INPUT_STATES = frozenset({State.IDLE, State.AMOUNT, State.CARD, State.PIN, State.RECEIPT_HELD, State.SUSPENDED})

# Housekeeping: the write-ahead log is checkpointed once the terminal has been idle
# this long (so no sale ever waits for a checkpoint's fsyncs), or at once in IDLE if
# the log has grown past the hard limit.
CHECKPOINT_IDLE = 2.0
WAL_HARD_LIMIT = 16 * 2**20


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

    point: str
    count: int = 1
    seen: int = 0

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

    def all(self) -> tuple:
        return (self.reader, self.pinpad, self.printer, self.display, self.link)

    def close(self) -> None:
        for device in self.all():
            try:
                device.close()
            except Exception:  # closing after a fault must not mask the fault
                log.debug("closing %r failed", device, exc_info=True)


class Runner:
    def __init__(
        self,
        *,
        settings: CoreSettings,
        devices: Devices,
        store: Store,
        keys: TerminalKeys,
        bridge: HostBridge,
        connect_timeout: float = 10.0,
        crash: CrashPlan | None = None,
        clock: Callable[[], datetime] = datetime.now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = Terminal(settings)
        self.devices = devices
        self.store = store
        self.keys = keys
        self.bridge = bridge
        self.connect_timeout = connect_timeout
        self.crash = crash
        self.clock = clock
        self.monotonic = monotonic
        self.timers: dict[Timer, float] = {}
        self.pending: deque[Event] = deque()
        self.session: CardSession | None = None
        self.alerts: list[tuple[str, str]] = []
        self.notes: list[tuple[str, str]] = []
        self.printed: list[tuple[int, str]] = []  # (journal number, copy) in the order printed
        self.stopped = False
        self.last_activity = monotonic()
        self.wal_dirty = True

    # -- entry points ------------------------------------------------------
    def boot(self) -> None:
        """Read what survived, then let the core resume it (reversals, advices, owed receipts)."""
        self.dispatch(Booted(self.store.boot_state()))
        self.drain()

    def request_upload(self) -> None:
        self.dispatch(UploadRequested())

    def dispatch(self, event: Event) -> None:
        self.last_activity = self.monotonic()
        if not self.core.accepts(event):
            self._unaccepted(event)
            return
        actions = self.core.handle(event, self.clock())
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
        """Checkpoint the write-ahead log while the terminal is idle."""
        if not self.wal_dirty or self.core.state is not State.IDLE or self.pending:
            return
        idle_for = self.monotonic() - self.last_activity
        if idle_for < CHECKPOINT_IDLE and self.store.wal_bytes() < WAL_HARD_LIMIT:
            return
        try:
            self.store.checkpoint()
            self.wal_dirty = False
        except TerminalError as e:  # not fatal: the log keeps everything; we try again later
            log.warning("checkpoint failed (%s): %s", e.code, e.text)
            self.last_activity = self.monotonic()

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
            self._wait(min(end, self._next_wakeup(default=end)) - now)

    def run_forever(self) -> None:
        while not self.stopped:
            self.drain()
            wake = self._next_wakeup(default=None)
            self._wait(None if wake is None else wake - self.monotonic())

    # -- waiting -------------------------------------------------------------
    def _next_wakeup(self, default: float | None) -> float | None:
        times = list(self.timers.values())
        if self.wal_dirty and self.core.state is State.IDLE:
            times.append(self.last_activity + CHECKPOINT_IDLE)
        times += [t for t in (d.next_deadline() for d in self.devices.all()) if t is not None]
        return min(times) if times else default

    def _wait(self, timeout: float | None) -> None:
        if timeout is not None and timeout <= 0:
            return
        fds = [fd for fd in (d.fileno() for d in self.devices.all()) if fd is not None and fd >= 0]
        if fds:
            try:
                select.select(fds, [], [], timeout)
            except (OSError, ValueError):  # a device closed under us: poll() will say which
                time.sleep(0.01)
        elif timeout is not None:
            time.sleep(timeout)
        else:
            time.sleep(0.05)

    def _fire_timers(self) -> bool:
        now = self.monotonic()
        due = [t for t, at in self.timers.items() if at <= now]
        for timer in sorted(due, key=self.timers.get):
            del self.timers[timer]
            self.dispatch(TimerExpired(timer))
        return bool(due)

    # -- input -----------------------------------------------------------------
    def _poll_devices(self) -> bool:
        got = False
        for item in self._safe_poll(self.devices.reader):
            got = True
            self._on_swipe(item)
        for item in self._safe_poll(self.devices.pinpad):
            got = True
            self._on_pad(item)
        try:
            frames = self.devices.link.poll()
        except LinkError as e:
            got = True
            self.dispatch(LinkDropped(e.code, e.text))
            frames = []
        for payload in frames:
            got = True
            self._on_frame(payload)
        return got

    def _safe_poll(self, device) -> list:
        try:
            return device.poll()
        except TerminalError as e:
            self._alert(e.code, f"{device.kind}: {e.text}")
            return []

    def _on_swipe(self, item: Swipe | CardError) -> None:
        if isinstance(item, CardError):
            self.dispatch(CardUnreadable(item.code, item.text))
            return
        sale = self.core.sale
        if self.core.state is not State.CARD or sale is None:
            item.wipe()
            self.notes.append(("reader.ignored", "swipe while not waiting for a card"))
            return
        try:
            facts, clear = self._parse(item)
        except CardError as e:
            self.dispatch(CardUnreadable(e.code, e.text))
            return
        finally:
            item.wipe()
        if self.session is not None:
            self.session.wipe()
        self.session = CardSession(sale.txn_no, self.keys.sealer, clear)  # sealed from here on
        self.dispatch(CardRead(facts))

    def _parse(self, swipe: Swipe) -> tuple[CardFacts, ClearCard]:
        card = parse_swipe(swipe, self.clock().date())
        try:
            s = summary(card)
            facts = CardFacts(
                masked_pan=s.masked_pan,
                expiry=s.expiry,
                service_code=s.service_code,
                pin_required=s.pin_required,
                online_only=s.online_only,
                entry_mode=EntryMode.FALLBACK if s.chip else EntryMode.SWIPE,
            )
            clear = ClearCard(card.pan, card.expiry, card.track2, card.track3)
        except BaseException:
            card.wipe()
            raise
        return facts, clear

    def _on_pad(self, event) -> None:
        if isinstance(event, pad.KeyPress):
            self.dispatch(KeyPressed(event.key.value))
        elif isinstance(event, pad.PinEntered):
            if self.session is None or self.core.state is not State.PIN:
                event.block.wipe()
                return
            self.session.pin_block = event.block
            self.dispatch(PinEntered())
        elif isinstance(event, pad.PinBypassed):
            self.dispatch(PinBypassed())
        elif isinstance(event, pad.PinCancelled):
            self.dispatch(PinCancelled())
        elif isinstance(event, pad.PinProgress):
            self.dispatch(PinProgress(event.digits))

    def _on_frame(self, payload: bytes) -> None:
        try:
            reply = self.bridge.read_reply(payload, self.keys.mac)
        except ProtocolError as e:
            self.dispatch(HostFrameRejected(e.code, e.text))
            return
        if self.crash:
            self.crash.check("after:answer")
        self.dispatch(HostAnswered(reply))

    def _unaccepted(self, event: Event) -> None:
        if isinstance(event, HostAnswered):
            self.notes.append(("host.late", f"answer {event.reply.mti} trace {event.reply.stan} arrived too late"))
            log.info("ignored a late host answer (MTI %s, STAN %s)", event.reply.mti, event.reply.stan)
        elif isinstance(event, CardRead) and self.session is not None:
            self.session.wipe()
        elif isinstance(event, PinEntered) and self.session is not None and self.session.pin_block is not None:
            self.session.pin_block.wipe()
        elif not isinstance(event, (TimerExpired, LinkDropped)):
            log.debug("ignored %s in state %s", type(event).__name__, self.core.state.name)

    # -- actions -----------------------------------------------------------------
    def _execute(self, actions: list[A.Action]) -> None:
        for action in actions:
            if self.crash:
                self.crash.check(f"before:{action.name}")
            try:
                result = self._do(action)
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

    def _do(self, a: A.Action) -> Event | None:  # noqa: C901 - one branch per action type, by design
        d = self.devices
        if isinstance(a, A.Show):
            d.display.show(a.lines)
        elif isinstance(a, A.StartTimer):
            self.timers[a.timer] = self.monotonic() + a.seconds
        elif isinstance(a, A.CancelTimer):
            self.timers.pop(a.timer, None)
        elif isinstance(a, A.EnableReader):
            if self.session is not None:
                self.session.wipe()
                self.session = None
            d.reader.enable()
        elif isinstance(a, A.DisableReader):
            d.reader.disable()
        elif isinstance(a, A.BeginPin):
            with self._session(a.txn_no).card() as card:
                d.pinpad.begin_pin_entry(card.pan, allow_bypass=a.allow_bypass)
        elif isinstance(a, A.CancelPin):
            d.pinpad.cancel_pin_entry()
        elif isinstance(a, A.OpenRequest):
            self._open_request(a)
        elif isinstance(a, A.SendRequest):
            session = self._session(a.record.txn_no)
            with session.card() as card:
                payload = self.bridge.request(a.record, card, session.pin_block, self.keys.mac)
            self._send(payload)
        elif isinstance(a, A.RecordOutcome):
            advice = self._sealed_advice(a.record) if a.advice else None
            self.store.record_outcome(a.record, copies=a.copies, reversal_reason=a.reversal_reason, advice=advice)
        elif isinstance(a, A.WipeCard):
            if self.session is not None and self.session.txn_no == a.txn_no:
                self.session.wipe()
                self.session = None
        elif isinstance(a, A.Print):
            d.printer.print_receipt(a.receipt)
            self.printed.append((a.job.record.txn_no, a.job.copy.value))
            return Printed(a.job.record.txn_no, a.job.copy)
        elif isinstance(a, A.MarkPrinted):
            self.store.mark_printed(a.txn_no, a.copy, skipped=a.skipped)
        elif isinstance(a, A.SendReversal):
            blob = self.store.reversal_message(a.reversal.txn_no)
            payload = self.bridge.stored_reversal(
                blob, a.reversal.txn_no, a.reversal.reason, a.repeat, self.keys.sealer, self.keys.mac
            )
            self._send(payload)
        elif isinstance(a, A.ReversalDone):
            self.store.reversal_done(a.txn_no, a.response_code, a.reason)
        elif isinstance(a, A.SendAdvice):
            blob = self.store.advice_message(a.advice.txn_no)
            payload = self.bridge.stored_advice(blob, a.advice.txn_no, a.repeat, self.keys.sealer, self.keys.mac)
            self._send(payload)
        elif isinstance(a, A.AdviceSending):
            self.store.advice_sending(a.txn_no)
        elif isinstance(a, A.AdviceDone):
            self.store.advice_done(a.txn_no, a.response_code)
        elif isinstance(a, A.CheckStorage):
            self.store.check()
            return StorageOk(self.store.boot_state())
        elif isinstance(a, A.Alert):
            self._alert(a.code, a.text)
        elif isinstance(a, A.Note):
            self.notes.append((a.code, a.text))
            log.info("%s: %s", a.code, a.text)
        elif isinstance(a, A.Disconnect):
            d.link.disconnect()
        else:  # pragma: no cover - a new action without a runner branch is a bug
            raise ConfigError(f"the runner cannot carry out {a.name}", code="runner.unknown_action")
        return None

    def _alert(self, code: str, text: str) -> None:
        self.alerts.append((code, text))
        log.warning("ALERT %s: %s", code, text)

    def _session(self, txn_no: int) -> CardSession:
        if self.session is None or self.session.txn_no != txn_no:
            from firmware.errors import CryptoError

            raise CryptoError("no card data is held for this sale", code="secret.wiped")
        return self.session

    def _open_request(self, a: A.OpenRequest) -> None:
        session = self._session(a.record.txn_no)
        with session.card() as card:
            pan_hash = self.keys.pan_hash(card.pan)
            reversal = self.bridge.sealed_reversal(a.record, card, self.keys.sealer)
            journal_card = session.sealed_for_journal(card)
        self.store.open_request(a.record, pan_hash=pan_hash, card=journal_card, reversal=reversal, counters=a.counters)

    def _sealed_advice(self, record) -> bytes:
        with self._session(record.txn_no).card() as card:
            return self.bridge.sealed_advice(record, card, self.keys.sealer)

    def _send(self, payload: bytes) -> None:
        link = self.devices.link
        if not link.connected:
            try:
                link.connect(self.connect_timeout)
            except LinkError as e:
                e.sent = False  # nothing left the terminal: the caller may go offline
                raise
        link.send(payload)

    # -- housekeeping ----------------------------------------------------------------
    def close(self) -> None:
        if self.session is not None:
            self.session.wipe()
            self.session = None
        self.devices.close()
        self.store.close()
