"""Long gaps on a fake clock (audit AU18, M1, M2, L1): a batch left unsettled for weeks, stored offline sales
past their age, the completion of a pre-auth whose hold lapsed. The terminal and the host simulator share one
fake clock (``tests/e2e/clocked.py``), moved at each ``MOVE`` step; the machine's clock is never touched."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import pytest

from tests.e2e.clocked import CARD, FAST, MOVE, codes, mtis, run, sale

T0 = datetime(2026, 3, 2, 10, 0, 0)
DAY = timedelta(days=1)


def _texts(result: dict, code: str) -> list[str]:
    return [text for c, text in result["alerts"] if c == code]


# -- M1: the open batch's age --------------------------------------------------------------------------------------
def test_a_batch_left_open_40_days_is_told_at_start_up_and_the_sale_goes_on_in_it():
    r = run(sale(1000) + [MOVE, {"restart": True}] + sale(2000), [T0, T0 + 40 * DAY])
    assert r["ok"], r["failures"]
    assert [(t["batch"], t["outcome"]) for t in r["transactions"]] == [("000001", "approved"), ("000001", "approved")]
    (text,) = _texts(r, "settle.overdue")  # at start-up; the sale the same day does not repeat it
    assert text.startswith("batch 000001 open 40 days; settle: F then 5") and "2026-03-02 10:00" in text


def test_settle_overdue_is_told_again_at_the_first_transaction_of_each_day_not_at_every_sale():
    steps = sale(1000) + [MOVE, {"restart": True}] + sale(2000) + [MOVE] + sale(3000) + sale(4000)
    r = run(steps, [T0, T0 + 2 * DAY, T0 + 3 * DAY])
    assert r["ok"], r["failures"]
    texts = _texts(r, "settle.overdue")
    assert [t.split(";")[0] for t in texts] == ["batch 000001 open 2 days", "batch 000001 open 3 days"], texts


def test_a_settled_batch_is_never_overdue_and_the_next_batch_ages_from_its_own_first_sale():
    steps = sale(1000) + [MOVE, {"settle": True}, MOVE, {"restart": True}] + sale(2000) + [MOVE, {"restart": True}]
    r = run(steps, [T0, T0 + 2 * DAY, T0 + 40 * DAY, T0 + 40 * DAY + timedelta(hours=23)])
    assert r["ok"], r["failures"]
    assert r["settlements"][0]["result"] == "balanced"
    assert "settle.overdue" not in codes(r)  # empty 38 days after its settlement; then 23 hours old


def test_a_settlement_starts_the_age_again_in_the_same_run():
    r = run(sale(1000) + [MOVE, {"settle": True}] + sale(2000) + [MOVE] + sale(3000),
            [T0, T0 + 2 * DAY, T0 + 3 * DAY + timedelta(hours=3)])
    assert r["ok"], r["failures"]
    assert [t["batch"] for t in r["transactions"]] == ["000001", "000002", "000002"]
    texts = _texts(r, "settle.overdue")  # batch 2's first sale, not batch 1's
    assert [t.split(";")[0] for t in texts] == ["batch 000002 open 26 hours"], texts


def test_a_batch_whose_only_sale_was_reversed_is_not_overdue_in_the_same_run():
    """AU19 L1: the reversal done gives the sale's room back, as storage counts it after a restart."""
    steps = [{"host": {"behaviour": "drop", "times": 1}}] + sale(1250, CARD) + [{"upload": True}, MOVE] + sale(500, CARD)
    r = run(steps, [T0, T0 + 3 * DAY])
    assert r["ok"], r["failures"]
    assert [t["outcome"] for t in r["transactions"]] == ["reversed", "approved"]
    assert _texts(r, "settle.overdue") == [], r["alerts"]


def test_a_reversal_resumed_after_a_power_cut_gives_its_sales_room_back_when_done():
    """The same, with the reversal read back at start-up (``BootState``'s ``PendingReversal.counted_in``)."""
    steps = ([{"power_cut": "after:send_request"}] + sale(1250, CARD) + [{"restart": True}, {"upload": True}, MOVE]
             + sale(500, CARD))
    r = run(steps, [T0, T0 + 3 * DAY])
    assert r["ok"], r["failures"]
    assert [t["outcome"] for t in r["transactions"]] == ["reversed", "approved"]
    assert _texts(r, "settle.overdue") == [], r["alerts"]


