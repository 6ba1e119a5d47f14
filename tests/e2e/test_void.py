"""Voids end to end: simulated devices, the real TCP link, the host simulator on a socket."""

from __future__ import annotations


import pytest

from firmware.scenario import ScenarioRunner, parse_scenario

from .consistency import books, mtis

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def void(trace: int, card=CARD) -> list[dict]:
    return [{"void": {"trace": trace}}] + card


def run(steps, config=FAST):
    return ScenarioRunner().run(parse_scenario({"name": "t", "config": config, "step": steps}))


def notes(result) -> list[str]:
    return [code for code, _text in result["notes"]]


def test_sale_then_void_approved_nets_to_zero():
    r = run(SALE + void(1))
    sale, v = r["transactions"]
    assert (sale["kind"], sale["outcome"], sale["voided_by"]) == ("sale", "approved", v["txn_no"])
    assert (v["kind"], v["outcome"], v["response_code"], v["original_stan"]) == ("void", "approved", "00", "000001")
    assert v["stan"] == "000002" and len(v["rrn"]) == 12 and len(v["receipts"]) == 2
    merchant = v["receipts"][0]
    assert "VOID" in merchant and "ORIG TRACE NO:" in merchant and "-CNY 12.50" in merchant
    assert "620550*********0004" in merchant
    summary = r["host_ledger"]["summary"]
    assert (summary["voided"], summary["approved"], summary["net_amount"]) == (1, 1, 0)
    postings = {p["kind"]: p for p in r["host_ledger"]["postings"]}
    assert postings["sale"]["status"] == "voided" and postings["void"]["original_id"] == postings["sale"]["id"]
    assert books(r)["approved_total"] == 0


