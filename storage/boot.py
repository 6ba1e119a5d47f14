"""What a restart resumes from: the start-up reads of ``Store``.

Why a module of its own: at start-up the terminal reads everything that
survived the last run (the counters, due reversals, queued advices, owed
receipts and reports, requests a power cut left open, the open batch's state)
into one ``BootState`` for the core; nothing here writes. The durable steps that
wrote all that are in ``store.py``, ``queues.py`` and ``settlements.py``.
``BootMixin`` is one of the mixins ``storage.store.Store`` is made of; it uses
the store's ``_query`` and the look-ups of the other mixins.

The counters are implied by the newest journal row unless saved ones are newer
(``_after``): a sale's commit writes them only when the row does not imply them
(``Store.open_request``), which is why they are worked out here and there alike.
"""

from __future__ import annotations

from datetime import datetime

from firmware.core.flows import flow_of
from firmware.core.model import (
    STAN_MAX,
    BootState,
    Copy,
    Counters,
    Kind,
    PendingAdvice,
    PendingReversal,
    PrintJob,
)
from storage.archive import EARLIER, is_earlier, live_batch
from storage.journal import _JOURNAL_COLUMNS, COPY_OWED
from storage.live import UPLOAD_OWED

__all__ = ["BootMixin"]


def _counted_in(kind: Kind, batch: int) -> int | None:
    """The open batch whose totals count a record with a reversal due (``PendingReversal.counted_in``):
    its own, as ``batch_held`` counts it, unless its kind is outside the totals or its batch archived."""
    return batch if flow_of(kind).in_totals and not is_earlier(batch) else None


def _after(txn_no: int, stan: int, batch: int) -> Counters:
    """The counters right after a request with these numbers was opened."""
    return Counters(stan=stan % STAN_MAX + 1, batch=batch, txn_no=txn_no + 1)


class BootMixin:
    """Start-up reads of ``Store`` (``store.py``); the connection lives on the store."""

    def counters(self) -> Counters:
        """The saved counters, or those implied by the newest journal row if it is newer."""
        rows = dict(self._query("SELECT name, value FROM counters", (), "reading counters"))
        saved = Counters(stan=rows.get("stan", 1), batch=rows.get("batch", 1), txn_no=rows.get("txn_no", 1))
        last = self._query("SELECT txn_no, stan, batch FROM journal ORDER BY txn_no DESC LIMIT 1", (), "reading counters")
        if last and last[0][0] >= saved.txn_no:  # journal numbers never wrap: the row is newer
            txn_no, stan, batch = last[0]
            return _after(txn_no, stan, live_batch(batch))  # an archived row never names the batch to resume in
        return saved

    def boot_state(self) -> BootState:
        """Everything a restart must resume: counters, due reversals, queued advices, owed receipts."""
        live = self._live_from()  # rows below it owe nothing (storage.live): each read below is a rowid range
        reversals = tuple(
            PendingReversal(txn_no, stan, amount, reason or "98", sent_before=bool(sent), kind=Kind(kind),
                            counted_in=_counted_in(Kind(kind), batch))
            for txn_no, stan, amount, reason, sent, kind, batch in self._query(
                # armed ones (still in their journal row) are due if we restart now, and were never sent
                "SELECT r.txn_no, j.stan, j.amount, r.reason, r.attempts > 0, j.kind, j.batch FROM reversals r "
                "JOIN journal j USING (txn_no) WHERE r.state = 'due' "
                "UNION ALL SELECT txn_no, stan, amount, NULL, 0, kind, batch FROM journal WHERE txn_no >= ? "
                "AND reversal IS NOT NULL ORDER BY 1",
                (live,),
                "reading pending reversals",
            )
        )
        advices = tuple(
            PendingAdvice(txn_no, stan, amount, datetime.fromisoformat(created), state == "sent", Kind(kind),
                          record=None if kind == Kind.SALE.value else self.record(txn_no))  # a refund's, for its receipt
            for txn_no, stan, amount, created, state, kind in self._query(
                # offline sales, and refunds waiting to be sent again (their kind says which)
                "SELECT q.txn_no, q.stan, q.amount, q.created_at, q.state, j.kind FROM offline_queue q "
                "JOIN journal j USING (txn_no) WHERE q.state IN ('pending', 'sent') ORDER BY q.txn_no",
                (),
                "reading the offline queue",
            )
        )
        receipts: list[PrintJob] = []
        for row in self._query(
            f"SELECT {_JOURNAL_COLUMNS}, merchant_copy, cardholder_copy FROM journal "
            "WHERE txn_no >= ? AND (merchant_copy = 0 OR cardholder_copy = 0) "
            "AND state IN ('approved', 'offline_approved') ORDER BY txn_no",
            (live,),
            "reading owed receipts",
        ):
            record = self._full(row)
            for copy, owed in ((Copy.MERCHANT, row[-2]), (Copy.CARDHOLDER, row[-1])):
                if owed == COPY_OWED:
                    receipts.append(PrintJob(record, copy, recovered=True))
        interrupted = tuple(
            r[0]
            for r in self._query(
                "SELECT txn_no FROM journal WHERE txn_no >= ? AND state = 'requested' ORDER BY txn_no", (live,),
                "reading open requests"
            )
        )
        # (an archived batch's report is not owed here: its number is another batch's now; storage.archive)
        owed = self._query(f"SELECT batch FROM settlements WHERE report_printed = 0 AND NOT ({UPLOAD_OWED}) "
                           f"AND batch < {EARLIER} ORDER BY settled_at DESC, batch DESC LIMIT 1", (),
                           "reading an owed report")
        report = self.settlement(owed[0][0]) if owed else None
        counters = self.counters()
        newest = self._query("SELECT created_at FROM journal ORDER BY txn_no DESC LIMIT 1", (), "reading the journal")
        return BootState(counters, reversals, advices, tuple(receipts), interrupted, report=report,
                         last_report=self.last_settlement(), last_receipt=self.last_receipt(),
                         batch_held=self.batch_held(counters.batch),
                         settle_interrupted=self.settle_interrupted(counters.batch),
                         opened=self.batch_opened(counters.batch),
                         latest=datetime.fromisoformat(newest[0][0]) if newest else None)
