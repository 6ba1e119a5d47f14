"""Settlement and batch upload at the simulated host: the end of a terminal's batch.

Why a module of its own: the financial path (``processor.py`` and its other
mixins) posts one request at a time; a settlement (0500) instead compares the
terminal's totals with the ledger's for a whole batch and closes it, answered in
the profile's layout (cup's field 48 result digit, iso87's field 66), and a
batch upload (0320, cup only) checks each transaction it carries against its
posting. iso87 requests carry no batch, so its 0500 first books the terminal's
postings not yet in a batch into the batch it names. ``SettlementMixin`` is one
of ``HostProcessor``'s mixins (``processor.py``), which routes these messages
here; the ledger's side is ``ledger.py``, the message layouts
``firmware.host.settlement``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from firmware.errors import ProtocolError
from firmware.host.codec import Message
from firmware.host.settlement import (
    UploadKind,
    read_totals,
    read_upload,
    settlement_layout,
    with_result,
)
from firmware.host.spec import FieldKind
from firmware.hostsim.rules import Behaviour, Rule, declines

if TYPE_CHECKING:
    from firmware.hostsim.processor import _Outcome

__all__ = ["SettlementMixin"]


class SettlementMixin:
    """Settlement and batch upload handling of ``HostProcessor`` (``processor.py``); state lives on the processor."""

    def _carries_totals(self, request: Message) -> bool:
        """A 0500 with the profile's totals fields (cup's 48, iso87's 74-89 and 97); else it is not understood."""
        try:
            layout = settlement_layout(self.profile)
        except ProtocolError:
            return False
        return any(n in request.fields for n in layout.totals_fields)

    @property
    def _requests_carry_batch(self) -> bool:
        """cup's requests carry their batch (60.2); iso87's do not (its 0500 names the batch)."""
        f60 = self.profile.fields.get(60)
        return f60 is not None and f60.kind is FieldKind.N

    def _settle(self, request: Message, rule: Rule | None, now: datetime) -> _Outcome:
        """Compare the terminal's totals with the ledger's for that terminal and batch; close the batch.

        A rule with behaviour ``unbalanced`` (or ``report_unbalanced``) answers "not balanced" whatever the totals;
        one that declines answers its code and leaves the batch open.
        iso87: the terminal's postings not yet in a batch are booked into the one the 0500 names first.
        """
        if declines(rule):
            return self._answer(request, rule.code, now, "settlement declined by rule, batch left open")
        f = request.fields
        layout = settlement_layout(self.profile)
        try:
            theirs, _foreign = read_totals(self.profile, request)
        except ProtocolError:
            return self._answer(request, "30", now, "settlement: totals unreadable")
        number = layout.batch_of(request)
        batch = f"{number:06d}" if number is not None else None
        if not self._requests_carry_batch:
            if batch is None:
                return self._answer(request, "30", now, "settlement: no batch number")
            self.ledger.assign_batch(f.get(41, ""), batch)
        ours = self.ledger.batch_totals(f.get(41, ""), batch)
        mine = (theirs.debit_count, theirs.debit_amount, theirs.credit_count, theirs.credit_amount)
        forced = self.report_unbalanced or (rule is not None and rule.behaviour is Behaviour.UNBALANCED)
        balanced = mine == ours and not forced
        result = "1" if balanced else "2"
        self.ledger.close_batch(f.get(41, ""), batch, result, now.isoformat(timespec="seconds"))
        outcome = self._answer(request, "00", now, f"settlement batch {batch}: {'balanced' if balanced else 'unbalanced'}")
        return replace(outcome, response=with_result(self.profile, outcome.response, request, result))

    def _upload(self, request: Message, now: datetime) -> _Outcome:
        """A batch upload 0320: each transaction checked against the ledger's posting of that terminal,
        batch and trace (amount and masked card number) and recorded; the same upload again is the
        same upload. The end message records the count. Answered 0330 (no card data echoed)."""
        request.sensitive = request.sensitive | {48}  # field 48 carries card numbers here
        f = request.fields
        terminal, stamp = f.get(41, ""), now.isoformat(timespec="seconds")
        try:
            upload = read_upload(self.profile, request)
        except ProtocolError as exc:
            return self._upload_answer(request, "30", now, f"batch upload unreadable ({exc.code})")
        batch = f"{upload.batch:06d}" if upload.batch is not None else None
        if upload.kind is UploadKind.END:
            held = self.ledger.end_upload(terminal, batch, upload.count, stamp)
            what = f"batch {batch} upload end: {upload.count} declared, {held} held"
            return self._upload_answer(request, "00", now, what)
        new = matched = 0
        for line in upload.lines:
            posting = self.ledger.batch_posting(terminal, batch, f"{line.stan:06d}")
            ok = (posting is not None and posting["amount"] == line.amount
                  and posting["pan_masked"] == line.masked_pan and posting["status"] in ("approved", "voided"))
            matched += ok
            new += self.ledger.record_upload(terminal, batch, f"{line.stan:06d}", line.amount, line.masked_pan, ok,
                                             stamp)
        what = (f"batch {batch} upload: {len(upload.lines)} transaction(s), {matched} matching the ledger, "
                f"{len(upload.lines) - new} already held")
        return self._upload_answer(request, "00", now, what)

    def _upload_answer(self, request: Message, code: str, now: datetime, action: str) -> _Outcome:
        outcome = self._answer(request, code, now, action)
        fields = {n: v for n, v in outcome.response.fields.items() if n not in self.profile.sensitive_fields}
        return replace(outcome, response=outcome.response.copy(fields=fields))
