"""The sale's path through the core: amount, card, PIN, the request, its answer, and offline.

The handlers of ``Terminal`` (``machine.py``) for AMOUNT, CARD, PIN and AUTHORISING, shared
by every kind of transaction (``flows.FLOWS`` says how each differs): the record and its
ready-made reversal committed before the request is sent (``OpenRequest``), the answer
matched and committed before anything prints (``RecordOutcome``), a request left without
a usable answer reversed (or, by its flow, sent again or left), and the offline approval
within the configured limits when nothing could be sent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from firmware.core import screens
from firmware.core import screens_refused as refused
from firmware.core.actions import (
    Action,
    Alert,
    BeginPin,
    CancelPin,
    CancelTimer,
    DisableReader,
    EnableReader,
    Note,
    OpenRequest,
    RecordOutcome,
    SendRequest,
    Show,
    StartTimer,
    WipeCard,
)
from firmware.core.events import (
    HostAnswered,
    HostFrameRejected,
    KeyPressed,
    LinkDropped,
    PinEntered,
    PinProgress,
    TimerExpired,
)
from firmware.core.clock import elapsed
from firmware.core.flows import Recovery, flow_of
from firmware.core.menu import CANCEL, ENTER
from firmware.core.model import (
    CardFacts,
    JournalState,
    Kind,
    NetworkKind,
    OriginalFacts,
    PendingAdvice,
    PendingReversal,
    SaleRecord,
    State,
    Timer,
)
from firmware.core.preauth import advice_refusal
from firmware.core.uplink import Then
from firmware.host.messages import Expectation, Reply, mac_problem, mismatch, other_amount
from firmware.host.spec import Mtis, ReversalReason

__all__ = ["SaleMixin"]

Result = tuple[State, list[Action]]

DIGITS = frozenset("0123456789")
CLEAR = "*"  # ENTER, CANCEL and FUNCTION are the menu's (menu.py)


class SaleMixin:
    """The sale handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    # -- amount, card, PIN -------------------------------------------------------
    def _amount_key(self, key: str, actions: list[Action]) -> Result:
        sale = self.sale
        note, over = "", False
        if key in DIGITS:
            digits = (sale.digits + key).lstrip("0")
            if len(digits) > 12 or int(digits or "0") > self.settings.max_amount:
                over = True  # the digit is refused: the screen says so, with the limit
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
            Show(refused.over_limit(self) if over else screens.amount(self, note)),
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
        if sale.advice:  # no PIN: an advice carries none (the pre-auth verified the cardholder)
            return self._go_online(now, [DisableReader()])
        return self._begin_pin([DisableReader()])

    def _begin_pin(self, head: list[Action]) -> Result:
        """The PIN prompt. The PIN is always asked for; the cardholder may skip it (ENTER alone) only
        where neither the configuration nor the card's service code requires one."""
        sale = self.sale
        bypass = not (self.settings.pin_required or sale.card.pin_required)
        return State.PIN, head + [
            BeginPin(sale.txn_no, allow_bypass=bypass),
            Show(screens.pin(self, 0)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_card_unreadable(self, ev, now: datetime) -> Result:
        return State.CARD, [
            Show(screens.swipe_again(self, ev.text, ev.step)),
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
        if self.reversals or self.network is NetworkKind.SIGN_ON:  # they go first (uplink.py)
            return self._uplink(Then.SALE, actions, now)
        return self._authorise(now, actions)

    def _uncounted(self, record: SaleRecord) -> None:
        """A record declined after all: its place and amount in the open batch are free again, as storage
        counts them at the next start (``batch_held`` leaves declined records out). Without it a declined
        sale of a large amount held the batch's room until a restart (AU8). A record of an archived batch
        (``record.earlier``) carries the number the host knew, which the open batch may carry again: it
        never held the open batch's room, so it gives none back."""
        self._uncount(record.kind, record.amount, self._counted_in(record))

    def _uncount(self, kind: Kind, amount: int, batch: int | None) -> None:
        """One record of ``batch`` (None: of no batch's totals) no longer counts: declined, or reversed
        (``uplink.py``). Storage's ``batch_held`` leaves both out; the core's count follows it."""
        if batch is not None and batch == self.counters.batch:
            self.batch_held = self.batch_held.plus(flow_of(kind).refund, amount, times=-1)
            self._batch_emptied()

    @staticmethod
    def _counted_in(record: SaleRecord) -> int | None:
        return record.batch if flow_of(record.kind).in_totals and not record.earlier else None

    def _reversal_of(self, record: SaleRecord, reason: str) -> PendingReversal:
        return PendingReversal(record.txn_no, record.stan, record.amount, reason, kind=record.kind,
                               counted_in=self._counted_in(record))

    def _new_record(self, now: datetime) -> SaleRecord:
        sale, s = self.sale, self.settings
        stan, self.counters = self.counters.take_stan()
        flow = flow_of(sale.kind)
        if flow.in_totals:
            self.batch_held = self.batch_held.plus(flow.refund, sale.amount)
            self._batch_started(now)
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
        if why and other_amount(self.expect, reply):
            # The host answered this very request (MTI, STAN, terminal) for another amount, or none: it may
            # have moved money the cashier never keyed. Take it back now, named (reason 06), not after the
            # timeout as if no answer had come (98, NO ANSWER FROM HOST).
            self.link_up = True
            self._keys_suspect(reply, record.txn_no)
            alert = Alert("host.amount_mismatch", f"{record.kind.value} trace {record.stan:06d}: answer for {why}")
            state, actions = self._untrusted(record, reply, ReversalReason.OTHER.value, "AMOUNT MISMATCH")
            return state, [alert, *actions]
        if why:
            return State.AUTHORISING, [Note("host.unmatched", f"answer rejected: {why}")]
        self.link_up = True
        # a decline without a MAC is taken (nothing to reverse); an approval must carry a good one
        mac_bad = mac_problem(reply, reply.approved and self.settings.mac_required) is not None
        self._keys_suspect(reply, record.txn_no)  # a MAC failed, ours or the host's: sign on before the next message
        recovery = self.settings.recovery(record.kind)
        if mac_bad:
            return self._untrusted(record, reply, "A0", "HOST MAC ERROR")
        # what the answer says, set with the outcome in one copy (a SaleRecord of some 20 fields is copied)
        answered = dict(response_code=reply.response_code, rrn=reply.rrn, auth_code=reply.auth_code,
                        settle_date=reply.settle_date)
        head = [CancelTimer(Timer.RESPONSE)]
        if not flow_of(record.kind).moves_money:
            return self._inquiry_answered(record.changed(**answered), reply, head)
        if reply.must_reverse and recovery is Recovery.REVERSAL:
            return self._partial_reversed(record.changed(**answered))
        if reply.approved:
            record = record.changed(state=JournalState.APPROVED, **answered)
            self.sale.record = record
            head += [RecordOutcome(record, copies=self.settings.copies), WipeCard(record.txn_no)]
            head.append(Show(screens.approved(self, record)))
            return self._print_sale(record, head)
        record = record.changed(state=JournalState.DECLINED, reason=reply.response_code, **answered)
        self._uncounted(record)
        head += [RecordOutcome(record), WipeCard(record.txn_no)]
        code = reply.response_code or "??"
        flow = flow_of(record.kind)
        text, brief = self.settings.response_text(code), self.settings.display_text(code)
        if reply.must_reverse:  # a partial approval of what cannot be reversed (cup's refund, a 0220)
            text, brief = "PARTIAL APPROVAL", "PART APPROVAL"
            head.append(Alert("host.partial_approval", f"{flow.kind.value} trace {record.stan:06d} approved for "
                              "part of its amount, which cannot be reversed: reconcile it with the host"))
        shown = screens.declined(self, record.kind, code, text, brief, record.amount)  # the amount is keyed
        state, actions = self._idle(*shown, short=shown.short)
        return state, head + actions

    def _partial_reversed(self, record: SaleRecord) -> Result:
        """An approval the terminal cannot complete (a partial one, ``Reply.must_reverse``): the host may hold
        funds, so the request is reversed at once, reason 06 ("other"), its reversal committed with the
        outcome before anything else, then sent, retried and alerted as any other (uplink.py); the
        transaction ends declined, its journal record keeping the host's code (10)."""
        reason = ReversalReason.OTHER.value
        record = replace(record, state=JournalState.REVERSING, reason=reason)
        return self._reverse_now(record, reason, [RecordOutcome(record, reversal_reason=reason)],
                                 ("PARTIAL APPROVAL", "- REVERSED", "DECLINED", self._money(record.amount)))

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
        (cup's refund is sent again instead; an inquiry is left unanswered: ``CoreSettings.recovery``)."""
        record = self.sale.record
        recovery = self.settings.recovery(record.kind)
        if recovery is Recovery.ADVICE:
            return self._resend_later(record, (text, "REFUND QUEUED", "SENDING AGAIN..."))
        if recovery is Recovery.NONE:
            return self._inquiry_unanswered(record, "98", text)
        return self._reverse_now(record, "98", [], (text, "REVERSING..."))

    def _untrusted(self, record: SaleRecord, reply: Reply, reason: str, text: str) -> Result:
        """An answer to the request that cannot be taken (its MAC failed, it names another amount): the
        request is reversed at once with ``reason``, its reversal committed with the outcome; cup's refund
        is sent again instead (the host answers it again), an inquiry is left unanswered."""
        recovery = self.settings.recovery(record.kind)
        if recovery is Recovery.ADVICE:
            return self._resend_later(record, (text, "REFUND QUEUED", "SENDING AGAIN..."))
        if recovery is Recovery.NONE:
            return self._inquiry_unanswered(record, reason, text)
        record = replace(record, state=JournalState.REVERSING, response_code=reply.response_code, reason=reason)
        return self._reverse_now(record, reason, [RecordOutcome(record, reversal_reason=reason)], (text, "REVERSING..."))

    def _reverse_now(self, record: SaleRecord, reason: str, commit: list[Action], message: tuple[str, ...]) -> Result:
        self.reversals.append(self._reversal_of(record, reason))
        self.reversed_txn = (record, message[0])  # its outcome, shown when the uplink rests (uplink.py)
        head = [CancelTimer(Timer.RESPONSE), *commit, WipeCard(record.txn_no), Show(screens.shown(self, message))]
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
            return advice_refusal(lim.enabled, original, now, self.settings.local_zone)
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
        if oldest is not None and elapsed(oldest, now, self.settings.local_zone) > lim.max_age:  # real hours
            return "offline.too_old", "OFFLINE QUEUE TOO OLD"
        return None

    def _refused_here(self, why: str, refusal: tuple[str, str], undone: str) -> Result:
        shown = refused.refused_here(self, why, refusal[1], undone, refusal[0])
        return self._idle(*shown, short=shown.short)

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
                state, more = self._refused_here(why, refusal, undone)
                return state, actions + self._wipe() + [Alert(refusal[0], what)] + more
            sale.record = self._new_record(now)
            actions = actions + [OpenRequest(sale.record, self.counters)]
        record = sale.record
        if refusal:
            record = replace(record, state=JournalState.DECLINED, reason=refusal[0])
            self._uncounted(record)
            state, more = self._refused_here(why, refusal, undone)
            return state, actions + [RecordOutcome(record), WipeCard(record.txn_no), Alert(refusal[0], what)] + more
        record = sale.record = replace(record, state=JournalState.OFFLINE_APPROVED, reason="offline")
        self.advices.append(PendingAdvice(record.txn_no, record.stan, record.amount, record.when, kind=record.kind))
        head = actions + [
            RecordOutcome(record, copies=self.settings.copies, advice=True),
            WipeCard(record.txn_no),
            Show(screens.approved(self, record)),
        ]
        return self._print_sale(record, head)
