"""Events: everything that can happen *to* the transaction core.

The runner turns device input, host frames, timer expiries and the failure of
an action into one of these and hands it to ``Terminal.handle``. None carries
card data: a swipe arrives as ``CardRead(CardFacts)`` after the runner sealed
the tracks, and a PIN as the bare fact ``PinEntered()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from firmware.core.batch import Settlement, Totals, UploadPlan
from firmware.core.model import BootState, CardFacts, Copy, OriginalFacts, SaleRecord, Timer

if TYPE_CHECKING:
    from firmware.core.actions import Action

__all__ = [
    "Event",
    "Booted",
    "KeyPressed",
    "CardRead",
    "CardUnreadable",
    "PinEntered",
    "PinBypassed",
    "PinCancelled",
    "PinProgress",
    "HostAnswered",
    "HostFrameRejected",
    "LinkDropped",
    "TimerExpired",
    "Printed",
    "ActionFailed",
    "StorageOk",
    "OriginalFound",
    "OriginalRefused",
    "OriginalUnknown",
    "RecordFound",
    "UploadRequested",
    "OperatorChecked",
    "BatchCounted",
    "SettleRequested",
    "ReportPrinted",
    "SignOnRequested",
    "SignOffRequested",
    "Tampered",
    "AccountProgress",
    "AccountRejected",
    "AccountCaptured",
    "AccountCancelled",
    "PrinterFault",
    "PrinterReady",
    "ReaderFailed",
    "PinPadFailed",
    "PinKeyLow",
]


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class Booted(Event):
    """Storage reports what survived: counters, due reversals, queued advices, owed receipts."""

    boot: BootState


@dataclass(frozen=True)
class KeyPressed(Event):
    """A key outside PIN entry: digits, ``#`` enter, ``*`` clear, ``X`` cancel, ``F`` function."""

    key: str


@dataclass(frozen=True)
class CardRead(Event):
    card: CardFacts


@dataclass(frozen=True)
class CardUnreadable(Event):
    code: str
    text: str  # what was wrong (CARD EXPIRED)
    step: str = "SWIPE AGAIN"  # what to do next (``hal.magstripe.policy.prompt``): USE ANOTHER CARD


@dataclass(frozen=True)
class PinEntered(Event):
    """The PIN pad holds an encrypted PIN block for this sale (the core never sees it)."""


@dataclass(frozen=True)
class PinBypassed(Event):
    pass


@dataclass(frozen=True)
class PinCancelled(Event):
    pass


@dataclass(frozen=True)
class PinProgress(Event):
    digits: int


@dataclass(frozen=True)
class AccountProgress(Event):
    """A transfer's destination account being keyed on the PIN pad: how many digits, and whether this
    is the second (confirming) keying. Never the digits."""

    digits: int
    confirming: bool = False


@dataclass(frozen=True)
class AccountRejected(Event):
    """The account keyed was refused by the pad (length, check digit, the two keyings differ): key it again."""

    code: str
    text: str


@dataclass(frozen=True)
class AccountCaptured(Event):
    """The runner sealed the destination account with the card; the core learns only its mask."""

    masked: str


@dataclass(frozen=True)
class AccountCancelled(Event):
    pass


@dataclass(frozen=True)
class HostAnswered(Event):
    """A decoded host message, reduced to non-sensitive facts (``firmware.host.messages.Reply``).

    ``arrival`` numbers the read of the link that brought it (the runner counts them): the frames of one
    read were all on the wire before the terminal sent anything in reply to any of them, so none of them
    can answer what the terminal sends in reply to another. None: not known (each its own arrival)."""

    reply: Any
    arrival: int | None = None


@dataclass(frozen=True)
class HostFrameRejected(Event):
    """A frame arrived that could not be decoded."""

    code: str
    text: str


@dataclass(frozen=True)
class LinkDropped(Event):
    """The connection closed or failed while an answer was awaited."""

    code: str
    text: str


@dataclass(frozen=True)
class TimerExpired(Event):
    timer: Timer


@dataclass(frozen=True)
class Printed(Event):
    txn_no: int
    copy: Copy


@dataclass(frozen=True)
class ActionFailed(Event):
    """An action could not be carried out. The runner dropped the actions after it.

    ``sent`` matters for sends: ``False`` when nothing left the terminal
    (the link never connected), ``None`` when the message may have gone.
    """

    action: Action
    code: str
    text: str
    sent: bool | None = None


