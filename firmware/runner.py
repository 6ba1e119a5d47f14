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

import contextlib
import hmac
import logging
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import TerminalKeys
from crypto.secrets import Pan, TrackData
from crypto.signon import install_working_keys, remove_working_keys
from crypto.tamper import tamper_status, zeroize
from firmware.core import actions as A
from firmware.core.events import (
    AccountCancelled,
    AccountCaptured,
    AccountProgress,
    AccountRejected,
    ActionFailed,
    Booted,
    CardRead,
    CardUnreadable,
    Event,
    HostAnswered,
    HostFrameRejected,
    KeyPressed,
    LinkDropped,
    BatchCounted,
    OriginalFound,
    OriginalRefused,
    OriginalUnknown,
    ReportPrinted,
    PinBypassed,
    PinCancelled,
    PinEntered,
    PinProgress,
    Printed,
    StorageOk,
    Tampered,
    TimerExpired,
    UploadRequested,
)
from firmware.core.flows import FLOWS, PREAUTH_FLOWS, Candidate, Recovery, Refusal, judge
from firmware.core.preauth import judge_preauth
from firmware.core.refund import judge_refund
from firmware.core.machine import Terminal
from firmware.core.model import BootState, CardFacts, KeyState, OwedUpload, State, Timer
from firmware.core.settings import CoreSettings
from firmware.errors import CardError, ConfigError, CryptoError, LinkError, ProtocolError, TerminalError
from firmware.operators import Lockouts
from firmware.bridge import HostBridge, advice_aad, reversal_aad
from firmware.sealed import CardSession, ClearCard, card_aad, unpack_card
from hal import pinpad as pad
from hal.pinpad import account as acct
from hal.magstripe import Swipe
from hal.magstripe.policy import FallbackPolicy, entry_decision
from hal.magstripe.sred import open_swipe
from hal.magstripe.policy import prompt as card_prompt
from hal.magstripe.tracks import parse_swipe, summary
from storage.store import Store

__all__ = ["Runner", "Devices", "PowerCut", "CrashPlan", "INPUT_STATES"]


def _unbounded(seconds: float) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def _before_sending(build: Callable[[], bytes]) -> bytes:
    """Build a payload; a failure here means nothing left the terminal (the core may go offline)."""
    try:
        return build()
    except TerminalError as e:
        e.sent = False
        raise


def _copy(track: TrackData | None) -> TrackData | None:
    return TrackData(track.reveal(), track=track.track) if track is not None and not track.wiped else None

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
    }
)

