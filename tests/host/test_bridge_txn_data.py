"""``HostBridge.txn_data``: a sale's ready-made reversal and its request are built from one record in two
actions, and share its ``TxnData``; every other record, even one of the same transaction changed by its
answer, gets its own."""

from __future__ import annotations

from datetime import datetime

from firmware.bridge import HostBridge
from firmware.core.model import JournalState, SaleRecord
from firmware.host.profiles import get_profile

RECORD = SaleRecord(5, 1250, 9, 1, datetime(2026, 11, 22, 10, 15, 3), "622202*********0004",
                    terminal_id="12345678", merchant_id="123456789012345", operator="01")


def test_a_record_gives_the_same_data_each_time_and_another_record_its_own():
    bridge = HostBridge(get_profile("cup"), None)
    first = bridge.txn_data(RECORD)
    assert bridge.txn_data(RECORD) is first and (first.amount, first.stan) == (1250, 9)
    other = RECORD.changed(amount=99900, stan=10, state=JournalState.APPROVED)  # same journal number
    assert (bridge.txn_data(other).amount, bridge.txn_data(other).stan) == (99900, 10)
    assert bridge.txn_data(RECORD) == first and bridge.txn_data(RECORD).amount == 1250
    assert HostBridge(get_profile("cup"), None).txn_data(RECORD) == first  # what a new bridge makes of it
