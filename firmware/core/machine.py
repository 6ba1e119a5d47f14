"""The transaction core: events in, actions out. No I/O, clock or randomness inside.

``Terminal.handle(event, now)`` looks the event up in the transition table
(``table.py``), runs the named handler, checks that the state it chose is one
the table allows, and returns the actions for the runner to carry out in
order. ``now`` is the local time the runner observed the event at; it stamps
records and ages the offline queue, and is the only time the core knows.

What the core holds is a mirror of durable state (counters and the queues,
loaded by ``Booted``) plus the sale in progress. Card data never reaches it.

This module holds the dispatch, boot and idle; the handlers live in mixins by
concern: ``sale.py`` (the path every transaction shares), ``printing.py``,
``failures.py``, ``uplink.py``/``window.py`` (queued messages), ``menu.py``,
``settle.py``, ``reprint.py``, ``operators.py`` and one per kind that adds to the
path (``original.py``, ``refund.py``, ``balance.py``, ``preauth.py``, ``transfer.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from firmware.core import screens
from firmware.core.actions import Action, Alert, CancelTimer, Show, StartTimer, WipeCard
from firmware.core.batch import OwedUpload, Settlement, Totals, UploadPlan
from firmware.core.events import Booted, Event, KeyPressed, PinPadFailed, PrinterFault, TimerExpired
from firmware.core.model import (
    BatchHeld,
    BootState,
    CardFacts,
    Counters,
    KeyState,
    Kind,
    NetworkKind,
    OriginalFacts,
    OriginalRef,
    PendingAdvice,
    PendingReversal,
    PrintJob,
    SaleRecord,
    State,
    Timer,
)
from firmware.core.balance import BalanceMixin
from firmware.core.clock import ClockMixin, clock_floor
from firmware.core.failures import FailureMixin
from firmware.core.device_faults import DeviceFaultMixin
from firmware.core.printing import PrintingMixin
from firmware.core.sale import DIGITS, SaleMixin
from firmware.core.menu import FUNCTION, MenuMixin
from firmware.core.flows import flow_of
from firmware.core.operators import OperatorMixin
from firmware.core.overdue import OverdueMixin
from firmware.core.original import OriginalMixin
from firmware.core.preauth import PreauthMixin
from firmware.core.refund import RefundMixin
from firmware.core.transfer import TransferMixin
from firmware.core.reprint import ReprintMixin
from firmware.core.settings import CoreSettings
from firmware.core.settle import SettleMixin
from firmware.core.table import ANY_STATE, TABLE
from firmware.core.uplink import Job, Then, UplinkMixin
from firmware.errors import StateError
from firmware.host.messages import Expectation

__all__ = ["Terminal", "Then"]

Result = tuple[State, list[Action]]



@dataclass
class Sale:
    """The transaction in progress (a sale, void, refund or inquiry: ``kind`` picks its row in ``flows.FLOWS``)."""

    txn_no: int
    kind: Kind = Kind.SALE
    digits: str = ""
    card: CardFacts | None = None
    pin_entered: bool = False
    record: SaleRecord | None = None  # set once the request is opened
    trace: str = ""  # the original's trace as keyed (a void)
    original: OriginalFacts | None = None  # set once the journal found it
    rrn: str = ""  # a refund's original: its reference number as keyed
    orig_date: str = ""  # and its date, MMDD
    auth: str = ""  # a pre-auth's cancel or completion: the pre-auth's authorisation code as keyed
    advice: bool = False  # a completion made as an advice without asking the host (menu page 2, key 6)
    account: str | None = None  # a transfer's destination account, masked (the clear one is sealed in the runner)

    @property
    def amount(self) -> int:
        """The keyed amount; a void takes its original's whole amount (an inquiry has none)."""
        if self.original is not None and not flow_of(self.kind).keyed_amount:
            return self.original.amount
        return int(self.digits or "0")

    @property
    def reference(self) -> OriginalRef | None:
        """What a refund (or a pre-auth's cancel or completion) names, once both parts are keyed."""
        flow = flow_of(self.kind)
        if not flow.by_reference or not self.orig_date:
            return None
        if flow.by_auth_code:
            return OriginalRef("", self.orig_date, self.auth) if self.auth else None
        return OriginalRef(self.rrn, self.orig_date) if self.rrn else None


