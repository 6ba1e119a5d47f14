"""What each schema version changes: one function a version, in order, and in each one's
docstring why its result is usable by the firmware it names (its ``readable_by``).

Kept apart from ``storage.migrations``, which holds the table of versions (``MIGRATIONS``:
each step with its ``readable_by``, read by other firmware's updaters as a syntax tree)
and the machinery that applies the steps in one transaction after a snapshot, records
who can use the result and judges a database found newer. These functions are the
schema's history, what the journal's columns mean and since when; that module is how
any history is applied, and changes for other reasons. A step is only ever added: an
installed terminal's database went through the old ones exactly as they are written.

Table overview (version 13):

``journal``        one row per transaction: amounts, STAN, batch, masked PAN, a
                   keyed hash of the PAN for look-ups, the sealed PAN/expiry,
                   the host's answer and the state of each receipt copy. Since
                   version 3 a void names its original (``original_txn_no``); since 5 a
                   refund the reference number and date it was keyed with; since 6 a
                   pre-auth's cancel or completion the authorisation code (``orig_auth``);
                   since 9 a transfer its masked destination account (``dest_masked``).
                   Since 13 partial indexes for the look-ups of originals (``_v13``): none
                   costs a sale a page but the RRN's.
``reversals``      reversals that are due (sealed message), then ``done`` or ``lost``.
                   Since version 2 the ready-made reversal of a request waits in its
                   journal row (``journal.reversal``) and moves here only when needed.
``offline_queue``  stored sales to forward, sealed, with their delivery state; since 11 the
                   core's verdict on the host's answer (``accepted``) beside its code.
``counters``       STAN, batch and journal numbers.
``settings``       small key/value state (sign-on time, heartbeat, the schema records that
                   ``storage.migrations`` writes).
``settlements``    one row per closed batch: totals sent, the host's result, the report's state (v4);
                   refunds kept apart among the credits (v5);
                   completions and their voids kept apart (v10). A batch number used
                   again moves its history to N + 1,000,000k (``storage.archive``, v12).
                   The span of journal numbers and traces of the batch's rows (v13).
``operators``      cashiers (01-99) and the supervisor (00): a salted scrypt hash of each
                   password, never the password, and whether the operator may sign in (v7);
                   wrong passwords in a row, a lock-out, and who is signed in (v8).

Migrations use sqlite-utils (``db`` is a ``sqlite_utils.Database``), imported only when one is due.
"""

from __future__ import annotations

__all__: list[str] = []  # the steps are reached through storage.migrations.MIGRATIONS


def _v1(db) -> None:
    db["journal"].create(
        {
            "txn_no": int,
            "kind": str,
            "state": str,
            "amount": int,
            "currency": str,
            "stan": int,
            "batch": int,
            "created_at": str,
            "terminal_id": str,
            "merchant_id": str,
            "operator": str,
            "masked_pan": str,
            "pan_hash": bytes,
            "card": bytes,
            "entry_mode": str,
            "pin_entered": int,
            "response_code": str,
            "rrn": str,
            "auth_code": str,
            "settle_date": str,
            "reason": str,
            "merchant_copy": int,  # NULL not wanted, 0 owed, 1 printed, 2 skipped
            "cardholder_copy": int,
            "updated_at": str,
        },
        pk="txn_no",
        not_null={"kind", "state", "amount", "currency", "stan", "batch", "created_at", "masked_pan", "entry_mode"},
    )
    db["journal"].create_index(["batch", "stan"], index_name="journal_batch_stan")
    db["journal"].create_index(["pan_hash"], index_name="journal_pan_hash")
    # No index on state columns: a state changes at every commit, so such an index
    # would cost a page write per commit, and only start-up reads by state.
    db["reversals"].create(
        {"txn_no": int, "state": str, "reason": str, "message": bytes, "attempts": int, "created_at": str, "updated_at": str},
        pk="txn_no",
        foreign_keys=[("txn_no", "journal", "txn_no")],
        not_null={"state", "created_at"},
        defaults={"attempts": 0},
    )
    db["offline_queue"].create(
        {
            "txn_no": int,
            "state": str,
            "message": bytes,
            "stan": int,
            "amount": int,
            "created_at": str,
            "attempts": int,
            "response_code": str,
            "updated_at": str,
        },
        pk="txn_no",
        foreign_keys=[("txn_no", "journal", "txn_no")],
        not_null={"state", "amount", "created_at", "stan"},
        defaults={"attempts": 0},
    )
    db["counters"].create({"name": str, "value": int}, pk="name", not_null={"value"})
    db["settings"].create({"key": str, "value": str}, pk="key", not_null={"value"})


