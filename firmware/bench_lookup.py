"""``posterm bench``'s look-up row: a refund's original found in a journal of many records, against the same
look-up in a journal of one batch, in the same run (the floor).

Why: the journal is never emptied (settled batches keep their masked records), so a look-up that reads
every row grows with the terminal's age; schema 13's partial indexes and settled batches' spans keep a
refund's, void's, completion's and report's look-ups to what they name (``storage.journal``). The row
shows it: the ratio stays near 1 however many records there are.

The journal is filled as the terminal's own commits leave it: one sale and its refund go through storage's
API, and the other rows are SQL copies of that sale (each with its own journal number, trace, batch,
RRN and day), in settled batches whose settlements rows carry their spans as ``close_batch`` writes them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["LOOKUP_RECORDS", "lookup_figures"]

LOOKUP_RECORDS = 300_000  # about three years of a busy counter
BATCH_RECORDS = 300  # records a batch, one batch a day
_DAY = datetime(2024, 1, 1, 9, 0, 0)


def _journal(directory: Path, records: int):
    """A store whose journal holds ``records`` records: the sale the refund names (journal number 1, batch 1),
    copies of it in batches of ``BATCH_RECORDS`` settled one a day, and the refund itself, in the open batch."""
    from firmware.core.model import Copy, Counters, JournalState, Kind, OriginalFacts, OriginalRef, SaleRecord
    from storage.db import transaction
    from storage.store import Store

    store = Store.open(directory)
    sale = SaleRecord(1, 1250, 1, 1, _DAY, "620550******0004", terminal_id="12345678", merchant_id="123456789012345",
                      operator="01")
    store.open_request(sale, pan_hash=b"h" * 32, card=b"S" * 60, reversal=b"R" * 120, counters=Counters(2, 1, 2))
    sale = replace(sale, state=JournalState.APPROVED, response_code="00", rrn=f"{1:012d}", auth_code="000001")
    store.record_outcome(sale, copies=(Copy.MERCHANT,))
    store.mark_printed(1, Copy.MERCHANT)
    last = records - 1  # the refund is the last record
    batches = (last - 1) // BATCH_RECORDS + 1
    with transaction(store.conn, "filling the journal") as c:
        columns = [r[1] for r in c.execute("PRAGMA table_info(journal)")]
        computed = {"txn_no": "n", "stan": "(n - 1) % 999999 + 1", "batch": f"(n - 1) / {BATCH_RECORDS} + 1",
                    "rrn": "printf('%012d', n)", "auth_code": "printf('%06d', n % 1000000)",
                    "created_at": f"strftime('%Y-%m-%dT%H:%M:%S', j.created_at, ((n - 1) / {BATCH_RECORDS}) || ' days', "
                                  f"((n - 1) % {BATCH_RECORDS}) || ' minutes')"}
        picked = ", ".join(computed.get(col, f"j.{col}") for col in columns)
        c.execute(f"WITH RECURSIVE k(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM k WHERE n < ?) "
                  f"INSERT INTO journal ({', '.join(columns)}) SELECT {picked} FROM k, journal j WHERE j.txn_no = 1",
                  (last,))
        c.execute("INSERT INTO settlements (batch, stan, debit_count, debit_amount, credit_count, credit_amount, "
                  "result, uploaded, operator, settled_at, report_printed, first_txn_no, last_txn_no, low_stan, "
                  "high_stan) SELECT batch, MAX(stan) + 1, COUNT(*), SUM(amount), 0, 0, '1', 1, '01', MAX(created_at), "
                  "1, MIN(txn_no), MAX(txn_no), MIN(stan), MAX(stan) FROM journal GROUP BY batch")
    refund = SaleRecord(records, 500, records, batches + 1, _DAY + timedelta(days=batches), sale.masked_pan,
                        kind=Kind.REFUND,
                        original=OriginalFacts(1, Kind.SALE, 1250, "156", 1, 1, _DAY, sale.masked_pan, sale.rrn, "000001"),
                        reference=OriginalRef(sale.rrn, _DAY.strftime("%m%d")))
    store.open_request(refund, pan_hash=b"h" * 32, card=b"S" * 60, reversal=None, advice=b"A" * 120,
                       counters=Counters(records + 1, batches + 1, records + 1))
    store.record_outcome(replace(refund, state=JournalState.APPROVED, response_code="00", rrn=f"{records:012d}"),
                         close_advice=True)
    store.checkpoint()
    return store, sale


def _best(store, sale, repeat: int = 200) -> float:
    date = sale.when.strftime("%m%d")
    found = store.find_by_reference(sale.rrn, date)
    if found is None or found.facts.txn_no != 1 or found.facts.refunded != 500:
        raise RuntimeError("the bench journal's refund look-up found the wrong record")
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        store.find_by_reference(sale.rrn, date)
        best = min(best, time.perf_counter() - t0)
    return best


def lookup_figures(directory: Path, records: int = LOOKUP_RECORDS) -> dict:
    """The refund look-up's best time in a journal of ``records`` records, and in one of a single batch."""
    figures = {}
    for name, count in (("floor", BATCH_RECORDS), ("seconds", records)):
        (directory / name).mkdir(parents=True, exist_ok=True)
        store, sale = _journal(directory / name, count)
        try:
            figures[name] = _best(store, sale)
        finally:
            store.close()
    return {"lookup": {"records": records, "floor_records": BATCH_RECORDS, **figures}}