class Terminal(SaleMixin, PrintingMixin, FailureMixin, OriginalMixin, RefundMixin, PreauthMixin, BalanceMixin,
               UplinkMixin, SettleMixin, ReprintMixin, OperatorMixin, MenuMixin, TransferMixin, ClockMixin,
               DeviceFaultMixin, OverdueMixin):
    """The terminal's state machine. One instance per run; ``Booted`` comes first."""

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.state = State.BOOTING
        self.counters = Counters()
        self.reversals: list[PendingReversal] = []
        # reversal reasons the core chose that storage could not keep (an answer whose commit failed: 96),
        # by journal number; applied when storage works again (failures.py, _h_storage_ok)
        self.unkept_reasons: dict[int, str] = {}
        # the sign-on on the uplink checks one answered only after a retry (uplink.py, _network_answered)
        self._signon_again = False
        self.advices: list[PendingAdvice] = []
        self.sale: Sale | None = None
        self.expect: Expectation | None = None
        self.job: Job | None = None
        self.print_queue: list[PrintJob] = []
        self.owed_prints: list[PrintJob] = []  # late answers' receipts, printed once the uplink is done
        self.link_up: bool | None = None
        self.recovering = False
        self.problem: str | None = None  # why sales are suspended: the error's code (screens.cause)
        # a transaction reversed for want of an answer: its outcome (screens.reversed_outcome), shown once the
        # uplink that sends the reversal rests, so the last screen of the transaction says it was not approved
        self.reversed_txn: tuple[SaleRecord | PendingReversal, str] | None = None
        self.keys = KeyState.READY
        self._keys_before = KeyState.READY
        self._batch_before = 1  # the batch before a sign-on's answer was taken (uplink.py)
        self.lock_reason: str | None = None
        self.network: NetworkKind | None = None  # a sign-on or sign-off waiting for the uplink
        self._resynced: set[int] = set()  # transactions whose key error already brought a sign-on (uplink.py)
        self.settle_interrupted = False  # the open batch's 0500 went unanswered: settle again first (settle.py)
        self.settle_unheard = False  # the 0500 now under way follows one that went unanswered (settle.py)
        self._settle_left = False  # the last 0500 sent may have reached the host (False: the runner says it never left)
        self._pending_saves: list[Action] = []
        self.totals: Totals | None = None  # the batch totals being confirmed and settled
        self.plan: UploadPlan | None = None  # how that batch would be uploaded
        self.report: Settlement | None = None  # a settlement whose report is owed
        self._report_then = None  # a settlement waiting for that report (uplink.Then.SETTLE)
        self.upload: OwedUpload | None = None  # a closed batch whose upload is owed
        self.upload_next = 0  # the upload's next message: the first the host has not acknowledged (settle.py)
        self.menu_page = 0  # which page of the function menu is shown (screens.menu)
        self.last_report: Settlement | None = None  # what the menu's report reprint prints
        self.last_receipt: SaleRecord | None = None  # what the menu's receipt reprint prints
        # the open batch's transactions that its settlement may count (Flow.in_totals), on each side, and
        # their amounts: storage's at boot, then each such record made, less each declined (a batch full a
        # little early is safe; one its settlement could not carry would never settle)
        self.batch_held = BatchHeld()
        self.batch_opened: datetime | None = None  # the open batch's first counted transaction (overdue.py)
        self._batch_told = None  # the day settle.overdue was last told (overdue.py)
        self._opened_instant = None  # batch_opened and its instant, for its age (overdue.py)
        # what the idle status line says of them while they hold (overdue.py: OverdueMixin.overdue_status)
        self.settle_due: str | None = None
        self.offline_old: tuple[datetime, str] | None = None  # the oldest stored advice's time, and the text
        self.clock_floor: datetime | None = None  # no transaction may be dated much before this (clock.py)
        self.printer_fault: PrinterFault | None = None  # the printer failed and has not worked since (device_faults.py)
        self.pin_key_gone: PinPadFailed | None = None  # the DUKPT PIN key is exhausted: no PIN (device_faults.py)
        self.pin_key_left: int | None = None  # the DUKPT key's counters left, once below the low mark (device_faults.py)

    # -- dispatch ------------------------------------------------------------
    def accepts(self, event: Event) -> bool:
        return type(event) in TABLE.get(self.state, {}) or type(event) in ANY_STATE

    def handle(self, event: Event, now: datetime) -> list[Action]:
        transition = TABLE.get(self.state, {}).get(type(event)) or ANY_STATE.get(type(event))
        if transition is None:
            raise StateError(
                f"{type(event).__name__} is not accepted in state {self.state.name}", code="state.illegal_event"
            )
        target, actions = getattr(self, "_h_" + transition.handler)(event, now)
        if target not in transition.targets:
            raise StateError(
                f"{transition.handler} chose {target.name} from {self.state.name}, which the table does not allow",
                code="state.bad_target",
            )
        self.state = target
        return actions

    # -- helpers ---------------------------------------------------------------
    def _money(self, amount: int) -> str:
        return screens.money(amount, self.settings)

    def _idle(self, *message: str, short: Iterable[str] = ()) -> Result:
        """Back to idle, with an optional result message that gives way to the idle screen.

        A message of three lines or more comes with ``short``, the same message in two for a 2-row display
        (``screens.fit``): what happened and what it means for the money, its detail in the alert or note."""
        self.sale = None
        self.expect = None
        actions: list[Action] = [CancelTimer(Timer.INPUT), CancelTimer(Timer.RESPONSE)]
        if message:
            actions += [Show(screens.shown(self, message, short)), StartTimer(Timer.MESSAGE, self.settings.message_seconds)]
        else:
            actions.append(Show(screens.idle(self)))
        if self._queued():
            actions.append(StartTimer(Timer.UPLOAD, self.settings.upload_interval))
        return State.IDLE, actions

    def _queued(self) -> bool:
        """Something waits for the uplink when the terminal is idle: reversals, offline sales, a batch upload."""
        return bool(self.reversals or self.advices or self.upload is not None)

    def _new_sale(self, kind: Kind) -> Sale:
        """A new transaction takes the next journal number (a cancelled one leaves a gap)."""
        self.reversed_txn = None  # an earlier outcome not shown yet is not this transaction's
        txn_no, self.counters = self.counters.take_txn_no()
        return Sale(txn_no, kind)

    def _refused_start(self, kind: Kind, head: list[Action], now: datetime) -> Result | None:
        """Refuse a transaction that must not start; ``None`` lets it start. Any, when the clock reads well
        before the last transaction (``clock.py``). One that prints, while the printer is faulted
        (``device_faults.py``). The open batch is closed to whatever its settlement counts
        (``Flow.in_totals``) when its settlement went unanswered (``settle_interrupted``: the host may have
        closed it unheard); and to a debit (a credit) when its settlement could count no more debits
        (credits: ``CoreSettings.batch_capacity``, cup counts each side in three digits), or carry no more
        were the next of the largest amount a sale may take (``batch_max_total``, ``max_amount``: cup
        totals each side in twelve). A batch full of sales still takes their voids, and the reverse. The
        amounts are the batch's own, read from storage at boot: a restart with another
        ``sale.max_amount`` changes only the room asked for the next."""
        behind = self._clock_behind(now)
        if behind is not None:
            state, actions = self._idle("CLOCK IS BEHIND", "SET TIME OR F2")
            return state, head + [behind] + actions
        # a card charged with no merchant copy printed, or a PIN no key can encrypt (device_faults.py)
        device = self._printer_refusal(kind) or self._pin_refusal(kind)
        if device is not None:
            state, actions = self._idle(*device[1], short=device[1].short)
            return state, head + [device[0]] + actions
        flow = flow_of(kind)
        if not flow.in_totals:
            return None
        batch = f"{self.counters.batch:06d}"
        count, amount = self.batch_held.side(flow.refund)
        side = "credits (voids and refunds)" if flow.refund else "debits (sales and completions)"
        if self.settle_interrupted:
            alert = Alert("settle.interrupted", f"the settlement of batch {batch} got no answer the terminal "
                                                "recorded: settle again before the next transaction")
            lines = ("SETTLE AGAIN", "BEFORE SELLING")
        elif count >= self.settings.batch_capacity:
            alert = Alert("batch.full", f"batch {batch} holds {count} {side}, as many as its "
                                        "settlement can count: settle it before the next one")
            lines = ("BATCH FULL", "SETTLE FIRST")
        elif amount + self.settings.max_amount > self.settings.batch_max_total:
            alert = Alert("batch.full", f"batch {batch} holds {self._money(amount)} of {side}: its settlement "
                                        "could not carry one more of up to "
                                        f"{self._money(self.settings.max_amount)} (sale.max_amount): settle it "
                                        "before the next one")
            lines = ("BATCH FULL", "SETTLE FIRST")
        else:
            return None
        state, actions = self._idle(*lines)
        return state, head + [alert] + actions

    def _wipe(self) -> list[Action]:
        return [WipeCard(self.sale.txn_no)] if self.sale else []

    # -- boot and idle ---------------------------------------------------------
    def _resync(self, boot: BootState) -> None:
        self.counters = boot.counters
        self.reversals = list(boot.reversals)
        self.advices = list(boot.advices)
        self.print_queue = list(boot.receipts)
        self.owed_prints = []  # what storage owes is in boot.receipts; an answer whose commit failed owes nothing
        self.report = boot.report
        # No plan: the profile has no batch upload (iso87), so nothing is owed whatever storage says.
        self.upload = boot.upload if boot.upload is not None and boot.upload.plan is not None else None
        self.upload_next = self.upload.next_part if self.upload is not None else 0
        self.last_report = boot.last_report
        self.last_receipt = boot.last_receipt
        self.batch_held = boot.batch_held
        self.batch_opened = boot.opened if boot.batch_held.count else None
        self.settle_interrupted = boot.settle_interrupted
        self.clock_floor = clock_floor(boot.latest)

    def _interrupted_text(self, interrupted: tuple[int, ...], cut: list[PendingReversal]) -> str:
        """What becomes of the requests a power cut left open, as found: each reversed, sent again (a kind the
        profile sends as an advice, cup's refund) or left (an inquiry moves no money)."""
        again = sum(a.txn_no in interrupted for a in self.advices)
        left = len(interrupted) - len(cut) - again
        head = f"{len(interrupted)} transaction(s) interrupted by a power cut"
        if not again and not left:
            return f"{head} will be reversed"
        parts = [f"{len(cut)} will be reversed"] if cut else []
        parts += [f"{again} sent again (never reversed)"] if again else []
        parts += [f"{left} left unanswered (moves no money)"] if left > 0 else []
        return f"{head}: {', '.join(parts)}"

    def _h_booted(self, ev: Booted, now: datetime) -> Result:
        self._resync(ev.boot)
        self.recovering = True
        self.keys = ev.boot.keys
        if self.keys is KeyState.LOCKED:
            return self._lock(ev.boot.lock_reason or "keys missing", [])
        if self.keys is KeyState.NEED_SIGN_ON:
            self.network = NetworkKind.SIGN_ON  # sign on by itself: nothing can be sent without keys
        actions: list[Action] = self._resume_sign_in(ev.boot.operator)  # the shift goes on (operators.py)
        actions += self._boot_reminders(now)  # an open batch or stored sales left too long (overdue.py)
        if ev.boot.interrupted:
            # the cashier is told what became of the newest one once recovery has sent its reversal, as after a
            # request left unanswered while running (``uplink._uplink_rest``): the customer may still be there
            cut = [r for r in self.reversals if r.txn_no in ev.boot.interrupted]
            if cut:
                self.reversed_txn = (cut[-1], "POWER CUT")
            actions.append(Alert("recovery.interrupted", self._interrupted_text(ev.boot.interrupted, cut)))
        if self.upload is not None:  # sent after the receipts and the report owed, like the queues
            actions.append(Alert("recovery.upload", f"the upload of batch {self.upload.settlement.batch:06d} "
                                 "did not complete: sending it again"))
        if self.print_queue:
            actions.append(Alert("recovery.receipts", f"printing {len(self.print_queue)} receipt(s) owed before the power cut"))
            return self._print_next(actions)
        if self.report is not None and self.keys is KeyState.READY:
            actions.append(Alert("recovery.report", f"printing the report of batch {self.report.batch:06d}"))
            return self._print_report(actions)
        if self._queued() or self.network:
            return self._uplink(Then.IDLE, actions)
        self.recovering = False
        return self._rest(actions)

    def _h_idle_key(self, ev: KeyPressed, now: datetime) -> Result:
        if self.signed_out and ev.key != FUNCTION:  # no sale until a cashier signs in (operators.py)
            return self._signed_out_key(ev.key, now)
        if ev.key in DIGITS:
            closed = self._refused_start(Kind.SALE, [], now)
            if closed is not None:
                return closed
            self.sale = self._new_sale(Kind.SALE)
            head = [CancelTimer(Timer.MESSAGE), CancelTimer(Timer.UPLOAD), *self._start_reminder(Kind.SALE, now)]
            return self._amount_key(ev.key, head)
        if ev.key == FUNCTION:
            return self._menu()
        return State.IDLE, [Show(screens.idle(self)), CancelTimer(Timer.MESSAGE)]

    def _h_idle_timer(self, ev: TimerExpired, now: datetime) -> Result:
        if ev.timer is Timer.UPLOAD and self._queued():
            return self._uplink(Then.IDLE, [])
        if ev.timer is Timer.MESSAGE:
            return State.IDLE, [Show(screens.idle(self))]
        return State.IDLE, []

    def _h_upload_requested(self, ev: Event, now: datetime) -> Result:
        if self._queued():
            return self._uplink(Then.IDLE, [CancelTimer(Timer.UPLOAD)])
        return self._idle("NOTHING TO UPLOAD")































