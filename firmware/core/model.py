"""Plain data the transaction core works with. No card data lives here.

The core sees a card only as ``CardFacts`` (masked PAN and the service-code
facts); the clear tracks, PAN and PIN block stay sealed in the runner. Every
record here is therefore safe to log, print and persist as-is.

A batch's close (its totals, the settlement, the batch upload) is in ``batch.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from firmware.core.batch import OwedUpload, Settlement, Totals, UploadPlan

__all__ = [
    "AdviceAnswer",
    "BatchHeld",
    "State",
    "Timer",
    "Copy",
    "JournalState",
    "Kind",
    "EntryMode",
    "Counters",
    "CardFacts",
    "SaleRecord",
    "PendingReversal",
    "PendingAdvice",
    "PrintJob",
    "OriginalFacts",
    "OriginalRef",
    "BootState",
    "KeyState",
    "NetworkKind",
    "NetworkJob",
    "STAN_MAX",
]

STAN_MAX = 999999


class State(enum.Enum):
    """Where the terminal is. The transition table in ``table.py`` is keyed on these."""

    BOOTING = "booting"  # waiting for storage to report what survived the last run
    IDLE = "idle"
    AMOUNT = "amount"  # cashier keys the amount
    CARD = "card"  # waiting for a swipe
    PIN = "pin"  # the PIN pad owns the keys until the PIN is entered
    AUTHORISING = "authorising"  # request committed and sent; waiting for the answer
    UPLINK = "uplink"  # delivering queued reversals/advices (before a request, or when idle)
    PRINTING = "printing"
    RECEIPT_HELD = "receipt_held"  # the printer failed; the operator retries or skips
    SUSPENDED = "suspended"  # storage failed: sales refused until it works again
    MENU = "menu"  # the function menu: upload, sign on, sign off, void, settle
    TRACE = "trace"  # cashier keys the original's trace number (a void)
    LOOKUP = "lookup"  # the runner looks the original up in the journal
    CONFIRM = "confirm"  # the original's amount and card are shown: ENTER goes on, X cancels
    REFERENCE = "reference"  # cashier keys a refund's original reference number (RRN), or a pre-auth's auth code
    ORIGINAL_DATE = "original_date"  # then the original's date, MMDD (the runner looks it up next)
    COUNTING = "counting"  # the runner totals the batch from the journal (a settlement)
    TOTALS = "totals"  # the batch totals are shown: ENTER settles, X cancels
    SIGNED_OFF = "signed_off"  # no working keys: sales refused until a sign-on succeeds
    LOCKED = "locked"  # keys destroyed (tamper) or never provisioned: everything refused
    SIGN_IN = "sign_in"  # a cashier keys the operator number, then the password (operators.py)
    SUPERVISOR = "supervisor"  # the supervisor's password before a guarded function (operators.py)
    CHECKING = "checking"  # the runner checks a password (VerifyOperator)
    ACCOUNT = "account"  # the PIN pad owns the keys: a transfer's destination account, keyed twice (transfer.py)
    REPRINT = "reprint"  # the cashier keys the trace of a receipt to reprint, or ENTER alone: the newest (reprint.py)
    REPRINT_LOOKUP = "reprint_lookup"  # the runner looks that trace up in the open batch (FindRecord)

    # Hashed by identity, as members compare, in C: ``enum.Enum.__hash__`` is Python code, and a sale looks a
    # state up some 36 times (the transition table, INPUT_STATES). Not a member: enum skips dunder names.
    __hash__ = object.__hash__


class Timer(enum.Enum):
    INPUT = "input"  # amount, card or PIN not entered in time
    RESPONSE = "response"  # the host did not answer in time
    UPLOAD = "upload"  # retry queued reversals and advices while idle
    MESSAGE = "message"  # return from a result message to the idle screen

    __hash__ = object.__hash__  # as State's: the runner's timers are a dict keyed on these, 13 look-ups a sale


class Copy(str, enum.Enum):
    MERCHANT = "merchant"
    CARDHOLDER = "cardholder"


class JournalState(str, enum.Enum):
    """The life of one journal record, as stored."""

    REQUESTED = "requested"  # record and reversal committed; request may be on the wire
    APPROVED = "approved"
    DECLINED = "declined"  # by the host, or refused offline (see ``reason``)
    OFFLINE_APPROVED = "offline_approved"  # stored for forwarding
    REVERSING = "reversing"  # the answer was unusable; the reversal is due
    REVERSED = "reversed"  # the host acknowledged the reversal
    LOST = "lost"  # its reversal or advice can no longer be sent (keys destroyed): reconcile by hand


class Kind(str, enum.Enum):
    """Transaction kinds, for the journal and the host profiles (``TxnKind`` there).

    SALE, VOID, REFUND, BALANCE and the pre-authorisation family (PREAUTH, its cancel
    PREAUTH_VOID, its completion PREAUTH_COMPLETE and the completion's void) and TRANSFER are built.
    OFFLINE_SALE, PREAUTH_COMPLETE_ADVICE and SIGN_ON name messages (the advice of an offline-approved
    sale, that of a completion made without the host (预授权完成通知), the 0800), never a journal record:
    an offline sale is journalled as a SALE, an offline completion as a PREAUTH_COMPLETE.
    """

    SALE = "sale"
    VOID = "void"
    REFUND = "refund"
    PREAUTH = "preauth"
    PREAUTH_VOID = "preauth_void"
    PREAUTH_COMPLETE = "preauth_complete"
    PREAUTH_COMPLETE_VOID = "preauth_complete_void"
    BALANCE = "balance"
    TRANSFER = "transfer"  # 转账: card to a keyed account (firmware/core/transfer.py)
    OFFLINE_SALE = "offline_sale"
    PREAUTH_COMPLETE_ADVICE = "preauth_complete_advice"
    SIGN_ON = "sign_on"


class EntryMode(str, enum.Enum):
    SWIPE = "swipe"
    FALLBACK = "fallback"  # magstripe read of a chip card, allowed by policy
    MANUAL = "manual"
    CHIP = "chip"
    CONTACTLESS = "contactless"


class KeyState(str, enum.Enum):
    """What the key ring allows, as the runner found it at start-up."""

    READY = "ready"  # working keys loaded: sales possible
    NEED_SIGN_ON = "need_sign_on"  # master key present, no working keys: sign on first
    LOCKED = "locked"  # zeroized by tamper, or never provisioned


class NetworkKind(enum.Enum):
    SIGN_ON = "sign_on"
    SIGN_OFF = "sign_off"
    SETTLE = "settle"


@dataclass(frozen=True)
class NetworkJob:
    """A network management message (0800 sign-on, 0820 sign-off, 0500 settlement) on the uplink."""

    kind: NetworkKind
    stan: int
    amount: None = None
    totals: Totals | None = None  # a settlement's totals, as counted before it was confirmed
    plan: UploadPlan | None = None  # and the upload that follows should the host find them unbalanced


@dataclass(frozen=True)
class Counters:
    """Durable counters. The core advances them; storage commits them with the record."""

    stan: int = 1  # the next STAN to use
    batch: int = 1
    txn_no: int = 1  # the next journal number

    def take_stan(self) -> tuple[int, Counters]:
        """The STAN to use now and the counters after it (1..999999, then wraps to 1)."""
        stan = self.stan
        return stan, Counters(stan % STAN_MAX + 1, self.batch, self.txn_no)  # replace() costs 3 times as much

    def take_txn_no(self) -> tuple[int, Counters]:
        """The journal number to use now and the counters after it."""
        return self.txn_no, Counters(self.stan, self.batch, self.txn_no + 1)


@dataclass(frozen=True)
class CardFacts:
    """What the core may know about a card: nothing that identifies it beyond a mask."""

    masked_pan: str
    expiry: str  # YYMM
    service_code: str | None = None
    pin_required: bool = False
    online_only: bool = False
    entry_mode: EntryMode = EntryMode.SWIPE


@dataclass(frozen=True)
class OriginalFacts:
    """The transaction a void or a refund refers to, as the journal holds it.

    Safe facts only: the runner keeps the original's card hash to itself, to
    check that the card swiped for the void is the same one.
    """

    txn_no: int
    kind: Kind
    amount: int
    currency: str
    stan: int
    batch: int
    when: datetime
    masked_pan: str
    rrn: str | None = None
    auth_code: str | None = None
    refunded: int = 0  # a refund's original: what approved or unresolved refunds of it already take back
    refund_pending: int = 0  # of which unresolved: keyed, not yet answered (a power cut, no link): still to go

    @property
    def date(self) -> str:
        """The original's local date, MMDD (cup field 61.3)."""
        return self.when.strftime("%m%d")

    @property
    def refundable(self) -> int:
        return max(self.amount - self.refunded, 0)


@dataclass(frozen=True)
class OriginalRef:
    """How a refund names its original: the reference number (RRN) and local date (MMDD) the
    cashier keyed from the sale's receipt. The sale may be in an old batch or on another
    terminal, so this, not a journal number, is what goes to the host (fields 37 and 61).

    A pre-auth's cancel or completion names it by its authorisation code and date instead
    (``auth_code``; ``rrn`` is then empty): fields 38 and 61.3."""

    rrn: str
    date: str
    auth_code: str = ""


@dataclass(frozen=True)
class AdviceAnswer:
    """The host's answer to a stored advice (an offline sale or completion): what a reprint of its receipt
    says of it. ``accepted`` is the core's verdict when it came (an approved code of the profile, or 94
    "already had it"), kept with the code so that receipts and the settlement's totals count what the
    core counted (``storage.journal.ADVICE_ACCEPTED``), whatever the profile."""

    code: str | None
    accepted: bool


@dataclass(frozen=True)
class SaleRecord:
    """One journal record as the core and storage see it (no card data)."""

    txn_no: int
    amount: int
    stan: int
    batch: int
    when: datetime
    masked_pan: str
    kind: Kind = Kind.SALE
    currency: str = "156"
    terminal_id: str = ""
    merchant_id: str = ""
    operator: str = ""
    entry_mode: EntryMode = EntryMode.SWIPE
    pin_entered: bool = False
    state: JournalState = JournalState.REQUESTED
    response_code: str | None = None
    rrn: str | None = None
    auth_code: str | None = None
    settle_date: str | None = None
    reason: str | None = None  # why declined or reversed: a response code or an error code
    original: OriginalFacts | None = None  # what a void refers to (None for a sale)
    reference: OriginalRef | None = None  # what a refund names (its original, when the journal has it, above)
    account: str | None = None  # a transfer's destination account, masked (first 6 / last 4): never the clear one
    advice: AdviceAnswer | None = None  # a record approved offline: the host's answer to its advice (None: not yet)
    # Of an archived batch (storage.archive): ``batch`` is the number the host knew, which the open batch
    # may carry again; such a record never takes or gives back room in the open batch (Terminal._uncounted).
    earlier: bool = False

    def changed(self, **changes: Any) -> SaleRecord:
        """``dataclasses.replace(self, **changes)`` at a third of its cost (every answer makes one): the record's
        ``__dict__`` holds its fields and nothing else (no InitVar, no field outside ``__init__``)."""
        return SaleRecord(**{**self.__dict__, **changes})


@dataclass(frozen=True)
class PendingReversal:
    txn_no: int
    stan: int
    amount: int
    reason: str = "98"
    sent_before: bool = False  # transmitted at least once, perhaps before a power cut: every attempt is a repeat
    # The record's kind, and the open batch whose totals count it until this reversal is done, which gives
    # its room back (Terminal._uncount); None when no batch counts it (not in totals, or of an archived batch).
    kind: Kind = Kind.SALE
    counted_in: int | None = None


@dataclass(frozen=True)
class PendingAdvice:
    txn_no: int
    stan: int
    amount: int
    created_at: datetime
    sent_before: bool = False  # True: at least one attempt left the terminal, so use the repeat MTI
    kind: Kind = Kind.SALE  # an offline sale or completion (flows.STORED_ADVICE), or a refund re-sent until answered
    record: SaleRecord | None = None  # a re-sent request's record: its receipt prints when the answer comes


@dataclass(frozen=True)
class PrintJob:
    record: SaleRecord
    copy: Copy
    recovered: bool = False  # printing after a power cut: marked on the receipt
    reprint: bool = False  # printed again on request (function menu): marked, and never marks the copy
    late: bool = False  # the host answered only when the request was sent again: marked on the receipt
    again: bool = False  # held after a failure that may have left this copy on paper whole: marked (printing.py)
    voided_by: int | None = None  # a reprint of a record an approved void (a cancel) has undone since: that void's trace


@dataclass(frozen=True)
class BatchHeld:
    """What the open batch holds, on each side of its settlement's totals: the debits (sales, completions)
    and the credits (``Flow.refund``: voids, refunds, completion voids). A settlement counts and totals each
    side on its own (cup: n3 and n12 a side; iso87: n10 and n16), so each side has its own room; storage
    counts them the same way at boot (``batch_held``)."""

    debit_count: int = 0
    debit_amount: int = 0
    credit_count: int = 0
    credit_amount: int = 0

    @property
    def count(self) -> int:
        return self.debit_count + self.credit_count

    def side(self, credit: bool) -> tuple[int, int]:
        """(count, amount) of the credits or the debits."""
        return (self.credit_count, self.credit_amount) if credit else (self.debit_count, self.debit_amount)

    def plus(self, credit: bool, amount: int, times: int = 1) -> BatchHeld:
        """``times`` more (or, negative, fewer) transactions of ``amount`` on one side; never below nothing."""
        count, total = self.side(credit)
        count, total = max(0, count + times), max(0, total + times * amount)
        if credit:  # made directly: replace() costs 3 times as much, once a sale
            return BatchHeld(self.debit_count, self.debit_amount, count, total)
        return BatchHeld(count, total, self.credit_count, self.credit_amount)

    def at_least(self, other: BatchHeld) -> BatchHeld:
        """Each figure the larger of the two."""
        return BatchHeld(*(max(a, b) for a, b in zip(self._figures(), other._figures())))

    def _figures(self) -> tuple[int, int, int, int]:
        return self.debit_count, self.debit_amount, self.credit_count, self.credit_amount


@dataclass(frozen=True)
class BootState:
    """What storage hands the core at start-up: enough to resume safely."""

    counters: Counters = field(default_factory=Counters)
    reversals: tuple[PendingReversal, ...] = ()
    advices: tuple[PendingAdvice, ...] = ()
    receipts: tuple[PrintJob, ...] = ()
    interrupted: tuple[int, ...] = ()  # journal numbers left REQUESTED by a power cut
    keys: KeyState = KeyState.READY  # filled in by the runner from the key ring
    lock_reason: str | None = None
    report: Settlement | None = None  # a settlement whose report a power cut kept from printing
    upload: OwedUpload | None = None  # a closed batch whose upload is owed (its report waits for it)
    last_report: Settlement | None = None  # the newest settlement: what the menu reprints
    last_receipt: SaleRecord | None = None  # the newest transaction that printed receipts: likewise
    operator: str | None = None  # the cashier signed in when the power went (operators.required)
    batch_held: BatchHeld = BatchHeld()  # the open batch's transactions its settlement may count (Flow.in_totals)
    settle_interrupted: bool = False  # the open batch's 0500 went and no answer was recorded (settle.py)
    latest: datetime | None = None  # the newest journal record's time: no transaction is dated before it (clock.py)
    opened: datetime | None = None  # the open batch's first transaction its settlement counts: its age (overdue.py)
