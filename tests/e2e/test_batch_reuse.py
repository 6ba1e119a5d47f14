"""A batch number used again, end to end: the host renumbers (its sign-on answer names batch 1, which
this terminal settled already), and the new batch 1 sells, voids, refunds and settles on its own, with
the earlier batch 1 kept apart (``storage.archive``)."""

from __future__ import annotations

from firmware.cli import main
from firmware.core.settings import CoreSettings
from firmware.reportcli import batch_report, report_text
from firmware.scenario import ScenarioRunner, parse_scenario
from storage.store import Store

from .consistency import mtis

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
SMALL_SALE = [{"key": "700#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}
RRN1 = "000000000001"  # the host simulator's first RRN: the first sale's, in the earlier batch 1


def test_a_host_naming_a_settled_batch_at_sign_on_gets_a_fresh_batch_that_settles(tmp_path, capsys):
    steps = [
        *SALE,  # trace 1, batch 1
        {"settle": True},  # batch 1 closed; the terminal goes on in batch 2
        {"host": {"behaviour": "renumber", "batch": 1, "times": 1}},
        {"key": "F2"},  # sign on: the host names batch 1 again, and the open batch 2 is empty
        *SMALL_SALE,  # trace 4, in the new batch 1
        {"void": {"trace": 1}},  # the earlier batch's sale: settled, whatever its batch's number is now
        {"expect": {"notes": "void.batch_settled", "display": "BATCH SETTLED"}},
        {"key": "X"},
        {"void": {"trace": 4}}, *CARD,  # the new batch's sale voids
        {"refund": {"rrn": RRN1, "amount": 500}}, *CARD,  # the earlier sale, found by its reference
        {"settle": True},
        *SALE,
    ]
    runner = ScenarioRunner(data_dir=tmp_path)
    r = runner.run(parse_scenario({"name": "t", "config": FAST, "step": steps}))
    paper = runner.devices["printer"].text
    assert r["failures"] == [], r["failures"]
    kinds = [(t["kind"], t["batch"], t["outcome"]) for t in r["transactions"]]
    assert kinds == [("sale", "000001", "approved"), ("sale", "000001", "approved"), ("void", "000001", "approved"),
                     ("refund", "000001", "approved"), ("sale", "000002", "approved")]
    assert mtis(r).count("0500") == 2
    settles = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0500"]
    assert all(m["response_code"] == "00" and "balanced" in m["action"] for m in settles), settles
    assert "settle.ok" in [code for code, _ in r["alerts"]]  # before: storage.* (the batch could never close)
    assert sorted((s["batch"], s["debit_amount"], s["credit_amount"]) for s in r["settlements"]) == [
        ("000001", 700, 1200), ("000001", 1250, 0)]  # the new batch 1 (a void and a refund), the earlier one
    assert paper.count("SETTLEMENT REPORT") == 2
    store = Store.open_read_only(tmp_path)
    try:
        earlier, fresh = batch_report(store, 1_000_001), batch_report(store, 1)
    finally:
        store.close()
    assert [(t.stan, t.amount) for t in earlier.records] == [(1, 1250)]
    assert [(t.kind.value, t.amount) for t in fresh.records] == [("sale", 700), ("void", 700), ("refund", 500)]
    settings = CoreSettings.from_config(runner.base)
    assert "000001 (earlier)" in report_text(earlier, settings)
    assert "--batch 1000001" in report_text(fresh, settings)
    assert main(["report", "--data-dir", str(tmp_path), "--batch", "1000001"]) == 0  # the command line alike
    out = capsys.readouterr().out
    assert "000001 (earlier)" in out and "12.50 approved" in out.split("TRACE")[1]
    assert main(["journal", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "batch 000001 (earlier) (report --batch 1000001)" in lines[0]
    assert not any("earlier" in line for line in lines[1:])

