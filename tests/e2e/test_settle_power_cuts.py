"""A power cut at each step of a settlement and its batch upload; after the restart the books are right.

Right means: at the moment of the cut, either the old batch is still open (no settlement row,
the batch number unchanged: settle again) or the new batch is open and the old one is closed
with its totals recorded (its upload and report owed); never a batch closed without its
totals. And after the restart, recovery finishes what was owed by itself: the upload reaches
the host complete and the report says BATCH UPLOADED.
"""

from __future__ import annotations

import pytest

from firmware.core.batch import SettleResult, Totals
from firmware.runner import CrashPlan
from firmware.scenario import ScenarioRunner, parse_scenario
from storage.store import Store

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
VOID_1 = [{"void": {"trace": 1}}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
BATCH_1 = Totals(debit_count=2, debit_amount=2500, credit_count=1, credit_amount=1250)

# (crash point, which time it is reached from the settlement on, the batch left by the cut)
POINTS = [
    ("before:send_network", 1, "open"),  # the 0500 never left
    ("after:send_network", 1, "open"),  # the host settled; the terminal never heard
    ("after:answer", 1, "open"),  # the 0510 arrived, nothing committed
    ("before:close_batch", 1, "open"),
    ("after:close_batch", 1, "closed"),  # closed, the upload owed
    ("after:send_upload", 1, "closed"),  # during the upload: the first 0320 on the wire
    ("after:answer", 2, "closed"),  # its 0330 arrived
    ("after:send_upload", 2, "closed"),  # the end on the wire
    ("before:upload_done", 1, "closed"),  # the end answered, not committed: uploaded again
    ("after:upload_done", 1, "closed"),  # the report owed
    ("before:print_report", 1, "closed"),
    ("after:print_report", 1, "closed"),  # printed, not marked: printed again
]


@pytest.mark.parametrize("point, count, left", POINTS, ids=[f"{p}#{n}" for p, n, _ in POINTS])
def test_power_cut_during_settlement_then_restart(point, count, left):
    steps = SALE + VOID_1 + SALE + [
        {"host": {"behaviour": "unbalanced"}},  # every settlement: the terminal uploads each batch
        {"settle": True},
        {"restart": True},
        {"settle": True},  # the old batch again if it stayed open, else the (empty) new one
    ]
    scenario = parse_scenario({"name": point, "config": {"host": {"response_timeout": 0.4}}, "step": steps})
    sim = ScenarioRunner()
    seen: dict[str, object] = {}

    def after(step):
        if step.kind == "host":  # armed from the settlement on, so the n-th time counts from there
            sim.runner.crash = CrashPlan(point, count)
        elif step.kind == "settle" and "left" not in seen:
            assert sim.runner is None, "the power cut did not happen"
            store = Store.open_read_only(sim.data_dir)
            try:
                batch, s = store.counters().batch, store.settlement(1)
                seen["left"] = "open" if s is None else "closed"
                if s is None:
                    assert batch == 1 and store.settled_batches() == []
                else:  # never closed without its totals, and the new batch open
                    assert batch == 2 and s.totals == BATCH_1 and store.batch_totals(1) == BATCH_1
                    assert s.result is SettleResult.UNBALANCED
                    assert (store.upload_owed() == s) is not s.uploaded  # owed until its end is committed
            finally:
                store.close()

    result = sim.run(scenario, after_step=after)
    paper = sim.devices["printer"].text
    assert result["power_cuts"] == [point] and seen["left"] == left
    (first, *later) = result["settlements"]
    assert (first["batch"], first["result"], first["uploaded"]) == ("000001", "unbalanced", True)
    assert (first["debit_count"], first["debit_amount"], first["credit_count"], first["credit_amount"]) == (
        2, 2500, 1, 1250)
    assert all(s["uploaded"] for s in later) and len(later) == (1 if left == "closed" else 0)
    ledger = result["host_ledger"]
    assert [(u["stan"], u["matched"]) for u in ledger["uploads"] if u["batch"] == "000001"] == [
        ("000001", 1), ("000002", 1), ("000003", 1)]
    assert [(e["count"], e["uploaded"]) for e in ledger["upload_ends"] if e["batch"] == "000001"] == [(3, 3)]
    reports = [part for part in paper.split("SETTLEMENT REPORT")[1:] if "BATCH NO:                 000001" in part]
    assert reports and all("BATCH UPLOADED" in part for part in reports)  # never printed before it was true
    assert len(reports) == (2 if point == "after:print_report" else 1)
    assert result["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}


def test_an_upload_cut_after_an_acknowledged_message_goes_on_from_the_next_one_after_the_restart():
    """Each 0330 is noted (UploadProgress, no fsync of its own): after a power cut the upload goes on from
    the first message the host has not acknowledged, rather than from the first, so a long upload over a
    slow line that keeps losing power still finishes. The host takes each message once here."""
    steps = SALE + VOID_1 + SALE + [
        {"host": {"behaviour": "unbalanced"}},
        {"settle": True},
        {"restart": True},
    ]
    scenario = parse_scenario({"name": "resume", "config": {"host": {"response_timeout": 0.4}}, "step": steps})
    sim = ScenarioRunner()

    def after(step):
        if step.kind == "host":
            sim.runner.crash = CrashPlan("after:upload_progress", 1)

    result = sim.run(scenario, after_step=after)
    assert result["power_cuts"] == ["after:upload_progress"]
    (first,) = result["settlements"]
    assert (first["batch"], first["uploaded"]) == ("000001", True)
    uploads = [m for m in result["host_ledger"]["messages"] if m["mti"] == "0320"]
    assert len(uploads) == len({m["stan"] for m in uploads}), uploads  # no message went twice
    ledger = result["host_ledger"]
    assert [(e["count"], e["uploaded"]) for e in ledger["upload_ends"] if e["batch"] == "000001"] == [(3, 3)]
