"""Refund (退货): money back to a card, naming the sale it refunds by reference number and date.

The handlers of ``Terminal`` for the REFERENCE and ORIGINAL_DATE states, the
refund's checks, and what becomes of a refund the host never answered.

The walk: F 6, the original's reference number (RRN, 12 digits) and ENTER,
its date (MMDD) and ENTER. The runner looks it up in the journal (LOOKUP):

* the journal holds it: ``judge_refund`` decides (a sale or a pre-auth's completion,
  approved, its stored advice (if approved offline) accepted by the host, not voided, not
  refunded in full; else ``OriginalRefused`` with a ``refund.*`` code), the
  card swiped must be the original's (the runner compares keyed hashes), and
  the amount keyed may not exceed what is left of it (``refund.over_amount``);
* the journal does not hold it (an old batch, another terminal):
  ``OriginalUnknown``, and the host judges it.

CONFIRM shows the original; ENTER leads to AMOUNT (a refund may be partial),
then CARD, PIN and AUTHORISING as a sale, online only, on the sale's durable
path. Nothing is written or sent before the card and PIN.

On cup a refund is never reversed (UnionPay's refund is a notification, 0220, with no
reversal; public POS code agrees); on iso87 it is a 0200 request, reversed as a
sale is (``CoreSettings.recovery``, from the profile: the rest of this paragraph
and ``_resend_later`` are cup's). Its ready-made repeat is committed with the
request instead, and a refund left without a usable answer is sent again as
0221 until the host answers it, exactly once in the host's books. That answer
(``AdviceOutcome``) is committed in the journal with the receipts it owes; the
operator is told, and the receipts print, marked as a late answer, once the
uplink is done: the cardholder may have gone, but money given back to a card
never lacks its paper (the merchant copy is the merchant's proof of the refund).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from firmware.core import screens
from firmware.core.actions import (
    Action,
    AdviceOutcome,
    Alert,
    CancelTimer,
    FindOriginal,
    Note,
    Show,
    StartTimer,
    WipeCard,
)
from firmware.core.events import KeyPressed, OriginalUnknown
from firmware.core.flows import (
    _DONE,
    _UNRESOLVED,
    FLOWS,
    PREAUTH_FLOWS,
    Candidate,
    Refusal,
    flow_of,
    stored_advice_refusal,
)
from firmware.core.model import (
    JournalState,
    Kind,
    OriginalFacts,
    PendingAdvice,
    PrintJob,
    SaleRecord,
    State,
    Timer,
)
from firmware.core.original import edited
from firmware.core.preauth import AUTH_DIGITS

__all__ = ["RefundMixin", "judge_refund", "RRN_DIGITS", "valid_date"]

Result = tuple[State, list[Action]]

RRN_DIGITS = 12
DATE_DIGITS = 4
DIGITS = frozenset("0123456789")
ENTER, CLEAR, CANCEL = "#", "*", "X"

_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def valid_date(mmdd: str) -> bool:
    """A calendar date without a year (29 February included: the year is not keyed)."""
    if len(mmdd) != DATE_DIGITS or not mmdd.isdigit():
        return False
    month, day = int(mmdd[:2]), int(mmdd[2:])
    return month in _DAYS and 1 <= day <= _DAYS[month]


def judge_refund(found: Candidate | None) -> OriginalFacts | Refusal | None:
    """Whether a refund may name the record the journal holds for an RRN and date.

    ``None``: the journal does not hold it (the host judges). The original's
    facts (``refunded`` filled in by the runner: approved and unresolved
    refunds of it) when it may be refunded; otherwise why not, before anything
    is built or sent. Pure, like ``flows.judge``; the runner calls it.
    """
    if found is None:
        return None
    flow, facts = FLOWS[Kind.REFUND], found.facts
    if facts.kind is Kind.REFUND:
        return Refusal("refund.is_refund", "CANNOT REFUND A REFUND")
    if facts.kind is Kind.TRANSFER:  # as a void of one (flows.judge)
        return Refusal("refund.transfer", "CANNOT REFUND TRANSFER")
    if facts.kind not in flow.of:
        return Refusal("refund.wrong_kind", "NOT A SALE")
    # an offline approval the host refused never took the money (its advice's answer may still have named an
    # RRN, kept on the record as a declined sale's is); one still queued has no RRN yet, so is rarely found here
    if (refusal := stored_advice_refusal("refund", found)) is not None:
        return refusal
    if found.state not in _DONE:
        return Refusal("refund.not_approved", f"ORIGINAL {found.state.value.upper().replace('_', ' ')}")
    if any(c in _DONE for c in found.claims):  # a sale's void, a completion's void
        return Refusal("refund.voided", "SALE VOIDED" if facts.kind is Kind.SALE else "COMPLETION VOIDED")
    if any(c in _UNRESOLVED for c in found.claims):
        return Refusal("refund.void_unresolved", "VOID UNRESOLVED")
    if facts.refundable == 0:
        return Refusal("refund.fully_refunded", "ALREADY REFUNDED")
    return facts


class RefundMixin:
    """The refund's handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    def _begin_refund(self, head: list[Action], kind: Kind = Kind.REFUND) -> Result:
        """A refund, or a pre-auth's cancel or completion (named by auth code: ``flows.Flow.by_auth_code``)."""
        self.sale = self._new_sale(kind)
        return State.REFERENCE, head + [
            CancelTimer(Timer.MESSAGE),
            CancelTimer(Timer.UPLOAD),
            Show(screens.reference(self)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_reference_key(self, ev: KeyPressed, now: datetime) -> Result:
        sale, note = self.sale, ""
        # a refund keys its original's RRN (12 digits); a pre-auth's cancel or completion its auth code (6)
        attr, digits = ("auth", AUTH_DIGITS) if flow_of(sale.kind).by_auth_code else ("rrn", RRN_DIGITS)
        keyed = edited(getattr(sale, attr), ev.key, digits)
        setattr(sale, attr, keyed)
        if ev.key == CANCEL:
            return self._idle("CANCELLED")
        elif ev.key == ENTER:
            if len(keyed) == digits:
                return State.ORIGINAL_DATE, [
                    Show(screens.original_date(self)),
                    StartTimer(Timer.INPUT, self.settings.input_timeout),
                ]
            note = f"KEY ALL {digits} DIGITS"
        return State.REFERENCE, [
            Show(screens.reference(self, note)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_original_date_key(self, ev: KeyPressed, now: datetime) -> Result:
        sale, note = self.sale, ""
        if ev.key in DIGITS:
            if len(sale.orig_date) < DATE_DIGITS:
                sale.orig_date += ev.key
        elif ev.key == CLEAR:
            if not sale.orig_date:  # back to the reference number
                return State.REFERENCE, [
                    Show(screens.reference(self)),
                    StartTimer(Timer.INPUT, self.settings.input_timeout),
                ]
            sale.orig_date = sale.orig_date[:-1]
        elif ev.key == CANCEL:
            return self._idle("CANCELLED")
        elif ev.key == ENTER:
            if valid_date(sale.orig_date):
                ref = sale.reference
                find = FindOriginal(sale.kind, 0, self.counters.batch, sale.txn_no, reference=ref)
                return State.LOOKUP, [CancelTimer(Timer.INPUT), Show(screens.searching(self)), find]
            note = "DATE IS MMDD"
        return State.ORIGINAL_DATE, [
            Show(screens.original_date(self, note)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_original_unknown(self, ev: OriginalUnknown, now: datetime) -> Result:
        sale = self.sale
        flow = flow_of(sale.kind)
        if not flow.by_reference:  # only a refund may name an original the journal lacks
            note = Note(f"{flow.kind.value}.not_found", f"{flow.kind.value} of {self._original_label().lower()}: not found")
            state, actions = self._idle("TRACE NOT FOUND", self._original_label(), flow.undone,
                                        short=("TRACE NOT FOUND", flow.undone))
            return state, [note] + actions
        sale.original = None
        note = Note(f"{flow.prefix}.original_elsewhere", f"{self._original_label()} of {sale.orig_date} is not in "
                    "this journal: the host checks it")
        return State.CONFIRM, [
            note,
            Show(screens.confirm(self)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _amount_refusal(self) -> Refusal | None:
        """A refund keyed above what is left of an original the journal holds, or a pre-auth's cancel or
        completion outside its pre-auth's amount (``preauth.py``); else None."""
        sale = self.sale
        if sale.kind in PREAUTH_FLOWS:
            return self._held_amount_refusal()
        if sale.kind is not Kind.REFUND or sale.original is None:
            return None
        if sale.amount > sale.original.refundable:
            return Refusal("refund.over_amount", "OVER REFUNDABLE")
        return None

    # -- a refund the host did not answer usably -------------------------------------
    def _resend_later(self, record: SaleRecord, message: tuple[str, ...]) -> Result:
        """No reversal: the refund's ready-made repeat (committed with the request) goes out
        again, first on the uplink now and from the queue until the host answers it."""
        from firmware.core.uplink import Then

        item = PendingAdvice(record.txn_no, record.stan, record.amount, record.when, sent_before=True, kind=record.kind,
                             record=record)
        self.advices = [item] + [a for a in self.advices if a.txn_no != record.txn_no]
        head = [CancelTimer(Timer.RESPONSE), WipeCard(record.txn_no), Show(screens.shown(self, message))]
        self.sale = None
        self.expect = None
        return self._uplink(Then.IDLE, head)

    def _advice_answered(self, item: PendingAdvice, reply) -> list[Action]:
        """A refund's repeat was answered: commit the host's outcome (94, "already had it", counts
        as accepted, as for an offline sale's advice) and tell the operator. An accepted one owes
        its receipts (committed with the outcome): they print, marked late, once the uplink is done
        (``_print_owed``), so money given back to a card always has its paper."""
        accepted = reply.advice_accepted
        state = JournalState.APPROVED if accepted else JournalState.DECLINED
        code = reply.response_code
        copies = tuple(self.settings.copies) if accepted and item.record is not None else ()
        outcome = AdviceOutcome(item.txn_no, state, code, rrn=reply.rrn, auth_code=reply.auth_code,
                                settle_date=reply.settle_date, copies=copies)
        what = f"{item.kind.value} trace {item.stan:06d}"
        if not accepted:
            if item.record is not None:
                self._uncounted(item.record)
            return [outcome, Alert(f"{item.kind.value}.declined", f"{what} declined by the host when sent again: "
                                   f"{code} {self.settings.response_text(code)}")]
        if copies:
            record = replace(item.record, state=JournalState.APPROVED, response_code=code, rrn=reply.rrn,
                             auth_code=reply.auth_code, settle_date=reply.settle_date, reason=None)
            self.owed_prints += [PrintJob(record, copy, late=True) for copy in copies]
            said = "its receipt prints now"
        else:
            said = "no receipt was printed"
        return [outcome, Alert(f"{item.kind.value}.approved", f"{what} approved by the host when sent again; {said}")]
