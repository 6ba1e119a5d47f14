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
from firmware.core.model import BatchHeld, BootState, Kind, SaleRecord, State

from tests.core.helpers import CARD, NOW, SETTINGS, Driver, reply, request_stan, to_totals

SMALL = replace(SETTINGS, batch_capacity=2)
SALES_999 = BatchHeld(debit_count=999, debit_amount=999 * 1250)


def full(d: Driver) -> bool:
    shown = [line for a in d.batches[-1] if isinstance(a, A.Show) for line in a.lines]
    return "BATCH FULL" in shown and "SETTLE FIRST" in shown


def sell(d: Driver) -> None:
    d.keys("1250#")
    d.feed(CardRead(CARD))
    d.feed(PinEntered())
    d.feed(HostAnswered(reply(stan=request_stan(d))))


def test_a_sale_keyed_into_a_full_batch_is_refused_at_its_first_key_and_the_operator_is_told():
    d = Driver(SETTINGS, BootState(batch_held=SALES_999))
    d.keys("1")
    assert d.state is State.IDLE and full(d) and not d.all(A.EnableReader)
    alert = d.last(A.Alert)
    assert alert.code == "batch.full" and "batch 000001 holds 999 debits" in alert.text


def test_each_transaction_made_counts_until_the_batch_is_full():
    d = Driver(SMALL, BootState(batch_held=BatchHeld(debit_count=1, debit_amount=1250)))
    sell(d)
    assert d.t.batch_held == BatchHeld(debit_count=2, debit_amount=2500)
    after = Driver(SMALL, BootState(batch_held=d.t.batch_held))  # what storage counts at the next start
    after.keys("1")
    assert full(after)


CREDITS_999 = BatchHeld(credit_count=999, credit_amount=999 * 1250)


@pytest.mark.parametrize(("keys", "held"), [
    ("F4", CREDITS_999), ("F6", CREDITS_999), ("F04", CREDITS_999),  # void, refund, completion void: credits
    ("F03", SALES_999),  # a completion: a debit
])
def test_counted_menu_transactions_are_refused_before_any_password(keys, held):
    d = Driver(SETTINGS, BootState(batch_held=held))
    d.keys(keys)
    assert full(d) and d.state is State.IDLE


@pytest.mark.parametrize("keys", ["F01", "F05", "F7"])  # a pre-auth, a transfer, a balance: not in the totals
def test_transactions_outside_the_totals_still_start_in_a_full_batch(keys):
    d = Driver(SETTINGS, BootState(batch_held=SALES_999))
    d.keys(keys)
    assert not full(d) and d.state in (State.AMOUNT, State.CARD)


def test_a_completion_made_as_an_advice_is_refused_in_a_full_batch():
    d = Driver(SETTINGS, BootState(batch_held=SALES_999))
    d.keys("F06")
    assert full(d) and d.state is State.IDLE and d.t.sale is None


def test_settling_the_batch_opens_an_empty_one():
    d = to_totals()
    d.t.batch_held = SALES_999
    d.keys("#")
    job = d.last(A.SendNetwork).job
    d.feed(HostAnswered(reply(mti="0510", stan=job.stan, amount=None, rrn=None, auth_code=None, settle_result="1")))
    assert d.t.batch_held == BatchHeld()


def test_the_flows_counted_are_the_kinds_storage_totals():
    from storage.settlements import _CREDIT, _DEBIT, TOTALS_KINDS

    counted = {kind.value for kind, flow in FLOWS.items() if flow.in_totals}
    assert counted == set(TOTALS_KINDS)
    for kind in Kind:
        assert (f"'{kind.value}'" in _DEBIT + _CREDIT) is (kind.value in counted), kind


def test_each_profile_caps_a_batch_at_what_its_settlement_counts_and_carries():
    from firmware.bridge import HostBridge
    from firmware.host.profiles import get_profile
    from firmware.host.totals import TotalsBlock

    assert HostBridge(get_profile("cup"), None).batch_limits == (999, 10**12 - 1)  # n3 counts, n12 totals
    assert HostBridge(get_profile("iso87"), None).batch_limits == (10**10 - 1, 10**16 - 1)  # n10, n16
    assert TotalsBlock(debit_count=999, credit_count=999).text()  # a full cup batch still builds its 0500
    assert TotalsBlock(debit_amount=10**12 - 1, debit_count=1).text()


def big(max_amount: int, **boot) -> Driver:
    return Driver(replace(SETTINGS, max_amount=max_amount), BootState(**boot))


