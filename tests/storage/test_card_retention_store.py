"""Storage's side of card retention (AU17 M1): which commit drops a batch's sealed card data (``journal.card``).

The batch upload is its only reader. A batch closed balanced, or with no upload in its profile (iso87), owes
none, so ``close_batch`` clears its rows' cards in its own commit; one closed otherwise keeps them until
``upload_done``. Other batches are untouched, and ``pan_hash`` and ``masked_pan`` stay (refund, void, reprint).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from firmware.core.batch import Settlement, SettleResult, Totals
from firmware.core.model import Counters, SaleRecord

WHEN = datetime(2026, 11, 22, 9, 30, 0)


def _sale(store, txn_no: int, batch: int) -> None:
    rec = SaleRecord(txn_no, 1250, txn_no, batch, WHEN, "620550*********0004", terminal_id="12345678",
                     merchant_id="123456789012345", operator="01")
    store.open_request(rec, pan_hash=b"h" * 16, card=b"S1sealed-card-%d" % txn_no, reversal=None,
                       counters=Counters(stan=txn_no + 1, batch=batch, txn_no=txn_no + 1))


def _cards(store) -> dict[int, bool]:
    return {n: card is not None for n, card in store.conn.execute("SELECT txn_no, card FROM journal")}


def _close(store, batch: int, result: SettleResult, *, no_upload: bool = False) -> None:
    s = Settlement(batch, Totals(2, 2500, 0, 0), result, WHEN, 40, "01", no_upload=no_upload)
    store.close_batch(s, Counters(stan=50, batch=batch + 1, txn_no=9))


@pytest.mark.parametrize("result, no_upload, cleared", [
    (SettleResult.BALANCED, False, True),
    (SettleResult.UNBALANCED, False, False),  # the 0320s still read them
    (SettleResult.ERROR, False, False),
    (SettleResult.UNBALANCED, True, True),  # a profile without a batch upload (iso87): nothing owed
])
def test_closing_a_batch_clears_its_cards_only_when_no_upload_is_owed(store, result, no_upload, cleared):
    _sale(store, 1, 1)
    _sale(store, 2, 1)
    _sale(store, 3, 2)  # another batch's
    before = store.commits
    _close(store, 1, result, no_upload=no_upload)
    assert store.commits == before + 1  # in the settlement's own commit
    assert _cards(store) == {1: not cleared, 2: not cleared, 3: True}
    rows = store.conn.execute("SELECT length(pan_hash), masked_pan FROM journal WHERE txn_no = 1").fetchone()
    assert rows == (16, "620550*********0004")


def test_upload_done_clears_the_cards_in_its_commit(store):
    _sale(store, 1, 1)
    _sale(store, 2, 2)
    _close(store, 1, SettleResult.UNBALANCED)
    assert store.card_blob(1) == b"S1sealed-card-1"  # what the upload reads, until it is done
    before = store.commits
    store.upload_done(1)
    assert store.commits == before + 1
    assert _cards(store) == {1: False, 2: True}
