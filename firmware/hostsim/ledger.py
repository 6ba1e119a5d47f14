"""The host simulator's own book: every message received, the financial postings, the
batches settled and the transactions uploaded after an unbalanced settlement.

One SQLite file in WAL mode (``":memory:"`` for benches). No clear PAN is
ever stored: a masked PAN (first 6 / last 4) is enough to read the book, and
the simulator needs no card identity (duplicates are terminal + STAN + date, the
request's MMDD in the year nearest the host's clock).

Query methods return plain dicts so tests, tools and ``to_json()`` need no
knowledge of the schema.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from firmware.errors import StorageError

__all__ = ["Ledger", "PostingStatus", "CREDIT_KINDS"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    mti TEXT NOT NULL,
    stan TEXT,
    terminal_id TEXT,
    host_date TEXT,
    amount INTEGER,
    pan_masked TEXT,
    response_code TEXT,
    action TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS postings (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    stan TEXT NOT NULL,
    txn_date TEXT NOT NULL,
    txn_day TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT,
    pan_masked TEXT,
    rrn TEXT,
    auth_code TEXT,
    response_code TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'reversed', 'voided')),
    reversals INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    batch TEXT,
    original_id INTEGER REFERENCES postings (id),
    UNIQUE (terminal_id, stan, txn_day)
);
CREATE TABLE IF NOT EXISTS batches (
    terminal_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    result TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    PRIMARY KEY (terminal_id, batch)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    terminal_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    stan TEXT NOT NULL,
    amount INTEGER NOT NULL,
    pan_masked TEXT,
    matched INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 1,
    received_at TEXT NOT NULL,
    PRIMARY KEY (terminal_id, batch, stan)
);
CREATE TABLE IF NOT EXISTS early_reversals (
    terminal_id TEXT NOT NULL,
    stan TEXT NOT NULL,
    amount INTEGER NOT NULL,
    mti TEXT,
    received_at TEXT NOT NULL,
    PRIMARY KEY (terminal_id, stan, amount)
);
CREATE TABLE IF NOT EXISTS dukpt_ksns (
    terminal_id TEXT NOT NULL,
    ksn BLOB NOT NULL,
    PRIMARY KEY (terminal_id, ksn)
);
CREATE TABLE IF NOT EXISTS upload_ends (
    terminal_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    count INTEGER NOT NULL,
    uploaded INTEGER NOT NULL,
    ends INTEGER NOT NULL DEFAULT 1,
    ended_at TEXT NOT NULL,
    PRIMARY KEY (terminal_id, batch)
);
"""

# The rows of a ledger whose duplicate key was terminal + STAN + MMDD, copied with their day: the year they
# were posted in (a request of 31 December posted on 1 January is off by a year; a simulator's ledger).
_DAY_FROM_MMDD = """
INSERT INTO postings (id, kind, terminal_id, stan, txn_date, txn_day, amount, currency, pan_masked, rrn, auth_code,
    response_code, status, reversals, duplicates, created_at, updated_at, batch, original_id)
SELECT id, kind, terminal_id, stan, txn_date,
    substr(created_at, 1, 4) || '-' || substr(txn_date, 1, 2) || '-' || substr(txn_date, 3, 2),
    amount, currency, pan_masked, rrn, auth_code, response_code, status, reversals, duplicates, created_at,
    updated_at, batch, original_id FROM postings_mmdd;
DROP TABLE postings_mmdd;
"""