@pytest.mark.parametrize("max_amount, held, room", [
    (999999999999, 1, False),  # the largest amount: one sale fills the batch
    (600000000000, 600000000000, False),
    (600000000000, 399999999999, True),  # to the unit: 999999999999 is what n12 carries
    (10**9, 600000000000, True),
    (10**9, 999000000000, False),
])
def test_a_batch_takes_the_next_only_while_its_totals_could_carry_one_of_the_largest_amount(max_amount, held, room):
    """cup's totals are n12: at sale.max_amount 999999999999 two sales of 6,000,000,000.00 went into one batch
    (AU5), and its 0500 could never carry them."""
    d = big(max_amount, batch_held=BatchHeld(debit_count=1, debit_amount=held))
    d.keys("1")
    assert full(d) is not room
    if not room:
        assert d.last(A.Alert).code == "batch.full" and "sale.max_amount" in d.last(A.Alert).text


def test_the_room_is_the_batch_s_own_amount_read_at_boot_not_a_count_worked_out_at_start_up():
    """AU6: the capacity was worked out from sale.max_amount at start-up, so a terminal restarted with a lower
    one (a larger capacity) beside a batch holding a huge sale took sales its 0500 could not carry. The
    batch's amount read from storage bounds it now: 600,000,000,000 held leaves room for 399 of 10**9."""
    d = big(10**9, batch_held=BatchHeld(debit_count=1, debit_amount=6 * 10**11))
    for _ in range(399):
        assert not d.t._refused_start(Kind.SALE, [], d.now)
        d.t.batch_held = d.t.batch_held.plus(False, 10**9)  # as the sale's record does (test_each_..._its_amount)
    assert d.t.batch_held.debit_amount == 999 * 10**9
    assert d.t._refused_start(Kind.SALE, [], d.now)  # a 400th would make 1,000,000,000,000: over n12


def test_each_transaction_made_adds_its_amount():
    d = Driver(SMALL, BootState(batch_held=BatchHeld(credit_count=1, credit_amount=100)))
    sell(d)
    assert d.t.batch_held == BatchHeld(1, 1250, 1, 100)


def test_a_declined_sale_gives_its_place_and_amount_back():
    """Storage leaves a declined record out of what the batch holds (batch_held), and so does the core now: one
    declined sale of a large amount filled the batch's room until the next start (AU8)."""
    d = Driver(replace(SETTINGS, max_amount=500_000_000_000), BootState())
    d.keys("500000000000#")
    d.feed(CardRead(CARD))
    d.feed(PinEntered())
    d.feed(HostAnswered(reply(stan=request_stan(d), amount=500_000_000_000, response_code="51", approved=False,
                              rrn=None, auth_code=None)))
    assert d.t.batch_held == BatchHeld()
    d.keys("X1")
    assert not full(d)


# -- each side on its own (the 0500 counts and totals debits and credits apart) ------------------------------
@pytest.mark.parametrize(("keys", "refused"), [("1", False), ("F4", True), ("F6", True), ("F03", False)])
def test_a_batch_full_of_credits_still_takes_sales_and_completions(keys, refused):
    """Each side is n3 in cup's 0500: 999 credits leave room for 999 debits. The two were summed, so a
    batch was refused at 999 transactions of both kinds together, half what it can settle."""
    d = Driver(SETTINGS, BootState(batch_held=CREDITS_999))
    d.keys(keys)
    assert full(d) is refused


def test_a_batch_whose_sales_fill_their_total_still_takes_a_void():
    """A void asks room only on the credit side: a batch of sales whose debit total has no room for one more
    sale of sale.max_amount (cup: n12) may still void one of them, which is what a cashier does next."""
    d = big(10**11, batch_held=BatchHeld(debit_count=10, debit_amount=10**12 - 10**10))
    d.keys("1")
    assert full(d) and "of debits" in d.last(A.Alert).text
    d.keys("X")
    d.keys("F4")
    assert not full(d)


def test_the_sides_are_the_flows_storage_counts_as_debits_and_credits():
    from storage.settlements import CREDIT_KINDS, DEBIT_KINDS

    assert set(CREDIT_KINDS) == {k.value for k, f in FLOWS.items() if f.in_totals and f.refund}
    assert set(DEBIT_KINDS) == {k.value for k, f in FLOWS.items() if f.in_totals and not f.refund}


def test_a_declined_refund_gives_its_place_back_on_its_own_side():
    d = Driver(SETTINGS, BootState(batch_held=BatchHeld(2, 2500, 2, 800)))
    refund = SaleRecord(7, 500, 7, 1, NOW, "620550*********0004", kind=Kind.REFUND)
    d.t._uncounted(refund)
    assert d.t.batch_held == BatchHeld(2, 2500, 1, 300)
    d.t._uncounted(replace(refund, kind=Kind.SALE, amount=1250))
    assert d.t.batch_held == BatchHeld(1, 1250, 1, 300)
