"""End to end: the roll runs out part-way through a receipt during a sale, through the runner.

The copy is held (RECEIPT_HELD), not marked printed, and after paper is
loaded and ENTER pressed it prints again whole, then is marked.
"""

from __future__ import annotations

from firmware.scenario import ScenarioRunner, parse_scenario
from storage.journal import COPY_OWED, COPY_PRINTED

STEPS = [
    {"key": "1250#"},
    {"swipe": "unionpay_debit"},
    {"pin": "1234"},
    {"expect": {"outcome": "approved", "state": "receipt_held", "display": "PRINTER PROBLEM"}},
    {"printer": "load_paper"},
    {"key": "#"},
    {"expect": {"printed": "CARDHOLDER COPY", "state": "idle"}},
]


def test_a_receipt_torn_by_the_roll_ending_prints_again_whole_and_is_marked_only_then(tmp_path):
    runner = ScenarioRunner(data_dir=tmp_path / "data")
    marks: list[tuple[int, int]] = []

    def after(step) -> None:
        printer = runner.devices["printer"]
        if step.index == 1:  # the amount is keyed: the roll has 120 bytes left, less than one receipt
            printer.paper_out_after(120)
        if step.kind == "expect":
            (row,) = runner.runner.store.conn.execute("SELECT merchant_copy, cardholder_copy FROM journal").fetchall()
            marks.append(tuple(row))

    result = runner.run(parse_scenario({"name": "roll ends mid-receipt", "step": STEPS}), after_step=after)
    assert result["failures"] == [], result["failures"]
    assert marks == [(COPY_OWED, COPY_OWED), (COPY_PRINTED, COPY_PRINTED)]  # held: not marked before the reprint
    printer = runner.devices["printer"]
    (torn,) = printer.torn  # the stub that reached paper: the head of the merchant copy
    merchant, cardholder = printer.receipts
    assert "MERCHANT COPY" in merchant and "CARDHOLDER COPY" in cardholder
    assert "MERCHANT COPY" in torn and merchant.startswith(torn) and len(torn) < len(merchant)  # printed again whole
    assert [code for code, _ in result["alerts"]] == ["printer.paper_out"]
