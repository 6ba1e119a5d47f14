"""Actions: everything the transaction core asks the runner to do.

The runner carries out a batch of actions in order and stops at the first
that fails, feeding back ``ActionFailed``. The order inside a batch is the
durability order: ``OpenRequest`` (commit) comes before ``SendRequest``, and
``RecordOutcome`` (commit) before ``WipeCard`` and ``Print``.

Each persistent action is exactly one durable commit in ``storage.Store``.

This module is where every action is imported from (``__all__`` lists them all, and
the runner finds its carrier for each among this module's names). It declares those
that touch storage or the host link: the durable steps, the marks, the look-ups in
the journal and the messages sent, with ``PERSISTENT`` and ``ADVISORY``. Those carried
out on the terminal itself (screen, reader, PIN pad, printer, timers, log, clock) and
the root ``Action`` are declared in ``device_actions.py`` and named here again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware.core.batch import Settlement, UploadJob, UploadPlan
from firmware.core.device_actions import (
    Action,
    Alert,
    BeginAccount,
    BeginPin,
    CancelPin,
    CancelTimer,
    DisableReader,
    EnableReader,
    Note,
    Print,
    PrintReport,
    SetClock,
    Show,
    StartTimer,
    WipeCard,
)
from firmware.core.model import (
    Copy,
    Counters,
    JournalState,
    Kind,
    NetworkJob,
    OriginalRef,
    PendingAdvice,
    PendingReversal,
    SaleRecord,
)

__all__ = [
    "Action",
    "Show",
    "EnableReader",
    "DisableReader",
    "BeginPin",
    "BeginAccount",
    "CancelPin",
    "StartTimer",
    "CancelTimer",
    "OpenRequest",
    "SendRequest",
    "RecordOutcome",
    "WipeCard",
    "Print",
    "MarkPrinted",
    "SendReversal",
    "ReversalSending",
    "SettleSending",
    "ReversalDone",
    "SendAdvice",
    "AdviceSending",
    "AdviceDone",
    "AdviceOutcome",
    "CheckStorage",
    "FindOriginal",
    "FindRecord",
    "SaveCounters",
    "SendNetwork",
    "InstallWorkingKeys",
    "RemoveWorkingKeys",
    "Zeroize",
    "Alert",
    "Note",
    "SetClock",
    "UploadProgress",
    "Disconnect",
    "CountBatch",
    "CloseBatch",
    "PrintReport",
    "MarkReportPrinted",
    "SendUpload",
    "UploadDone",
    "VerifyOperator",
    "RecordSignIn",
    "PERSISTENT",
    "ADVISORY",
]


@dataclass(frozen=True)
class FindOriginal(Action):
    """Look up the original of a void by its trace in the current batch, and judge it.

    The runner answers ``OriginalFound`` or ``OriginalRefused`` (nothing is
    written). It keeps the original's card hash for ``txn_no``, the void's own
    journal number, so that the card swiped next can be checked against it.
    A refund names its original by ``reference`` (RRN and date) instead, in any
    batch; when the journal does not hold it the runner answers ``OriginalUnknown``.
    """

    kind: Kind
    stan: int
    batch: int
    txn_no: int
    reference: OriginalRef | None = None
    name = "find_original"


@dataclass(frozen=True)
class FindRecord(Action):
    """Look up the record with trace ``stan`` in the open batch ``batch``, for a reprint (``reprint.py``).

    The runner answers ``RecordFound`` (its ``record`` None when the batch holds no such trace); nothing
    is written and nothing sealed is read: the record is the journal's, its card already masked.
    """

    stan: int
    batch: int
    name = "find_record"


@dataclass(frozen=True)
class OpenRequest(Action):
    """Commit the record, its ready-made reversal and the counters. Before anything is sent."""

    record: SaleRecord
    counters: Counters
    name = "open_request"


@dataclass(frozen=True)
class SendRequest(Action):
    record: SaleRecord
    name = "send_request"


@dataclass(frozen=True)
class RecordOutcome(Action):
    """Commit the answer. ``reversal_reason`` set: the reversal becomes due; ``advice``: queue it."""

    record: SaleRecord
    copies: tuple[Copy, ...] = ()
    reversal_reason: str | None = None
    advice: bool = False
    name = "record_outcome"


@dataclass(frozen=True)
class MarkPrinted(Action):
    txn_no: int
    copy: Copy
    skipped: bool = False
    name = "mark_printed"


@dataclass(frozen=True)
class SendReversal(Action):
    reversal: PendingReversal
    repeat: bool = False
    name = "send_reversal"


@dataclass(frozen=True)
class SettleSending(Action):
    """Commit, before the open batch's 0500 leaves, that its settlement is under way (``True``), or
    that the host has answered one (``False``: refused; an approval's ``CloseBatch`` clears it). A
    settlement the host may have closed while the terminal never heard must be settled again
    before the batch takes another transaction (settle.py)."""

    batch: int
    sending: bool = True
    name = "settle_sending"


@dataclass(frozen=True)
class ReversalSending(Action):
    """Note 'sent at least once' before a reversal's first transmission, so that after a restart
    every attempt is a repeat (0401). Advisory: without an fsync of its own (like a printed mark);
    if it cannot be written the reversal goes all the same (a full disk must not hold one back),
    and the worst is a repeat sent as a first 0400, as before the mark existed."""

    txn_no: int
    reason: str
    name = "reversal_sending"


@dataclass(frozen=True)
class ReversalDone(Action):
    """The host acknowledged the reversal (with ``response_code``); ``reason`` is why we reversed."""

    txn_no: int
    response_code: str | None
    reason: str = "98"
    name = "reversal_done"


@dataclass(frozen=True)
class SendAdvice(Action):
    """Send a stored offline sale; ``repeat``: an earlier attempt may have reached the host (0221)."""

    advice: PendingAdvice
    repeat: bool = False
    name = "send_advice"


@dataclass(frozen=True)
class AdviceSending(Action):
    """Commit 'sent at least once' before the first transmission, so retries use the repeat MTI.

    ``more``: the rest of a window of advices (``host.upload_window``), marked in the
    same ONE commit before any of the window's frames leave.
    """

    txn_no: int
    more: tuple[int, ...] = ()
    name = "advice_sending"

    @property
    def txn_nos(self) -> tuple[int, ...]:
        return (self.txn_no, *self.more)


@dataclass(frozen=True)
class AdviceDone(Action):
    """ONE commit: a stored advice (an offline sale or completion) was answered; its queue entry is closed.

    The answer names the host's reference for the transaction (its RRN; an acceptance's authorisation
    code and settlement date too), which the journal takes where it has none of its own: a refund or a void keyed
    by that RRN then finds the sale here, and its checks (what was refunded, whether it was voided,
    whether the host refused the advice) hold for it as for any sale. ``accepted`` is the core's verdict on the answer (an approved code of
    the profile, or 94), which storage keeps beside the code: the totals count what the core counted."""

    txn_no: int
    response_code: str | None
    accepted: bool
    rrn: str | None = None
    auth_code: str | None = None
    settle_date: str | None = None
    name = "advice_done"


@dataclass(frozen=True)
class AdviceOutcome(Action):
    """ONE commit: a request re-sent as an advice (a refund) got its answer at last.

    Its journal record takes the host's outcome and its queue entry is closed; an
    accepted one owes ``copies`` (committed here, before they print, as for any outcome).
    """

    txn_no: int
    state: JournalState
    response_code: str | None
    rrn: str | None = None
    auth_code: str | None = None
    settle_date: str | None = None
    copies: tuple[Copy, ...] = ()
    name = "advice_outcome"


@dataclass(frozen=True)
class SaveCounters(Action):
    """Commit the counters alone: a network message's STAN is durable before it is sent."""

    counters: Counters
    name = "save_counters"


