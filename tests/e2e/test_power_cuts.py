"""Cut the power at every named point of a sale; after the restart the books must agree."""

from __future__ import annotations


import pytest

from firmware.scenario import ScenarioRunner, parse_scenario

from .consistency import books

POINTS = [
    "before:open_request",
    "after:open_request",
    "before:send_request",
    "after:send_request",
    "after:answer",
    "before:record_outcome",
    "after:record_outcome",
    "after:wipe_card",
    "before:print",
    "after:print",
    "after:mark_printed",
]
# With the answer dropped the sale is reversed: its outcome is never recorded and nothing prints,
# so those points are not on its path; the reversal's are (its answer is the "answer" point).
DROP_POINTS = [
    "before:open_request",
    "after:open_request",
    "before:send_request",
    "after:send_request",
    "after:wipe_card",
    "before:send_reversal",
    "after:send_reversal",
    "after:answer",
    "before:reversal_done",
    "after:reversal_done",
]


@pytest.mark.parametrize(("host", "point"), [("approve", p) for p in POINTS] + [("drop", p) for p in DROP_POINTS])
def test_power_cut_then_restart_recovers_by_itself(point, host):
    steps = [
        {"host": {"behaviour": host, "times": 1, "mti": "0200", "amount": 1250}},
        {"power_cut": point},
        {"key": "1250#"},
        {"swipe": "unionpay_debit"},
        {"pin": "1234"},
        {"restart": True},
        # a second sale proves the terminal is usable again and that recovery ran first
        {"key": "700#"},
        {"swipe": "unionpay_debit"},
        {"pin": "1234"},
    ]
    scenario = parse_scenario({"name": point, "config": {"host": {"response_timeout": 0.4}}, "step": steps})
    result = ScenarioRunner().run(scenario)
    assert result["power_cuts"] == [point]  # the cut happened where it was asked for
    summary = books(result)
    assert result["state"] == "idle"
    assert result["transactions"][-1]["outcome"] == "approved"
    assert summary["approved"] >= 1


def test_power_cut_after_the_outcome_prints_the_owed_receipts_marked_recovered():
    steps = [
        {"power_cut": "after:record_outcome"},
        {"key": "1250#"},
        {"swipe": "unionpay_debit"},
        {"pin": "1234"},
        {"restart": True},
    ]
    result = ScenarioRunner().run(parse_scenario({"name": "x", "step": steps}))
    (txn,) = result["transactions"]
    assert txn["outcome"] == "approved"
    assert len(txn["receipts"]) == 2
    assert all("PRINTED AFTER POWER LOSS" in text for text in txn["receipts"])
    assert result["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}


def test_power_cut_between_copies_prints_only_the_missing_copy():
    steps = [
        {"power_cut": "after:mark_printed"},
        {"key": "1250#"},
        {"swipe": "unionpay_debit"},
        {"pin": "1234"},
        {"restart": True},
    ]
    result = ScenarioRunner().run(parse_scenario({"name": "x", "step": steps}))
    receipts = result["transactions"][0]["receipts"]
    assert [("MERCHANT COPY" in r, "RECOVERED" in r or "POWER LOSS" in r) for r in receipts] == [
        (True, False),
        (False, True),
    ]


@pytest.mark.parametrize("link", ["up", "down"])
def test_after_a_power_cut_mid_sale_the_cashier_is_told_the_sale_was_not_charged(link):
    """UX24: after the restart recovery reversed the interrupted sale and the display went to READY, so the
    cashier, the customer perhaps still there, could not tell whether the card was charged. The outcome is
    held as after an answer that never came: not approved, the amount, and what became of the money."""
    steps = [{"key": "5100#"}, {"swipe": "unionpay_debit"}, {"power_cut": "after:send_request"}, {"pin": "1234"},
             {"link": link}, {"restart": True}]
    if link == "up":
        steps += [{"expect": {"outcome": "reversed", "display": "NOTHING CHARGED"}},
                  {"expect": {"display": "POWER CUT"}}, {"expect": {"display": "CNY 51.00"}}]
    else:  # the reversal could not go yet: nothing is said to be undone
        steps += [{"expect": {"display": "REVERSAL QUEUED"}}, {"expect": {"display": "SALE NOT APPROVED"}}]
    result = ScenarioRunner().run(parse_scenario({"name": "cut", "config": {"host": {"response_timeout": 0.5}},
                                                  "step": steps}))
    assert result["ok"], (result["failures"], result["display"])
