"""The host simulator's pre-authorisation family (a mixin of ``HostProcessor``).

A pre-auth (0100, 60.1 = 10) is posted as any financial request: approved, it
is a hold (status ``approved``, kind ``preauth``), counted in no batch total.
The three that name something (``firmware/core/preauth.py``) are checked
against the ledger here, where the terminal's journal may not hold it:

* cancel (0100, 60.1 = 11) and completion (0200, 60.1 = 20) name the pre-auth
  by authorisation code (38) and date (61.3), from any terminal. ``25`` when no
  approved pre-auth matches (unknown, declined or reversed); ``12`` when it was
  already cancelled or completed; ``64`` when a cancel's amount is not the
  pre-auth's, or a completion's exceeds the pre-auth's plus 15 %. Approved, a
  cancel releases the hold (the pre-auth ``voided``), a completion turns it
  into a debit (the completion counted; the pre-auth counts as completed
  while an approved completion names it: ``Ledger.completion_of``).
* completion void (0200, 60.1 = 21) names the completion by trace (61) on the
  same terminal, as a void names a sale: ``25`` unknown, ``94`` already voided,
  ``64`` another amount. Approved, the completion is ``voided`` (it nets to 0
  with its void) and its pre-auth holds again.

A reversal of any of them undoes what it did, by the processor's generic
reversal (the posting reversed, what it voided approved again): the pre-auth is
held again after a reversed cancel or completion; a reversed completion void
approves the completion again, which completes the pre-auth again.
Duplicates (same terminal, STAN and date) answer 94 and post nothing, as a sale.

The completion advice (预授权完成通知: 0220, 0221 on a repeat; cup 60.1 = 24) is
judged as the online completion is (25, 12, 64, no PIN to check) and posted as a
``preauth_complete``, so the batch totals, a completion void and the pre-auth's
"completed" all see it. It is posted once: a repeat (same terminal, STAN and
date) is answered as the first was, and posts nothing.
"""

from __future__ import annotations

from datetime import datetime

from firmware.host.codec import Message
from firmware.host.messages import read_original
from firmware.host.spec import TxnKind
from firmware.hostsim.ledger import PostingStatus
from firmware.hostsim.rules import RequestFacts, Rule, declines

__all__ = ["PREAUTH_NAMING", "TOLERANCE_PERCENT", "PreauthMixin"]

TOLERANCE_PERCENT = 15  # a completion may exceed its pre-auth by this much (UnionPay)
PREAUTH_NAMING = frozenset({TxnKind.PREAUTH_VOID, TxnKind.PREAUTH_COMPLETE, TxnKind.PREAUTH_COMPLETE_VOID})
_GONE = (PostingStatus.DECLINED.value, PostingStatus.REVERSED.value)