@dataclass(frozen=True)
class SendNetwork(Action):
    """Send a sign-on (0800) or sign-off (0820)."""

    job: NetworkJob
    batch: int
    name = "send_network"


@dataclass(frozen=True)
class InstallWorkingKeys(Action):
    """Check (against the host's check values) and install the keys of the sign-on answer just received.

    ``counters`` carries the batch number the host assigned, committed with the keys.
    """

    counters: Counters
    name = "install_working_keys"


@dataclass(frozen=True)
class RemoveWorkingKeys(Action):
    name = "remove_working_keys"


@dataclass(frozen=True)
class Zeroize(Action):
    """Destroy every key (tamper): the runner drops its in-memory keys too."""

    source: str
    reason: str
    name = "zeroize"


@dataclass(frozen=True)
class CheckStorage(Action):
    name = "check_storage"


@dataclass(frozen=True)
class UploadProgress(Action):
    """The host acknowledged the batch upload's messages before ``part`` (0 after a refusal: all again): an
    upload interrupted by silence or a power cut goes on from there. A note, not a durable step: losing it
    costs a repeat of messages the host takes again as the same upload, never a record (storage keeps the
    plan's digest with it, so it applies to this plan only)."""

    batch: int
    part: int
    plan: UploadPlan
    name = "upload_progress"


