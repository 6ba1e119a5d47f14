"""Schema migrations, numbered, applied in order, recorded in ``PRAGMA user_version``.

Each migration is a function of a ``sqlite_utils.Database`` and runs inside
one transaction with the version bump, so a power cut mid-migration leaves
the previous schema intact. sqlite-utils is imported here only, and only
when the file's version is behind.

Table overview (version 3):

``journal``        one row per transaction: amounts, STAN, batch, masked PAN, a
                   keyed hash of the PAN for look-ups, the sealed PAN/expiry,
                   the host's answer and the state of each receipt copy. Since
                   version 3 a void names its original (``original_txn_no``).
``reversals``      reversals that are due (sealed message), then ``done`` or ``lost``.
                   Since version 2 the ready-made reversal of a request waits in its
                   journal row (``journal.reversal``) and moves here only when needed.
``offline_queue``  stored sales to forward, sealed, with their delivery state.
``counters``       STAN, batch and journal numbers.
``settings``       small key/value state (sign-on time, heartbeat, ...).
``settlements``    one row per closed batch: totals sent, the host's result, the report's state (v4).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from firmware.errors import StorageError
from storage.db import storage_error

__all__ = ["MIGRATIONS", "LATEST", "migrate"]


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
    """
    db["journal"].add_column("original_txn_no", int)


def _v4(db) -> None:
    """Settlement: one row per closed batch (its totals, the host's result, whether the report printed).

    A batch is closed exactly when its row exists: the row and the counters of the
    next batch are one commit (``Store.close_batch``). A sale's commits never touch it.
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


MIGRATIONS: list[Callable] = [_v1, _v2, _v3, _v4]
LATEST = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to ``LATEST``. Returns the version found before."""
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as e:
        raise storage_error(e, "reading the schema version") from None
    if found > LATEST:
        raise StorageError(
            f"the database has schema version {found}, newer than this firmware ({LATEST})",
            code="storage.schema_newer",
        )
    if found == LATEST:
        return found
    import sqlite_utils  # only when a migration is due

    db = sqlite_utils.Database(conn)
    for version in range(found + 1, LATEST + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            MIGRATIONS[version - 1](db)
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            conn.execute("ROLLBACK")
            raise storage_error(e, f"migrating the schema to version {version}") from None
    return found
