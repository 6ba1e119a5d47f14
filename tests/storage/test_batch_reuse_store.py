"""A batch number used again (a sign-on names one settled long ago, or the counter wraps): storage
archives the history under it in the commit that saves the new number (``storage.archive``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from firmware.core.batch import Settlement, SettleResult, Totals
from firmware.core.model import Copy, Counters, JournalState
from firmware.core.model import SaleRecord
from firmware.errors import StorageError
from storage.archive import EARLIER, batch_label, live_batch

WHEN = datetime(2026, 11, 22, 9, 30, 0)


def archived(store) -> dict[int, int]:
    """The listing's view (``posterm journal``): journal number -> its archived batch's stored number."""
    return {x.record.txn_no: x.earlier_batch for x in store.listing() if x.earlier_batch is not None}


def sale(store, txn_no: int, stan: int, batch: int, amount: int = 1250) -> SaleRecord:
    rec = SaleRecord(txn_no, amount, stan, batch, WHEN + timedelta(minutes=txn_no), "620550*********0004",
                     terminal_id="12345678", merchant_id="123456789012345", operator="01")
    store.open_request(rec, pan_hash=b"h" * 16, card=b"S1sealed-card", reversal=b"S1sealed-reversal",
                       counters=Counters(stan=stan + 1, batch=batch, txn_no=txn_no + 1))
    done = replace(rec, state=JournalState.APPROVED, response_code="00", rrn=f"{txn_no:012d}", auth_code="123456")
    store.record_outcome(done, copies=(Copy.MERCHANT,))
    return done


def settle(store, batch: int, stan: int, next_batch: int, txn_no: int, result=SettleResult.BALANCED) -> None:
    totals = store.batch_totals(batch)
    store.close_batch(Settlement(batch, totals, result, WHEN + timedelta(hours=txn_no), stan, "01"),
                      Counters(stan=stan + 1, batch=next_batch, txn_no=txn_no))


def raw_batches(store) -> list[int]:
    return [r[0] for r in store.conn.execute("SELECT batch FROM journal ORDER BY txn_no")]


def test_a_sign_on_naming_a_settled_batch_archives_it_and_the_batch_closes_again(store):
    old = sale(store, 1, 1, 1)
    settle(store, 1, 2, 2, 2)
    store.save_counters(Counters(stan=4, batch=1, txn_no=2))  # the sign-on adopts batch 1 again
    assert raw_batches(store) == [1 + EARLIER]
    assert store.counters().batch == 1
    assert store.batch_totals(1) == Totals()  # the fresh batch holds nothing
    new = sale(store, 2, 4, 1, amount=700)
    assert store.batch_totals(1).debit_amount == 700
    assert store.batch_held(1).debit_count == 1
    assert [e.txn_no for e in store.upload_entries(1)] == [2]
    assert store.find_original(old.stan, 1) is None  # a void of the earlier sale is not found here
    assert store.in_settled_batch(old.stan)  # ... and is refused as of a settled batch
    assert store.find_original(new.stan, 1).facts.txn_no == 2
    settle(store, 1, 5, 2, 3)  # before: the settlements row of the earlier batch 1 (UNIQUE constraint)
    assert store.settlement(1).totals.debit_amount == 700
    earlier = store.settlement(1 + EARLIER)
    assert earlier.totals.debit_amount == 1250 and earlier.batch == 1  # the number the host knew
    assert store.earlier_batches(1) == [1 + EARLIER]
    assert archived(store) == {1: 1 + EARLIER}


def test_what_leaves_the_terminal_or_goes_on_paper_carries_the_number_the_host_knew(store):
    sale(store, 1, 1, 7)
    settle(store, 7, 2, 8, 2)
    store.save_counters(Counters(stan=4, batch=7, txn_no=2))
    assert raw_batches(store) == [7 + EARLIER]
    assert store.record(1).batch == 7  # a reprint of its receipt
    match = store.find_by_reference("000000000001", WHEN.strftime("%m%d"))
    assert match.facts.batch == 7  # a refund of it names batch 7 in field 61 (n6), not 1000007
    assert store.last_settlement().batch == 7  # a reprint of the last report


def test_boot_counters_never_resume_in_an_archived_batch(store):
    sale(store, 1, 1, 3)
    settle(store, 3, 2, 4, 2)
    store.save_counters(Counters(stan=4, batch=3, txn_no=2))
    assert raw_batches(store) == [3 + EARLIER]
    store.conn.execute("DELETE FROM counters")  # the counters implied by the newest row alone
    assert store.counters() == Counters(stan=2, batch=3, txn_no=2)
    assert store.boot_state().counters.batch == 3


def test_the_wrap_archives_batch_1_and_each_round_takes_the_next_free_number(store):
    sale(store, 1, 1, 1)
    settle(store, 1, 2, 2, 2)
    store.save_counters(Counters(stan=3, batch=999999, txn_no=2))
    sale(store, 2, 3, 999999)
    settle(store, 999999, 4, 1, 3)  # the counter wraps to 1
    assert raw_batches(store) == [1 + EARLIER, 999999]
    sale(store, 3, 5, 1)
    settle(store, 1, 6, 2, 4)
    store.save_counters(Counters(stan=7, batch=1, txn_no=4))  # and batch 1 comes round once more
    assert raw_batches(store) == [1 + EARLIER, 999999, 1 + 2 * EARLIER]
    assert sorted(store.settled_batches()) == [999999, 1 + EARLIER, 1 + 2 * EARLIER]


def test_a_batch_whose_upload_is_owed_is_not_archived(store):
    sale(store, 1, 1, 1)
    settle(store, 1, 2, 2, 2, result=SettleResult.UNBALANCED)
    with pytest.raises(StorageError) as info:
        store.save_counters(Counters(stan=4, batch=1, txn_no=2))
    assert info.value.code == "storage.batch_owed"
    assert raw_batches(store) == [1] and store.counters().batch == 2  # the commit rolled back whole
    store.upload_done(1)
    store.save_counters(Counters(stan=4, batch=1, txn_no=2))
    assert raw_batches(store) == [1 + EARLIER]


def test_an_archived_batch_s_report_is_not_owed_at_boot_and_its_mark_goes(store):
    sale(store, 1, 1, 5)
    settle(store, 5, 2, 6, 2)
    assert store.boot_state().report.batch == 5
    store.conn.execute("INSERT INTO settings (key, value) VALUES ('settle.sending', '5')")
    store.save_counters(Counters(stan=4, batch=5, txn_no=2))
    boot = store.boot_state()
    assert boot.report is None and boot.last_report.batch == 5
    assert not boot.settle_interrupted and not store.settle_interrupted(5)


def test_a_batch_number_without_history_and_a_stan_alone_move_nothing(store):
    sale(store, 1, 1, 1)
    store.save_counters(Counters(stan=3, batch=1, txn_no=2))  # a network message's STAN: the same batch
    store.save_counters(Counters(stan=4, batch=9, txn_no=2))  # a batch this terminal never used
    assert raw_batches(store) == [1] and store.earlier_batches(1) == [] and archived(store) == {}


@pytest.mark.parametrize("stored, live, label", [
    (7, 7, "000007"), (1_000_007, 7, "000007 (earlier)"), (2_999_999, 999999, "999999 (earlier)")])
def test_the_label_of_a_stored_number(stored, live, label):
    assert live_batch(stored) == live and batch_label(stored) == label
