"""A batch holds at most what its settlement can count (``CoreSettings.batch_capacity``).

cup's 0500 counts each block's debits and credits in three digits, so a batch
of 1000 sales could never be settled: the 0500 would fail to build at every
attempt and the batch would stay open for good. The terminal refuses the next
counted transaction at its start instead (BATCH FULL / SETTLE FIRST), and
takes them again once the batch is settled. Inquiries, pre-auths and their
cancels, and transfers are not in the totals, so they go on. (Found by the
session-6 audit.)
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.core import actions as A
from firmware.core.events import CardRead, HostAnswered, PinEntered
from firmware.core.flows import FLOWS
from firmware.core.model import BootState, Kind, State

from tests.core.helpers import CARD, SETTINGS, Driver, reply, request_stan, to_totals

SMALL = replace(SETTINGS, batch_capacity=2)


def full(d: Driver) -> bool:
    shown = [line for a in d.batches[-1] if isinstance(a, A.Show) for line in a.lines]
    return "BATCH FULL" in shown and "SETTLE FIRST" in shown


def sell(d: Driver) -> None:
    d.keys("1250#")
    d.feed(CardRead(CARD))
    d.feed(PinEntered())
    d.feed(HostAnswered(reply(stan=request_stan(d))))


def test_a_sale_keyed_into_a_full_batch_is_refused_at_its_first_key_and_the_operator_is_told():
    d = Driver(SETTINGS, BootState(batch_count=999))
    d.keys("1")
    assert d.state is State.IDLE and full(d) and not d.all(A.EnableReader)
    alert = d.last(A.Alert)
    assert alert.code == "batch.full" and "batch 000001 holds 999 transactions" in alert.text


def test_each_transaction_made_counts_until_the_batch_is_full():
    d = Driver(SMALL, BootState(batch_count=1))
    sell(d)
    assert d.t.batch_count == 2
    after = Driver(SMALL, BootState(batch_count=d.t.batch_count))  # what storage counts at the next start
    after.keys("1")
    assert full(after)


@pytest.mark.parametrize("keys", ["F4", "F6", "F03", "F04"])  # void, refund, completion and its void
def test_counted_menu_transactions_are_refused_before_any_password(keys):
    d = Driver(SETTINGS, BootState(batch_count=999))
    d.keys(keys)
    assert full(d) and d.state is State.IDLE


@pytest.mark.parametrize("keys", ["F01", "F05", "F7"])  # a pre-auth, a transfer, a balance: not in the totals
def test_transactions_outside_the_totals_still_start_in_a_full_batch(keys):
    d = Driver(SETTINGS, BootState(batch_count=999))
    d.keys(keys)
    assert not full(d) and d.state in (State.AMOUNT, State.CARD)


def test_a_completion_made_as_an_advice_is_refused_in_a_full_batch():
    d = Driver(SETTINGS, BootState(batch_count=999))
    d.keys("F06")
    assert full(d) and d.state is State.IDLE and d.t.sale is None


def test_settling_the_batch_opens_an_empty_one():
    d = to_totals()
    d.t.batch_count = 999
    d.keys("#")
    job = d.last(A.SendNetwork).job
    d.feed(HostAnswered(reply(mti="0510", stan=job.stan, amount=None, rrn=None, auth_code=None, settle_result="1")))
    assert d.t.batch_count == 0


def test_the_flows_counted_are_the_kinds_storage_totals():
    from storage.settlements import _CREDIT, _DEBIT, TOTALS_KINDS

    counted = {kind.value for kind, flow in FLOWS.items() if flow.in_totals}
    assert counted == set(TOTALS_KINDS)
    for kind in Kind:
        assert (f"'{kind.value}'" in _DEBIT + _CREDIT) is (kind.value in counted), kind


def test_each_profile_caps_a_batch_at_what_its_settlement_counts():
    from firmware.bridge import HostBridge
    from firmware.host.profiles import get_profile
    from firmware.host.totals import TotalsBlock

    assert HostBridge(get_profile("cup"), None).batch_capacity(99999999) == 999
    assert HostBridge(get_profile("iso87"), None).batch_capacity(99999999) == 10**8 + 1  # n16 totals
    assert TotalsBlock(debit_count=999, credit_count=999).text()  # a full cup batch still builds its 0500


@pytest.mark.parametrize("max_amount, capacity", [(999999999999, 1), (600000000000, 1), (10**9, 999),
                                                  (2 * 10**9, 499)])
def test_a_batch_holds_no_more_than_its_settlement_can_carry_at_the_largest_amount(max_amount, capacity):
    """cup's totals are n12: at the largest amount a sale may take, fewer sales fill a batch (AU5)."""
    from firmware.bridge import HostBridge
    from firmware.host.profiles import get_profile
    from firmware.host.totals import TotalsBlock

    held = HostBridge(get_profile("cup"), None).batch_capacity(max_amount)
    assert held == capacity
    assert TotalsBlock(debit_amount=held * max_amount, debit_count=held).text()  # its 0500 still builds
