"""Settlement end to end: the real TCP link, the host simulator settling against its own ledger."""

from __future__ import annotations

from firmware.scenario import ScenarioRunner, parse_scenario

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def run(steps):
    return ScenarioRunner().run(parse_scenario({"name": "t", "config": FAST, "step": steps}))


def test_sale_void_sale_then_balanced_settlement_and_the_report():
    r = run(SALE + [{"void": {"trace": 1}}, {"swipe": "unionpay_debit"}, {"pin": "1234"}] + SALE
            + [{"settle": True}] + SALE)
    messages = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0500"]
    assert len(messages) == 1 and messages[0]["response_code"] == "00"
    assert "settlement batch 000001: balanced" in messages[0]["action"]
    batches = [(t["kind"], t["batch"]) for t in r["transactions"]]
    assert batches == [("sale", "000001"), ("void", "000001"), ("sale", "000001"), ("sale", "000002")]
    assert ("settle.ok", "batch 000001 settled, totals balanced") in [tuple(a) for a in r["alerts"]]
    assert r["owed"].get("receipts", 0) == 0