def _v2(db) -> None:
    """Fewer pages per sale: every page a commit touches is written to the log and synced.

    * The ready-made reversal waits in its request's own journal row
      (``journal.reversal``). The request commit then touches one row, and disarming
      the reversal is part of the outcome's update of that same row. It moves to
      ``reversals`` only when it becomes due.
    * No secondary indexes on the journal: each cost one more page write at every
      sale, for look-ups (by batch and STAN, by card hash) that are rare operator
      actions and scan the journal instead.

    Usable by schema 2 on: moved data. v1 code looks for armed reversals in ``reversals``
    only: after a crash it would never send the reversal of an interrupted request, and
    it would arm new ones where v2 code does not look.
    """
    db["journal"].add_column("reversal", bytes)
    db.execute(
        "UPDATE journal SET reversal = (SELECT message FROM reversals r WHERE r.txn_no = journal.txn_no) "
        "WHERE txn_no IN (SELECT txn_no FROM reversals WHERE state = 'armed')"
    )
    db.execute("DELETE FROM reversals WHERE state = 'armed'")
    db.execute("DROP INDEX IF EXISTS journal_batch_stan")
    db.execute("DROP INDEX IF EXISTS journal_pan_hash")


def _v3(db) -> None:
    """Voids: a void's journal row names its original (``journal.original_txn_no``).

    Whether a sale is voided is derived, never stored: it is voided when an
    approved void names it. The void's outcome then stays one commit of one
    row, exactly like a sale's, and the reversal of a void gives the sale back
    without touching its row. No index: looking an original up (by batch and
    STAN, and the voids that name it) is a rare operator action and scans the
    journal, where an index would cost a page write at every sale.

    Usable by schema 2 on. v2 code never names the new column (NULL for its rows, as
    for any sale) and parses void rows: its ``Kind`` has had VOID from the start, a
    void's reversal is the sealed message in its row, sent as stored, and a recovered
    void receipt prints as "VOID". It has no void or settle function, so nothing it
    does depends on which sales are voided; what it lacks is shown, not money (its
    journal listing and receipts do not name the original).
    """
    db["journal"].add_column("original_txn_no", int)


def _v4(db) -> None:
    """Settlement: one row per closed batch (its totals, the host's result, whether the report printed).

    A batch is closed exactly when its row exists: the row and the counters of the
    next batch are one commit (``Store.close_batch``). A sale's commits never touch it.

    Usable by schema 2 on: a table older code ignores. Closing a batch also moves the
    batch counter, which every version reads, so older code carries on in the next
    batch; v3 code looks a void's original up in the current batch only, so it cannot
    void a settled sale; a report still owed waits in its row for v4 code.
    """
    db["settlements"].create(
        {
            "batch": int,
            "stan": int,
            "debit_count": int,
            "debit_amount": int,
            "credit_count": int,
            "credit_amount": int,
            "result": str,
            "uploaded": int,
            "operator": str,
            "settled_at": str,
            "report_printed": int,
        },
        pk="batch",
        not_null={"stan", "debit_count", "debit_amount", "credit_count", "credit_amount", "result", "settled_at"},
        defaults={"uploaded": 0, "report_printed": 0},
    )



def _v5(db) -> None:
    """Refunds and balance inquiries.

    * ``journal.orig_rrn`` / ``journal.orig_date``: the reference number and date a
      refund names (退货 names its sale by RRN and date, and the sale may be on another
      terminal or in a settled batch). Written in the refund's own request commit, so
      its receipt, reprinted after a power cut, still shows them.
    * ``settlements.refund_count`` / ``refund_amount``: refunds are credits in the
      0500, and the stored settlement keeps them apart so that its report, printed or
      reprinted from the row, lists them on their own line.

    Usable by schema 5 only: the journal now holds approved ``refund`` rows, and
    schema-4 code, whose totals count only voids as credits, would leave them out of
    the 0500 it sends (a settlement short by every refund); its ``FLOWS`` have no row
    for a refund or a balance inquiry either.
    """
    db["journal"].add_column("orig_rrn", str)
    db["journal"].add_column("orig_date", str)
    db["settlements"].add_column("refund_count", int, not_null_default=0)
    db["settlements"].add_column("refund_amount", int, not_null_default=0)


def _v6(db) -> None:
    """The pre-authorisation family (预授权类).

    * ``journal.orig_auth``: the authorisation code a pre-auth's cancel or completion
      names it by (with its date in ``orig_date``, as a refund's); the pre-auth may be
      old or from another terminal. Written in the request's own commit, so that its
      receipt, printed after a power cut, still shows it.

    Usable by schema 6 only: the journal now holds approved ``preauth_complete`` rows
    (debits) and ``preauth_complete_void`` rows (credits), and schema-5 code, whose
    totals count only sales as debits and voids and refunds as credits, would leave them
    out of the 0500 it sends and of the batch upload (a settlement the host can never
    find balanced). Its ``FLOWS`` have no rows for them either.
    """
    db["journal"].add_column("orig_auth", str)


