"""The transaction core: events in, actions out. No I/O, clock or randomness inside.

``Terminal.handle(event, now)`` looks the event up in the transition table
(``table.py``), runs the named handler, checks that the state it chose is one
the table allows, and returns the actions for the runner to carry out in
order. ``now`` is the local time the runner observed the event at; it stamps
records and ages the offline queue, and is the only time the core knows.

What the core holds is a mirror of durable state (counters and the queues,
loaded by ``Booted``) plus the sale in progress. Card data never reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from firmware.core import screens
from firmware.core.actions import (
    Action,
    AdviceDone,
    AdviceOutcome,
    AdviceSending,
    Alert,
    BeginAccount,
    BeginPin,
    CancelPin,
    CancelTimer,
    CheckStorage,
    CloseBatch,
    CountBatch,
    DisableReader,
    EnableReader,
    FindOriginal,
    InstallWorkingKeys,
    MarkPrinted,
    Note,
    OpenRequest,
    Print,
    PrintReport,
    RecordOutcome,
    RecordSignIn,
    RemoveWorkingKeys,
    ReversalDone,
    SaveCounters,
    SendAdvice,
    SendNetwork,
    SendRequest,
    SendReversal,
    SendUpload,
    Show,
    StartTimer,
    UploadDone,
    VerifyOperator,
    WipeCard,
    Zeroize,
)
from firmware.core.events import (
    ActionFailed,
    Booted,
    Event,
    HostAnswered,
    HostFrameRejected,
    KeyPressed,
    LinkDropped,
    PinEntered,
    PinProgress,
    Printed,
    StorageOk,
    TimerExpired,
)
from firmware.core.model import (
    BootState,
    CardFacts,
    Counters,
    JournalState,
    KeyState,
    Kind,
    NetworkKind,
    OriginalFacts,
    OriginalRef,
    OwedUpload,
    PendingAdvice,
    Settlement,
    Totals,
    UploadPlan,
    PendingReversal,
    PrintJob,
    SaleRecord,
    State,
    Timer,
)
from firmware.core.balance import BalanceMixin
from firmware.core.menu import CANCEL, ENTER, FUNCTION, MenuMixin
from firmware.core.flows import Recovery, flow_of
from firmware.core.operators import OperatorMixin
from firmware.core.original import OriginalMixin
from firmware.core.preauth import PreauthMixin, advice_refusal
from firmware.core.receipt import build_receipt
from firmware.core.refund import RefundMixin
from firmware.core.transfer import TransferMixin
from firmware.core.reprint import ReprintMixin
from firmware.core.settings import CoreSettings
from firmware.core.settle import SettleMixin
from firmware.core.table import ANY_STATE, TABLE
from firmware.core.uplink import Job, Then, UplinkMixin
from firmware.errors import StateError
from firmware.host.messages import Expectation, mismatch
from firmware.host.spec import Mtis

__all__ = ["Terminal", "Then"]

Result = tuple[State, list[Action]]

DIGITS = frozenset("0123456789")
CLEAR = "*"  # ENTER, CANCEL and FUNCTION are the menu's (menu.py)


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


class Terminal(OriginalMixin, RefundMixin, PreauthMixin, BalanceMixin, UplinkMixin, SettleMixin, ReprintMixin,
               OperatorMixin, MenuMixin, TransferMixin):
    """The terminal's state machine. One instance per run; ``Booted`` comes first."""

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.state = State.BOOTING
        self.counters = Counters()
        self.reversals: list[PendingReversal] = []
        self.advices: list[PendingAdvice] = []
        self.sale: Sale | None = None
        self.expect: Expectation | None = None
        self.job: Job | None = None
        self.print_queue: list[PrintJob] = []
        self.owed_prints: list[PrintJob] = []  # late answers' receipts, printed once the uplink is done
        self.link_up: bool | None = None
        self.recovering = False
        self.problem: str | None = None  # why sales are suspended
        self.keys = KeyState.READY
        self._keys_before = KeyState.READY
        self.lock_reason: str | None = None
        self.network: NetworkKind | None = None  # a sign-on or sign-off waiting for the uplink
        self._pending_saves: list[Action] = []
        self.totals: Totals | None = None  # the batch totals being confirmed and settled
        self.plan: UploadPlan | None = None  # how that batch would be uploaded
        self.report: Settlement | None = None  # a settlement whose report is owed
        self._report_then = None  # a settlement waiting for that report (uplink.Then.SETTLE)
        self.upload: OwedUpload | None = None  # a closed batch whose upload is owed
        self.upload_next = 0  # the upload's next message (not stored: an interrupted upload starts again)
        self.menu_page = 0  # which page of the function menu is shown (screens.menu)
        self.last_report: Settlement | None = None  # what the menu's report reprint prints
        self.last_receipt: SaleRecord | None = None  # what the menu's receipt reprint prints

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

    def _idle(self, *message: str) -> Result:
        """Back to idle, with an optional result message that gives way to the idle screen."""
        self.sale = None
        self.expect = None
        actions: list[Action] = [CancelTimer(Timer.INPUT), CancelTimer(Timer.RESPONSE)]
        if message:
            actions += [Show(screens.fit(message)), StartTimer(Timer.MESSAGE, self.settings.message_seconds)]
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
        sale = Sale(self.counters.txn_no, kind)
        self.counters = replace(self.counters, txn_no=self.counters.txn_no + 1)
        return sale

    def _wipe(self) -> list[Action]:
        return [WipeCard(self.sale.txn_no)] if self.sale else []

    # -- boot and idle ---------------------------------------------------------
    def _resync(self, boot: BootState) -> None:
        self.counters = boot.counters
        self.reversals = list(boot.reversals)
        self.advices = list(boot.advices)
        self.print_queue = list(boot.receipts)
        self.report = boot.report
        # No plan: the profile has no batch upload (iso87), so nothing is owed whatever storage says.
        self.upload = boot.upload if boot.upload is not None and boot.upload.plan is not None else None
        self.upload_next = 0
        self.last_report = boot.last_report
        self.last_receipt = boot.last_receipt

    def _h_booted(self, ev: Booted, now: datetime) -> Result:
        self._resync(ev.boot)
        self.recovering = True
        self.keys = ev.boot.keys
        if self.keys is KeyState.LOCKED:
            return self._lock(ev.boot.lock_reason or "keys missing", [])
        if self.keys is KeyState.NEED_SIGN_ON:
            self.network = NetworkKind.SIGN_ON  # sign on by itself: nothing can be sent without keys
        actions: list[Action] = self._resume_sign_in(ev.boot.operator)  # the shift goes on (operators.py)
        if ev.boot.interrupted:
            actions.append(
                Alert(
                    "recovery.interrupted",
                    f"{len(ev.boot.interrupted)} transaction(s) interrupted by a power cut will be reversed "
                    "(a refund: sent again)",
                )
            )
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
            self.sale = self._new_sale(Kind.SALE)
            return self._amount_key(ev.key, [CancelTimer(Timer.MESSAGE), CancelTimer(Timer.UPLOAD)])
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

    # -- amount, card, PIN -------------------------------------------------------
    def _amount_key(self, key: str, actions: list[Action]) -> Result:
        sale = self.sale
        note = ""
        if key in DIGITS:
            digits = (sale.digits + key).lstrip("0")
            if len(digits) > 12 or int(digits or "0") > self.settings.max_amount:
                note = "AMOUNT TOO LARGE"
            else:
                sale.digits = digits
        elif key == CLEAR:
            sale.digits = sale.digits[:-1]
        elif key == CANCEL:
            return self._idle("CANCELLED")
        elif key == ENTER:
            refusal = self._amount_refusal()
            if sale.amount == 0:
                note = "ENTER AN AMOUNT"
            elif refusal is not None:  # a refund above what is left of its original: key it again
                note = refusal.text
                actions = actions + [Note(refusal.code, f"{sale.kind.value} of {self._money(sale.amount)} refused: "
                                                        f"{refusal.text}")]
            else:
                return State.CARD, actions + [
                    EnableReader(sale.txn_no),
                    Show(screens.swipe(self)),
                    StartTimer(Timer.INPUT, self.settings.input_timeout),
                ]
        return State.AMOUNT, actions + [
            Show(screens.amount(self, note)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_amount_key(self, ev: KeyPressed, now: datetime) -> Result:
        return self._amount_key(ev.key, [])

    def _h_input_timeout(self, ev: TimerExpired, now: datetime) -> Result:
        if ev.timer is not Timer.INPUT:
            return self.state, []
        undo: list[Action] = {State.CARD: [DisableReader()], State.PIN: [CancelPin()],
                              State.ACCOUNT: [CancelPin()]}.get(self.state, [])
        undo += self._wipe()  # before _idle() forgets the sale
        state, actions = self._idle("TIMED OUT")
        return state, undo + actions

    def _h_card_read(self, ev, now: datetime) -> Result:
        sale = self.sale
        sale.card = ev.card
        if flow_of(sale.kind).destination:  # a transfer: the destination account before the PIN
            return self._begin_account([DisableReader()])
        # The PIN is always asked for; the cardholder may skip it (ENTER alone) only
        # where neither the configuration nor the card's service code requires one.
        bypass = not (self.settings.pin_required or ev.card.pin_required)
        if sale.advice:  # no PIN: an advice carries none (the pre-auth verified the cardholder)
            return self._go_online(now, [DisableReader()])
        return State.PIN, [
            DisableReader(),
            BeginPin(sale.txn_no, allow_bypass=bypass),
            Show(screens.pin(self, 0)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_card_unreadable(self, ev, now: datetime) -> Result:
        return State.CARD, [
            Show(screens.fit((ev.text, "SWIPE AGAIN", "X=CANCEL"))),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_card_key(self, ev: KeyPressed, now: datetime) -> Result:
        if ev.key == CANCEL:
            state, actions = self._idle("CANCELLED")
            return state, [DisableReader()] + actions
        return State.CARD, []

    def _h_pin_done(self, ev, now: datetime) -> Result:
        self.sale.pin_entered = isinstance(ev, PinEntered)
        return self._go_online(now, [])

    def _h_pin_cancelled(self, ev, now: datetime) -> Result:
        wipe = self._wipe()
        state, actions = self._idle("CANCELLED")
        return state, wipe + actions

    def _h_pin_progress(self, ev: PinProgress, now: datetime) -> Result:
        return State.PIN, [Show(screens.pin(self, ev.digits)), StartTimer(Timer.INPUT, self.settings.input_timeout)]

    # -- going online ------------------------------------------------------------
    def _go_online(self, now: datetime, actions: list[Action]) -> Result:
        actions = actions + [CancelTimer(Timer.INPUT)]
        if self.sale.advice:  # made without the host: committed and queued as its advice (preauth.py)
            return self._offline(now, actions)
        if self.reversals:  # a queued reversal goes before any other online message
            return self._uplink(Then.SALE, actions, now)
        return self._authorise(now, actions)

    def _new_record(self, now: datetime) -> SaleRecord:
        sale, s = self.sale, self.settings
        stan, self.counters = self.counters.take_stan()
        return SaleRecord(
            txn_no=sale.txn_no,
            kind=sale.kind,
            original=sale.original,
            reference=sale.reference,
            amount=sale.amount,
            stan=stan,
            batch=self.counters.batch,
            when=now,
            masked_pan=sale.card.masked_pan,
            currency=s.currency,
            terminal_id=s.terminal_id,
            merchant_id=s.merchant_id,
            operator=self.operator_no,
            entry_mode=sale.card.entry_mode,
            pin_entered=sale.pin_entered,
            account=sale.account,
        )

    def _authorise(self, now: datetime, actions: list[Action]) -> Result:
        record = self.sale.record = self._new_record(now)
        s = self.settings
        amount = record.amount if flow_of(record.kind).moves_money else None  # an inquiry's answer has no amount
        self.expect = Expectation(Mtis.response(s.mtis.request_for(record.kind)), record.stan, s.terminal_id, amount)
        return State.AUTHORISING, actions + [
            Show(screens.processing(self)),
            OpenRequest(record, self.counters),
            SendRequest(record),
            StartTimer(Timer.RESPONSE, s.response_timeout),
        ]

    def _h_request_answered(self, ev: HostAnswered, now: datetime) -> Result:
        reply, record = ev.reply, self.sale.record
        why = mismatch(self.expect, reply)
        if why:
            return State.AUTHORISING, [Note("host.unmatched", f"answer rejected: {why}")]
        self.link_up = True
        mac_bad = reply.mac_ok is False or (reply.approved and self.settings.mac_required and reply.mac_ok is not True)
        recovery = flow_of(record.kind).recovery
        if mac_bad and recovery is Recovery.ADVICE:  # not to be trusted: send it again, the host answers again
            return self._resend_later(record, ("HOST MAC ERROR", "REFUND QUEUED", "SENDING AGAIN..."))
        if mac_bad and recovery is Recovery.NONE:
            return self._inquiry_unanswered(record, "A0", "HOST MAC ERROR")
        if mac_bad:
            record = replace(record, state=JournalState.REVERSING, response_code=reply.response_code, reason="A0")
            return self._reverse_now(
                record, "A0", [RecordOutcome(record, reversal_reason="A0")], ("HOST MAC ERROR", "REVERSING...")
            )
        record = replace(
            record,
            response_code=reply.response_code,
            rrn=reply.rrn,
            auth_code=reply.auth_code,
            settle_date=reply.settle_date,
        )
        head = [CancelTimer(Timer.RESPONSE)]
        if not flow_of(record.kind).moves_money:
            return self._inquiry_answered(record, reply, head)
        if reply.approved:
            record = replace(record, state=JournalState.APPROVED)
            self.sale.record = record
            head += [RecordOutcome(record, copies=self.settings.copies), WipeCard(record.txn_no)]
            head.append(Show(screens.approved(self, record)))
            return self._print_sale(record, head)
        record = replace(record, state=JournalState.DECLINED, reason=reply.response_code)
        head += [RecordOutcome(record), WipeCard(record.txn_no)]
        code = reply.response_code or "??"
        flow = flow_of(record.kind)
        title = "DECLINED" if flow.kind is Kind.SALE else f"{flow.title} DECLINED"
        state, actions = self._idle(title, f"{code} {self.settings.response_text(code)}", self._money(record.amount))
        return state, head + actions

    def _h_frame_rejected(self, ev: HostFrameRejected, now: datetime) -> Result:
        return self.state, [Note(ev.code, f"host frame rejected: {ev.text}")]

    def _h_request_timer(self, ev: TimerExpired, now: datetime) -> Result:
        if ev.timer is not Timer.RESPONSE:
            return State.AUTHORISING, []
        return self._request_unanswered("NO ANSWER FROM HOST")

    def _h_request_unanswered(self, ev: LinkDropped, now: datetime) -> Result:
        return self._request_unanswered("HOST LINK DROPPED")

    def _request_unanswered(self, text: str) -> Result:
        """The request may have reached the host: reverse it before anything else goes online
        (a refund is sent again instead; an inquiry is left unanswered: ``flows.Recovery``)."""
        record = self.sale.record
        recovery = flow_of(record.kind).recovery
        if recovery is Recovery.ADVICE:
            return self._resend_later(record, (text, "REFUND QUEUED", "SENDING AGAIN..."))
        if recovery is Recovery.NONE:
            return self._inquiry_unanswered(record, "98", text)
        return self._reverse_now(record, "98", [], (text, "REVERSING..."))

    def _reverse_now(self, record: SaleRecord, reason: str, commit: list[Action], message: tuple[str, ...]) -> Result:
        self.reversals.append(PendingReversal(record.txn_no, record.stan, record.amount, reason))
        head = [CancelTimer(Timer.RESPONSE), *commit, WipeCard(record.txn_no), Show(screens.fit(message))]
        self.sale = None
        self.expect = None
        return self._uplink(Then.IDLE, head)

    # -- offline -------------------------------------------------------------------
    def offline_refusal(
        self, amount: int, card: CardFacts | None, now: datetime, kind: Kind = Kind.SALE,
        original: OriginalFacts | None = None,
    ) -> tuple[str, str] | None:
        """Why this transaction may not be approved offline, as (code, text); None if it may."""
        lim = self.settings.offline
        if flow_of(kind).advice:  # a completion: its pre-auth's hold, not the sale's limits (preauth.py)
            return advice_refusal(lim.enabled, original)
        if not flow_of(kind).offline:  # void.online_only, refund.online_only, preauth.online_only ...
            return f"{flow_of(kind).prefix}.online_only", f"{flow_of(kind).title} NEEDS ONLINE"
        if not lim.enabled:
            return "offline.disabled", "OFFLINE SALES OFF"
        if card is not None and card.online_only:
            return "offline.card_online_only", "CARD NEEDS ONLINE"
        if amount > lim.floor_limit:
            return "offline.floor_limit", "OVER FLOOR LIMIT"
        stored = [a for a in self.advices if a.kind is Kind.SALE]  # not refunds waiting to be sent again
        if len(stored) + 1 > lim.max_count:
            return "offline.max_count", "OFFLINE QUEUE FULL"
        if sum(a.amount for a in stored) + amount > lim.max_amount:
            return "offline.max_amount", "OFFLINE TOTAL LIMIT"
        oldest = min((a.created_at for a in stored), default=None)
        if oldest is not None and now - oldest > lim.max_age:
            return "offline.too_old", "OFFLINE QUEUE TOO OLD"
        return None

    def _offline(self, now: datetime, actions: list[Action]) -> Result:
        """The host cannot be reached and nothing was sent: approve offline or decline."""
        sale = self.sale
        if not sale.advice:  # the operator chose the advice: nothing was tried, nothing learnt of the link
            self.link_up = False
        refusal = self.offline_refusal(sale.amount, sale.card, now, sale.kind, sale.original)
        undone = flow_of(sale.kind).undone
        what = f"{sale.kind.value} refused offline"
        why = "NO ADVICE" if sale.advice else "HOST UNAVAILABLE"
        if sale.record is None:
            if refusal:
                state, more = self._idle(why, refusal[1], undone)
                return state, actions + self._wipe() + [Alert(refusal[0], what)] + more
            sale.record = self._new_record(now)
            actions = actions + [OpenRequest(sale.record, self.counters)]
        record = sale.record
        if refusal:
            record = replace(record, state=JournalState.DECLINED, reason=refusal[0])
            state, more = self._idle(why, refusal[1], undone)
            return state, actions + [RecordOutcome(record), WipeCard(record.txn_no), Alert(refusal[0], what)] + more
        record = sale.record = replace(record, state=JournalState.OFFLINE_APPROVED, reason="offline")
        self.advices.append(PendingAdvice(record.txn_no, record.stan, record.amount, record.when, kind=record.kind))
        head = actions + [
            RecordOutcome(record, copies=self.settings.copies, advice=True),
            WipeCard(record.txn_no),
            Show(screens.approved(self, record)),
        ]
        return self._print_sale(record, head)

    # -- printing ------------------------------------------------------------------
    def _print_sale(self, record: SaleRecord, head: list[Action]) -> Result:
        self.print_queue = [PrintJob(record, copy) for copy in self.settings.copies]
        if self.print_queue:
            self.last_receipt = record
        if not self.print_queue:
            state, more = self._after_printing()
            return state, head + more
        return self._print_next(head)

    def _print_next(self, head: list[Action]) -> Result:
        job = self.print_queue[0]
        return State.PRINTING, head + [Print(job, build_receipt(job, self.settings))]

    def _h_printed(self, ev: Printed, now: datetime) -> Result:
        job = self.print_queue.pop(0)
        actions: list[Action] = [] if job.reprint else [MarkPrinted(job.record.txn_no, job.copy)]
        if self.print_queue:
            return self._print_next(actions)
        state, more = self._after_printing()
        return state, actions + more

    def _print_owed(self, head: list[Action]) -> Result | None:
        """Receipts owed by answers that came late (a refund answered when sent again), committed
        with their outcome: printed now that the terminal is between transactions. None if none."""
        if not self.owed_prints:
            return None
        self.print_queue, self.owed_prints = self.owed_prints, []
        self.last_receipt = self.print_queue[-1].record
        return self._print_next(head + [Show(screens.fit(("LATE HOST ANSWER", "PRINTING RECEIPT")))])

    def _after_printing(self) -> Result:
        self.sale = None
        owed = self._print_owed([])
        if owed is not None:
            return owed
        if self.report is not None:  # owed since before a power cut, after the receipts
            return self._print_report([])
        if (self._queued() and (self.link_up or self.recovering)) or self.network:
            return self._uplink(Then.IDLE, [])
        self.recovering = False
        return self._rest()

    def _h_held_key(self, ev: KeyPressed, now: datetime) -> Result:
        if ev.key == ENTER:
            return self._print_next([Show(screens.fit(("PRINTING...",)))])
        if ev.key == CANCEL:
            job = self.print_queue.pop(0)
            actions: list[Action] = [] if job.reprint else [MarkPrinted(job.record.txn_no, job.copy, skipped=True)]
            if self.print_queue:
                return self._print_next(actions)
            state, more = self._after_printing()
            return state, actions + more
        return State.RECEIPT_HELD, []

    # -- failures of actions -----------------------------------------------------------
    def _h_action_failed(self, ev: ActionFailed, now: datetime) -> Result:
        a = ev.action
        alert = Alert(ev.code, ev.text)
        if isinstance(a, SendRequest):
            if ev.sent is False:
                return self._offline(now, [alert])
            state, actions = self._request_unanswered("HOST LINK FAILED")
            return state, [alert] + actions
        if isinstance(a, (SendReversal, SendAdvice, SendUpload)):
            state, actions = self._uplink_failed(ev.text, now)
            return state, [alert] + actions
        if isinstance(a, Print):
            return State.RECEIPT_HELD, [alert, Show(screens.printer_problem(ev.text))]
        if isinstance(a, EnableReader):
            state, actions = self._idle("CARD READER FAULT", ev.text[:20])
            return state, [alert] + actions
        if isinstance(a, (BeginPin, BeginAccount)):
            wipe = self._wipe()
            state, actions = self._idle("PIN PAD FAULT", ev.text[:20])
            return state, [alert] + wipe + actions
        if isinstance(a, RecordOutcome):
            return self._outcome_not_recorded(a.record, ev.text, alert)
        if isinstance(a, CountBatch):  # the journal could not be read: nothing was written
            self.totals = None
            state, actions = self._rest([alert], note="JOURNAL ERROR")
            return state, actions
        if isinstance(a, CloseBatch):  # not closed: the batch stays open (settle again once storage works)
            self.report = self.upload = None
            if self.settings.operators.required and self.operator is None:  # nor did the shift end
                self.operator = a.settlement.operator
            self.counters = replace(self.counters, batch=a.settlement.batch)
            return self._suspend(ev.text, [alert])
        if isinstance(a, UploadDone):  # still owed in storage: sent again (from the start) once storage works
            self.report = None
            return self._suspend(ev.text, [alert])
        if isinstance(a, PrintReport):  # owed durably: printed again at the next start
            state, actions = self._rest([alert], note="REPORT NOT PRINTED")
            return state, actions
        if isinstance(a, RecordSignIn):  # not saved: a sign-in is refused; a sign-out stands (in memory)
            self.operator = None
            state, actions = self._idle("SIGN-IN NOT SAVED" if a.number else "SIGN-OUT NOT SAVED", ev.text[:20])
            return state, [alert] + actions
        if isinstance(a, VerifyOperator):  # the operators could not be read: nobody signed in, nothing started
            self._op_forget()
            state, actions = self._idle("PASSWORD NOT CHECKED", ev.text[:20])
            return state, [alert] + actions
        if isinstance(a, FindOriginal):  # the journal could not be read: nothing was written
            state, actions = self._idle("JOURNAL ERROR", ev.text[:20], flow_of(a.kind).undone)
            return state, [alert] + actions
        if isinstance(a, SendNetwork):
            state, actions = self._uplink_failed(ev.text, now)
            return state, [alert] + actions
        if isinstance(a, InstallWorkingKeys):  # a check value did not match: nothing was installed
            self.keys = self._keys_before
            self.job = None
            self.network = None
            return self._rest([alert], note="SIGN-ON FAILED")
        if isinstance(a, RemoveWorkingKeys):
            return State.SIGNED_OFF, [alert, Show(screens.signed_off(self, "SIGNED OFF"))]
        if isinstance(a, Zeroize):
            return self._lock(self.lock_reason or "tamper", [alert])
        if isinstance(a, OpenRequest) and not ev.code.startswith("storage."):
            # the request or its reversal cannot be built for this card: nothing was written or sent
            wipe = self._wipe()
            title = flow_of(a.record.kind).title
            state, actions = self._idle(f"CANNOT SEND {title}", ev.text[:20])
            return state, [alert] + wipe + actions
        if isinstance(a, OpenRequest | ReversalDone | AdviceSending | AdviceDone | AdviceOutcome | CheckStorage
                      | SaveCounters):
            wipe = self._wipe() if isinstance(a, OpenRequest) else []
            return self._suspend(ev.text, [alert] + wipe)
        return self.state, [Note(ev.code, f"{a.name} failed: {ev.text}")]

    def _outcome_not_recorded(self, record: SaleRecord, text: str, alert: Alert) -> Result:
        """The answer could not be committed: never print it; reverse what the host may have booked
        (a refund's repeat stays queued instead: the host answers it again once storage works)."""
        self.print_queue = []
        recovery = flow_of(record.kind).recovery
        if recovery is not Recovery.REVERSAL:
            if recovery is Recovery.ADVICE and not any(a.txn_no == record.txn_no for a in self.advices):
                self.advices.insert(0, PendingAdvice(record.txn_no, record.stan, record.amount, record.when,
                                                     sent_before=True, kind=record.kind, record=record))
            self.sale = None
            self.expect = None
            return self._suspend(text, [alert, WipeCard(record.txn_no)])
        self.advices = [a for a in self.advices if a.txn_no != record.txn_no]
        wipe = [WipeCard(record.txn_no)]
        self.sale = None
        self.expect = None
        self.problem = text
        if record.state is JournalState.APPROVED:
            self.reversals.append(PendingReversal(record.txn_no, record.stan, record.amount, "96"))
            head = [alert, *wipe, Show(screens.fit(("NOT RECORDED", "REVERSING...")))]
            return self._uplink(Then.SUSPENDED, head)
        if not any(r.txn_no == record.txn_no for r in self.reversals):
            self.reversals.append(PendingReversal(record.txn_no, record.stan, record.amount, "96"))
        return self._suspend(text, [alert, *wipe])

    def _suspend(self, text: str, head: list[Action]) -> Result:
        self.problem = text
        self.sale = None
        self.expect = None
        self.job = None
        self.print_queue = []
        return State.SUSPENDED, head + [CancelTimer(Timer.RESPONSE), Show(screens.suspended(self))]

    def _h_suspended_key(self, ev: KeyPressed, now: datetime) -> Result:
        if ev.key == ENTER:
            return State.SUSPENDED, [Show(screens.fit(("CHECKING STORAGE",))), CheckStorage()]
        return State.SUSPENDED, [Show(screens.suspended(self))]

    def _h_storage_ok(self, ev: StorageOk, now: datetime) -> Result:
        """Storage works again: resume from what is durable, exactly as after a restart."""
        self.problem = None
        self._resync(ev.boot)
        self.recovering = True
        head: list[Action] = [Alert("storage.ok", "storage works again")]
        if self.print_queue:
            return self._print_next(head)
        if self._queued() or self.network:
            return self._uplink(Then.IDLE, head)
        self.recovering = False
        return self._rest(head, note="STORAGE OK")