@dataclass(frozen=True)
class StorageOk(Event):
    """Storage works again; ``boot`` is the durable state read back from it."""

    boot: BootState


@dataclass(frozen=True)
class OriginalFound(Event):
    """The answer to ``FindOriginal``: the original exists and may be voided."""

    original: OriginalFacts


@dataclass(frozen=True)
class OriginalRefused(Event):
    """The answer to ``FindOriginal``: no such original, or it may not be voided (``code`` says why)."""

    code: str
    text: str


@dataclass(frozen=True)
class OriginalUnknown(Event):
    """The answer to ``FindOriginal`` for a refund: the journal does not hold that RRN and date
    (an old batch, another terminal): nothing to check here, the host judges it."""


@dataclass(frozen=True)
class RecordFound(Event):
    """The answer to ``FindRecord``: the open batch's record with trace ``stan`` (None: there is none), and the
    trace of the approved void (a pre-auth's cancel, a completion's void) that has undone it since, if any."""

    stan: int
    record: SaleRecord | None = None
    voided_by: int | None = None


@dataclass(frozen=True)
class UploadRequested(Event):
    """The operator (or the CLI) asks to forward queued reversals and advices now."""


@dataclass(frozen=True)
class SignOnRequested(Event):
    """The operator asks for a sign-on (fresh working keys, the batch number)."""


@dataclass(frozen=True)
class SignOffRequested(Event):
    """The operator signs off: the working keys go out of use until the next sign-on."""


@dataclass(frozen=True)
class Tampered(Event):
    """The tamper line tripped or the zeroize command ran: destroy the keys, refuse everything."""

    source: str
    reason: str


@dataclass(frozen=True)
class BatchCounted(Event):
    """The answer to ``CountBatch``: the current batch's totals, from the journal, and how
    its upload would travel should the host find them unbalanced (the batch cannot change
    between the count and the host's answer: nothing else is allowed in between)."""

    totals: Totals
    plan: UploadPlan = field(default_factory=UploadPlan)


@dataclass(frozen=True)
class SettleRequested(Event):
    """The operator (or a scenario) asks to settle the current batch; confirmed on the totals screen."""


@dataclass(frozen=True)
class ReportPrinted(Event):
    """A settlement report left the printer."""

    settlement: Settlement
    reprint: bool = False


@dataclass(frozen=True)
class OperatorChecked(Event):
    """The answer to ``VerifyOperator``: ``ok``, or why not (``code``, and a display ``text``).

    The runner counts wrong passwords in storage before it answers: ``tries_left`` is
    how many more this operator has (None: not counted, e.g. an unknown number), and
    ``locked_for`` the whole seconds a lock-out still lasts (0: none), whether this
    answer began it (``operator.wrong_password``) or met it (``operator.locked_out``,
    no password checked)."""

    number: str
    purpose: str
    ok: bool
    code: str = "operator.ok"
    text: str = ""
    tries_left: int | None = None
    locked_for: int = 0


@dataclass(frozen=True)
class PrinterFault(Event):
    """A print or a status check failed (``printer.disconnected``, ``printer.paper_out`` ...): no transaction
    that prints starts until ``PrinterReady``."""

    code: str
    text: str


@dataclass(frozen=True)
class PrinterReady(Event):
    """A print or a status check succeeded after a ``PrinterFault``: the printer takes receipts again."""


@dataclass(frozen=True)
class ReaderFailed(Event):
    """The card reader failed (``reader.io_failed``: unplugged) while the terminal waited for the card."""

    code: str
    text: str


@dataclass(frozen=True)
class PinPadFailed(Event):
    """The PIN pad could not take or encrypt the PIN (``pinpad.dukpt.exhausted``: the DUKPT key is used up;
    ``storage.dukpt_state``: its state could not be written; ``pinpad.encrypt_failed`` ...) while the
    terminal waited for it: not the cardholder's cancel."""

    code: str
    text: str


@dataclass(frozen=True)
class PinKeyLow(Event):
    """The DUKPT PIN key has ``left`` counters, fewer than ``crypto.dukpt_reserve.LOW_COUNTERS`` (told at
    boot and after each idle top-up): a new initial key should be injected before it runs out. 0: none left
    (told at boot), the exhausted key's hold."""

    left: int
