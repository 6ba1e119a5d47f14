"""Settlement end to end: the real TCP link, the host simulator settling against its own ledger,
the batch upload it asks for when it does not find the totals balanced, and the report."""

from __future__ import annotations

from firmware.scenario import ScenarioRunner, parse_scenario

from .consistency import mtis

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
VOID_1 = [{"void": {"trace": 1}}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}
QUICK = {"host": {"response_timeout": 0.2, "connect_timeout": 0.4}}


def run(steps, config=FAST):
    runner = ScenarioRunner()
    result = runner.run(parse_scenario({"name": "t", "config": config, "step": steps}))
    return result, runner.devices["printer"].text


def test_sale_void_sale_then_balanced_settlement_and_the_report():
    r, paper = run(SALE + VOID_1 + SALE + [{"settle": True}] + SALE)
    messages = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0500"]
    assert len(messages) == 1 and messages[0]["response_code"] == "00"
    assert "settlement batch 000001: balanced" in messages[0]["action"]
    batches = [(t["kind"], t["batch"]) for t in r["transactions"]]
    assert batches == [("sale", "000001"), ("void", "000001"), ("sale", "000001"), ("sale", "000002")]
    assert ("settle.ok", "batch 000001 settled, totals balanced") in [tuple(a) for a in r["alerts"]]
    assert r["owed"].get("receipts", 0) == 0
    assert "0320" not in mtis(r)  # balanced: nothing to upload
    assert r["settlements"] == [{"batch": "000001", "result": "balanced", "uploaded": False, "debit_count": 2,
                                 "debit_amount": 2500, "credit_count": 1, "credit_amount": 1250, "completion_count": 0, "completion_amount": 0, "completion_void_count": 0, "completion_void_amount": 0}]
    assert "TOTALS BALANCED" in paper and "BATCH UPLOADED" not in paper


def test_unbalanced_then_the_batch_upload_then_its_end_then_the_report_says_uploaded():
    r, paper = run(SALE + VOID_1 + SALE + [{"host": {"behaviour": "unbalanced", "times": 1}}, {"settle": True}]
                   + SALE)
    assert mtis(r)[3:] == ["0500", "0320", "0320", "0200"]  # one packed message (3 transactions), the end
    ledger = r["host_ledger"]
    assert [(u["stan"], u["amount"], u["matched"]) for u in ledger["uploads"]] == [
        ("000001", 1250, 1), ("000002", 1250, 1), ("000003", 1250, 1)]
    assert [(e["batch"], e["count"], e["uploaded"]) for e in ledger["upload_ends"]] == [("000001", 3, 3)]
    assert r["settlements"][0]["result"] == "unbalanced" and r["settlements"][0]["uploaded"] is True
    codes = [a[0] for a in r["alerts"]]
    assert codes.index("settle.unbalanced") < codes.index("settle.uploaded")
    report = paper[paper.index("SETTLEMENT REPORT"):]
    assert "TOTALS UNBALANCED" in report and "BATCH UPLOADED" in report
    assert r["transactions"][-1]["batch"] == "000002" and r["transactions"][-1]["outcome"] == "approved"


def test_upload_with_the_host_silent_is_owed_and_completes_at_the_next_upload():
    steps = SALE + SALE + [
        {"host": {"behaviour": "unbalanced", "times": 1}},
        {"host": {"behaviour": "drop", "mti": "0320", "times": 3}},
        {"settle": True},
        {"expect": {"alerts": "settle.upload_owed", "display": "BATCH UPLOAD OWED"}},
    ] + SALE + [  # sales go on in the new batch meanwhile
        {"expect": {"outcome": "approved"}},
        {"upload": True},
    ]
    r, paper = run(steps, QUICK)
    assert r["failures"] == [] and r["settlements"][0]["uploaded"] is True
    assert mtis(r).count("0320") == 3 + 2  # three silent tries of the first, then the whole upload again
    assert [(e["count"], e["uploaded"]) for e in r["host_ledger"]["upload_ends"]] == [(2, 2)]
    assert paper.count("SETTLEMENT REPORT") == 1 and "BATCH UPLOADED" in paper  # printed once, when true


def test_queued_reversals_and_offline_sales_go_before_the_settlement():
    steps = SALE + [
        {"host": {"behaviour": "drop", "mti": "0200", "times": 1}},
        {"host": {"behaviour": "drop", "mti": "0400", "times": 3}},
    ] + SALE + [  # answered never: its reversal stays queued
        {"expect": {"alerts": "reversal.pending"}},
        {"link": "down"},
        {"key": "500#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"},  # approved offline, queued
        {"expect": {"outcome": "offline_approved"}},
        {"link": "up"},
        {"settle": True},
    ]
    r, _ = run(steps, QUICK)
    order = mtis(r)
    assert order.index("0500") > max(i for i, m in enumerate(order) if m in ("0400", "0220"))
    assert order[-3:] == ["0400", "0220", "0500"]
    s = r["settlements"][0]
    assert (s["result"], s["debit_count"], s["debit_amount"]) == ("balanced", 2, 1750)  # the reversed sale is out


def test_host_silent_during_the_settlement_leaves_the_batch_open_and_the_operator_told():
    """The batch stays open, but takes nothing until it is settled again: the host may have closed it
    unheard (tests/e2e/test_books_agree.py has the restart)."""
    steps = SALE + [
        {"host": {"behaviour": "drop", "mti": "0500", "times": 3}},
        {"settle": True},
        {"expect": {"alerts": "settle.failed", "state": "idle"}},
        {"key": "1250#"},
        {"expect": {"alerts": "settle.interrupted", "state": "idle", "journal_count": 1}},
        {"settle": True},
    ] + SALE
    r, _ = run(steps, QUICK)
    assert r["failures"] == []
    assert mtis(r).count("0500") == 4
    assert [t["batch"] for t in r["transactions"]] == ["000001", "000002"]  # the sale after it: the next batch
    assert r["settlements"] == [{"batch": "000001", "result": "balanced", "uploaded": False, "debit_count": 1,
                                 "debit_amount": 1250, "credit_count": 0, "credit_amount": 0, "completion_count": 0, "completion_amount": 0, "completion_void_count": 0, "completion_void_amount": 0}]
