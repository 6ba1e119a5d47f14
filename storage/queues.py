"""The queues side of ``Store``: reversals and offline advices, from due (or sent) to done or lost.

Why a module of its own: a queued message has a life of its own after the
sale's two commits (sent, repeated, answered, or lost when no key can open it
any more), and each of those steps is one commit here. Its sealed message is
read back here too. ``QueueMixin`` is one of the mixins ``storage.store.Store``
is made of; it uses the store's ``conn``, ``commits`` and ``_blob``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from firmware.core.model import Copy, JournalState
from storage.db import transaction
from storage.journal import COPY_OWED, _now

__all__ = ["QueueMixin"]


def _reason(replace: bool) -> str:
    """The SQL for a journal row's new reason: the given one, or the one it had, if any (a decline's code
    or the error that made a reversal due outranks "reversal lost")."""
    return "?" if replace else "COALESCE(reason, ?)"


class QueueMixin:
    """Reversal and advice queue methods of ``Store`` (``store.py``); the connection lives on the store."""

    def reversal_done(self, txn_no: int, response_code: str | None, reason: str = "98") -> None:
        """The host acknowledged the reversal. The journal keeps why it was reversed."""
        self._end_reversal(txn_no, "done", reason, JournalState.REVERSED, reason, "recording a reversal")

    def reversal_sending(self, txn_no: int, reason: str) -> None:
        """Before a reversal's first transmission: from now on every attempt is a repeat, after a
        restart too. No fsync of its own (``Store._unsynced``): a power cut can lose the mark, and
        then the repeat goes as a first 0400, never anything worse. One still armed in its request's
        row (a request that got no answer) moves to the queue as due, as an outcome would move it."""
        now = _now()
        with self._unsynced("noting a reversal sent") as c:
            self._make_due(c, txn_no, reason, now)
            c.execute(
                "UPDATE journal SET state=?, reason=COALESCE(reason, ?), reversal=NULL, updated_at=? "
                "WHERE txn_no=? AND reversal IS NOT NULL",
                (JournalState.REVERSING.value, reason, now, txn_no),
            )
            c.execute("UPDATE reversals SET attempts=attempts+1, updated_at=? WHERE txn_no=? AND state='due'",
                      (now, txn_no))

    @staticmethod
    def _make_due(c, txn_no: int, reason: str, now: str) -> None:
        """An armed reversal (in its request's journal row) joins the queue as due; the caller's
        update of the row clears ``journal.reversal`` in the same transaction."""
        c.execute(
            "INSERT INTO reversals (txn_no, state, reason, message, created_at, updated_at) "
            "SELECT txn_no, 'due', ?, reversal, ?, ? FROM journal WHERE txn_no=? AND reversal IS NOT NULL",
            (reason, now, now, txn_no),
        )

    def advice_sending(self, txn_no: int) -> None:
        """Before the first transmission: from now on every attempt is a repeat."""
        self.advices_sending((txn_no,))

    def advices_sending(self, txn_nos: Sequence[int]) -> None:
        """ONE commit marking a whole window of advices sent before any of their frames leaves
        (``host.upload_window``): from now on every attempt of each is a repeat."""
        now = _now()
        with transaction(self.conn, "recording an advice attempt") as c:
            c.executemany(
                "UPDATE offline_queue SET state='sent', attempts=attempts+1, updated_at=? WHERE txn_no=?",
                [(now, txn_no) for txn_no in txn_nos],
            )
        self.commits += 1

    def advice_outcome(
        self,
        txn_no: int,
        state: JournalState,
        response_code: str | None,
        *,
        rrn: str | None = None,
        auth_code: str | None = None,
        settle_date: str | None = None,
        copies: Iterable[Copy] = (),
    ) -> None:
        """ONE commit: a refund sent again got its answer: its record takes the outcome (and owes
        ``copies``, its receipts, printed next), its queue entry closes.

        Only a record still open takes it (one whose outcome was committed is left as it is).
        """
        now = _now()
        reason = None if state is JournalState.APPROVED else response_code
        copies = set(copies)
        owed = {c: (COPY_OWED if c in copies else None) for c in Copy}
        with transaction(self.conn, "recording a re-sent request's answer") as c:
            c.execute(
                "UPDATE offline_queue SET state='done', message=NULL, response_code=?, accepted=?, updated_at=? "
                "WHERE txn_no=?",
                (response_code, int(state is JournalState.APPROVED), now, txn_no),
            )
            c.execute(
                "UPDATE journal SET state=?, response_code=?, rrn=?, auth_code=?, settle_date=?, reason=?, "
                "merchant_copy=?, cardholder_copy=?, updated_at=? WHERE txn_no=? AND state=?",
                (JournalState(state).value, response_code, rrn, auth_code, settle_date, reason,
                 owed[Copy.MERCHANT], owed[Copy.CARDHOLDER], now, txn_no, JournalState.REQUESTED.value),
            )
        self.commits += 1

    def advice_done(self, txn_no: int, response_code: str | None, *, accepted: bool, rrn: str | None = None,
                    auth_code: str | None = None, settle_date: str | None = None) -> None:
        """A stored advice answered: its queue entry closed with the host's code and the core's verdict on it
        (``accepted``: what the totals count) and the host's reference (RRN, and for an acceptance the
        authorisation code and settlement date) on its journal record where the record has none."""
        now = _now()
        with transaction(self.conn, "recording a forwarded advice") as c:
            c.execute(
                "UPDATE offline_queue SET state='done', message=NULL, response_code=?, accepted=?, updated_at=? "
                "WHERE txn_no=?",
                (response_code, int(accepted), now, txn_no),
            )
            if rrn or auth_code or settle_date:
                c.execute(
                    "UPDATE journal SET rrn=COALESCE(rrn, ?), auth_code=COALESCE(auth_code, ?), "
                    "settle_date=COALESCE(settle_date, ?), updated_at=? WHERE txn_no=?",
                    (rrn or None, auth_code or None, settle_date or None, now, txn_no),
                )
        self.commits += 1

    def mark_lost(self, txn_no: int, what: str, *, note: str | None = None) -> None:
        """A queued reversal or advice that will never be sent: no key can open its sealed message any
        more (keys destroyed), or a supervisor gave it up by hand (``give_up``; ``note`` says why, and
        replaces the journal's reason).

        Kept, not deleted: the journal record says LOST, so the merchant and the
        acquirer can reconcile it by hand.
        """
        if what == "reversal":
            self._end_reversal(txn_no, "lost", None, JournalState.LOST, note or "reversal lost",
                               "marking a reversal lost", replace_reason=note is not None)
            return
        if what != "advice":
            raise ValueError(what)
        now = _now()
        with transaction(self.conn, "marking an advice lost") as c:
            c.execute("UPDATE offline_queue SET state='lost', message=NULL, updated_at=? WHERE txn_no=?", (now, txn_no))
            c.execute(
                f"UPDATE journal SET state=?, reason={_reason(note is not None)}, updated_at=? WHERE txn_no=?",
                (JournalState.LOST.value, note or "advice lost", now, txn_no),
            )
        self.commits += 1

    def queued_for(self, txn_no: int) -> str | None:
        """What this record still has waiting to be sent: "reversal" (queued, or armed in its row),
        "advice" (an offline sale's, or a refund's repeat) or None."""
        rows = self._query(
            "SELECT EXISTS (SELECT 1 FROM reversals WHERE txn_no=?1 AND state='due') "
            "OR EXISTS (SELECT 1 FROM journal WHERE txn_no=?1 AND reversal IS NOT NULL), "
            "EXISTS (SELECT 1 FROM offline_queue WHERE txn_no=?1 AND state IN ('pending', 'sent'))",
            (txn_no,), "reading a record's queue")
        reversal, advice = rows[0]
        return "reversal" if reversal else "advice" if advice else None

    def _end_reversal(
        self, txn_no: int, state: str, reason: str | None, journal: JournalState, why: str, doing: str,
        *, replace_reason: bool = False,
    ) -> None:
        """A reversal sent or lost, wherever it waited (its journal row or the queue); the message goes."""
        now = _now()
        with transaction(self.conn, doing) as c:
            c.execute(
                "INSERT INTO reversals (txn_no, state, reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(txn_no) DO UPDATE SET state=excluded.state, "
                "reason=COALESCE(excluded.reason, reason), message=NULL, updated_at=excluded.updated_at",
                (txn_no, state, reason, now, now),
            )
            c.execute(
                f"UPDATE journal SET state=?, reason={_reason(replace_reason)}, reversal=NULL, updated_at=? "
                "WHERE txn_no=?",
                (journal.value, why, now, txn_no),
            )
        self.commits += 1

    # -- sealed messages ---------------------------------------------------
    def reversal_message(self, txn_no: int) -> bytes:
        return self._blob(
            "SELECT COALESCE((SELECT message FROM reversals WHERE txn_no=?1), "
            "(SELECT reversal FROM journal WHERE txn_no=?1))",
            txn_no,
            "reversal",
        )

    def advice_message(self, txn_no: int) -> bytes:
        return self._blob("SELECT message FROM offline_queue WHERE txn_no=?", txn_no, "advice")
