"""The journal's row format and the read-only look-ups of ``Store``: records, and the originals a
void, refund, cancel or completion names.

Why apart from the writes: these only read (``posterm report`` runs them beside
the terminal on a read-only connection), and the judging of an original (what
voids, refunds and completions already name it) is one piece of logic used by
every look-up. The row format (columns, copy marks, timestamps) is here too,
because the durable steps in ``store.py`` and ``queues.py`` write the rows these
read. ``JournalMixin`` is one of the mixins ``storage.store.Store`` is made of;
it uses the store's ``_query`` and ``_blob``. The journal is never emptied, so no
look-up a sale, void, refund, completion or report makes reads every row ever written:
a batch's rows are a range of journal numbers (the open batch's from the journal's
low-water mark on, ``storage.live``; a settled batch's its recorded span,
``storage.spans``), and an original named by RRN or authorisation code, and what names a
record, are found by partial indexes (``migration_steps._v13``) that cost a sale's commits
no page but the RRN's. A query reaches such an index only by naming the index's own
condition or one that implies it (``rrn = ?`` implies ``rrn IS NOT NULL``; ``kind`` is
written as the literal ``'preauth'``, not a parameter): ``tests/storage/test_lookup_plans.py``
holds each look-up to its plan.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from firmware.core.model import (
    AdviceAnswer,
    EntryMode,
    JournalState,
    Kind,
    OriginalFacts,
    OriginalRef,
    SaleRecord,
)
from firmware.errors import StorageError
from storage.archive import is_earlier, live_batch
from storage.db import storage_error
from storage.spans import LAST, batch_span

__all__ = ["JournalMixin", "OriginalMatch", "Listed", "COPY_OWED", "COPY_PRINTED", "COPY_SKIPPED"]

# journal.merchant_copy and cardholder_copy: a receipt copy owed, printed or skipped (NULL: none owed).
COPY_OWED, COPY_PRINTED, COPY_SKIPPED = 0, 1, 2

_JOURNAL_COLUMNS = (
    "txn_no, kind, state, amount, currency, stan, batch, created_at, terminal_id, merchant_id, operator, "
    "masked_pan, entry_mode, pin_entered, response_code, rrn, auth_code, settle_date, reason, original_txn_no, "
    "orig_rrn, orig_date, orig_auth, dest_masked"
)
_COLUMN_NAMES = tuple(c.strip() for c in _JOURNAL_COLUMNS.split(","))
_ORIGINAL_COLUMNS = "txn_no, kind, amount, currency, stan, batch, created_at, masked_pan, rrn, auth_code"

# The kinds that undo the record they name (its "claims"): a void, a pre-auth's cancel, a completion's void.
_UNDOING = (Kind.VOID.value, Kind.PREAUTH_VOID.value, Kind.PREAUTH_COMPLETE_VOID.value)
# A stored advice's fate (journal j LEFT JOIN offline_queue q): the host accepted it, or answered it
# with a refusal. ``q.accepted`` is the core's verdict, kept with the code (``AdviceDone``; schema 11);
# an answer recorded without one (before schema 11, or by firmware rolled back to schema 10) counts
# as that firmware did: 00 or 94. One place for the settlement's totals (settlements.py), the reprint,
# and what the journal says an advice-completion did to its pre-auth.
_ADVICE_VERDICT = "COALESCE(q.accepted, q.response_code IN ('00', '94'))"
ADVICE_ACCEPTED = f"(q.state = 'done' AND {_ADVICE_VERDICT})"
ADVICE_REFUSED = f"(j.state = 'offline_approved' AND q.state = 'done' AND NOT {_ADVICE_VERDICT})"

# What names a record, as (original's journal number, namer's) rows: one place for the look-ups that answer
# it for the records numbered ``:lo`` to ``:hi`` (``voided()`` and the others, read by the batch report, the
# streamed listing, ``listing()``, and a reprint): a range of ``journal_original`` (``original_txn_no``, where
# set; ``migration_steps._v13``), so only the namers of those records are read, however old the journal.
_NAMER_ARGS = {
    "approved": JournalState.APPROVED.value, "offline": JournalState.OFFLINE_APPROVED.value,
    "void": Kind.VOID.value, "preauth_void": Kind.PREAUTH_VOID.value,
    "complete_void": Kind.PREAUTH_COMPLETE_VOID.value, "complete": Kind.PREAUTH_COMPLETE.value,
    "refund": Kind.REFUND.value,
}
# approved voids (a pre-auth's cancel and a completion's void count as its void) -> the void's number
_VOIDS = ("SELECT j.original_txn_no, j.txn_no FROM journal j WHERE j.original_txn_no BETWEEN :lo AND :hi "
          "AND j.state IN (:approved, :offline) AND j.kind IN (:void, :preauth_void, :complete_void)")
# approved completions (or a completion advice the host accepted), not voided since -> the completion's number
_COMPLETIONS = ("SELECT j.original_txn_no, j.txn_no FROM journal j LEFT JOIN offline_queue q USING (txn_no) "
                "WHERE j.original_txn_no BETWEEN :lo AND :hi AND j.kind = :complete "
                f"AND (j.state = :approved OR (j.state = :offline AND {ADVICE_ACCEPTED})) AND NOT EXISTS "
                "(SELECT 1 FROM journal v WHERE v.txn_no > j.txn_no AND v.original_txn_no = j.txn_no "
                "AND v.kind = :complete_void AND v.state = :approved)")
# approved refunds -> what they took back in all
_REFUNDS = ("SELECT j.original_txn_no, SUM(j.amount) FROM journal j WHERE j.original_txn_no BETWEEN :lo AND :hi "
            "AND j.state = :approved AND j.kind = :refund GROUP BY j.original_txn_no")
# What the host made of a record's stored advice, once it answered (an offline sale or completion): joined to
# a journal row j, three columns (answered, code, accepted) that ``_advised`` puts on the record, so the
# listing, a batch's records and a reprint say an advice the host refused (AU21 H1) as the settlement counts it.
_ADVICE_JOIN = "LEFT JOIN offline_queue q ON q.txn_no = j.txn_no AND q.state = 'done' AND j.state = 'offline_approved'"
_ADVICE_ANSWER = f"q.txn_no IS NOT NULL, q.response_code, {_ADVICE_VERDICT}"
_ADVICE_WIDTH = 3


def _advised(record: SaleRecord, answer: Sequence) -> SaleRecord:
    answered, code, accepted = answer
    return replace(record, advice=AdviceAnswer(code, bool(accepted))) if answered else record


# The listing: each row with what names it, joined by SQLite (its namers only, held in SQLite's own temporary
# index, never a dict over the journal in Python), in journal order so rows are read as they are written out.
# MAX: should two name one record, the newest, as the look-ups' dicts keep it.
_LISTING = (
    f"WITH v(n, by) AS (SELECT original_txn_no, MAX(txn_no) FROM ({_VOIDS}) GROUP BY 1), "
    f"c(n, by) AS (SELECT original_txn_no, MAX(txn_no) FROM ({_COMPLETIONS}) GROUP BY 1), "
    f"r(n, total) AS ({_REFUNDS}) "
    f"SELECT {', '.join('j.' + c for c in _COLUMN_NAMES)}, {_ADVICE_ANSWER}, v.by, r.total, c.by "
    "FROM journal j LEFT JOIN v ON v.n = j.txn_no LEFT JOIN r ON r.n = j.txn_no LEFT JOIN c ON c.n = j.txn_no "
    f"{_ADVICE_JOIN} WHERE j.txn_no BETWEEN :lo AND :hi AND (:batch IS NULL OR j.batch = :batch) ORDER BY j.txn_no"
)


@dataclass(frozen=True)
class Listed:
    """One record of the journal's listing (``posterm journal``) with what names it: the approved void's (or
    cancel's) journal number, what approved refunds took back, the approved completion's number, and, for a
    record of an archived batch, that batch's stored number (``storage.archive``; what ``report --batch`` takes)."""

    record: SaleRecord
    voided_by: int | None = None
    refunded: int = 0
    completed_by: int | None = None
    earlier_batch: int | None = None

@dataclass(frozen=True)
class OriginalMatch:
    """What the journal holds about the record a trace names, for judging a void of it.

    ``pan_hash`` (the keyed hash of its PAN) lets the runner check the card
    swiped for the void; it is kept out of the ``repr``. ``claims`` are the
    states of the voids that already name it; ``advice`` the state of its
    offline forwarding and whether the host accepted it, if it was approved offline;
    ``advice_refused`` that the host answered that advice with a refusal (``ADVICE_REFUSED``).
    """

    facts: OriginalFacts
    state: JournalState
    pan_hash: bytes = field(repr=False)
    claims: tuple[JournalState, ...] = ()
    advice: tuple[str, bool] | None = None
    refunds: tuple[tuple[JournalState, int], ...] = ()  # (state, amount) of each refund naming it
    completions: tuple[JournalState, ...] = ()  # a pre-auth's completions, those not voided since
    advice_refused: bool = False


def _original(row: Sequence) -> OriginalFacts:
    return OriginalFacts(
        txn_no=row[0],
        kind=Kind(row[1]),
        amount=row[2],
        currency=row[3],
        stan=row[4],
        batch=live_batch(row[5]),  # the number the host knew, should the batch be archived (storage.archive)
        when=datetime.fromisoformat(row[6]),
        masked_pan=row[7],
        rrn=row[8],
        auth_code=row[9],
    )


def _now() -> str:
    """A row's timestamp as the tables hold it (``created_at``, ``updated_at``)."""
    return datetime.now().isoformat(timespec="seconds")


def _record(row: Sequence) -> SaleRecord:
    return SaleRecord(
        txn_no=row[0],
        kind=Kind(row[1]),
        state=JournalState(row[2]),
        amount=row[3],
        currency=row[4],
        stan=row[5],
        batch=live_batch(row[6]),  # as above
        when=datetime.fromisoformat(row[7]),
        terminal_id=row[8] or "",
        merchant_id=row[9] or "",
        operator=row[10] or "",
        masked_pan=row[11],
        entry_mode=EntryMode(row[12]),
        pin_entered=bool(row[13]),
        response_code=row[14],
        rrn=row[15],
        auth_code=row[16],
        settle_date=row[17],
        reason=row[18],
        reference=(OriginalRef(row[20] or "", row[21], row[22] or "") if (row[20] or row[22]) else None),
        account=row[23],  # a transfer's destination, masked
        earlier=is_earlier(row[6]),  # an archived batch's: not the open batch's, though its number may be
    )


class JournalMixin:
    """Read-only journal methods of ``Store`` (``store.py``); the connection lives on the store."""

    def card_blob(self, txn_no: int) -> bytes:
        return self._blob("SELECT card FROM journal WHERE txn_no=?", txn_no, "card")

    def record(self, txn_no: int) -> SaleRecord:
        rows = self._query(f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE txn_no=?", (txn_no,), "reading the journal")
        if not rows:
            raise StorageError(f"journal record {txn_no} is missing", code="storage.missing_record")
        return self._full(rows[0])

    def batch_records(self, batch: int) -> list[SaleRecord]:
        """Every journal record of one batch, in journal order: a range of the rowid, the open batch's from the
        journal's mark on (``storage.live``), a settled batch's its recorded span (``storage.spans``)."""
        doing = "reading the journal"
        first, last = self._span(batch, doing)
        width = len(_COLUMN_NAMES)
        rows = self._query(f"SELECT {', '.join('j.' + c for c in _COLUMN_NAMES)}, {_ADVICE_ANSWER} FROM journal j "
                           f"{_ADVICE_JOIN} WHERE j.txn_no BETWEEN ? AND ? AND j.batch = ? ORDER BY j.txn_no",
                           (first, last, batch), doing)
        return [_advised(self._full(r[:width]), r[width:]) for r in rows]

    def _span(self, batch: int, doing: str) -> tuple[int, int]:
        """The journal numbers between which ``batch``'s rows lie (``storage.spans.batch_span``)."""
        try:
            return batch_span(self.conn, batch)
        except sqlite3.Error as e:
            raise storage_error(e, doing) from None

    def journal(self, *, limit: int | None = None) -> list[SaleRecord]:
        """Every record (or the first ``limit``) as a list: for tests and small journals. A listing of a
        terminal's journal streams (``listing``), since a list of every record grows with the terminal's age."""
        sql = f"SELECT {_JOURNAL_COLUMNS} FROM journal ORDER BY txn_no"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._full(r) for r in self._query(sql, (), "reading the journal")]

    def listing(self, *, batch: int | None = None, last: int | None = None) -> Iterator[Listed]:
        """The journal's records in journal order, each with what names it, read from a cursor as the caller
        takes them: memory stays flat however old the journal. ``batch``: only that batch's (its stored number:
        an archived batch's is N + 1000000 * k), read in its span (``storage.spans``); ``last``: only the newest
        ``last`` of them. What names the records listed is read for those records only (``_NAMER_ARGS``)."""
        doing = "reading the journal"
        lo, hi = (0, LAST) if batch is None else self._span(batch, doing)
        if last is not None:  # the number the newest ``last`` start at: a walk back along the rowid
            if last < 1:
                return
            rows = self._query("SELECT txn_no FROM journal WHERE txn_no BETWEEN :lo AND :hi AND (:batch IS NULL OR "
                               "batch = :batch) ORDER BY txn_no DESC LIMIT 1 OFFSET :skip",
                               {"lo": lo, "hi": hi, "batch": batch, "skip": last - 1}, doing)
            lo = rows[0][0] if rows else lo  # fewer than ``last``: all of them
        try:
            cursor = self.conn.execute(_LISTING, {**_NAMER_ARGS, "lo": lo, "hi": hi, "batch": batch})
            width, batch_at = len(_COLUMN_NAMES), _COLUMN_NAMES.index("batch")
            named = width + _ADVICE_WIDTH
            for row in cursor:
                voided_by, refunded, completed_by = row[named:]
                stored = row[batch_at]
                yield Listed(_advised(self._full(row[:width]), row[width:named]), voided_by, refunded or 0,
                             completed_by, stored if is_earlier(stored) else None)
        except sqlite3.Error as e:
            raise storage_error(e, doing) from None

    def last_receipt(self) -> SaleRecord | None:
        """The newest transaction that printed (or owes) receipts: what a reprint of the last receipt prints."""
        rows = self._query(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE state IN ('approved', 'offline_approved') "
            "AND (merchant_copy IS NOT NULL OR cardholder_copy IS NOT NULL) ORDER BY txn_no DESC LIMIT 1", (),
            "reading the last receipt")
        return self._with_advice(self._full(rows[0]), "reading the last receipt") if rows else None

    def _with_advice(self, record: SaleRecord, doing: str) -> SaleRecord:
        """A record approved offline with what the host made of its advice, if it answered: a reprint says it."""
        if record.state is not JournalState.OFFLINE_APPROVED:
            return record
        answered = self._query(f"SELECT {_ADVICE_ANSWER} FROM journal j {_ADVICE_JOIN} WHERE j.txn_no = ?",
                               (record.txn_no,), doing)
        return _advised(record, answered[0]) if answered else record

    def record_by_trace(self, stan: int, batch: int) -> tuple[SaleRecord, int | None] | None:
        """The record with this trace in the open batch ``batch`` (the newest, should the STAN have wrapped), with
        the trace of the approved void (a pre-auth's cancel, a completion's void) that undid it since, or None:
        what a reprint by trace prints (``firmware.core.reprint``). Reads only, as ``find_original``: the open
        batch's rows from the journal's mark on (a rowid range), and the voids naming the record (an index)."""
        doing = "looking up a receipt to reprint"
        first, last = self._span(batch, doing)
        rows = self._query(f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE txn_no BETWEEN ? AND ? AND batch = ? "
                           "AND stan = ? ORDER BY txn_no DESC LIMIT 1", (first, last, batch, stan), doing)
        if not rows:
            return None
        record = self._with_advice(self._full(rows[0]), doing)
        voids = self._query(f"SELECT stan FROM journal WHERE txn_no = (SELECT MAX(txn_no) FROM ({_VOIDS}))",
                            {**_NAMER_ARGS, "lo": record.txn_no, "hi": record.txn_no}, doing)
        return record, (voids[0][0] if voids else None)

    def find_original(self, stan: int, batch: int) -> OriginalMatch | None:
        """The record with this trace in this batch (the newest, should the STAN have wrapped), or None.

        Reads only; safe facts plus the card's keyed hash. A void's batch is the open one, whose rows are a
        rowid range from the journal's mark (``storage.live``); a settled batch's are its span (``storage.spans``).
        """
        doing = "looking up an original transaction"
        first, last = self._span(batch, doing)
        rows = self._query(
            f"SELECT {_ORIGINAL_COLUMNS}, state, pan_hash FROM journal WHERE txn_no BETWEEN ? AND ? AND batch=? "
            "AND stan=? ORDER BY txn_no DESC LIMIT 1",
            (first, last, batch, stan),
            doing,
        )
        if not rows:
            return None
        return self._match(rows[0], doing)

    def find_by_reference(self, rrn: str, date: str) -> OriginalMatch | None:
        """The record a refund names: this reference number (RRN), made on this date (MMDD), in any
        batch (the newest, should an RRN repeat); or None. Reads only: the rows with this RRN, newest first,
        by ``journal_rrn`` (``migration_steps._v13``), the date a filter on those few.

        ``facts.refunded`` holds what approved and unresolved refunds of it already take back.
        """
        doing = "looking up a refund's original"
        if len(date) != 4 or not date.isdigit():
            return None
        rows = self._query(
            f"SELECT {_ORIGINAL_COLUMNS}, state, pan_hash FROM journal WHERE rrn=? AND substr(created_at, 6, 5)=? "
            "ORDER BY txn_no DESC LIMIT 1",
            (rrn, f"{date[:2]}-{date[2:]}"),
            doing,
        )
        if not rows:
            return None
        match = self._match(rows[0], doing)
        counted = (JournalState.APPROVED, JournalState.REQUESTED, JournalState.REVERSING, JournalState.LOST)
        refunded = sum(amount for state, amount in match.refunds if state in counted)
        # still to go: keyed, not answered (a LOST one never goes: it counts against what is left, not as unsent)
        pending = sum(amount for state, amount in match.refunds if state in (JournalState.REQUESTED, JournalState.REVERSING))
        return replace(match, facts=replace(match.facts, refunded=refunded, refund_pending=pending))

    def _match(self, row: Sequence, doing: str) -> OriginalMatch:
        """An original's row with the voids, refunds and completions that name it and its offline forwarding.

        A pre-auth's completion whose void was approved no longer completes it (the
        pre-auth holds again), nor does a completion advice the host refused (it never
        took the funds): both are left out of ``completions``."""
        facts = _original(row)
        named = self._query(  # what names a record (journaled after it): seeks in ``journal_original``
            "SELECT j.kind, j.state, j.amount, EXISTS (SELECT 1 FROM journal v WHERE v.txn_no > j.txn_no "
            f"AND v.original_txn_no = j.txn_no AND v.kind = ? AND v.state = ?) OR {ADVICE_REFUSED} "
            "FROM journal j LEFT JOIN offline_queue q USING (txn_no) WHERE j.txn_no > ?3 AND j.original_txn_no = ?3 "
            "ORDER BY j.txn_no",
            (Kind.PREAUTH_COMPLETE_VOID.value, JournalState.APPROVED.value, facts.txn_no), doing)
        claims = tuple(JournalState(state) for kind, state, _, _ in named if kind in _UNDOING)
        refunds = tuple((JournalState(state), amount) for kind, state, amount, _ in named if kind == Kind.REFUND.value)
        completions = tuple(JournalState(state) for kind, state, _, undone in named
                            if kind == Kind.PREAUTH_COMPLETE.value and not undone)
        advice = self._query(f"SELECT q.state, q.state = 'done' AND {_ADVICE_VERDICT}, {ADVICE_REFUSED} "
                             "FROM offline_queue q JOIN journal j USING (txn_no) WHERE q.txn_no=?",
                             (facts.txn_no,), doing)
        forwarding = (advice[0][0], bool(advice[0][1])) if advice else None
        refused = bool(advice and advice[0][2])
        return OriginalMatch(facts, JournalState(row[10]), bytes(row[11] or b""), claims, forwarding, refunds,
                             completions, refused)

    def find_by_auth(self, auth_code: str, date: str) -> OriginalMatch | None:
        """The pre-auth a cancel or completion names: this authorisation code, made on this date (MMDD),
        in any batch (the newest, should a code repeat); or None. Reads only: the pre-auths with this code,
        newest first, by ``journal_preauth`` (whose condition the literal kind matches), the date a filter."""
        doing = "looking up a pre-authorisation"
        if len(date) != 4 or not date.isdigit():
            return None
        rows = self._query(
            f"SELECT {_ORIGINAL_COLUMNS}, state, pan_hash FROM journal WHERE kind = '{Kind.PREAUTH.value}' "
            "AND auth_code=? AND substr(created_at, 6, 5)=? ORDER BY txn_no DESC LIMIT 1",
            (auth_code, f"{date[:2]}-{date[2:]}"),
            doing,
        )
        return self._match(rows[0], doing) if rows else None

    def voided(self, batch: int | None = None) -> dict[int, int]:
        """Journal numbers of the records an approved void names -> that void's journal number (a pre-auth's
        cancel and a completion's void count as its void). Of ``batch``'s records (the batch report's: read
        in its span, ``storage.spans``), or of the whole journal."""
        return dict(self._query(_VOIDS, self._named_in(batch, "reading the voids"), "reading the voids"))

    def refunded(self, batch: int | None = None) -> dict[int, int]:
        """Journal numbers of the records approved refunds name -> the amount they took back in all
        (of ``batch``'s records, or of the whole journal, as ``voided``)."""
        return dict(self._query(_REFUNDS, self._named_in(batch, "reading the refunds"), "reading the refunds"))

    def _named_in(self, batch: int | None, doing: str) -> dict:
        """``_NAMER_ARGS`` for the records of ``batch`` (its span may hold other batches' too: harmless, the
        callers look their own records up), or of the whole journal."""
        lo, hi = (0, LAST) if batch is None else self._span(batch, doing)
        return {**_NAMER_ARGS, "lo": lo, "hi": hi}

    def _full(self, row: Sequence) -> SaleRecord:
        """A journal row as a record, with its original's facts when it names one (a void)."""
        record = _record(row)
        original_txn_no = row[19]
        if original_txn_no is None:
            return record
        rows = self._query(
            f"SELECT {_ORIGINAL_COLUMNS} FROM journal WHERE txn_no=?", (original_txn_no,), "reading an original"
        )
        return replace(record, original=_original(rows[0])) if rows else record
