"""An aged terminal for tests: a data directory whose journal holds many settled sales, made by SQL.

Why by SQL: playing 10,000 sales through the runner takes minutes; what a test of growth needs is the rows
(the sealed card blob, hash and masked PAN of one real sale copied under new journal numbers, in settled
batches with their settlement rows), all in one transaction. From AU17's helpers (briefs/au17).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from firmware.scenario import ScenarioRunner, parse_scenario

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def play(steps, data_dir: Path, config=FAST, after_step=None) -> dict:
    """Play scenario steps on a terminal kept in ``data_dir``; the scenario's result."""
    return ScenarioRunner(data_dir=data_dir).run(parse_scenario({"name": "aged", "config": config, "step": steps}),
                                                  after_step=after_step)


def copy_terminal(src: Path, dst: Path) -> Path:
    """``dst``, a new data directory holding a copy of ``src``'s database (SQLite's backup: consistent)."""
    dst.mkdir(parents=True)
    s = sqlite3.connect(Path(src) / "posterm.db")
    d = sqlite3.connect(dst / "posterm.db")
    s.backup(d)
    s.close()
    d.close()
    return dst


def grow_journal(data_dir: Path, rows: int, per_batch: int = 1000) -> None:
    """Add ``rows`` settled sales after the journal's rows, copies of its first, in batches 100 on of
    ``per_batch`` rows, each settled balanced (with its span, ``storage.spans``); the counters move past them
    to a fresh open batch."""
    c = sqlite3.connect(Path(data_dir) / "posterm.db", isolation_level=None)
    cols = [r[1] for r in c.execute("PRAGMA table_info(journal)")]
    base = dict(zip(cols, c.execute("SELECT * FROM journal ORDER BY txn_no LIMIT 1").fetchone()))
    c.execute("BEGIN")
    start = c.execute("SELECT MAX(txn_no) FROM journal").fetchone()[0] + 1
    batches = sorted({100 + i // per_batch for i in range(rows)})

    def gen():
        for i in range(rows):
            row = dict(base, txn_no=start + i, stan=(start + i - 1) % 999999 + 1, batch=100 + i // per_batch,
                       rrn=f"{500000000000 + i:012d}", reversal=None)
            yield tuple(row[k] for k in cols)

    c.executemany(f"INSERT INTO journal VALUES ({','.join('?' * len(cols))})", gen())
    scols = [r[1] for r in c.execute("PRAGMA table_info(settlements)")]
    for b in batches:
        vals = dict.fromkeys(scols, 0)
        vals.update(batch=b, stan=1, result="1", uploaded=1, operator="01", settled_at="2026-01-01T00:00:00",
                    report_printed=1, debit_count=per_batch, debit_amount=per_batch * 1250)
        c.execute(f"INSERT INTO settlements ({','.join(scols)}) VALUES ({','.join('?' * len(scols))})",
                  tuple(vals[k] for k in scols))
    # each settlement's span of journal numbers and traces, as close_batch records it (storage.spans)
    c.executemany("UPDATE settlements SET first_txn_no = ?, last_txn_no = ?, low_stan = ?, high_stan = ? "
                  "WHERE batch = ?", [(lo, hi, low, high, b) for b, lo, hi, low, high in c.execute(
                      "SELECT batch, MIN(txn_no), MAX(txn_no), MIN(stan), MAX(stan) FROM journal WHERE txn_no >= ? "
                      "GROUP BY batch", (start,)).fetchall()])
    last = start + rows
    c.executemany("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                  "value=excluded.value", (("stan", (last - 1) % 999999 + 1), ("batch", batches[-1] + 1),
                                           ("txn_no", last)))
    c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
