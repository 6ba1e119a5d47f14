"""The uplink: everything the terminal sends that is not a sale's own request.

Queued reversals, stored offline sales (advices), the batch upload of a
closed batch, and network management (sign-on 0800, sign-off 0820, settlement
0500) all travel through the UPLINK state, in this order:

1. a sign-on: when there are no working keys (nothing can be MACed without them), when
   the operator asks for one, or when the host's answers show that its keys are not the
   terminal's (``_keys_suspect``: a sign-on whose answer was lost). A sign-on moves no
   money, and a reversal MACed under keys the host no longer holds can never be
   acknowledged, so it goes first;
2. every queued reversal (before any other financial message);
3. the stored offline sales, when the terminal is otherwise idle;
4. an owed batch upload (0320s, then its end message), likewise;
5. a sign-off or a settlement, last.

A reversal is closed only by an answer that says it is done (``Profile.reversal_done_codes``:
reversed, no such original, already reversed); any other answer counts as a failed attempt.

Every message goes one at a time, except the stored offline sales: up to
``upload_window`` of them are in flight at once, their answers matched in any
order (``window.py``). Each message is retried up to ``reversal_retries`` times
on silence or a failed link; then it stays queued, the operator is alerted, and
the terminal carries on (a waiting sale goes to its offline decision).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from firmware.core import screens
from firmware.core.actions import (
    Action,
    Alert,
    CancelTimer,
    Disconnect,
    InstallWorkingKeys,
    Note,
    RemoveWorkingKeys,
    ReversalDone,
    ReversalSending,
    SaveCounters,
    SendNetwork,
    SendReversal,
    SendUpload,
    SettleSending,
    Show,
    StartTimer,
)
from firmware.core.batch import UploadJob
from firmware.core.events import HostAnswered, LinkDropped, TimerExpired
from firmware.core.model import (
    KeyState,
    NetworkJob,
    NetworkKind,
    PendingAdvice,
    PendingReversal,
    State,
    Timer,
)
from firmware.core.window import Window, WindowMixin, resolve_remedy
from firmware.host.messages import Expectation, mac_problem, mismatch, other_amount
from firmware.host.spec import Mtis

__all__ = ["Then", "Job", "UplinkMixin", "NETWORK_MTI", "UPLOAD_MTI"]

Item = PendingReversal | NetworkJob | UploadJob  # one at a time; advices travel in a window.Window
Result = tuple[State, list[Action]]

NETWORK_MTI = {NetworkKind.SIGN_ON: "0800", NetworkKind.SIGN_OFF: "0820", NetworkKind.SETTLE: "0500"}
NETWORK_TITLE = {NetworkKind.SIGN_ON: "SIGN ON", NetworkKind.SIGN_OFF: "SIGN OFF", NetworkKind.SETTLE: "SETTLEMENT"}
UPLOAD_MTI = "0320"  # batch upload (批上送), answered 0330


class Then(enum.Enum):
    """Where the terminal goes once the uplink queue is delivered (or given up)."""

    SALE = "sale"  # send the waiting sale's request
    IDLE = "idle"
    SUSPENDED = "suspended"
    SETTLE = "settle"  # count the batch for a settlement (every queued message went first)


@dataclass
class Job:
    """One queued message in flight on the uplink (advices: ``window.Window``)."""

    item: Item
    expect: Expectation
    then: Then
    attempts: int = 1


class UplinkMixin(WindowMixin):
    """The UPLINK handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    def _next_item(self, then: Then) -> Item | PendingAdvice | None:
        if self.network is NetworkKind.SIGN_ON and self.keys in (KeyState.NEED_SIGN_ON, KeyState.READY):
            return self._network_job()
        if self.keys is not KeyState.READY:
            return None
        if self.reversals:
            return self.reversals[0]
        if then in (Then.IDLE, Then.SETTLE) and self.advices:
            return self.advices[0]
        if then in (Then.IDLE, Then.SETTLE) and self.upload is not None:
            return self._upload_job()
        if self.network in (NetworkKind.SIGN_OFF, NetworkKind.SETTLE):  # last, after everything queued
            return self._network_job()
        return None

    def _network_job(self) -> NetworkJob:
        stan, self.counters = self.counters.take_stan()
        self._pending_saves.append(SaveCounters(self.counters))
        if self.network is NetworkKind.SETTLE:
            return NetworkJob(self.network, stan, totals=self.totals, plan=self.plan)
        return NetworkJob(self.network, stan)

    def _upload_job(self) -> UploadJob:
        """The next 0320 of the owed upload: a packed message or the end takes the next STAN
        (durable before it goes); an offline sale's own message carries its own."""
        owed, part = self.upload, self.upload_next
        plan = owed.plan
        stan = plan.stans[part] if part < plan.messages else None
        if stan is None:
            stan, self.counters = self.counters.take_stan()
            self._pending_saves.append(SaveCounters(self.counters))
        return UploadJob(owed.settlement.batch, part, stan, plan)

    def _send(self, item: Item, repeat: bool) -> list[Action]:
        s = self.settings
        wait = StartTimer(Timer.RESPONSE, s.response_timeout)
        if isinstance(item, PendingReversal):
            return [SendReversal(item, repeat=repeat), wait]
        if isinstance(item, NetworkJob):
            saves, self._pending_saves = self._pending_saves, []  # its STAN is durable before it goes
            if item.kind is NetworkKind.SETTLE:
                # an earlier 0500 of this batch that may have reached the host unanswered (this job's last try,
                # unless the runner said it never left; or one from before): a refusal of this one proves nothing
                if repeat:
                    self.settle_unheard = self.settle_unheard or self._settle_left
                else:
                    self.settle_unheard = self.settle_interrupted
                    self.settle_interrupted = True  # durable before the 0500 goes (settle.py)
                    saves.append(SettleSending(self.counters.batch))
                self._settle_left = True  # taken to leave, unless ActionFailed says it never did (failures.py)
            return [*saves, SendNetwork(item, self.counters.batch), wait]
        saves, self._pending_saves = self._pending_saves, []  # an UploadJob
        return [*saves, SendUpload(item), wait]

    def _expectation(self, item: Item | PendingAdvice) -> Expectation:
        s = self.settings
        if isinstance(item, NetworkJob):
            return Expectation(Mtis.response(NETWORK_MTI[item.kind]), item.stan, s.terminal_id, None)
        if isinstance(item, UploadJob):
            return Expectation(Mtis.response(UPLOAD_MTI), item.stan, s.terminal_id, None, amount_checked=False)
        base = s.mtis.reversal if isinstance(item, PendingReversal) else s.mtis.advice
        return Expectation(Mtis.response(base), item.stan, s.terminal_id, item.amount)

    def _uplink(self, then: Then, head: list[Action], now: datetime | None = None) -> Result:
        item = self._next_item(then)
        if item is None:
            return self._continue(then, head, now)
        if isinstance(item, PendingAdvice):
            return self._start_window(then, head)
        repeat = isinstance(item, PendingReversal) and item.sent_before  # sent before a power cut: a repeat
        if isinstance(item, PendingReversal) and not item.sent_before:
            marked = replace(item, sent_before=True)
            self.reversals[self.reversals.index(item)] = marked
            head, item = head + [ReversalSending(item.txn_no, item.reason)], marked
        self.job = Job(item, self._expectation(item), then)
        if isinstance(item, UploadJob):
            part = f"{item.part + 1} OF {item.plan.messages + 1}"
            show = [Show(screens.shown(self, ("BATCH UPLOAD", f"BATCH {item.batch:06d}", part, "PLEASE WAIT"),
                                     (f"BATCH UPLOAD {item.part + 1}/{item.plan.messages + 1}", "PLEASE WAIT")))]
            return State.UPLINK, head + show + self._send(item, repeat=False)
        what = NETWORK_TITLE[item.kind] if isinstance(item, NetworkJob) else "SENDING REVERSAL"
        show = [Show(screens.shown(self, (what, f"TRACE {item.stan:06d}", "PLEASE WAIT"), (what, "PLEASE WAIT")))]
        return State.UPLINK, head + show + self._send(item, repeat=repeat)

    def _continue(self, then: Then, head: list[Action], now: datetime | None) -> Result:
        self.job = None
        if then is Then.SALE:
            return self._authorise(now, head)
        if then is Then.SUSPENDED:
            return State.SUSPENDED, head + [Show(screens.suspended(self))]
        if then is Then.SETTLE:
            return self._count(head)
        return self._uplink_rest(head)

    def _uplink_rest(self, head: list[Action]) -> Result:
        """The uplink is done (delivered or given up) and nothing waits for it: print what late
        answers owe, else rest."""
        self.recovering = False
        owed = self._print_owed(head)
        if owed is not None:
            return owed
        outcome, self.reversed_txn = self.reversed_txn, None
        if outcome is not None and self.keys is KeyState.READY:  # a transaction reversed: say it, held
            record, cause = outcome
            queued = any(r.txn_no == record.txn_no for r in self.reversals)
            message = screens.reversed_outcome(self, record, cause, queued)
            state, more = self._idle(*message, short=message.short)
        else:
            state, more = self._rest()
        return state, head + more

    # -- answers ---------------------------------------------------------------------
    def _h_uplink_answered(self, ev: HostAnswered, now: datetime) -> Result:
        if isinstance(self.job, Window):
            return self._window_answered(ev.reply, now, ev.arrival)
        job, reply = self.job, ev.reply
        why = mismatch(job.expect, reply)
        if why and other_amount(job.expect, reply):  # a reversal answered for another amount: not applied as sent
            self.link_up = True
            return self._uplink_failed(f"answered for {why}", now, refused=True)
        if why:
            return State.UPLINK, [Note("host.unmatched", f"answer rejected: {why}")]
        if isinstance(job.item, NetworkJob) and job.item.kind is not NetworkKind.SETTLE:
            return self._network_answered(job, reply, now)  # sign-on, sign-off: they change no money state
        untrusted = mac_problem(reply, self.settings.mac_required)
        if isinstance(job.item, NetworkJob):  # the settlement
            if untrusted:
                return self._uplink_failed(f"settlement answer {untrusted}", now)
            self.link_up = True
            return self._settle_answered(job, reply, now)
        if isinstance(job.item, UploadJob):
            if untrusted:
                return self._uplink_failed(f"upload answer {untrusted}", now)
            self.link_up = True
            return self._upload_answered(job, reply, now)
        if untrusted:
            self._keys_suspect(reply, job.item.txn_no)
            return self._uplink_failed(f"acknowledgement {untrusted}", now)
        self.link_up = True
        item = job.item  # a reversal
        if not reply.reversal_done:  # the host did not apply it: it stays queued and goes again
            code = reply.response_code or "??"
            why = f"reversal refused: {code} {self.settings.response_text(code)}"
            if self._keys_suspect(reply, item.txn_no):  # sign on first, then this reversal again
                self.job = None
                return self._uplink(job.then, [CancelTimer(Timer.RESPONSE), Note("uplink.resync", why)], now)
            return self._uplink_failed(why, now, refused=True)
        self.reversals.remove(item)
        self._uncount(item.kind, item.amount, item.counted_in)
        actions: list[Action] = [CancelTimer(Timer.RESPONSE),
                                 ReversalDone(item.txn_no, reply.response_code, item.reason)]
        return self._uplink(job.then, actions, now)

    def _keys_suspect(self, reply, txn_no: int) -> bool:
        """An answer shows that the host's working keys are not ours (it failed our MAC, or we failed
        its): queue a sign-on, which goes before anything else (``_next_item``). True when one was
        queued. Once per transaction (``txn_no``, the one the answer was for): if the keys a sign-on
        brings do not cure it, its messages take their ordinary retries, and a host whose MACs are
        broken cannot make the terminal sign on again and again by itself."""
        if not (reply.key_error or reply.mac_ok is False) or self.keys is not KeyState.READY:
            return False
        if self.network is not None or txn_no in self._resynced:
            return False
        self._resynced.add(txn_no)
        self.network = NetworkKind.SIGN_ON
        return True

    def _network_answered(self, job: Job, reply, now: datetime) -> Result:
        self.link_up = True
        actions: list[Action] = [CancelTimer(Timer.RESPONSE)]
        self.network = None
        checking, self._signon_again = self._signon_again, False  # this answer ends a check, if it was one
        if job.item.kind is NetworkKind.SIGN_OFF:
            self.keys = KeyState.NEED_SIGN_ON
            self.job = None
            return State.SIGNED_OFF, actions + [RemoveWorkingKeys(), Show(screens.signed_off(self, "SIGNED OFF"))]
        if not reply.approved:
            code = reply.response_code or "??"
            self.job = None
            actions.append(Alert("signon.refused", f"the host refused the sign-on: {code} {self.settings.response_text(code)}"))
            if job.then is Then.SALE:  # a sale waits: it goes on under the keys it has, after the reversals
                return self._uplink(job.then, actions, now)
            return self._rest(actions, note=f"SIGN-ON REFUSED {code}")
        self._batch_before = self.counters.batch  # put back if the keys and this number cannot be installed
        if reply.batch and reply.batch != self.counters.batch:
            owed = self._owed_for(reply.batch)
            if self.batch_held.count:  # its transactions would never be settled: the open batch stays
                actions.append(Alert("signon.batch_kept", f"the host names batch {reply.batch:06d}; batch "
                                     f"{self.counters.batch:06d} holds {self.batch_held.count} transaction(s) and "
                                     "stays open until it is settled"))
            elif owed:  # storage would archive that batch's history, which the owed work still reads by its number
                actions.append(Alert("signon.batch_kept", f"the host names batch {reply.batch:06d}, whose {owed} is "
                                     f"still owed; batch {self.counters.batch:06d} stays open"))
            else:  # storage archives any history under that number as it saves it (storage.archive)
                self.counters = replace(self.counters, batch=reply.batch)
        self._keys_before, self.keys = self.keys, KeyState.READY
        # The 0810 carries no MAC: its time is taken only after its keys install, which they do only when they
        # decrypt under the TMK to their check values (a failed install stops the batch before SetClock).
        actions += [InstallWorkingKeys(self.counters), Alert("signon.ok", "signed on: working keys installed"),
                    *self._clock_from_host(reply, now)]
        if job.attempts > 1 and not checking:
            # Sent more than once, under one STAN, so this answer may be an earlier transmission's, come late:
            # the host issued fresh keys for every 0800 it processed and holds the last ones, and the answer to
            # the repeat (which is the one that says so) is heard as unmatched. Sign on once more, a new
            # message: only its answer is its own. Once: if that one too goes more than once, its answer is
            # taken, and a MAC failure later brings a sign-on by itself (``_keys_suspect``).
            self._signon_again = True
            self.network = NetworkKind.SIGN_ON
            actions.append(Note("signon.again", f"sign-on trace {job.item.stan:06d} was answered after "
                                f"{job.attempts} transmissions; signing on once more"))
        return self._uplink(job.then, actions, now)

    def _owed_for(self, batch: int) -> str | None:
        """What is still owed for an earlier batch of this number (its batch upload, its report), if anything:
        a sign-on's number is not adopted while it is."""
        if self.upload is not None and self.upload.settlement.batch == batch:
            return "batch upload"
        if self.report is not None and self.report.batch == batch:
            return "settlement report"
        return None

    # -- silence ---------------------------------------------------------------------
    def _h_uplink_timer(self, ev: TimerExpired, now: datetime) -> Result:
        if ev.timer is not Timer.RESPONSE:
            return State.UPLINK, []
        return self._uplink_failed("no answer", now)

    def _h_uplink_unanswered(self, ev: LinkDropped, now: datetime) -> Result:
        return self._uplink_failed(ev.text, now)

    def _uplink_failed(self, why: str, now: datetime, *, refused: bool = False) -> Result:
        """The job's message went unanswered (or, ``refused``, the host answered a reversal without applying
        it): again, up to the retries; then it stays queued and the operator is told."""
        if isinstance(self.job, Window):
            return self._window_failed(why, now)
        job = self.job
        if job.attempts < self.settings.reversal_retries:
            job.attempts += 1
            note = Note("uplink.retry", f"attempt {job.attempts}: {why}")
            return State.UPLINK, [note] + self._send(job.item, repeat=True)
        self.job = None
        self.link_up = False
        actions: list[Action] = [CancelTimer(Timer.RESPONSE), Disconnect()]
        item = job.item
        if isinstance(item, NetworkJob):
            self.network = None
            self._signon_again = False
            if item.kind is NetworkKind.SIGN_OFF:  # signed off here even if the host never heard
                self.keys = KeyState.NEED_SIGN_ON
                actions += [
                    RemoveWorkingKeys(),
                    Alert("signoff.unacknowledged", f"the host did not acknowledge the sign-off ({why})"),
                ]
                return State.SIGNED_OFF, actions + [Show(screens.signed_off(self, "SIGNED OFF"))]
            if item.kind is NetworkKind.SETTLE:
                self.totals = None
                if not (self._settle_left or self.settle_unheard):  # no 0500 of the batch ever reached the host
                    self.settle_interrupted = False
                    actions += [SettleSending(self.counters.batch, sending=False),
                                Alert("settle.failed", f"settlement trace {item.stan:06d} never left ({why}); "
                                      "the batch stays open")]
                    return self._rest(actions, note="SETTLE FAILED")
                actions.append(Alert("settle.failed", f"settlement trace {item.stan:06d} got no answer ({why}); "
                                     "the batch stays open: settle again before the next transaction"))
                return self._rest(actions, note="SETTLE FAILED")
            actions.append(Alert("signon.failed", f"sign-on trace {item.stan:06d} got no answer ({why})"))
            if job.then is Then.SALE:  # a sale waits: the host is out of reach, so its offline decision
                return self._queue_stopped(job.then, actions, now)
            return self._rest(actions, note="SIGN-ON FAILED")
        if isinstance(item, UploadJob):  # it goes on from this message (the first not acknowledged)
            actions.append(Alert("settle.upload_owed", f"the upload of batch {item.batch:06d} did not complete "
                                 f"({why}); it goes on at the next upload"))
        else:
            remedy = resolve_remedy(item.txn_no) if refused else ""
            actions.append(Alert("reversal.pending", f"reversal trace {item.stan:06d} not delivered ({why}); "
                                 f"it stays queued{remedy}"))
        return self._queue_stopped(job.then, actions, now)

    def _queue_stopped(self, then: Then, actions: list[Action], now: datetime) -> Result:
        """A queued message could not be delivered (it stays queued): go where ``then`` says, as far as possible."""
        actions += self._forward_failed_reminder(now)  # stored sales past their age (overdue.py)
        if then is Then.SETTLE:
            actions.append(Alert("settle.queue_pending", "not settled: queued messages must go first"))
        if then is Then.SALE:
            return self._offline(now, actions)
        if then is Then.SUSPENDED:
            return State.SUSPENDED, actions + [Show(screens.suspended(self))]
        return self._uplink_rest(actions)
