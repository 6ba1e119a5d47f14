"""What the core does when an action fails: each kind of failure leaves the terminal idle
and usable, or refusing sales safely (SUSPENDED), and never loses a record.

The runner stops a batch of actions at the first that fails and feeds it back as
``ActionFailed``; the handlers here decide by the action that failed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from firmware.core import screens
from firmware.core.actions import (
    Action,
    AdviceDone,
    AdviceOutcome,
    AdviceSending,
    SettleSending,
    Alert,
    BeginAccount,
    BeginPin,
    CancelTimer,
    CheckStorage,
    CloseBatch,
    CountBatch,
    EnableReader,
    FindOriginal,
    FindRecord,
    InstallWorkingKeys,
    Note,
    OpenRequest,
    Print,
    PrintReport,
    RecordOutcome,
    RecordSignIn,
    RemoveWorkingKeys,
    ReversalDone,
    ReversalSending,
    SaveCounters,
    SendAdvice,
    SendNetwork,
    SendRequest,
    SendReversal,
    SendUpload,
    Show,
    UploadDone,
    VerifyOperator,
    WipeCard,
    Zeroize,
)
from firmware.core.events import ActionFailed, KeyPressed, StorageOk
from firmware.core.flows import Recovery, flow_of
from firmware.core.menu import ENTER
from firmware.core.model import BatchHeld, JournalState, NetworkKind, PendingAdvice, PendingReversal, SaleRecord, State, Timer
from firmware.core.uplink import Then

__all__ = ["FailureMixin", "RING_CHANGED"]

RING_CHANGED = "keys.ring_changed"  # crypto.keyring's code: the key ring was written by another program

Result = tuple[State, list[Action]]


class FailureMixin:
    """The failures handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

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
            state, actions = self._print_failed(ev)
            return state, [alert] + actions
        if isinstance(a, EnableReader):
            state, actions = self._idle("CARD READER FAULT", self._cause(ev))
            return state, [alert] + actions
        if isinstance(a, (BeginPin, BeginAccount)):
            wipe = self._wipe()
            state, actions = self._idle("PIN PAD FAULT", self._cause(ev))
            return state, [alert] + wipe + actions
        if isinstance(a, RecordOutcome):
            return self._outcome_not_recorded(a.record, ev.code, alert)
        if isinstance(a, CountBatch):  # the journal could not be read: nothing was written
            self.totals = None
            state, actions = self._rest([alert], note="JOURNAL ERROR")
            return state, actions
        if isinstance(a, CloseBatch):  # not closed: the batch stays open (settle again once storage works)
            self.report = self.upload = None
            if self.settings.operators.required and self.operator is None:  # nor did the shift end
                self.operator = a.settlement.operator
            self.counters = replace(self.counters, batch=a.settlement.batch)
            totals = a.settlement.totals
            self.batch_held = self.batch_held.at_least(BatchHeld(totals.debit_count, totals.debit_amount,
                                                                 totals.credit_count, totals.credit_amount))
            return self._suspend(ev.code, [alert])
        if isinstance(a, UploadDone):  # still owed in storage: sent again (from the start) once storage works
            self.report = None
            return self._suspend(ev.code, [alert])
        if isinstance(a, PrintReport):  # owed durably: printed again at the next start
            state, actions = self._rest([alert], note="REPORT NOT PRINTED")
            return state, actions
        if isinstance(a, RecordSignIn):  # not saved: a sign-in is refused; a sign-out stands (in memory)
            self.operator = None
            state, actions = self._idle("SIGN-IN NOT SAVED" if a.number else "SIGN-OUT NOT SAVED", self._cause(ev))
            return state, [alert] + actions
        if isinstance(a, VerifyOperator):  # the operators could not be read: nobody signed in, nothing started
            self._op_forget()
            state, actions = self._idle("PASSWORD NOT CHECKED", self._cause(ev))
            return state, [alert] + actions
        if isinstance(a, FindOriginal):  # the journal could not be read: nothing was written
            undone = flow_of(a.kind).undone  # on 2 rows, the cause is in the alert
            state, actions = self._idle("JOURNAL ERROR", self._cause(ev), undone, short=("JOURNAL ERROR", undone))
            return state, [alert] + actions
        if isinstance(a, FindRecord):  # the journal could not be read: nothing printed (reprint.py)
            return self._reprint_failed([alert])
        if isinstance(a, SendNetwork):
            if ev.sent is False and a.job.kind is NetworkKind.SETTLE:  # a 0500 that never left cannot be unheard
                self._settle_left = False
            state, actions = self._uplink_failed(ev.text, now)
            return state, [alert] + actions
        if isinstance(a, InstallWorkingKeys | RemoveWorkingKeys) and ev.code == RING_CHANGED:
            # another program wrote the key ring since this one read it (crypto.keyring): nothing was
            # written over it, and the keys held here may be the ones it replaced. Refuse every sale
            # until a restart loads the ring on disk; queued records stay in the journal for then.
            wipe = self._wipe()
            return self._lock("key ring changed on disk; restart", [alert] + wipe)
        if isinstance(a, InstallWorkingKeys):  # a check value did not match: nothing was installed
            self.keys = self._keys_before
            # nor the host's batch number (AU10): storage did not save it, or saved and archived it, and the
            # open batch goes on under the number it had (only the batch: the STANs taken stay taken)
            self.counters = replace(self.counters, batch=self._batch_before)
            self.job = None
            self.network = None
            wipe = self._wipe()  # a sale that waited for this sign-on ends here: nothing of it was sent
            self.sale = None
            self.expect = None
            return self._rest([alert] + wipe, note="SIGN-ON FAILED")
        if isinstance(a, RemoveWorkingKeys):
            return State.SIGNED_OFF, [alert, Show(screens.signed_off(self, "SIGNED OFF"))]
        if isinstance(a, Zeroize):
            return self._lock(self.lock_reason or "tamper", [alert])
        if isinstance(a, OpenRequest) and not ev.code.startswith("storage."):
            # the request or its reversal cannot be built for this card: nothing was written or sent, so its
            # place and amount in the open batch are free again (storage never counted it)
            self._uncounted(a.record)
            wipe = self._wipe()
            title = flow_of(a.record.kind).title
            state, actions = self._idle(f"CANNOT SEND {title}", self._cause(ev))
            return state, [alert] + wipe + actions
        if isinstance(a, OpenRequest | ReversalDone | AdviceSending | AdviceDone | AdviceOutcome | CheckStorage
                      | SaveCounters | SettleSending):
            wipe = self._wipe() if isinstance(a, OpenRequest) else []
            return self._suspend(ev.code, [alert] + wipe)
        return self.state, [Note(ev.code, f"{a.name} failed: {ev.text}")]

    def _outcome_not_recorded(self, record: SaleRecord, code: str, alert: Alert) -> Result:
        """The answer could not be committed: never print it; reverse what the host may have booked
        (cup's refund's repeat stays queued instead: the host answers it again once storage works)."""
        self.print_queue = []
        recovery = self.settings.recovery(record.kind)
        if recovery is not Recovery.REVERSAL:
            if recovery is Recovery.ADVICE and not any(a.txn_no == record.txn_no for a in self.advices):
                self.advices.insert(0, PendingAdvice(record.txn_no, record.stan, record.amount, record.when,
                                                     sent_before=True, kind=record.kind, record=record))
            self.sale = None
            self.expect = None
            return self._suspend(code, [alert, WipeCard(record.txn_no)])
        self.advices = [a for a in self.advices if a.txn_no != record.txn_no]
        wipe = [WipeCard(record.txn_no)]
        self.sale = None
        self.expect = None
        self.problem = code
        if record.state is JournalState.APPROVED:
            self.reversals.append(self._reversal_of(record, "96"))
            self._keep_reason(record.txn_no)
            head = [alert, *wipe, Show(screens.shown(self, ("NOT RECORDED", "REVERSING...")))]
            return self._uplink(Then.SUSPENDED, head)
        if not any(r.txn_no == record.txn_no for r in self.reversals):
            self.reversals.append(self._reversal_of(record, "96"))
        self._keep_reason(record.txn_no)
        return self._suspend(code, [alert, *wipe])

    def _keep_reason(self, txn_no: int) -> None:
        """Storage holds this request's reversal armed in its row, reason 98 ("no answer"), and the reason
        chosen here (96: the host did answer) lives only in memory: the mark that would record it
        (``ReversalSending``) is advisory and a full disk refuses it. Remembered until storage works again."""
        self.unkept_reasons[txn_no] = next(r.reason for r in self.reversals if r.txn_no == txn_no)

    def _restore_reasons(self, before: dict[int, PendingReversal]) -> list[Action]:
        """Each reversal storage gives back whose reason only memory kept takes that reason again, and
        counts as sent if it went before the fault (memory sent it, or it was answered and then its
        ``ReversalDone`` failed): its next attempt is the repeat it is, 0401, and the mark the full disk
        refused is written now, so a restart from here on keeps both. Its ``ReversalDone`` records the reason."""
        kept, self.unkept_reasons = self.unkept_reasons, {}
        marks: list[Action] = []
        for i, r in enumerate(self.reversals):
            reason = kept.get(r.txn_no)
            if reason is None:
                continue
            went = before[r.txn_no].sent_before if r.txn_no in before else True  # gone from memory: answered
            fixed = replace(r, reason=reason, sent_before=r.sent_before or went)
            if fixed == r:
                continue
            self.reversals[i] = fixed
            if fixed.sent_before:  # one not yet sent is marked by the uplink, with this reason, before it goes
                marks.append(ReversalSending(r.txn_no, reason))
        return marks

    def _cause(self, ev: ActionFailed) -> str:
        """The failure's cause on the screen, read from its code; its whole text is in the alert."""
        return screens.cause(ev.code, self.settings.display_cols)

    def _suspend(self, code: str, head: list[Action]) -> Result:
        """Sales stop until storage works again (the alert in ``head`` has the error's text; the screen its
        cause, ``screens.cause``)."""
        self.problem = code
        self.sale = None
        self.expect = None
        self.job = None
        self.print_queue = []
        return State.SUSPENDED, head + [CancelTimer(Timer.RESPONSE), Show(screens.suspended(self))]

    def _h_suspended_key(self, ev: KeyPressed, now: datetime) -> Result:
        if ev.key == ENTER:
            return State.SUSPENDED, [Show(screens.shown(self, ("CHECKING STORAGE",))), CheckStorage()]
        return State.SUSPENDED, [Show(screens.suspended(self))]

    def _h_storage_ok(self, ev: StorageOk, now: datetime) -> Result:
        """Storage works again: resume from what is durable, exactly as after a restart, but for the
        reversal reasons (and marks) that only memory kept."""
        self.problem = None
        before = {r.txn_no: r for r in self.reversals}
        self._resync(ev.boot)
        self.recovering = True
        head: list[Action] = [Alert("storage.ok", "storage works again"), *self._restore_reasons(before)]
        if self.print_queue:
            return self._print_next(head)
        if self._queued() or self.network:
            return self._uplink(Then.IDLE, head)
        self.recovering = False
        return self._rest(head, note="STORAGE OK")