@dataclass(frozen=True)
class Disconnect(Action):
    name = "disconnect"


@dataclass(frozen=True)
class CountBatch(Action):
    """Total the batch from the journal (nothing is written); the runner answers ``BatchCounted``."""

    batch: int
    name = "count_batch"


@dataclass(frozen=True)
class CloseBatch(Action):
    """ONE commit: the settlement (totals and the host's result) and the counters of the new batch.

    Before the report prints: a power cut leaves the old batch open (settle again)
    or the new one open with the report owed, never a batch closed without its totals.
    """

    settlement: Settlement
    counters: Counters
    name = "close_batch"


@dataclass(frozen=True)
class MarkReportPrinted(Action):
    batch: int
    name = "mark_report_printed"


@dataclass(frozen=True)
class SendUpload(Action):
    """Send one 0320 of a closed batch's upload (the runner builds it from the journal, opening
    each transaction's sealed card number for the length of the call)."""

    job: UploadJob
    name = "send_upload"


@dataclass(frozen=True)
class UploadDone(Action):
    """Commit that the batch upload completed (the host acknowledged its end message). Before the report prints."""

    batch: int
    name = "upload_done"


@dataclass(frozen=True)
class VerifyOperator(Action):
    """Check an operator's password against its stored hash (``storage.operators``).

    The runner answers ``OperatorChecked`` (nothing is written) and wipes ``password``
    once checked. ``purpose`` is ``operators.SIGN_IN`` or the guarded function's name.
    """

    number: str
    password: Any  # crypto.passwords.Password: masked in any repr
    purpose: str
    name = "verify_operator"


@dataclass(frozen=True)
class RecordSignIn(Action):
    """Commit who is signed in (``number``; None: nobody) before the screen says so: a power
    cut keeps the cashier's shift; a sign-out or a settlement ends it (``storage.operators``)."""

    number: str | None
    name = "record_sign_in"


# Actions that commit to storage: the benchmark and the crash test count on these.
PERSISTENT = (
    OpenRequest,
    RecordOutcome,
    ReversalDone,
    SettleSending,
    AdviceSending,
    AdviceDone,
    AdviceOutcome,
    CheckStorage,
    SaveCounters,
    InstallWorkingKeys,
    CloseBatch,
    UploadDone,
    RecordSignIn,
)

# Actions whose failure must not stop a money flow: the runner logs it and carries
# on with the batch instead of feeding ActionFailed back. (A dead display must not
# keep an approved sale's receipt from printing; a receipt mark that did not stick
# only means a reprint after a restart.)
ADVISORY = (Show, Alert, Note, StartTimer, CancelTimer, Disconnect, MarkPrinted, DisableReader, CancelPin, WipeCard,
            MarkReportPrinted, ReversalSending, SetClock, UploadProgress)
