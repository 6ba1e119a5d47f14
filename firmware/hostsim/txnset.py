"""The host simulator's refunds and balance inquiries (a mixin of ``HostProcessor``).

Refund (cup: 0220, and its repeat 0221; iso87: a 0200 with processing code
200000): the original is the sale, offline sale or pre-auth completion (online
or its advice) the request names by RRN (field 37) and local date (cup's 61.3,
iso87's 90, whose transmission date stands for it), from any terminal and any
batch. The host answers

* ``25`` when no such approved sale or completion exists (unknown RRN or date, declined or
  reversed), ``12`` when it was voided;
* ``64`` when this refund and the approved refunds before it would together
  exceed the sale's amount (a partial refund is fine);
* ``55``/``99`` for a wrong or unreadable PIN block, a rule's code when a rule declines;
* ``00`` otherwise, posting the refund once (a credit in the batch totals).

A repeat of a cup refund already seen (terminal + STAN + date) posts nothing and
answers what the first one was answered: a refund is sent again, never
reversed, and must count once whatever the number of attempts. An iso87 refund
is a request like a sale: one seen before is a duplicate (``94``, nothing
posted), and its reversal (0400) undoes it (``reversals.py``), so what it paid
back may be refunded again.

Balance inquiry (0200, processing code 31): no posting, no amount; the PIN is
checked and the answer carries a deterministic balance for the card in field
54 (``lab_balance``), available balance in the terminal's currency.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from firmware.host.balance import AVAILABLE, Balance, format_balance
from firmware.host.codec import Message
from firmware.host.messages import read_original
from firmware.hostsim.ledger import PostingStatus
from firmware.hostsim.rules import RequestFacts, Rule, declines

__all__ = ["TxnSetMixin", "lab_balance", "BALANCE_ACCOUNT_TYPE"]

BALANCE_ACCOUNT_TYPE = "10"  # savings: the lab cards are debit accounts
_REFUNDABLE = ("sale", "offline_sale", "preauth_complete")  # what a refund may name: a sale or a completion (退货)


def lab_balance(pan: str) -> int:
    """The simulator's balance for a card, in minor units: the same card always has the same
    balance (0.00 to 99,999.99), derived from its PAN; tests compute it the same way."""
    return int.from_bytes(hashlib.sha256(pan.encode("ascii")).digest()[:4], "big") % 10_000_000


class TxnSetMixin:
    """Refund and balance handling of ``HostProcessor`` (``processor.py``)."""

    def _refund(self, request: Message, facts: RequestFacts, rule: Rule | None, now: datetime, *,
                repeat: bool) -> object:
        f = request.fields
        if any(n not in f for n in (3, 4, 11, 41)):
            return self._answer(request, "30", now, "format error: a mandatory field is missing")
        stamp, date, existing = self._duplicate_of(request, now)
        if existing is not None and request.mti not in (self.profile.mtis.advice, self.profile.mtis.advice_repeat):
            return self._answer(request, "94", now, "duplicate, not posted again")  # a request (iso87), as a sale's
        if existing is not None:  # sent again: answer as the first time, post nothing
            return self._answer(request, existing["response_code"], now,
                                f"refund {'repeat' if repeat else 'duplicate'}, answered as before, not posted again",
                                rrn=existing["rrn"], auth_code=existing["auth_code"])
        code = self._pin_verdict(request, rule) or (rule.code if declines(rule) else "00")
        original, what = None, None
        if code in self.profile.approved_codes:
            original, refusal = self._refund_original(request)
            if refusal is not None:
                code, what = refusal
        approved, rrn, auth = self._post(request, "refund", date, stamp, code, original)
        if approved:
            what = f"refund approved, of STAN {original['stan']} ({original['terminal_id']})"
        return self._answer(request, code, now, what or "refund declined", rrn=rrn, auth_code=auth)

    def _refund_original(self, request: Message) -> tuple[dict | None, tuple[str, str] | None]:
        """(the sale a refund names, None), or (None, (code, why))."""
        original = read_original(self.profile, request)
        amount = int(request.fields[4])
        if original is None or not original.rrn or not original.date:
            return None, ("25", "refund without its original's RRN and date, not posted")
        posting = self.ledger.refund_original(original.rrn, original.date, kinds=_REFUNDABLE)
        gone = (PostingStatus.DECLINED.value, PostingStatus.REVERSED.value)
        if posting is None or posting["status"] in gone:
            return None, ("25", f"original RRN {original.rrn} of {original.date} not found, not posted")
        if posting["status"] == PostingStatus.VOIDED.value:
            return None, ("12", f"original RRN {original.rrn} was voided, not posted")
        before = self.ledger.refunded(posting["id"])
        if before + amount > posting["amount"]:
            return None, ("64", f"refunds of RRN {original.rrn} would reach {before + amount} of "
                                f"{posting['amount']}, not posted")
        return posting, None

    def _balance(self, request: Message, rule: Rule | None, now: datetime) -> object:
        f = request.fields
        if any(n not in f for n in (3, 11, 41)) or not (f.get(2) or f.get(35)):
            return self._answer(request, "30", now, "format error: a mandatory field is missing")
        code = self._pin_verdict(request, rule) or (rule.code if declines(rule) else "00")
        rrn = f"{self.ledger.next_value('rrn'):012d}"
        outcome = self._answer(request, code, now, "balance inquiry" if code == "00" else "balance inquiry declined",
                               rrn=rrn)
        if code not in self.profile.approved_codes or 54 not in self.profile.fields:
            return outcome
        pan = f.get(2) or f.get(35, "").partition("=")[0]
        currency = f.get(49) or "156"
        block = format_balance(Balance(lab_balance(pan), currency, AVAILABLE, BALANCE_ACCOUNT_TYPE))
        fields = dict(outcome.response.fields)
        fields[54] = block
        outcome.response = outcome.response.copy(fields=dict(sorted(fields.items())))
        return outcome
