"""The settlement side of ``Store``: a batch's totals, its upload, and the settlements table.

Why a module of its own: what a batch's settlement counts is defined once, here
(``_DEBIT``, ``_CREDIT`` and the lines the report lists apart), and both the
totals and the batch upload are read from exactly those rows, so the two can
never disagree. ``SettlementMixin`` is one of the mixins ``storage.store.Store``
is made of; it uses the store's ``conn``, ``commits``, ``_query`` and
``_write_counters``. ``close_batch`` and ``upload_done`` are durable steps
(one commit each; each drops the sealed card data of a batch nothing owes an upload
for, ``_FORGET_CARDS``); ``mark_report_printed`` has no fsync of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from firmware.core.batch import (
    Settlement,
    SettleResult,
    Totals,
    UploadEntry,
    UploadPlan,
)
from firmware.core.model import BatchHeld, Counters, Kind
from firmware.errors import StorageError
from storage.archive import EARLIER, archive_batch, live_batch
from storage.db import storage_error, transaction
from storage.journal import ADVICE_ACCEPTED
from storage.live import UPLOAD_OWED, batch_floor
from storage.spans import SPAN_COLUMNS, SPAN_OF, stan_settled

__all__ = ["SettlementMixin", "UPLOADED", "NO_UPLOAD", "CARDS_DONE"]

SETTLE_SENDING = "settle.sending"  # settings key: the batch whose 0500 went unanswered (settle_sending)
UPLOAD_PROGRESS = "upload.progress"  # settings key: batch:part:messages:count of an owed upload (upload_progress)

# What a batch's settlement counts, in one place: its totals and its upload are these rows
# (journal j LEFT JOIN offline_queue q). Debit: approved sales, and offline-approved ones the
# host accepted (their advice done with an approved code or 94, "already had it"); a voided
# sale stays in. Credit: approved voids and refunds (退货), as UnionPay terminals count them.
# A pre-auth (预授权) and its cancel only hold and release funds: neither counts. Its
# completion (预授权完成) is a debit, the completion's void a credit (a voided completion stays in).
# A completion made without the host (预授权完成通知) counts as an offline sale does: once the host accepted it.
# The kinds _DEBIT and _CREDIT count (the core's Flow.in_totals; a credit is a Flow.refund). A batch's
# records of these kinds that were neither declined nor reversed are what its settlement may yet count,
# each side on its own (batch_held).
DEBIT_KINDS = ("sale", "preauth_complete")
CREDIT_KINDS = ("void", "refund", "preauth_complete_void")
TOTALS_KINDS = DEBIT_KINDS + CREDIT_KINDS
# A journal row its batch's settlement may count (``batch_held``, ``batch_opened``).
_HELD = f"kind IN {TOTALS_KINDS} AND state NOT IN ('declined', 'reversed', 'lost')"
_DEBIT = (f"(j.kind IN {DEBIT_KINDS} AND (j.state = 'approved' OR (j.state = 'offline_approved' "
          f"AND {ADVICE_ACCEPTED})))")
_CREDIT = f"(j.kind IN {CREDIT_KINDS} AND j.state = 'approved')"
_REFUND = "(j.kind = 'refund' AND j.state = 'approved')"  # among the credits; the report lists them apart
_SETTLED_ROWS = "journal j LEFT JOIN offline_queue q USING (txn_no)"
# Among the debits and credits: the completions and their voids, for the report's own lines (v8).
_COMPLETION = f"({_DEBIT} AND j.kind = 'preauth_complete')"
_COMPLETION_VOID = "(j.kind = 'preauth_complete_void' AND j.state = 'approved')"
# settlements.uploaded: 0 not uploaded (owed when not balanced), 1 uploaded, 2 the profile has none (iso87).
UPLOADED, NO_UPLOAD = 1, 2
# The sealed PAN and expiry a journal row keeps (journal.card) have one reader: the batch upload
# (``card_blob``, for the 0320s). Once the row's batch is settled and no upload of it is owed (balanced,
# uploaded, or a profile with none), nothing can read them again, so they go (PCI DSS 3.2.1: keep cardholder
# data only as long as it is needed), in the commit that makes that so: ``close_batch`` or ``upload_done``,
# and the housekeeping's sweep of what a database settled before (``storage.housekeeping``). A reversal and
# an advice each carry their own sealed message; a refund, a void, a pre-auth's completion and a reprint
# read ``pan_hash`` and ``masked_pan``, which stay. ``secure_delete`` overwrites the freed bytes.
CARDS_DONE = f"EXISTS (SELECT 1 FROM settlements s WHERE s.batch = journal.batch AND NOT ({UPLOAD_OWED}))"
# (``?2``: the batch's floor, ``storage.live``: its rows are all from there on)
_FORGET_CARDS = (f"UPDATE journal SET card = NULL WHERE txn_no >= ?2 AND batch = ?1 AND card IS NOT NULL "
                 f"AND {CARDS_DONE}")
_SETTLEMENT_COLUMNS = ("batch, stan, debit_count, debit_amount, credit_count, credit_amount, result, uploaded, "
                       "operator, settled_at, refund_count, refund_amount, completion_count, completion_amount, "
                       "completion_void_count, completion_void_amount")


def _settlement(row: Sequence) -> Settlement:
    b, stan, dc, da, cc, ca, result, uploaded, operator, when, rc, ra, pc, pa, pvc, pva = row
    totals = Totals(dc, da, cc, ca, refund_count=rc, refund_amount=ra, completion_count=pc, completion_amount=pa,
                    completion_void_count=pvc, completion_void_amount=pva)
    return Settlement(live_batch(b), totals, SettleResult(result),
                      datetime.fromisoformat(when), stan,
                      operator or "", uploaded == UPLOADED, uploaded == NO_UPLOAD)


class SettlementMixin:
    """Settlement and batch-upload methods of ``Store`` (``store.py``); the connection lives on the store."""

    def batch_totals(self, batch: int) -> Totals:
        """The batch's totals from the journal (reads only).

        Debit and credit as ``_DEBIT`` and ``_CREDIT`` say (a voided sale stays in the
        debit total and its approved void counts as a credit, as UnionPay terminals
        count sales and voids). ``unsent``: offline sales not yet forwarded,
        reversals still due, and requests still open with their reversal armed in the row,
        in this batch: a settlement must not close over any of them.
        """
        doing = "totalling the batch"
        floor = self._floor(batch, doing)
        sums = ", ".join(f"COALESCE(SUM({c}), 0), COALESCE(SUM(CASE WHEN {c} THEN j.amount ELSE 0 END), 0)"
                         for c in (_DEBIT, _CREDIT, _REFUND, _COMPLETION, _COMPLETION_VOID))
        (debit_count, debit_amount, credit_count, credit_amount, refund_count, refund_amount,
         completion_count, completion_amount, cvoid_count, cvoid_amount), = self._query(
            f"SELECT {sums} FROM {_SETTLED_ROWS} WHERE j.txn_no >= ?2 AND j.batch = ?1", (batch, floor), doing)
        (unsent,), = self._query(
            "SELECT (SELECT COUNT(*) FROM offline_queue q JOIN journal j USING (txn_no) "
            "WHERE j.txn_no >= ?2 AND j.batch = ?1 AND q.state IN ('pending', 'sent')) + (SELECT COUNT(*) "
            "FROM reversals r JOIN journal j USING (txn_no) WHERE j.txn_no >= ?2 AND j.batch = ?1 AND r.state = 'due') "
            "+ (SELECT COUNT(*) FROM journal WHERE txn_no >= ?2 AND batch = ?1 AND state = 'requested' "
            "AND reversal IS NOT NULL)", (batch, floor), doing)
        return Totals(debit_count, debit_amount, credit_count, credit_amount, unsent, refund_count, refund_amount,
                      completion_count, completion_amount, cvoid_count, cvoid_amount)

    def _floor(self, batch: int, doing: str) -> int:
        """Where ``batch``'s journal rows start at the earliest (``storage.live.batch_floor``)."""
        try:
            return batch_floor(self.conn, batch)
        except sqlite3.Error as e:
            raise storage_error(e, doing) from None

    def batch_held(self, batch: int) -> BatchHeld:
        """The batch's transactions its settlement may count, on each side, and their amounts (the core
        refuses more than a side can count or carry)."""
        doing = "counting the batch"
        rows = self._query(
            f"SELECT kind IN {CREDIT_KINDS}, count(*), COALESCE(SUM(amount), 0) FROM journal WHERE txn_no >= ? "
            f"AND batch = ? AND {_HELD} GROUP BY 1", (self._floor(batch, doing), batch), doing)
        held = {bool(credit): (count, amount) for credit, count, amount in rows}
        return BatchHeld(*held.get(False, (0, 0)), *held.get(True, (0, 0)))

    def batch_opened(self, batch: int) -> datetime | None:
        """When the batch's first transaction its settlement counts (as ``batch_held`` counts them) was made;
        None when it holds none. Its age is what ``settle.overdue`` tells (``firmware.core.overdue``)."""
        doing = "reading the open batch's age"
        first = self._query(f"SELECT created_at FROM journal WHERE txn_no >= ? AND batch = ? AND {_HELD} "
                            "ORDER BY txn_no LIMIT 1", (self._floor(batch, doing), batch), doing)
        return datetime.fromisoformat(first[0][0]) if first else None

    def upload_entries(self, batch: int) -> list[UploadEntry]:
        """The transactions a batch upload carries: exactly those its totals count, in journal order (reads only)."""
        doing = "reading a batch to upload"
        rows = self._query(
            f"SELECT j.txn_no, j.kind, j.stan, j.amount, j.state = 'offline_approved' FROM {_SETTLED_ROWS} "
            f"WHERE j.txn_no >= ? AND j.batch = ? AND ({_DEBIT} OR {_CREDIT}) ORDER BY j.txn_no",
            (self._floor(batch, doing), batch), doing)
        return [UploadEntry(txn_no, Kind(kind), stan, amount, bool(offline)) for txn_no, kind, stan, amount, offline
                in rows]

    def close_batch(self, settlement: Settlement, counters: Counters) -> None:
        """ONE commit: the settlement row (the batch is closed, with the span of its rows, ``storage.spans``),
        the counters of the next batch, and the end of the cashier's shift (nobody is signed in for the next
        batch): so no power cut can close the batch and leave its cashier signed in."""
        s, t = settlement, settlement.totals
        floor = self._floor(s.batch, "closing the batch")  # before its settlements row exists: the mark
        with transaction(self.conn, "closing the batch") as c:
            span = c.execute(SPAN_OF, (s.batch, floor)).fetchone()  # its rows, as its totals read them
            c.execute(
                "INSERT INTO settlements (batch, stan, debit_count, debit_amount, credit_count, credit_amount, "
                "result, uploaded, operator, settled_at, report_printed, refund_count, refund_amount, "
                "completion_count, completion_amount, completion_void_count, completion_void_amount, "
                f"{', '.join(SPAN_COLUMNS)}) VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?,?,?,?,?)",
                (s.batch, s.stan, t.debit_count, t.debit_amount, t.credit_count, t.credit_amount, s.result.value,
                 NO_UPLOAD if s.no_upload else int(s.uploaded), s.operator, s.when.isoformat(timespec="seconds"),
                 t.refund_count, t.refund_amount, t.completion_count, t.completion_amount,
                 t.completion_void_count, t.completion_void_amount, *span),
            )
            if counters.batch != s.batch:  # the wrap: history under the next number is archived first
                archive_batch(c, counters.batch)
            self._write_counters(c, counters)
            c.execute(_FORGET_CARDS, (s.batch, floor))  # when no upload is owed: nothing reads them again
            c.execute("UPDATE operators SET signed_in_at = NULL WHERE signed_in_at IS NOT NULL")
            c.execute("DELETE FROM settings WHERE key = ?", (SETTLE_SENDING,))  # the 0500 was answered
        self.commits += 1

    def settle_sending(self, batch: int, sending: bool = True) -> None:
        """ONE commit before a batch's 0500 leaves (``sending``), or after the host refused it: while it
        stands, the batch takes no transaction (the host may have closed it unheard); ``close_batch``
        clears it with the settlement."""
        with transaction(self.conn, "recording a settlement under way") as c:
            if sending:
                c.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (SETTLE_SENDING, str(batch)))
            else:
                c.execute("DELETE FROM settings WHERE key = ?", (SETTLE_SENDING,))
        self.commits += 1

    def settle_resolved(self, batch: int, note: str) -> None:
        """``posterm journal resolve --settlement``: the acquirer says ``batch`` is still open though a 0500 of it
        went unanswered (and the host refuses every one since). ONE commit: the mark goes, so the batch takes
        transactions again, and the supervisor's note stays beside it (settings ``settle.resolved.<batch>``)."""
        with transaction(self.conn, "resolving a settlement by hand") as c:
            c.execute("DELETE FROM settings WHERE key = ?", (SETTLE_SENDING,))
            c.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (f"settle.resolved.{batch}", note))
        self.commits += 1

    def settle_interrupted(self, batch: int) -> bool:
        """At start-up: ``batch``'s 0500 went and no answer to it was recorded."""
        rows = self._query("SELECT value FROM settings WHERE key = ?", (SETTLE_SENDING,), "reading the settlement")
        return bool(rows) and rows[0][0] == str(batch)

    def upload_done(self, batch: int) -> None:
        """The host acknowledged the end of the batch's upload: ONE commit, before the report prints."""
        floor = self._floor(batch, "recording a batch upload")  # while the upload is still owed: the mark
        with transaction(self.conn, "recording a batch upload") as c:
            cur = c.execute("UPDATE settlements SET uploaded = ? WHERE batch = ?", (UPLOADED, batch))
            if cur.rowcount != 1:
                raise StorageError(f"batch {batch:06d} has no settlement", code="storage.missing_record")
            c.execute("DELETE FROM settings WHERE key = ?", (UPLOAD_PROGRESS,))
            c.execute(_FORGET_CARDS, (batch, floor))  # the upload was their last reader
        self.commits += 1

    def upload_progress(self, batch: int, part: int, plan: UploadPlan) -> None:
        """The host acknowledged the upload's messages before ``part``. No fsync of its own (a note like a
        printed mark): a power cut can lose it, and then those messages go again, which the host takes as the
        same upload. The plan's shape and digest (which transactions each message carries) are kept with it, so
        a progress never applies to another plan."""
        with self._unsynced("noting a batch upload's progress") as c:
            c.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                      (UPLOAD_PROGRESS, f"{batch}:{part}:{plan.messages}:{plan.count}:{plan.digest}"))

    def upload_resume(self, batch: int, plan: UploadPlan) -> int:
        """At start-up: where ``batch``'s owed upload goes on (0: from its first message), if the progress
        noted is this batch's and this very plan's (the journal of a closed batch does not change, so the
        plan made again at boot is the same; if it ever were not, the upload starts again whole)."""
        rows = self._query("SELECT value FROM settings WHERE key = ?", (UPLOAD_PROGRESS,), "reading an upload")
        if not rows:
            return 0
        noted = rows[0][0].split(":")
        if len(noted) != 5 or not all(x.isdigit() for x in noted[:4]):
            return 0
        b, part, messages, count = map(int, noted[:4])
        if (b, messages, count, noted[4]) != (batch, plan.messages, plan.count, plan.digest) or part > plan.messages:
            return 0
        return part

    def upload_owed(self) -> Settlement | None:
        """The oldest settlement whose batch upload is owed, if any (its report waits for it)."""
        rows = self._query(f"SELECT batch FROM settlements WHERE {UPLOAD_OWED} ORDER BY settled_at, batch LIMIT 1",
                           (), "reading an owed upload")
        return self.settlement(rows[0][0]) if rows else None

    def mark_report_printed(self, batch: int) -> None:
        """Like ``mark_printed``: no fsync of its own; the worst a power cut does is print it again."""
        try:
            self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with transaction(self.conn, "marking a report printed") as c:
                    c.execute("UPDATE settlements SET report_printed = 1 WHERE batch = ?", (batch,))
            finally:
                self.conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as e:
            raise storage_error(e, "marking a report printed") from None

    def settlement(self, batch: int) -> Settlement | None:
        rows = self._query(f"SELECT {_SETTLEMENT_COLUMNS} FROM settlements WHERE batch = ?", (batch,),
                           "reading a settlement")
        return _settlement(rows[0]) if rows else None

    def last_settlement(self) -> Settlement | None:
        """The newest settlement (batch numbers wrap: the newest is the last settled)."""
        rows = self._query(f"SELECT {_SETTLEMENT_COLUMNS} FROM settlements ORDER BY settled_at DESC, batch DESC "
                           "LIMIT 1", (), "reading a settlement")
        return _settlement(rows[0]) if rows else None

    def settled_batches(self) -> list[int]:
        return [r[0] for r in self._query("SELECT batch FROM settlements ORDER BY batch", (), "reading settlements")]

    def earlier_batches(self, batch: int) -> list[int]:
        """The stored numbers of the archived batches that had this live number (``storage.archive``), oldest first.
        Each candidate N + 1000000k up to the highest stored number is sought by key (the settlements' and
        ``journal_archived``'s, ``migration_steps._v13``): a few seeks, not a read of every archived row."""
        doing = "reading earlier batches"
        (rounds,), = self._query(f"SELECT MAX(COALESCE((SELECT MAX(batch) FROM settlements), 0), COALESCE((SELECT "
                                 f"MAX(batch) FROM journal WHERE batch >= {EARLIER}), 0)) / {EARLIER}", (), doing)
        numbers = [batch + EARLIER * k for k in range(1, rounds + 1)]
        if not numbers:
            return []
        marks = ",".join("?" * len(numbers))
        return [r[0] for r in self._query(
            f"SELECT batch FROM settlements WHERE batch IN ({marks}) UNION "
            f"SELECT batch FROM journal WHERE batch >= {EARLIER} AND batch IN ({marks}) ORDER BY 1",
            (*numbers, *numbers), doing)]

    def in_settled_batch(self, stan: int) -> bool:
        """A journal record with this trace belongs to a batch already settled (a void of it is refused):
        read in the settled batches' spans (``storage.spans``), not by a scan of the journal."""
        try:
            return stan_settled(self.conn, stan)
        except sqlite3.Error as e:
            raise storage_error(e, "looking up an original transaction") from None