def _v7(db) -> None:
    """Operators: cashiers who sign in, and the supervisor whose password guards void, refund, settle.

    * ``operators``: ``number`` (two digits, 00 the supervisor), ``password_hash`` (salted
      scrypt, ``crypto.passwords``; never the password), ``active``, ``updated_at``. A fresh
      terminal has the supervisor only, with the default password's fixed hash, which
      ``posterm selftest`` warns about until it is changed.

    Usable by schema 6 code: a new table that schema-6 code never reads or writes. Its
    journal rows still carry the operator's number in ``journal.operator`` (a v1 column),
    so its totals, reports and upload read them as before; ``content_digest`` covers every
    table, so an updater's digest comparison sees password changes too. Schema-6 firmware
    has no sign-in (its configuration refuses an ``[operators]`` section), so rolling back
    drops the sign-in, not the books.
    """
    from crypto.passwords import DEFAULT_SUPERVISOR_HASH

    db.execute("CREATE TABLE operators (number TEXT PRIMARY KEY, password_hash TEXT NOT NULL, "
               "active INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL)")
    db.execute("INSERT INTO operators (number, password_hash, active, updated_at) VALUES ('00', ?, 1, '')",
               [DEFAULT_SUPERVISOR_HASH])


def _v8(db) -> None:
    """Operators' lock-out and sign-in survive a restart (``storage.operators``).

    * ``operators.failed_tries``: wrong passwords in a row for this operator (the
      supervisor's row counts the supervisor's password), committed before the terminal
      says WRONG PASSWORD; 0 after a right one or a lock-out.
    * ``operators.locked_at``: when a lock-out began (wall clock, for people to read), NULL
      when none. Its length is counted in monotonic time from when it began, or from the
      boot that found it (``firmware.operators.Lockouts``): a wall clock may be wrong after
      a power cut, so a lock-out found at boot starts again in full.
    * ``operators.signed_in_at``: set on the one cashier signed in (a power cut keeps the
      shift), NULL on every other row; a sign-out or a settlement clears it.

    Usable by schema 6 code: columns with defaults on a table schema-6 code never reads
    (schema-7 code reads the table by column name and inserts naming its columns, so the
    defaults fill the new ones). Rolled back, the lock-out and the sign-in are held in
    memory again as before; a lock-out left in the file restarts once when this firmware
    comes back.
    """
    db.execute("ALTER TABLE operators ADD COLUMN failed_tries INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE operators ADD COLUMN locked_at TEXT")
    db.execute("ALTER TABLE operators ADD COLUMN signed_in_at TEXT")


def _v9(db) -> None:
    """Transfers (转账).

    * ``journal.dest_masked``: a transfer's destination account, masked first 6 / last 4,
      for its receipt (reprinted after a power cut) and the journal listing. The clear
      account is never stored: it lives sealed in the card session until the host answers
      and, sealed, in the ready-made reversal.

    Usable by schema 9 only: the journal may now hold ``transfer`` rows, and schema-8
    code has no such kind (``Kind('transfer')`` fails: it could not list, reprint or
    recover the journal). Transfers are in neither the totals nor the batch upload.
    """
    db["journal"].add_column("dest_masked", str)


def _v10(db) -> None:
    """Pre-auth completions on lines of their own, and completions made without the host.

    * ``settlements.completion_count`` / ``completion_amount`` and ``completion_void_count`` /
      ``completion_void_amount``: the part of the debit that is completions (预授权完成) and
      of the credit that is their voids, so that the report, printed or reprinted from the
      row, lists them apart from sales and voids. The 0500 does not change (UnionPay counts
      completions among the debits). A batch settled before this version reads 0 and its
      report shows its completions under SALE, as it did.

    Usable by schema 10 only: the journal may now hold ``preauth_complete`` rows approved
    offline (the completion advice, 预授权完成通知, queued in ``offline_queue``), and
    schema-9 code, whose totals count only online completions, would leave the accepted
    advices out of the 0500 and the batch upload (a settlement the host cannot find
    balanced); its uplink would also take a queued completion advice for a refund's repeat.
    """
    for column in ("completion_count", "completion_amount", "completion_void_count", "completion_void_amount"):
        db["settlements"].add_column(column, int, not_null_default=0)