def test_a_batch_with_a_reversed_sale_and_a_live_one_is_still_overdue():
    steps = (sale(2000, CARD) + [{"host": {"behaviour": "drop", "times": 1}}] + sale(1250, CARD)
             + [{"upload": True}, MOVE] + sale(500, CARD))
    r = run(steps, [T0, T0 + 3 * DAY])
    assert r["ok"], r["failures"]
    assert [t["outcome"] for t in r["transactions"]] == ["approved", "reversed", "approved"]
    (text,) = _texts(r, "settle.overdue")
    assert "none of its 1 transaction(s)" in text, text


def test_settle_max_age_hours_0_never_tells():
    r = run(sale(1000) + [MOVE, {"restart": True}] + sale(2000), [T0, T0 + 40 * DAY],
            config={**FAST, "settle": {"max_age_hours": 0}})
    assert r["ok"], r["failures"]
    assert "settle.overdue" not in codes(r)


# -- M2: stored offline sales past their age --------------------------------------------------------------------
def test_stored_sales_past_max_age_are_told_once_at_start_up_and_at_each_failed_forward_then_no_more():
    steps = [{"link": "down"}] + sale(1000) + sale(2000) + [MOVE, {"restart": True}, {"upload": True},
                                                            {"link": "up"}, {"upload": True}, {"upload": True}]
    r = run(steps, [T0, T0 + 30 * DAY])
    assert r["ok"], r["failures"]
    texts = _texts(r, "offline.overdue")
    # start-up (its own failed forward does not say it twice), then the upload that failed; none once delivered
    assert len(texts) == 2, r["alerts"]
    assert all(t.startswith("2 offline sale(s) unsent 30 days; the oldest was made 2026-03-02 10:00") for t in texts)
    assert r["owed"]["advices"] == 0
    assert sorted(p["amount"] for p in r["host_ledger"]["postings"] if p["kind"] == "offline_sale") == [1000, 2000]


def test_stored_sales_within_max_age_are_not_overdue():
    steps = [{"link": "down"}] + sale(1000) + [MOVE, {"restart": True}, {"upload": True}]
    r = run(steps, [T0, T0 + timedelta(hours=71)])
    assert r["ok"], r["failures"]
    assert "offline.overdue" not in codes(r) and "advice.pending" in codes(r)


# -- L1: the completion of a lapsed hold ----------------------------------------------------------------------
def test_an_online_completion_of_a_preauth_past_its_hold_is_refused_before_anything_is_sent():
    steps = [{"preauth": 10000}] + CARD + [MOVE, {"preauth_complete": {"auth": "000001", "amount": 9000,
                                                                      "date": "0302"}}]
    r = run(steps, [T0, T0 + 31 * DAY])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100"]  # the pre-auth only: no 0200
    assert [t["kind"] for t in r["transactions"]] == ["preauth"]  # nothing written for the completion
    assert r["display"][0].strip() == "PREAUTH EXPIRED"
    assert any(code == "preauth.expired" for code, _ in r["notes"])


# -- L3: ages in real hours ---------------------------------------------------------------------------------------
@pytest.fixture
def london():
    """TZ=Europe/London for the test (libc's zone, read at time.tzset()), restored afterwards."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/London"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_the_offline_age_limit_counts_real_hours_across_the_end_of_summer_time(london):
    """offline.max_age_hours 72: a stored sale at 02:30 BST on 22 October, the next offline sale at 01:45 GMT on
    25 October (the repeated hour's second pass) is 72 h 15 min later in real time, though 71 h 15 min by the
    civil clock, so it is refused (it was approved offline past the limit). The first pass is within it."""
    stored = datetime(2026, 10, 22, 2, 30)
    for later, outcome in ((datetime(2026, 10, 25, 1, 45, fold=1), "declined"),
                           (datetime(2026, 10, 25, 1, 45), "offline_approved")):
        r = run([{"link": "down"}] + sale(1000) + [MOVE] + sale(2000), [stored, later])
        assert r["ok"], r["failures"]
        assert [t["outcome"] for t in r["transactions"]] == ["offline_approved", outcome]