# Housekeeping: the write-ahead log is checkpointed once the terminal has been idle
# this long (so no sale ever waits for a checkpoint's fsyncs), or at once in IDLE if
# the log has grown past the hard limit.
CHECKPOINT_IDLE = 2.0
WAL_HARD_LIMIT = 4000  # commits in the log (about a page each: ~16 MB)
TAMPER_POLL = 1.0  # seconds between looks for a zeroize done by another process
HANGUP_BOUND = 15.0  # seconds a hang-up may block: a modem's +++ guard, OK and ATH0 with their timeouts
SIGN_ON_ANSWER = "0810"


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
    tamper: object | None = None

    def all(self) -> tuple:
        devices = (self.reader, self.pinpad, self.printer, self.display, self.link)
        return devices + ((self.tamper,) if self.tamper is not None else ())

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
        keys: TerminalKeys | None,
        bridge: HostBridge,
        ring: Keyring | None = None,
        key_state: KeyState = KeyState.READY,
        lock_reason: str | None = None,
        data_dir: Path | None = None,
        connect_timeout: float | None = None,  # None: the link's own connect_timeout option
        fallback: FallbackPolicy = FallbackPolicy.ALLOW,
        crash: CrashPlan | None = None,
        clock: Callable[[], datetime] = datetime.now,
        monotonic: Callable[[], float] = time.monotonic,
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
        self._tamper_checked = 0.0
        self.connect_timeout = connect_timeout
        self.fallback = FallbackPolicy(fallback)
        self.crash = crash
        self.clock = clock
        self.monotonic = monotonic
        self.lockouts = Lockouts(settings.operators.lockout_seconds, monotonic)  # operators locked out, until when
        self.timers: dict[Timer, float] = {}
        self.pending: deque[Event] = deque()
        self.session: CardSession | None = None
        # (journal number of a void, the keyed hash of its original's PAN): the card
        # swiped for that void must hash the same (the core never sees a PAN).
        self._original_card: tuple[int, bytes] | None = None
        self.alerts: list[tuple[str, str]] = []
        self.notes: list[tuple[str, str]] = []
        self.printed: list[tuple[int, str]] = []  # (journal number, copy) in the order printed
        self.stopped = False
        self.last_activity = monotonic()
        self.wal_dirty = True
        # Wraps the device calls that block by design (a connect, a modem's hang-up) with
        # their bound in seconds; ``posterm run`` keeps systemd's watchdog fed through it.
        self.blocking: Callable[[float], contextlib.AbstractContextManager] = _unbounded

    # -- entry points ------------------------------------------------------
    def boot(self) -> None:
        """Read what survived, then let the core resume it (reversals, advices, owed receipts)."""
        if self.keys is not None:
            self._abandon_unopenable()
        self._close_interrupted_inquiries()
        self.dispatch(Booted(self._boot_state(self.key_state)))
        self.drain()

    def _boot_state(self, keys: KeyState) -> BootState:
        """What storage says survived, with the plan of an owed batch upload (the profile decides how it travels)."""
        boot = replace(self.store.boot_state(), keys=keys, lock_reason=self.lock_reason,
                       operator=self._operators_at_boot())
        owed = self.store.upload_owed()
        if owed is None:
            return boot
        plan = self.bridge.upload_plan(self.store.upload_entries(owed.batch))
        return replace(boot, upload=OwedUpload(owed, plan))

    def _operators_at_boot(self) -> str | None:
        """Lock-outs storage holds were running when the power went: each starts again, in full
        (``firmware.operators``). Returns the cashier still signed in, if any."""
        from storage.operators import OperatorBook

        book = OperatorBook(self.store.conn)
        for operator in book.locked():
            self.lockouts.begin(operator.number)
            self.notes.append(("operator.locked_out", f"operator {operator.number} was locked out when the power "
                               f"went: locked out again for {self.lockouts.seconds:g} s"))
        signed_in = book.signed_in()
        return signed_in.number if signed_in is not None else None

    def _abandon_unopenable(self) -> None:
        """Queued messages sealed under a data key that no longer exists (destroyed by a
        tamper, then re-keyed) can never be sent: mark them lost, loudly, so they do not
        block every sale behind them."""
        boot = self.store.boot_state()
        for what, items, blob, aad in (
            ("reversal", boot.reversals, self.store.reversal_message, reversal_aad),
            ("advice", boot.advices, self.store.advice_message, advice_aad),
        ):
            for item in items:
                if self._opens(blob(item.txn_no), aad(item.txn_no)):
                    continue
                self.store.mark_lost(item.txn_no, what)
                self._alert(
                    f"{what}.lost",
                    f"{what} of trace {item.stan:06d} ({item.amount}) can no longer be sent: reconcile it by hand",
                )

    def _close_interrupted_inquiries(self) -> None:
        """Inquiries a power cut left open have nothing to recover (no money moved): close them as
        unanswered, so that only what really needs a reversal or a repeat counts as interrupted."""
        kinds = [k.value for k, f in FLOWS.items() if f.recovery is Recovery.NONE]
        closed = self.store.end_unanswered(kinds, reason="interrupted")
        if closed:
            self.notes.append(("recovery.inquiries", f"{len(closed)} inquiry(ies) interrupted by a power cut closed"))

    def _opens(self, blob: bytes, aad: bytes) -> bool:
        # A key version number alone cannot tell: a re-keyed terminal starts at version 1 again.
        try:
            opened = self.keys.sealer.open(blob, aad)
        except CryptoError:
            return False
        opened[:] = bytes(len(opened))
        return True


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
        self._hang_up_if_idle()
        self._end_lockouts()
        if not self.wal_dirty or self.core.state is not State.IDLE or self.pending:
            return
        idle_for = self.monotonic() - self.last_activity
        if idle_for < CHECKPOINT_IDLE and not self._wal_too_big():
            return
        try:
            self.store.checkpoint()
            self.wal_dirty = False
        except TerminalError as e:  # not fatal: the log keeps everything; we try again later
            log.warning("checkpoint failed (%s): %s", e.code, e.text)
            self.last_activity = self.monotonic()

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

    # -- waiting -------------------------------------------------------------
    def _watch_tamper(self) -> None:
        """``posterm keys zeroize`` (or another process) destroyed the keys: lock at once."""
        if self.data_dir is None or self.keys is None or self.core.state is State.LOCKED:
            return
        now = self.monotonic()
        if now - self._tamper_checked < TAMPER_POLL:
            return
        self._tamper_checked = now
        record = tamper_status(self.data_dir)
        if record is not None:
            self.dispatch(Tampered(record.source, record.reason))

    def next_wakeup(self, default: float | None) -> float | None:
        """The monotonic time by which the loop must turn again (a timer, a device, a
        housekeeping deadline), or ``default``. Front ends that wait for input use it too."""
        times = list(self.timers.values())
        if (lockout_end := self.lockouts.next_end()) is not None:
            times.append(lockout_end)
        if self.wal_dirty and self.core.state is State.IDLE:
            times.append(self.last_activity + CHECKPOINT_IDLE)
        # Devices keep time with time.monotonic(); the runner's clock may be another (tests inject one).
        device_times = [t for t in (d.next_deadline() for d in self.devices.all()) if t is not None]
        if self.core.state is State.IDLE and (hangup := self.devices.link.hangup_deadline()) is not None:
            device_times.append(hangup)
        if device_times:
            offset = self.monotonic() - time.monotonic()
            times += [t + offset for t in device_times]
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
        if self.devices.tamper is not None and self.core.state is not State.LOCKED:
            for trip in self._safe_poll(self.devices.tamper):
                got = True
                self.dispatch(Tampered(trip.source, trip.reason))
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
            self.dispatch(CardUnreadable(item.code, card_prompt(item.code).upper()))
            return
        sale = self.core.sale
        if self.core.state is not State.CARD or sale is None:
            item.wipe()
            self.notes.append(("reader.ignored", "swipe while not waiting for a card"))
            return
        if item.encrypted is not None:  # an SRED reader: its tracks open only inside crypto/
            try:
                item = self._open_encrypted(item)
            except CardError as e:
                self.dispatch(CardUnreadable(e.code, card_prompt(e.code).upper()))
                return
        try:
            facts, clear = self._parse(item)
        except CardError as e:
            self.dispatch(CardUnreadable(e.code, card_prompt(e.code).upper()))
            return
        finally:
            item.wipe()
        # the original's card, when the journal holds the original (a refund's may be elsewhere)
        if FLOWS[sale.kind].same_card and sale.original is not None and not self._same_card(sale.txn_no, clear):
            clear.wipe()
            code = f"{FLOWS[sale.kind].prefix}.card_mismatch"
            self.notes.append((code, "the card swiped is not the original's"))
            self.dispatch(CardUnreadable(code, "NOT ORIGINAL CARD"))
            return
        if self.session is not None:
            self.session.wipe()
        self.session = CardSession(sale.txn_no, self.keys.sealer, clear)  # sealed from here on
        self.dispatch(CardRead(facts))

    def _same_card(self, txn_no: int, clear: ClearCard) -> bool:
        """The swiped PAN's keyed hash equals the original's (compared in constant time)."""
        if self._original_card is None or self._original_card[0] != txn_no:
            return False
        return hmac.compare_digest(self.keys.pan_hash(clear.pan), self._original_card[1])

    def _open_encrypted(self, swipe: Swipe) -> Swipe:
        try:
            if self.keys.sred is None:
                self._alert("keys.no_sred", "the reader encrypts its tracks but no SRED key is loaded")
                raise CardError("this reader's key is not loaded", code="card.sred_no_key")
            try:
                return open_swipe(swipe, self.keys.sred)
            except CryptoError:
                raise CardError("the encrypted tracks did not decrypt", code="card.sred_mismatch") from None
        finally:
            swipe.wipe()

    def _parse(self, swipe: Swipe) -> tuple[CardFacts, ClearCard]:
        """Parse, check and decide (service code against the fallback policy); raise CardError to refuse."""
        card = parse_swipe(swipe, self.clock().date())
        try:
            s = summary(card)
            decision = entry_decision(s, self.fallback)
            if not decision.accepted:
                raise decision.error
            facts = CardFacts(
                masked_pan=s.masked_pan,
                expiry=s.expiry,
                service_code=s.service_code,
                pin_required=decision.pin_required,
                online_only=decision.online_required,
                entry_mode=decision.entry_mode,
            )
            # The clear card keeps its own copies; the parsed card (track 3 fields and
            # all) is wiped as soon as the session has sealed what it needs.
            clear = ClearCard(
                Pan(card.pan.reveal()),
                card.expiry,
                _copy(card.track2),
                _copy(card.track3),
                card.sequence_number,
            )
        finally:
            card.wipe()
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
        elif isinstance(event, acct.AccountEntered):
            self._on_account(event.account)
        elif isinstance(event, acct.AccountProgress):
            self.dispatch(AccountProgress(event.digits, event.confirming))
        elif isinstance(event, acct.AccountRejected):
            self.dispatch(AccountRejected(event.code, event.text))
        elif isinstance(event, acct.AccountCancelled):
            self.dispatch(AccountCancelled())

    def _on_account(self, account: Pan) -> None:
        """A transfer's destination account: sealed with the card at once; the core gets its mask only."""
        if self.session is None or self.core.state is not State.ACCOUNT:
            account.wipe()
            return
        masked = account.masked()
        self.session.add_account(account)  # wipes ``account``
        self.dispatch(AccountCaptured(masked))

    def _on_frame(self, payload: bytes) -> None:
        try:
            reply, message = self.bridge.read(payload, self.keys.mac if self.keys else None)
        except ProtocolError as e:
            self.dispatch(HostFrameRejected(e.code, e.text))
            return
        if reply.mti == SIGN_ON_ANSWER and reply.approved:
            try:  # encrypted under the TMK; checked and installed only if the core asks
                self._signon_keys = self.bridge.signon_keys(message)
            except ProtocolError as e:
                self._signon_keys = None
                self.notes.append((e.code, e.text))
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

    def _do(self, a: A.Action) -> Event | None:
        try:
            carry_out = _CARRIERS[type(a)]
        except KeyError:  # a new action without a runner method is a bug
            raise ConfigError(f"the runner cannot carry out {a.name}", code="runner.unknown_action") from None
        return carry_out(self, a)

    # One method per action type, registered in _CARRIERS below (the core's handlers are
    # ``_h_*``; the runner's are ``_a_*``).
    def _a_show(self, a: A.Show) -> None:
        self.devices.display.show(a.lines)

    def _a_start_timer(self, a: A.StartTimer) -> None:
        self.timers[a.timer] = self.monotonic() + a.seconds

    def _a_cancel_timer(self, a: A.CancelTimer) -> None:
        self.timers.pop(a.timer, None)

    def _a_enable_reader(self, a: A.EnableReader) -> None:
        if self.session is not None:
            self.session.wipe()
            self.session = None
        self.devices.reader.enable()

    def _a_disable_reader(self, a: A.DisableReader) -> None:
        self.devices.reader.disable()

    def _a_begin_pin(self, a: A.BeginPin) -> None:
        with self._session(a.txn_no).card() as card:
            self.devices.pinpad.begin_pin_entry(card.pan, allow_bypass=a.allow_bypass)

    def _a_begin_account(self, a: A.BeginAccount) -> None:
        self._session(a.txn_no)  # the card it goes with must be held
        self.devices.pinpad.begin_account_entry()

    def _a_cancel_pin(self, a: A.CancelPin) -> None:
        self.devices.pinpad.cancel_pin_entry()

    def _a_find_original(self, a: A.FindOriginal) -> Event:
        """Look the original up and judge it; only its safe facts go back to the core."""
        self._original_card = None
        flow = FLOWS[a.kind]
        if a.reference is not None:
            return self._find_held(a) if flow.by_auth_code else self._find_refunded(a)
        match = self.store.find_original(a.stan, a.batch)
        if match is None and self.store.in_settled_batch(a.stan):
            return OriginalRefused(f"{flow.prefix}.batch_settled", "BATCH SETTLED")
        verdict = (judge_preauth if a.kind in PREAUTH_FLOWS else judge)(flow, self._candidate(match))
        if isinstance(verdict, Refusal):
            return OriginalRefused(verdict.code, verdict.text)
        self._original_card = (a.txn_no, match.pan_hash)
        return OriginalFound(verdict)

    def _a_verify_operator(self, a: A.VerifyOperator) -> Event:
        """Check a typed password against the stored hash (``storage.operators``); wipe it either way."""
        from firmware.operators import check_password

        self.wal_dirty = True  # a wrong try or a lock-out may have been committed
        return check_password(self.store.conn, a, rules=self.core.settings.operators, lockouts=self.lockouts,
                              now=self.clock())

    def _a_record_sign_in(self, a: A.RecordSignIn) -> None:
        """Commit who is signed in (``storage.operators``), before the screen says so."""
        from storage.operators import OperatorBook

        OperatorBook(self.store.conn).set_signed_in(a.number, self.clock())

    def _candidate(self, match) -> Candidate | None:
        if match is None:
            return None
        advice_state, advice_code = match.advice or (None, None)
        accepted = self.bridge.profile.approved_codes | {"94"}  # 94: the host had it already
        forwarded = advice_state == "done" and advice_code in accepted
        return Candidate(match.facts, match.state, match.claims, forwarded, tuple(s for s, _ in match.refunds),
                         match.completions)

    def _find_refunded(self, a: A.FindOriginal) -> Event:
        """A refund's original, by reference number and date in any batch."""
        match = self.store.find_by_reference(a.reference.rrn, a.reference.date)
        return self._named(a, match, judge_refund(self._candidate(match)))

    def _find_held(self, a: A.FindOriginal) -> Event:
        """A pre-auth's cancel or completion: the pre-auth by auth code and date in any batch."""
        match = self.store.find_by_auth(a.reference.auth_code, a.reference.date)
        return self._named(a, match, judge_preauth(FLOWS[a.kind], self._candidate(match)))

    def _named(self, a: A.FindOriginal, match, verdict) -> Event:
        """An original named by a keyed number: judged if the journal holds it (its card hash kept for
        the swipe), else (``verdict`` None) left to the host."""
        if verdict is None:
            return OriginalUnknown()
        if isinstance(verdict, Refusal):
            return OriginalRefused(verdict.code, verdict.text)
        self._original_card = (a.txn_no, match.pan_hash)
        return OriginalFound(verdict)

    def _a_open_request(self, a: A.OpenRequest) -> None:
        session = self._session(a.record.txn_no)
        recovery = FLOWS[a.record.kind].recovery
        reversal = resend = journal_card = None
        with session.card() as card:
            pan_hash = self.keys.pan_hash(card.pan)
            if recovery is Recovery.REVERSAL:
                reversal = self.bridge.sealed_reversal(a.record, card, self.keys.sealer)
            elif recovery is Recovery.ADVICE:  # a refund: its ready-made repeat instead of a reversal
                resend = self.bridge.sealed_resend(a.record, card, self.keys.sealer)
            if recovery is not Recovery.NONE:  # an inquiry keeps no card data, even sealed
                journal_card = session.sealed_for_journal(card)
        self.store.open_request(a.record, pan_hash=pan_hash, card=journal_card, reversal=reversal, counters=a.counters,
                                advice=resend)

    def _a_send_request(self, a: A.SendRequest) -> None:
        session = self._session(a.record.txn_no)
        with session.card() as card:
            payload = _before_sending(lambda: self.bridge.request(a.record, card, session.pin_block, self.keys.mac))
        self._send(payload)

    def _a_record_outcome(self, a: A.RecordOutcome) -> None:
        advice = self._sealed_advice(a.record) if a.advice else None
        resent = FLOWS[a.record.kind].recovery is Recovery.ADVICE  # its ready-made repeat has its answer
        self.store.record_outcome(a.record, copies=a.copies, reversal_reason=a.reversal_reason, advice=advice,
                                  close_advice=resent)

    def _a_wipe_card(self, a: A.WipeCard) -> None:
        if self.session is not None and self.session.txn_no == a.txn_no:
            self.session.wipe()
            self.session = None
        if self._original_card is not None and self._original_card[0] == a.txn_no:
            self._original_card = None

    def _a_print(self, a: A.Print) -> Event:
        self.devices.printer.print_receipt(a.receipt)
        self.printed.append((a.job.record.txn_no, a.job.copy.value))
        return Printed(a.job.record.txn_no, a.job.copy)

    def _a_mark_printed(self, a: A.MarkPrinted) -> None:
        self.store.mark_printed(a.txn_no, a.copy, skipped=a.skipped)

    def _a_send_reversal(self, a: A.SendReversal) -> None:
        blob = self.store.reversal_message(a.reversal.txn_no)
        payload = _before_sending(
            lambda: self.bridge.stored_reversal(
                blob, a.reversal.txn_no, a.reversal.reason, a.repeat, self.keys.sealer, self.keys.mac
            )
        )
        self._send(payload)

    def _a_reversal_done(self, a: A.ReversalDone) -> None:
        self.store.reversal_done(a.txn_no, a.response_code, a.reason)

    def _a_send_advice(self, a: A.SendAdvice) -> None:
        blob = self.store.advice_message(a.advice.txn_no)
        payload = _before_sending(
            lambda: self.bridge.stored_advice(blob, a.advice.txn_no, a.repeat, self.keys.sealer, self.keys.mac)
        )
        self._send(payload)

    def _a_advice_sending(self, a: A.AdviceSending) -> None:
        self.store.advices_sending(a.txn_nos)  # a window's marks: one commit, before any of its frames

    def _a_advice_done(self, a: A.AdviceDone) -> None:
        self.store.advice_done(a.txn_no, a.response_code)

    def _a_advice_outcome(self, a: A.AdviceOutcome) -> None:
        self.store.advice_outcome(a.txn_no, a.state, a.response_code, rrn=a.rrn, auth_code=a.auth_code,
                                  settle_date=a.settle_date, copies=a.copies)

    def _a_check_storage(self, a: A.CheckStorage) -> Event:
        self.store.check()
        return StorageOk(self._boot_state(self.core.keys))

    def _a_save_counters(self, a: A.SaveCounters) -> None:
        self.store.save_counters(a.counters)

    def _a_send_network(self, a: A.SendNetwork) -> None:
        s = self.core.settings
        mac = self.keys.mac if self.keys else None
        payload = _before_sending(lambda: self.bridge.network(
            a.job, a.batch, s.terminal_id, s.merchant_id, self.clock(), mac, currency=s.currency,
            operator=self.core.operator_no))  # the signed-in cashier (field 63 of the 0800 and 0500)
        self._send(payload)

    def _a_count_batch(self, a: A.CountBatch) -> Event:
        totals = self.store.batch_totals(a.batch)
        try:
            return BatchCounted(totals, self.bridge.upload_plan(self.store.upload_entries(a.batch)))
        except ProtocolError as e:  # a profile without a batch upload: its settlement is refused when sent
            log.debug("no upload plan (%s)", e.code)
            return BatchCounted(totals)

    def _a_send_upload(self, a: A.SendUpload) -> None:
        """One 0320: the batch's transactions read again from the journal, their card numbers opened
        from the journal's sealed copies for the length of the encoding, then wiped."""
        job, s = a.job, self.core.settings

        def build() -> bytes:
            part = self.bridge.upload_part(self.store.upload_entries(job.batch), job)
            records = {e.txn_no: self.store.record(e.txn_no) for e in part if e.offline}
            cards: dict[int, ClearCard] = {}
            try:
                for entry in part:
                    blob = self.store.card_blob(entry.txn_no)
                    cards[entry.txn_no] = unpack_card(self.keys.sealer.open(blob, card_aad(entry.txn_no, "journal")))
                return self.bridge.upload(job, part, cards, records, s.terminal_id, s.merchant_id, self.keys.mac)
            finally:
                for card in cards.values():
                    card.wipe()

        self._send(_before_sending(build))

    def _a_upload_done(self, a: A.UploadDone) -> None:
        self.store.upload_done(a.batch)

    def _a_close_batch(self, a: A.CloseBatch) -> None:
        self.store.close_batch(a.settlement, a.counters)

    def _a_print_report(self, a: A.PrintReport) -> Event:
        self.devices.printer.print_receipt(a.receipt)
        self.printed.append((0, f"report {a.settlement.batch:06d}"))
        return ReportPrinted(a.settlement, reprint=a.reprint)

    def _a_mark_report_printed(self, a: A.MarkReportPrinted) -> None:
        self.store.mark_report_printed(a.batch)

    def _a_install_working_keys(self, a: A.InstallWorkingKeys) -> None:
        self._install_working_keys(a.counters)

    def _a_remove_working_keys(self, a: A.RemoveWorkingKeys) -> None:
        self._remove_working_keys()

    def _a_zeroize(self, a: A.Zeroize) -> None:
        self._zeroize(a.source, a.reason)

    def _a_alert(self, a: A.Alert) -> None:
        self._alert(a.code, a.text)

    def _a_note(self, a: A.Note) -> None:
        self.notes.append((a.code, a.text))
        log.info("%s: %s", a.code, a.text)

    def _a_disconnect(self, a: A.Disconnect) -> None:
        self.devices.link.disconnect()

    # -- keys ------------------------------------------------------------------------
    def _install_working_keys(self, counters) -> None:
        keys, self._signon_keys = self._signon_keys, None
        if keys is None:
            raise CryptoError("the sign-on answer carried no usable working keys", code="signon.no_keys")
        encrypted, checks = keys
        install_working_keys(self.ring, None, encrypted, checks)  # all checked before any is installed
        self.keys.pin_key = self.ring.get(KeyUsage.PIN)
        self.keys.mac = self.bridge.mac_context(self.ring.get(KeyUsage.MAC))
        self.store.save_counters(counters)

    def _remove_working_keys(self) -> None:
        if self.keys is not None:
            if self.keys.pin_key is not None:
                self.keys.pin_key.wipe()
            self.keys.pin_key = self.keys.mac = None
        if self.ring is not None:
            remove_working_keys(self.ring)

    def _zeroize(self, source: str, reason: str) -> None:
        if self.session is not None:
            self.session.wipe()
            self.session = None
        keys, self.keys = self.keys, None  # nothing in memory survives either
        if keys is not None and keys.pin_key is not None:
            keys.pin_key.wipe()
        self.ring = None
        self.lock_reason = f"tamper ({source}): {reason}"
        if self.data_dir is not None and tamper_status(self.data_dir) is None:
            zeroize(self.data_dir, reason=reason, source=source)

    def _alert(self, code: str, text: str) -> None:
        self.alerts.append((code, text))
        log.warning("ALERT %s: %s", code, text)

    def _session(self, txn_no: int) -> CardSession:
        if self.session is None or self.session.txn_no != txn_no:
            from firmware.errors import CryptoError

            raise CryptoError("no card data is held for this sale", code="secret.wiped")
        return self.session

    def _sealed_advice(self, record) -> bytes:
        with self._session(record.txn_no).card() as card:
            return self.bridge.sealed_advice(record, card, self.keys.sealer)

    def _send(self, payload: bytes) -> None:
        link = self.devices.link
        if not link.connected:
            bound = (self.connect_timeout or link.options["connect_timeout"]) + HANGUP_BOUND
            try:
                with self.blocking(bound):  # the connect may hang up a half-made call on the way out
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


# Action type -> the Runner method that carries it out (``_a_`` + the action's name).
_CARRIERS: dict[type, Callable] = {
    cls: getattr(Runner, "_a_" + cls.name)
    for cls in vars(A).values()
    if isinstance(cls, type) and issubclass(cls, A.Action) and cls is not A.Action
}