class PreauthMixin:
    """Cancel, completion and completion void handling of ``HostProcessor`` (``processor.py``)."""

    def _preauth_named(self, request: Message, facts: RequestFacts, rule: Rule | None, now: datetime) -> object:
        f = request.fields
        if any(n not in f for n in (3, 4, 11, 41)):
            return self._answer(request, "30", now, "format error: a mandatory field is missing")
        stamp, date, existing = self._duplicate_of(request, now)
        if existing is not None:
            return self._answer(request, "94", now, "duplicate, not posted again")
        code = self._pin_verdict(request, rule) or (rule.code if declines(rule) else "00")
        original, what = None, None
        if code in self.profile.approved_codes:
            original, refusal = self._held_original(request, facts.kind)
            if refusal is not None:
                code, what = refusal
        approved, rrn, auth = self._post(request, facts.kind.value, date, stamp, code, original)
        if not approved:
            return self._answer(request, code, now, what or f"{facts.kind.value} declined", rrn=rrn)
        if facts.kind is TxnKind.PREAUTH_COMPLETE:  # the completion names it: completed from now on
            what = f"pre-auth STAN {original['stan']} completed"
        else:
            self.ledger.set_status(original["id"], PostingStatus.VOIDED, stamp)
            what = (f"pre-auth STAN {original['stan']} cancelled, hold released" if facts.kind is TxnKind.PREAUTH_VOID
                    else f"completion STAN {original['stan']} voided, its pre-auth held again")
        return self._answer(request, code, now, what, rrn=rrn, auth_code=auth)

    def _completion_advice(self, request: Message, facts: RequestFacts, rule: Rule | None, now: datetime) -> object:
        f = request.fields
        if any(n not in f for n in (3, 4, 11, 41)):
            return self._answer(request, "30", now, "format error: a mandatory field is missing")
        stamp, date, existing = self._duplicate_of(request, now)
        if existing is not None:  # the advice again (0221): answered as the first time, posted once
            return self._answer(request, existing["response_code"], now, "advice repeat, already posted",
                                rrn=existing["rrn"], auth_code=existing["auth_code"])
        if declines(rule) and rule.code in self.profile.try_again_codes:  # not processed: its repeat will be
            return self._answer(request, rule.code, now, "advice not processed by rule, not posted")
        code, what, original = (rule.code, "advice declined by rule", None) if declines(rule) else ("00", None, None)
        if code in self.profile.approved_codes:
            original, refusal = self._held_original(request, TxnKind.PREAUTH_COMPLETE)
            if refusal is not None:
                code, what = refusal
        approved, rrn, _ = self._post(request, TxnKind.PREAUTH_COMPLETE.value, date, stamp, code, original, auth=False)
        if not approved:
            return self._answer(request, code, now, what or "completion advice declined", rrn=rrn)
        return self._answer(request, code, now, f"completion advice posted, pre-auth STAN {original['stan']} completed",
                            rrn=rrn)

    def _held_original(self, request: Message, kind: TxnKind) -> tuple[dict | None, tuple[str, str] | None]:
        """(what the request names, None), or (None, (code, why))."""
        named = read_original(self.profile, request)
        amount = int(request.fields[4])
        if kind is TxnKind.PREAUTH_COMPLETE_VOID:
            if named is None:
                return None, ("25", "completion void without its original, not posted")
            posting = self.ledger.original_posting(
                request.fields[41], f"{named.stan:06d}", kinds=(TxnKind.PREAUTH_COMPLETE.value,),
                batch=f"{named.batch:06d}" if self._batch(request) is not None else None, rrn=named.rrn)
            if posting is None or posting["status"] in _GONE:
                return None, ("25", f"completion STAN {named.stan:06d} not found, not posted")
            if posting["status"] == PostingStatus.VOIDED.value:
                return None, ("94", f"completion STAN {named.stan:06d} already voided, not posted")
            if self.ledger.refunded(posting["id"]):  # its whole amount back again on top of the refunds: never
                return None, ("12", f"completion STAN {named.stan:06d} was refunded, not voided")
            if posting["amount"] != amount:
                return None, ("64", f"completion STAN {named.stan:06d} has another amount, not posted")
            return posting, None
        if named is None or not named.auth_code or not named.date:
            return None, ("25", "without the pre-auth's auth code and date, not posted")
        posting = self.ledger.preauth_by_auth(named.auth_code, named.date)
        if posting is None and self.profile.reversal_original is not None:
            # iso87 names the pre-auth's date by its transmission time (field 90, in GMT), which is the
            # day before or after the local date its posting carries when made near midnight
            for date in _neighbour_days(named.date):
                posting = posting or self.ledger.preauth_by_auth(named.auth_code, date)
        if posting is None or posting["status"] in _GONE:
            return None, ("25", f"pre-auth {named.auth_code} of {named.date} not found, not posted")
        if posting["status"] == PostingStatus.VOIDED.value:
            return None, ("12", f"pre-auth {named.auth_code} was cancelled, not posted")
        if self.ledger.completion_of(posting["id"]) is not None:
            return None, ("12", f"pre-auth {named.auth_code} was completed, not posted")
        held = posting["amount"]
        if kind is TxnKind.PREAUTH_VOID and amount != held:
            return None, ("64", f"cancel of {amount} for a pre-auth of {held}, not posted")
        if kind is TxnKind.PREAUTH_COMPLETE and amount > held + held * TOLERANCE_PERCENT // 100:
            return None, ("64", f"completion of {amount} over pre-auth {held} + {TOLERANCE_PERCENT}%, not posted")
        return posting, None


def _neighbour_days(mmdd: str) -> tuple[str, ...]:
    """The days either side of a month-day (MMDD), in a leap year so that 29 February has neighbours."""
    from datetime import date, timedelta

    try:
        day = date(2024, int(mmdd[:2]), int(mmdd[2:]))
    except ValueError:
        return ()
    return tuple((day + timedelta(days=n)).strftime("%m%d") for n in (-1, 1))