def test_unknown_trace_is_refused_before_anything_is_sent():
    r = run(SALE + [{"void": 99}, {"expect": {"notes": "void.not_found", "display": "TRACE NOT FOUND"}}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200"] and len(r["transactions"]) == 1


def test_a_different_card_is_refused_then_the_right_one_voids():
    steps = SALE + [
        {"void": 1},
        {"swipe": "unionpay_credit"},
        {"expect": {"notes": "void.card_mismatch", "display": "NOT ORIGINAL CARD", "state": "card"}},
    ] + CARD
    r = run(steps)
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0200"]
    assert r["transactions"][-1]["kind"] == "void" and r["transactions"][-1]["outcome"] == "approved"


def test_a_different_card_cancelled_sends_nothing():
    r = run(SALE + [{"void": 1}, {"swipe": "visa"}, {"key": "X"}])
    assert "void.card_mismatch" in notes(r) and mtis(r) == ["0200"] and len(r["transactions"]) == 1


def test_void_declined_by_the_host_leaves_the_sale_approved_and_voidable():
    steps = SALE + [{"host": {"behaviour": "decline", "code": "05", "times": 1}}] + void(1) + void(1)
    r = run(steps)
    sale, declined, approved = r["transactions"]
    assert (declined["kind"], declined["outcome"], declined["response_code"]) == ("void", "declined", "05")
    assert declined["receipts"] == []
    assert approved["outcome"] == "approved" and sale["voided_by"] == approved["txn_no"]
    books(r)


def test_void_timeout_reverses_the_void_once_and_a_second_void_succeeds():
    steps = SALE + [{"host": {"behaviour": "drop", "times": 1, "amount": 1250, "stan": 2}}] + void(1)
    steps += [{"expect": {"outcome": "reversed"}}] + void(1)
    r = run(steps)
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0200", "0400", "0200"]
    sale, reversed_void, v = r["transactions"]
    assert reversed_void["kind"] == "void" and reversed_void["outcome"] == "reversed"
    assert v["outcome"] == "approved" and sale["voided_by"] == v["txn_no"]
    assert r["host_ledger"]["summary"]["reversals_seen"] == 1
    assert books(r)["approved_total"] == 0


def test_a_void_cannot_void_a_void_and_voiding_twice_is_refused():
    r = run(SALE + void(1) + [{"void": 2}, {"expect": {"notes": "void.is_void"}},
                              {"void": 1}, {"expect": {"notes": "void.already_voided", "display": "ALREADY VOIDED"}}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0200"] and len(r["transactions"]) == 2


def test_declined_sale_is_not_voidable():
    r = run([{"host": {"behaviour": "decline", "code": "51", "times": 1}}] + SALE + [{"void": 1}])
    assert "void.not_approved" in notes(r) and mtis(r) == ["0200"]


def test_host_unreachable_declines_the_void():
    r = run(SALE + [{"link": "down"}] + void(1) + [{"expect": {"display": "NOT VOIDED"}}])
    assert r["ok"], r["failures"]
    sale, v = r["transactions"]
    assert (v["outcome"], v["reason"], v["receipts"]) == ("declined", "void.online_only", [])
    assert sale["voided_by"] is None and mtis(r) == ["0200"]


def test_offline_sale_not_yet_uploaded_is_not_voidable_then_is_once_forwarded():
    credit = [{"key": "1250#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"}]
    steps = [{"link": "down"}] + credit + [{"link": "up"}, {"void": 1},
                                           {"expect": {"notes": "void.not_uploaded"}}, {"upload": True}]
    steps += void(1, card=[{"swipe": "unionpay_credit"}, {"pin": "1234"}])
    r = run(steps)
    assert r["ok"], r["failures"]
    sale, v = r["transactions"]
    assert sale["outcome"] == "offline_approved" and v["outcome"] == "approved" and sale["voided_by"] == v["txn_no"]
    assert r["host_ledger"]["summary"]["net_amount"] == 0


def test_offline_sale_the_host_declined_is_refused_as_declined_by_host_not_as_not_yet_uploaded():
    """Its advice went and the host said no (AU14): no upload will make it a paid sale, so the void is
    refused with what the host did, not told to wait; nothing is built or sent for it."""
    credit = [{"key": "1250#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"}]
    steps = [{"host": {"behaviour": "decline", "code": "05", "kind": "offline_sale", "times": 1}}, {"link": "down"}]
    steps += credit + [{"link": "up"}, {"upload": True}, {"expect": {"alerts": "advice.declined"}}, {"void": 1},
                       {"expect": {"notes": "void.advice_declined", "display": "DECLINED BY HOST"}}]
    r = run(steps)
    assert r["ok"], r["failures"]
    assert "void.not_uploaded" not in notes(r) and not any("NOT YET UPLOADED" in line for line in r["display"])
    (sale,) = r["transactions"]
    assert sale["outcome"] == "offline_approved" and sale["voided_by"] is None and mtis(r) == ["0220"]


def test_journal_command_shows_voids_and_voided_sales(tmp_path):
    import subprocess
    import sys

    runner = ScenarioRunner(data_dir=tmp_path / "data")
    runner.run(parse_scenario({"name": "t", "config": FAST, "step": SALE + void(1)}))
    out = subprocess.run([sys.executable, "-m", "firmware.cli", "journal", "--data-dir", str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    assert "sale" in first and "VOIDED by #2" in first
    assert "void" in second and "of trace 000001 (#1)" in second


@pytest.mark.parametrize("point", ["after:open_request", "before:send_request", "after:record_outcome"])
@pytest.mark.parametrize("host", ["approve", "drop"])
def test_power_cut_during_a_void_recovers(point, host):
    steps = SALE + [
        {"host": {"behaviour": host, "times": 1, "stan": 2, "mti": "0200"}},
        {"power_cut": point},
    ] + void(1) + [{"restart": True}]
    r = run(steps, config={"host": {"response_timeout": 0.4}})
    if host == "approve":
        assert r["power_cuts"] == [point]
    summary = books(r)
    sale, v = r["transactions"]
    assert r["state"] == "idle" and v["kind"] == "void"
    reversals = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0400"]
    if v["outcome"] == "approved":  # recorded before the cut: its receipts were owed and printed
        assert point == "after:record_outcome" and host == "approve"
        assert len(v["receipts"]) == 2 and sale["voided_by"] == v["txn_no"] and summary["approved_total"] == 0
        assert reversals == []
    else:  # cut before the outcome: the void is reversed exactly once, the sale stays approved
        assert v["outcome"] == "reversed" and len(reversals) == 1 and sale["voided_by"] is None
        assert summary["approved_total"] == 1250 and r["host_ledger"]["postings"][0]["status"] == "approved"
