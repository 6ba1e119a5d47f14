"""The host simulator's transfers (转账, a mixin of ``HostProcessor``).

A transfer (0200, processing code 40) moves the amount from the card to the
destination account its profile carries (cup field 48, iso87 field 103). The
host checks what the terminal cannot, then posts it as a sale is posted
(duplicates answered 94, reversals undo it, a rule's decline and a wrong PIN as
for a sale). Deterministic answers:

* ``30`` when the destination field is missing or not 12 to 19 digits;
* ``14`` when a card-shaped destination (16-19 digits, first digit 3-6) fails Luhn;
* ``12`` when the destination is the card itself;
* else what ``_financial`` answers.

A transfer is not the merchant's money: the ledger's totals leave it out
(``ledger.DEBIT_KINDS``), as the terminal's do. The destination is never
logged or stored; the message log names it masked.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from crypto.secrets import mask_pan
from firmware.host.codec import Message
from firmware.hostsim.rules import RequestFacts, Rule
from hal.pinpad.account import ACCOUNT_MAX, ACCOUNT_MIN, card_shaped, luhn_ok

__all__ = ["TransferMixin"]


class TransferMixin:
    """Transfer handling of ``HostProcessor`` (``processor.py``)."""

    def _transfer(self, request: Message, facts: RequestFacts, rule: Rule | None, now: datetime) -> object:
        spec = self.profile.transactions[facts.kind]
        dest = request.fields.get(spec.account_field or -1, "")
        if not (dest.isascii() and dest.isdigit() and ACCOUNT_MIN <= len(dest) <= ACCOUNT_MAX):
            return self._answer(request, "30", now, "transfer without a usable destination account, not posted")
        raw = dest.encode("ascii")
        if card_shaped(raw) and not luhn_ok(raw):
            return self._answer(request, "14", now, f"transfer to {mask_pan(dest)}: check digit wrong, not posted")
        pan = request.fields.get(2) or request.fields.get(35, "").partition("=")[0]
        if hmac.compare_digest(pan.encode("ascii"), raw):
            return self._answer(request, "12", now, "transfer to the card itself, not posted")
        outcome = self._financial(request, facts, rule, now, advice=False)
        outcome.action = f"transfer to {mask_pan(dest)}: {outcome.action}"
        return outcome