class PostingStatus(str, enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    REVERSED = "reversed"
    VOIDED = "voided"  # an approved void names it (``original_id`` of the void): it nets to 0 with it


# Kinds whose amount goes back to the card: they count negative in the net.
CREDIT_KINDS = ("void", "refund", "preauth_complete_void")
# Kinds counted as debits in a batch's totals (a pre-auth and its cancel only hold and release funds; a
# transfer moves the cardholder's money, not the merchant's). What neither list names is in no total.
DEBIT_KINDS = ("sale", "offline_sale", "preauth_complete")


class Ledger:
    """Thread-safe; each call is one transaction."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            old = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'postings'").fetchone()
            keyed_by_mmdd = old is not None and "txn_day" not in old[0]
            if keyed_by_mmdd:  # a ledger from before the year was in the duplicate key: rebuilt below
                self._db.execute("ALTER TABLE postings RENAME TO postings_mmdd")
            self._db.executescript(_SCHEMA)
            if keyed_by_mmdd:
                self._db.executescript(_DAY_FROM_MMDD)
            columns = [r[1] for r in self._db.execute("PRAGMA table_info(messages)")]
            if "operator" not in columns:  # field 63's operator number (a ledger from before it gains the column)
                self._db.execute("ALTER TABLE messages ADD COLUMN operator TEXT")
        except sqlite3.Error:
            raise StorageError("the host simulator ledger could not be opened", code="hostsim.ledger") from None
        self._lock = threading.RLock()

    # -- writing -------------------------------------------------------------
    def _write(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).lastrowid or 0

    def record_message(self, *, received_at: str, mti: str, stan: str | None, terminal_id: str | None,
                       host_date: str | None, amount: int | None, pan_masked: str | None,
                       response_code: str | None, action: str, operator: str | None = None) -> None:
        self._write(
            "INSERT INTO messages (received_at, mti, stan, terminal_id, host_date, amount, pan_masked, response_code,"
            " action, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (received_at, mti, stan, terminal_id, host_date, amount, pan_masked, response_code, action, operator),
        )

    def add_posting(self, *, kind: str, terminal_id: str, stan: str, txn_date: str, txn_day: str, amount: int,
                    currency: str | None,
                    pan_masked: str | None, rrn: str | None, auth_code: str | None, response_code: str,
                    status: PostingStatus, when: str, batch: str | None = None,
                    original_id: int | None = None) -> int:
        return self._write(
            "INSERT INTO postings (kind, terminal_id, stan, txn_date, txn_day, amount, currency, pan_masked, rrn,"
            " auth_code, response_code, status, created_at, updated_at, batch, original_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, terminal_id, stan, txn_date, txn_day, amount, currency, pan_masked, rrn, auth_code, response_code,
             PostingStatus(status).value, when, when, batch, original_id),
        )

    def remember_early_reversal(self, terminal_id: str, stan: str, amount: int, mti: str | None, when: str) -> None:
        """A reversal whose original has not arrived (yet): kept, so that the original is reversed when it does."""
        self._write("INSERT OR REPLACE INTO early_reversals (terminal_id, stan, amount, mti, received_at)"
                    " VALUES (?, ?, ?, ?, ?)", (terminal_id, stan, amount, mti, when))

    def take_early_reversal(self, terminal_id: str, stan: str, amount: int) -> dict[str, Any] | None:
        """The reversal that came before this (terminal, STAN, amount), removed from the book; None if none."""
        with self._lock:
            rows = self._rows("SELECT * FROM early_reversals WHERE terminal_id = ? AND stan = ? AND amount = ?",
                              (terminal_id, stan, amount))
            if rows:
                self._db.execute("DELETE FROM early_reversals WHERE terminal_id = ? AND stan = ? AND amount = ?",
                                 (terminal_id, stan, amount))
            return rows[0] if rows else None

    def early_reversals(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM early_reversals ORDER BY received_at, terminal_id, stan")

    def set_status(self, posting_id: int, status: PostingStatus, when: str) -> None:
        self._write("UPDATE postings SET status = ?, updated_at = ? WHERE id = ?",
                    (PostingStatus(status).value, when, posting_id))

    def bump(self, posting_id: int, counter: str, when: str) -> None:
        """Count one more reversal or duplicate seen for a posting."""
        if counter not in ("reversals", "duplicates"):
            raise ValueError(f"no posting counter {counter!r}")
        self._write(f"UPDATE postings SET {counter} = {counter} + 1, updated_at = ? WHERE id = ?", (when, posting_id))

    def first_use_of_ksn(self, terminal_id: str, ksn: bytes) -> bool:
        """Record a DUKPT KSN a terminal sent; False if it had sent it before (kept across restarts,
        as an acquirer keeps them: a terminal that reuses a counter after the host restarts is caught)."""
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO dukpt_ksns (terminal_id, ksn) VALUES (?, ?)",
                                   (terminal_id, ksn))
            return cur.rowcount == 1

    def next_value(self, name: str) -> int:
        """The next value of a named counter (1, 2, ...), durable."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", (name,))
                self._db.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (name,))
                value = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return int(value)

    def close_batch(self, terminal_id: str, batch: str | None, result: str, when: str) -> None:
        """Record a settled batch (the latest settlement of it wins)."""
        self._write("INSERT OR REPLACE INTO batches (terminal_id, batch, result, closed_at) VALUES (?, ?, ?, ?)",
                    (terminal_id, batch or "", result, when))

    def set_aside(self, terminal_id: str, batch: str) -> None:
        """A renumbered host's batch starts fresh: what this terminal had under ``batch`` (postings, the
        closed batch, its upload) is kept under ``batch~N`` (the smallest N free), out of its totals."""
        with self._lock:
            n = 1
            while self._db.execute("SELECT 1 FROM postings WHERE terminal_id = ?1 AND batch = ?2 UNION "
                                   "SELECT 1 FROM batches WHERE terminal_id = ?1 AND batch = ?2",
                                   (terminal_id, f"{batch}~{n}")).fetchone():
                n += 1
            for table in ("postings", "batches", "uploads", "upload_ends"):
                self._db.execute(f"UPDATE {table} SET batch = ? WHERE terminal_id = ? AND batch = ?",
                                 (f"{batch}~{n}", terminal_id, batch))

    def assign_batch(self, terminal_id: str, batch: str) -> int:
        """Book the terminal's postings that are in no batch yet into ``batch`` (its requests did not
        say: iso87); the number booked."""
        with self._lock:
            return self._db.execute("UPDATE postings SET batch = ? WHERE terminal_id = ? AND batch IS NULL",
                                    (batch, terminal_id)).rowcount

    def batch_totals(self, terminal_id: str, batch: str | None) -> tuple[int, int, int, int]:
        """(debit count, debit amount, credit count, credit amount) as the host books them.

        Debit: sales, offline sales and pre-auth completions approved (a voided one stays in);
        credit: approved voids, refunds and completion voids. Pre-auths and their cancels hold
        and release funds and count in neither.
        """
        rows = self._rows(
            "SELECT kind, COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM postings WHERE terminal_id = ? "
            "AND COALESCE(batch, '') = ? AND status IN ('approved', 'voided') GROUP BY kind",
            (terminal_id, batch or ""))
        by = {r["kind"]: (r["n"], r["total"]) for r in rows}
        debit = [by.get(k, (0, 0)) for k in DEBIT_KINDS]
        credit = [by.get(k, (0, 0)) for k in CREDIT_KINDS]
        return (sum(n for n, _ in debit), sum(t for _, t in debit), sum(n for n, _ in credit), sum(t for _, t in credit))

    def batches(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM batches ORDER BY closed_at, batch")

    def record_upload(self, terminal_id: str, batch: str | None, stan: str, amount: int, pan_masked: str | None,
                      matched: bool, when: str) -> bool:
        """One transaction of a batch upload; the same (terminal, batch, trace) again is the same upload
        (counted in ``received``, nothing else changes). True when it was new."""
        with self._lock:
            seen = self._db.execute("SELECT 1 FROM uploads WHERE terminal_id = ? AND batch = ? AND stan = ?",
                                    (terminal_id, batch or "", stan)).fetchone()
            if seen:
                self._db.execute("UPDATE uploads SET received = received + 1 WHERE terminal_id = ? AND batch = ? "
                                 "AND stan = ?", (terminal_id, batch or "", stan))
                return False
            self._db.execute(
                "INSERT INTO uploads (terminal_id, batch, stan, amount, pan_masked, matched, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", (terminal_id, batch or "", stan, amount, pan_masked, int(matched), when))
            return True

    def end_upload(self, terminal_id: str, batch: str | None, count: int, when: str) -> int:
        """The end of a batch upload, declaring ``count`` transactions; the number the host holds for it."""
        with self._lock:
            (held,) = self._db.execute("SELECT COUNT(*) FROM uploads WHERE terminal_id = ? AND batch = ?",
                                       (terminal_id, batch or "")).fetchone()
            self._db.execute(
                "INSERT INTO upload_ends (terminal_id, batch, count, uploaded, ended_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (terminal_id, batch) DO UPDATE SET count = excluded.count, uploaded = excluded.uploaded, "
                "ends = ends + 1, ended_at = excluded.ended_at", (terminal_id, batch or "", count, held, when))
            return int(held)

    def uploads(self) -> list[dict[str, Any]]:
        """Every uploaded transaction (card numbers masked), by terminal, batch and trace."""
        return self._rows("SELECT * FROM uploads ORDER BY terminal_id, batch, stan")

    def upload_ends(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM upload_ends ORDER BY ended_at, batch")

    # -- reading -------------------------------------------------------------
    def _rows(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, args).fetchall()]

    def posting(self, terminal_id: str, stan: str, txn_day: str) -> dict[str, Any] | None:
        """The posting of this terminal's STAN on this day (``YYYY-MM-DD``): the duplicate key."""
        rows = self._rows("SELECT * FROM postings WHERE terminal_id = ? AND stan = ? AND txn_day = ?",
                          (terminal_id, stan, txn_day))
        return rows[0] if rows else None

    def posting_for_reversal(self, terminal_id: str, stan: str, amount: int) -> dict[str, Any] | None:
        """The latest posting a reversal of (terminal, STAN, amount) refers to."""
        rows = self._rows("SELECT * FROM postings WHERE terminal_id = ? AND stan = ? AND amount = ?"
                          " ORDER BY id DESC LIMIT 1", (terminal_id, stan, amount))
        return rows[0] if rows else None

    def batch_posting(self, terminal_id: str, batch: str | None, stan: str) -> dict[str, Any] | None:
        """The latest posting of this terminal, batch and trace (what an uploaded transaction is checked against)."""
        rows = self._rows("SELECT * FROM postings WHERE terminal_id = ? AND COALESCE(batch, '') = ? AND stan = ?"
                          " ORDER BY id DESC LIMIT 1", (terminal_id, batch or "", stan))
        return rows[0] if rows else None

    def original_posting(self, terminal_id: str, stan: str, *, kinds: tuple[str, ...], batch: str | None = None,
                         rrn: str | None = None) -> dict[str, Any] | None:
        """The latest posting of one of ``kinds`` a void names: same terminal and STAN, and the
        batch and RRN where the void gives them."""
        sql = (f"SELECT * FROM postings WHERE terminal_id = ? AND stan = ? AND kind IN ({','.join('?' * len(kinds))})")
        args: list[Any] = [terminal_id, stan, *kinds]
        if batch is not None:
            sql += " AND (batch IS NULL OR batch = ?)"
            args.append(batch)
        if rrn is not None:
            sql += " AND rrn = ?"
            args.append(rrn)
        rows = self._rows(sql + " ORDER BY id DESC LIMIT 1", tuple(args))
        return rows[0] if rows else None

    def refund_original(self, rrn: str, txn_date: str, *, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        """The posting a refund names: one of ``kinds`` with this RRN, made on this date (MMDD), any terminal."""
        rows = self._rows(f"SELECT * FROM postings WHERE rrn = ? AND txn_date = ? AND kind IN ({','.join('?' * len(kinds))})"
                          " ORDER BY id DESC LIMIT 1", (rrn, txn_date, *kinds))
        return rows[0] if rows else None

    def preauth_by_auth(self, auth_code: str, txn_date: str) -> dict[str, Any] | None:
        """The pre-auth a cancel or completion names: this authorisation code, made on this date (MMDD),
        any terminal (the latest)."""
        rows = self._rows("SELECT * FROM postings WHERE kind = 'preauth' AND auth_code = ? AND txn_date = ?"
                          " ORDER BY id DESC LIMIT 1", (auth_code, txn_date))
        return rows[0] if rows else None

    def completion_of(self, preauth_id: int) -> dict[str, Any] | None:
        """The approved completion of a pre-auth, if any (one voided or reversed no longer completes it)."""
        rows = self._rows("SELECT * FROM postings WHERE original_id = ? AND kind = 'preauth_complete'"
                          " AND status = 'approved' ORDER BY id DESC LIMIT 1", (preauth_id,))
        return rows[0] if rows else None

    def holds(self) -> list[dict[str, Any]]:
        """Pre-auths still holding funds: approved (not cancelled: a cancel marks it voided), and without
        an approved completion."""
        return self._rows("SELECT * FROM postings p WHERE kind = 'preauth' AND status = 'approved' AND NOT EXISTS"
                          " (SELECT 1 FROM postings c WHERE c.original_id = p.id AND c.kind = 'preauth_complete'"
                          " AND c.status = 'approved') ORDER BY id")

    def refunded(self, posting_id: int) -> int:
        """What approved refunds of a posting have taken back so far."""
        rows = self._rows("SELECT COALESCE(SUM(amount), 0) AS total FROM postings WHERE original_id = ? AND kind = 'refund'"
                          " AND status = 'approved'", (posting_id,))
        return int(rows[0]["total"])

    def get(self, posting_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM postings WHERE id = ?", (posting_id,))
        return rows[0] if rows else None

    def postings(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM postings ORDER BY id")

    def messages(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM messages ORDER BY id")

    def summary(self) -> dict[str, int]:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) AS postings,"
                " COALESCE(SUM(status = 'approved'), 0) AS approved,"
                " COALESCE(SUM(status = 'declined'), 0) AS declined,"
                " COALESCE(SUM(status = 'reversed'), 0) AS reversed,"
                " COALESCE(SUM(status = 'voided'), 0) AS voided,"
                " COALESCE(SUM(CASE WHEN status = 'approved' AND kind IN ({debit})"
                " THEN amount ELSE 0 END), 0) AS approved_amount,"
                # what the merchant is owed, as a settlement counts it: debits approved or voided, less the
                # approved credits (a hold, a transfer and an inquiry are no money of the merchant's)
                " COALESCE(SUM(CASE WHEN status IN ('approved', 'voided') AND kind IN ({debit}, {credit}) THEN"
                " (CASE WHEN kind IN ({credit}) THEN -amount ELSE amount END) ELSE 0 END), 0) AS net_amount,"
                " COALESCE(SUM(reversals), 0) AS reversals_seen,"
                " COALESCE(SUM(duplicates), 0) AS duplicates_seen FROM postings".format(
                    credit=", ".join(f"'{k}'" for k in CREDIT_KINDS), debit=", ".join(f"'{k}'" for k in DEBIT_KINDS))
            ).fetchone()
            messages = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        return {"messages": int(messages), **{k: int(row[k]) for k in row.keys()}}

    def to_json(self) -> str:
        return json.dumps({"summary": self.summary(), "postings": self.postings(), "messages": self.messages(),
                           "batches": self.batches(), "uploads": self.uploads(), "upload_ends": self.upload_ends()},
                          indent=2)

    # -- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Ledger {self.path}>"
