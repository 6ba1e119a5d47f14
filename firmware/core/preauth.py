"""The pre-authorisation family (预授权类): a hold on the card, its cancel, its completion, and the completion's void.

The kinds are rows of ``flows.PREAUTH_FLOWS``; the states and handlers are the
ones a sale, a void and a refund already use:

* pre-auth (F 0 1): AMOUNT, CARD, PIN, AUTHORISING as a sale, online only
  (0100, 030000, 60.1 = 10). It holds funds and is reversed if unanswered; it is
  not counted in the settlement totals (the completion is).
* cancel (F 0 2) and completion (F 0 3): the pre-auth named by its
  authorisation code (6 digits, from its receipt) and date (MMDD), keyed in the
  refund's REFERENCE and ORIGINAL_DATE states. The runner looks it up
  (``judge_preauth``): the journal holds it and it is refused, found, or not
  held at all (an old batch, another terminal: the host judges). A completion of a
  pre-auth held here whose hold has lapsed is refused by the core at once
  (``hold_refusal``, ``preauth.expired``), online or as an advice. Then CONFIRM,
  AMOUNT (a cancel's must be the pre-auth's, a completion's at most the
  pre-auth's plus UnionPay's 15 %, where the journal holds it), CARD (the
  pre-auth's, where the journal holds it), PIN, AUTHORISING.
* completion void (F 0 4): a void of a completion, by its trace, in this batch
  (the void's TRACE, LOOKUP, CONFIRM); a credit in the totals.

All four are reversed (冲正) when unanswered, as a sale is: nothing here
changes the durability order. Refusals the journal can tell carry
``preauth.*`` codes; nothing is written or sent before one.

The completion advice (预授权完成通知; UnionPay 60.1 = 24, 0220; public UnionPay POS
code names it FUNCODE_OFFCOMPLETE 0x24, "预授权完成(离线)"): the pre-auth already
guaranteed the funds, so a completion may be made without the host. It is a
completion journalled OFFLINE_APPROVED, committed with its sealed advice and
printed, then forwarded by store-and-forward exactly as an offline sale (0220,
0221 on a repeat, never reversed; ``flows.STORED_ADVICE``). Two ways in:

* page 2, key 6: the operator chooses it (the host is known to be down, or the
  acquirer asks for completions as advices). Auth code, date, CONFIRM, amount,
  card; no PIN, since an advice carries none and the pre-auth verified the
  cardholder (public UnionPay POS code: the offline completion takes no PIN data).
* automatically, when an online completion cannot reach the host and nothing
  was sent (the offline sale's rule): it becomes the advice instead of being
  declined, since the hold already guarantees the funds.

What limits it (``advice_refusal``): ``offline.enabled`` (off means no store-and-
forward at all), and the pre-auth must be one the journal holds, approved and
neither cancelled nor completed: its hold is what guarantees the funds, and the
amount is checked against it (at most its amount plus 15 %). The sale's floor,
count, total and age limits bound the risk of approvals nobody authorised; a
completion's risk is bounded by its hold instead, so they do not apply to it
and it does not count against them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from firmware.core import screens
from firmware.core.actions import Action, CancelTimer, Show, StartTimer
from firmware.core.clock import elapsed
from firmware.core.flows import _DONE, _UNRESOLVED, Candidate, Flow, Refusal, flow_of, stored_advice_refusal
from firmware.core.model import JournalState, Kind, OriginalFacts, State, Timer

__all__ = ["AUTH_DIGITS", "PREAUTH_HOLD_DAYS", "PreauthMixin", "advice_refusal", "completion_limit", "hold_refusal",
           "judge_preauth"]

Result = tuple[State, list[Action]]

AUTH_DIGITS = 6  # an authorisation code as printed on the pre-auth's receipt (field 38)


def completion_limit(flow: Flow, amount: int) -> int:
    """The most a completion of a pre-auth of ``amount`` may take (integer minor units, rounded down)."""
    return amount + amount * flow.tolerance // 100


# How long a pre-auth's hold is taken to last at the host: the commonly published UnionPay rule (30 days), not
# code we could read. A completion of an older pre-auth the journal holds is refused before anything is written
# or sent (``hold_refusal``), online or as an advice: the hold was released, so nothing guarantees the funds
# and a real host declines it (answer 25); an older hold owed to nobody pins no profile
# (``storage.profile.open_preauths``).
PREAUTH_HOLD_DAYS = 30


def hold_refusal(original: OriginalFacts, now: datetime, zone: tzinfo | None = None) -> Refusal | None:
    """A completion of ``original`` refused because its hold has lapsed (more than ``PREAUTH_HOLD_DAYS`` before
    ``now``, the core's time, counted in real time in ``zone``, the clock's: ``core.clock.elapsed``), the one rule
    for the online completion and the advice (AU18 H1, L1); None if the hold still stands. The terminal holds the
    pre-auth's own time, so it need not send a completion the host can only decline, and it could never vouch
    for one without the host."""
    if original.kind is Kind.PREAUTH and elapsed(original.when, now, zone) > timedelta(days=PREAUTH_HOLD_DAYS):
        return Refusal("preauth.expired", "PREAUTH EXPIRED")
    return None


def advice_refusal(enabled: bool, original: OriginalFacts | None, now: datetime,
                   zone: tzinfo | None = None) -> tuple[str, str] | None:
    """Why a completion may not be made as an advice without the host, as (code, text); None if it may."""
    if not enabled:
        return "offline.disabled", "OFFLINE SALES OFF"
    if original is None:  # the hold is not one this terminal can vouch for: only the host can judge it
        return "preauth.advice_unheld", "PREAUTH NOT HELD"
    # checked at the look-up already; again here, for a hold that lapsed while the completion was keyed
    if (lapsed := hold_refusal(original, now, zone)) is not None:
        return lapsed.code, lapsed.text
    return None


def _state_text(state: JournalState) -> str:
    return f"ORIGINAL {state.value.upper().replace('_', ' ')}"


def judge_preauth(flow: Flow, found: Candidate | None) -> OriginalFacts | Refusal | None:
    """Whether a cancel, completion or completion void may name the record the journal holds.

    ``None``: the journal does not hold a pre-auth named by auth code and date
    (the host judges it). A completion void names its completion by trace in
    this batch, so a missing one is refused. Pure, like ``flows.judge``.
    """
    if found is None:
        return None if flow.by_reference else Refusal("preauth.not_found", "TRACE NOT FOUND")
    facts = found.facts
    if facts.kind not in flow.of:
        wanted = "NOT A PREAUTH" if Kind.PREAUTH in flow.of else "NOT A COMPLETION"
        return Refusal("preauth.wrong_kind", wanted)
    if (refusal := stored_advice_refusal("preauth", found)) is not None:  # a completion advice queued or declined
        return refusal
    if found.state not in _DONE:
        return Refusal("preauth.not_approved", _state_text(found.state))
    if facts.kind is Kind.PREAUTH:
        if any(c in _DONE for c in found.claims):
            return Refusal("preauth.cancelled", "PREAUTH CANCELLED")
        if any(c in _UNRESOLVED for c in found.claims):
            return Refusal("preauth.cancel_unresolved", "CANCEL UNRESOLVED")
        if any(c in _DONE for c in found.completions):
            return Refusal("preauth.completed", "ALREADY COMPLETED")
        if any(c in _UNRESOLVED for c in found.completions):
            return Refusal("preauth.complete_unresolved", "COMPLETION UNRESOLVED")
        return facts
    if any(c in _DONE for c in found.claims):
        return Refusal("preauth.already_voided", "ALREADY VOIDED")
    if any(c in _UNRESOLVED for c in found.claims):
        return Refusal("preauth.void_unresolved", "VOID UNRESOLVED")
    if any(c in _DONE | _UNRESOLVED for c in found.refunds):  # voiding it too would pay it back twice
        return Refusal("preauth.refunded", "COMPLETION REFUNDED")
    return facts


class PreauthMixin:
    """The pre-auth family's own handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    def _begin_keyed(self, kind: Kind, head: list[Action]) -> Result:
        """A transaction that starts with its amount, from the menu (a pre-auth)."""
        self.sale = self._new_sale(kind)
        return State.AMOUNT, head + [
            CancelTimer(Timer.MESSAGE),
            CancelTimer(Timer.UPLOAD),
            Show(screens.amount(self)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _begin_advice(self, head: list[Action]) -> Result:
        """Page 2, key 6: a completion made as an advice without the host (named as an online one is)."""
        state, actions = self._begin(Kind.PREAUTH_COMPLETE, head)
        self.sale.advice = True
        return state, actions

    def _held_amount_refusal(self) -> Refusal | None:
        """A cancel keyed with another amount than its pre-auth's, or a completion above the pre-auth's
        plus the tolerance, where the journal holds the pre-auth (else the host judges)."""
        sale = self.sale
        flow = flow_of(sale.kind)
        if sale.original is None:
            return None
        if flow.exact_amount and sale.amount != sale.original.amount:
            return Refusal("preauth.amount_mismatch", "NOT PREAUTH AMOUNT")
        if flow.tolerance and sale.amount > completion_limit(flow, sale.original.amount):
            return Refusal("preauth.over_amount", f"OVER PREAUTH+{flow.tolerance}%")
        return None
