"""What the slips say (audit AU20: M6, L1, L2, L3, L7), end to end on the scenario runner.

Each test failed on the code before its fix: F 8 reprinted only the newest receipt; a pre-auth and its
cancel printed like charges; a copy printed again after a power cut or a torn roll did not say it may
duplicate the slip before it; ORIG DATE printed the keyed MMDD.
"""

from __future__ import annotations

import re

from firmware.scenario import ScenarioRunner, parse_scenario

QUICK = {"host": {"response_timeout": 0.5, "connect_timeout": 0.5}}
DEBIT = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
SALE = [{"key": "1250#"}, *DEBIT]
SHOP = "POSTERM DEMO SHOP"  # the merchant name heads every slip


def run(steps: list[dict], config: dict | None = None, hook=None) -> tuple[dict, ScenarioRunner]:
    runner = ScenarioRunner()
    doc = {"name": "slips", "config": config or QUICK, "step": steps}
    after = None if hook is None else (lambda step: hook(step, runner))
    return runner.run(parse_scenario(doc, source="slips"), after_step=after), runner


def slips(paper: str) -> list[str]:
    return [SHOP + s for s in paper.split(SHOP)[1:]]


def reprints(runner: ScenarioRunner) -> list[str]:
    return [s for s in slips(runner.devices["printer"].text) if "*** REPRINT ***" in s]


def screens(runner: ScenarioRunner) -> str:
    return "\n".join("\n".join(line.rstrip() for line in s) for s in runner.devices["display"].history)


# -- M6: reprint by trace --------------------------------------------------------------------------------
def test_f8_then_a_trace_reprints_that_receipt_of_the_open_batch_once():
    res, r = run(SALE + SALE + [{"key": "F08"}, {"expect": {"state": "reprint"}}, {"key": "1#"},
                                {"expect": {"state": "idle"}}])
    assert res["ok"], res["failures"]
    [again] = reprints(r)
    assert "TRACE NO:                 000001" in again and "MERCHANT COPY" in again
    assert "VOIDED" not in again
    assert "TRACE NO (#=LAST)" in screens(r)


def test_f8_then_enter_alone_reprints_the_newest_receipt_as_before():
    res, r = run(SALE + SALE + [{"key": "F08#"}])
    assert res["ok"], res["failures"]
    [again] = reprints(r)
    assert "TRACE NO:                 000002" in again


def test_a_reprinted_sale_voided_since_says_by_which_trace():
    """An old slip reprinted must not be taken for a live charge."""
    res, r = run(SALE + [{"void": 1}, *DEBIT, {"expect": {"outcome": "approved"}}, {"key": "F08"}, {"key": "1#"}])
    assert res["ok"], res["failures"]
    [again] = reprints(r)
    assert "TRACE NO:                 000001" in again and "VOIDED BY TRACE 000002" in again


def test_a_reprint_changes_nothing_stored():
    """No copy is marked printed or skipped again, and no row is written: the journal reads the same after it."""
    seen: list[list[tuple]] = []

    def hook(step, r):
        seen.append(list(r.runner.store.conn.execute(
            "SELECT txn_no, state, merchant_copy, cardholder_copy FROM journal ORDER BY txn_no")))

    res, r = run(SALE + SALE + [{"key": "F08"}, {"key": "1#"}, {"expect": {"state": "idle"}}], hook=hook)
    assert res["ok"], res["failures"]
    assert len(reprints(r)) == 1
    assert len(seen[5]) == 2 and seen[-1] == seen[5]  # after the second sale's PIN, and at the end


def test_a_trace_not_in_the_open_batch_says_so_and_prints_nothing():
    res, r = run(SALE + [{"key": "F08"}, {"key": "7#"}, {"expect": {"state": "idle"}}])
    assert res["ok"], res["failures"]
    assert "TRACE NOT FOUND" in screens(r) and not reprints(r)


