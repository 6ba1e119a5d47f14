"""Reversals at the simulated host: what a reversal names, undoing a posting once, and a reversal
that overtakes its original.

A reversal finds what it reverses by terminal, STAN and amount (the STAN and MTI from
iso87's field 90 when it carries one). Applied once: a repeat changes nothing. One that
names nothing posted yet is kept (``Ledger.early_reversals``) and applied when its
original arrives: a terminal that lost its power just after sending reverses at once on
a new connection, which this host, one thread per connection, may read before the old.
``ReversalMixin`` is one of ``HostProcessor``'s mixins (``processor.py``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from firmware.host.codec import Message
from firmware.host.spec import TxnKind
from firmware.hostsim.ledger import PostingStatus
from firmware.hostsim.rules import RequestFacts, Rule, declines

if TYPE_CHECKING:
    from firmware.hostsim.processor import _Outcome

__all__ = ["ReversalMixin"]


class ReversalMixin:
    """Reversal handling of ``HostProcessor`` (``processor.py``); state lives on the processor."""

    def _reversed_named(self, request: Message) -> tuple[str | None, str | None]:
        """(STAN, MTI) of what a reversal reverses: iso87's field 90 names both (the reversal's
        STAN in 11 may then be its own); without it, the STAN in 11."""
        rev, f = self.profile.reversal_original, request.fields
        named = rev.split(f[rev.number]) if rev is not None and rev.number in f else None
        return (f.get(11), None) if named is None else (named["stan"], named["mti"])

    def _mti_of(self, posting: dict) -> str | None:
        """The MTI the request of a posting travelled in, by its kind (an advice: the offline sale's)."""
        try:
            spec = self.profile.transactions.get(TxnKind(posting["kind"]))
        except ValueError:
            return None
        return spec.mti if spec is not None else None

    def _reversal(self, request: Message, facts: RequestFacts, rule: Rule | None, now: datetime) -> _Outcome:
        if declines(rule):
            return self._answer(request, rule.code, now, "reversal declined by rule, not applied")
        f = request.fields
        stamp = now.isoformat(timespec="seconds")
        stan, mti = self._reversed_named(request)
        posting = None
        if stan is not None and 41 in f and facts.amount is not None:
            posting = self.ledger.posting_for_reversal(f[41], stan, facts.amount)
        if posting is not None and mti is not None and self._mti_of(posting) != mti:
            posting = None  # field 90 names another message than the one posted under that STAN
        if posting is None:
            if stan is not None and 41 in f and facts.amount is not None:  # it may have overtaken its original
                self.ledger.remember_early_reversal(f[41], stan, facts.amount, mti, stamp)
            return self._answer(request, "00", now, "reversal of an unknown original, acknowledged")
        return self._answer(request, "00", now, self._apply_reversal(posting, stamp))

    def _apply_reversal(self, posting: dict, stamp: str) -> str:
        """Undo one posting (once: a repeat changes nothing); what was done, for the message log."""
        self.ledger.bump(posting["id"], "reversals", stamp)
        if posting["status"] == PostingStatus.REVERSED.value:
            return "reversal repeat, already applied"
        if posting["status"] == PostingStatus.DECLINED.value:
            return "reversal of a declined transaction, nothing to undo"
        self.ledger.set_status(posting["id"], PostingStatus.REVERSED, stamp)
        original = self.ledger.get(posting["original_id"]) if posting.get("original_id") else None
        if original is not None and original["status"] == PostingStatus.VOIDED.value:
            self.ledger.set_status(original["id"], PostingStatus.APPROVED, stamp)  # the void is undone
            return f"reversed, STAN {original['stan']} approved again"
        return "reversed"

    def _overtaken(self, request: Message, facts: RequestFacts, outcome: _Outcome, stamp: str) -> _Outcome:
        """A request whose reversal came first. A terminal that lost its power just after sending
        reverses the request at once when it restarts, on a new connection, which a host may read
        before the old one (as this simulator's connection threads may): a real switch keeps such
        a reversal and applies it when the original arrives, and so does this one. The answer
        stays as it was (nobody waits for it); the posting is reversed, once."""
        f = request.fields
        if 41 not in f or 11 not in f or facts.amount is None:
            return outcome
        early = self.ledger.take_early_reversal(f[41], f[11], facts.amount)
        if early is None:
            return outcome
        posting = self.ledger.posting_for_reversal(f[41], f[11], facts.amount)
        if posting is None or (early["mti"] is not None and self._mti_of(posting) != early["mti"]):
            return outcome  # it posted nothing, or the reversal named another message
        return replace(outcome, action=f"{outcome.action}; {self._apply_reversal(posting, stamp)} by the reversal "
                                       "that came first")