def _v11(db) -> None:
    """The core's verdict on a stored advice's answer, kept beside the host's code.

    * ``offline_queue.accepted``: 1 when the core took the host's answer to an advice as
      an acceptance (an approved code of the profile, or 94 "already had it"), 0 when as
      a refusal, NULL before an answer. Schema 10 counted an advice as accepted by its code,
      00 or 94 only, while the core accepts every approved code of its profile (cup's 11,
      A2 to A6; iso87's 08, 11): an advice accepted with 11 was left out of the 0500's
      totals and its reprint said DECLINED BY HOST. Answers already recorded take the verdict
      schema 10 gave them, so no settled batch's totals change.

    Usable by schema 10 code: a nullable column it never reads, and it names its columns
    when it writes. An answer it records leaves ``accepted`` NULL, which this firmware
    reads as schema 10 did (``storage.journal.ADVICE_ACCEPTED``). Rolled back, it counts an
    advice accepted with an approved code other than 00 as refused, as it does with its own:
    no worse than that firmware is (hosts answer advices with 00).
    """
    db.execute("ALTER TABLE offline_queue ADD COLUMN accepted INTEGER")
    db.execute("UPDATE offline_queue SET accepted = (response_code IN ('00', '94')) WHERE state = 'done'")


def _v12(db) -> None:
    """Archived batches (``storage.archive``): nothing changes in the tables.

    A batch number used again moves the history under it to N + 1,000,000k, in the
    integer columns it already had. Firmware from before the archive reads such a
    number raw: a refund of an archived sale cannot be built (its field 61 would carry
    7 digits), reprints show 7 digits. So this version marks the firmware that reads
    them, and the first archive raises the database's usable-by record to it, in the
    archive's own commit (``storage.migrations.raise_usable_by``, ``ARCHIVE_SCHEMA``);
    a database migrated here that already holds archived rows (archived by firmware of
    schema 11 that had the archive) is recorded so by the migration.

    Usable by schema 11 code while nothing is archived: no column, no row changes
    meaning. Once something is, only by schema 12 (the record says so).
    """


def _v13(db) -> None:
    """The journal's look-ups at scale: a refund's, a pre-auth's and a batch report's originals found by
    index or span, not by reading every row ever written (the journal is never emptied).

    * Partial indexes, each on the rows one look-up reads, so that an ordinary sale's commits write
      no page of them but ``journal_rrn``'s (one, in its outcome commit: its RRN is what a refund
      names it by, and any sale may be refunded):
      ``journal_original`` (``original_txn_no``, where set: what voids, refunds and completions name),
      ``journal_rrn`` (``rrn``, where set: a refund's original, the date a filter on the few rows),
      ``journal_preauth`` (``auth_code`` of pre-auths, where set: a cancel's or completion's original),
      ``journal_archived`` (``batch``, of archived batches only: ``storage.archive``).
    * ``settlements.first_txn_no`` / ``last_txn_no`` / ``low_stan`` / ``high_stan``: the journal
      numbers and traces of the batch's rows (``storage.spans``), so an old batch's rows are a
      range of the rowid. Filled in here from the journal for the batches settled before.

    Usable by schema 11 code: indexes SQLite keeps up for any code that writes the journal, and
    nullable columns on a table it reads and writes naming its columns. A batch it settles
    has no span (NULL), which this firmware reads by a scan, as that code does.
    """
    db.execute("CREATE INDEX journal_original ON journal (original_txn_no) WHERE original_txn_no IS NOT NULL")
    db.execute("CREATE INDEX journal_rrn ON journal (rrn) WHERE rrn IS NOT NULL")
    db.execute("CREATE INDEX journal_preauth ON journal (auth_code) WHERE kind = 'preauth' AND auth_code IS NOT NULL")
    db.execute("CREATE INDEX journal_archived ON journal (batch) WHERE batch >= 1000000")
    for column in ("first_txn_no", "last_txn_no", "low_stan", "high_stan"):
        db.execute(f"ALTER TABLE settlements ADD COLUMN {column} INTEGER")
    # one pass over the journal, grouped by batch (a correlated look-up per batch would read it once each)
    spans = db.execute("SELECT batch, MIN(txn_no), MAX(txn_no), MIN(stan), MAX(stan) FROM journal "
                       "WHERE batch IN (SELECT batch FROM settlements) GROUP BY batch").fetchall()
    db.execute("UPDATE settlements SET first_txn_no = 1, last_txn_no = 0, low_stan = 1, high_stan = 0")  # no rows
    db.conn.executemany("UPDATE settlements SET first_txn_no = ?, last_txn_no = ?, low_stan = ?, high_stan = ? "
                        "WHERE batch = ?", [(lo, hi, low, high, batch) for batch, lo, hi, low, high in spans])