def test_a_declined_sale_and_a_balance_inquiry_have_no_slip_to_reprint():
    steps = [{"host": {"behaviour": "decline", "code": "55", "times": 1}}, *SALE,
             {"expect": {"outcome": "declined"}},
             {"balance": True}, *DEBIT, {"expect": {"outcome": "approved"}},
             {"key": "F08"}, {"key": "1#"}, {"expect": {"state": "idle"}},
             {"key": "F08"}, {"key": "2#"}, {"expect": {"state": "idle"}}]
    res, r = run(steps)
    assert res["ok"], res["failures"]
    shown = screens(r)
    assert "NO SLIP FOR TRACE\n000001" in shown and "NO SLIP FOR TRACE\n000002" in shown
    assert not reprints(r)


# -- L1: a hold is not a charge --------------------------------------------------------------------------
def test_a_preauth_slip_says_hold_only_and_its_cancel_says_the_hold_is_released():
    res, _ = run([{"preauth": 20000}, *DEBIT, {"preauth_cancel": {"auth": "000001", "amount": 20000}}, *DEBIT,
                  {"expect": {"outcome": "approved"}}])
    preauth, cancel = res["transactions"]
    assert preauth["kind"] == "preauth" and cancel["kind"] == "preauth_void"
    assert preauth["receipts"] and cancel["receipts"]
    for slip in preauth["receipts"]:
        assert "HOLD ONLY - NOT CHARGED" in slip and "RELEASED" not in slip
    for slip in cancel["receipts"]:
        assert "HOLD RELEASED - NOT CHARGED" in slip


# -- L2, L3: a copy printed again says it may duplicate the slip before it --------------------------------
def test_a_copy_torn_by_paper_out_is_printed_again_marked():
    sizes = {"steps": 0}

    def hook(step, r):
        printer = r.devices["printer"]
        sizes["steps"] += 1
        if sizes["steps"] == 3:  # the first sale's one copy is printed: its size in bytes
            sizes["copy"] = len(printer.output)
        if sizes["steps"] == 4:  # the second sale's amount keyed: the roll ends 8 bytes before its copy's end
            printer.paper_out_after(sizes["copy"] - 8)

    steps = SALE + SALE + [{"expect": {"state": "receipt_held"}}, {"printer": "load_paper"}, {"key": "#"},
                           {"expect": {"state": "idle"}}]
    res, r = run(steps, config={**QUICK, "receipts": {"copies": ["merchant"]}}, hook=hook)
    assert res["ok"], res["failures"]
    [torn] = r.devices["printer"].torn
    assert "CARDHOLDER SIGNATURE:" in torn and "TRACE NO:                 000002" in torn
    second = res["transactions"][1]["receipts"][-1]
    assert "*** PRINTED AGAIN ***" in second and "MAY DUPLICATE THE SLIP BEFORE IT" in second


def test_a_merchant_copy_printed_again_after_a_power_cut_says_it_may_duplicate_the_one_before():
    res, _ = run([{"power_cut": "after:print"}] + SALE + [{"restart": True}])
    assert res["ok"], res["failures"]
    merchant = [s for s in res["transactions"][0]["receipts"] if "MERCHANT COPY" in s]
    assert len(merchant) == 2 and "PRINTED AFTER POWER LOSS" in merchant[1]
    assert "MAY DUPLICATE THE SLIP BEFORE IT" in merchant[1]
    assert "MAY DUPLICATE" not in merchant[0]


# -- L7: ORIG DATE ----------------------------------------------------------------------------------------
def test_a_refund_slip_prints_its_original_date_as_mm_dd():
    """DATE/TIME reads YYYY-MM-DD; ORIG DATE printed the keyed MMDD (0304: March 4 or April 3?)."""
    res, _ = run(SALE + [{"refund": {"rrn": "000000000001", "amount": 500}}, *DEBIT,
                         {"expect": {"outcome": "approved"}}])
    slip = res["transactions"][-1]["receipts"][0]
    orig = next(line for line in slip.splitlines() if line.startswith("ORIG DATE"))
    when = next(line for line in slip.splitlines() if line.startswith("DATE/TIME"))
    assert re.fullmatch(r"ORIG DATE: +\d\d-\d\d", orig), orig
    assert orig[-5:] == when.split()[-2][5:], (orig, when)  # the sale was made today, as the refund
