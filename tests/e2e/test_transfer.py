"""Transfers end to end (转账): real PIN pad port, reader, TCP link and host simulator through the scenario runner.
Approved, declined, re-keyed, unanswered (exactly one reversal), power cuts at the named points, kept out of the
settlement, refused by the void by name, on both profiles; the destination account never in the clear on disk."""

from __future__ import annotations

import logging

import pytest

from firmware.scenario import ScenarioRunner, parse_scenario
from storage.store import Store

from .canary import TRANSFER_TO, find_card_data
from .consistency import books, mtis

MASK = "622848*********0018"
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}
TRANSFER = [{"transfer": {"amount": 5000, "account": TRANSFER_TO}}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
SALE = [{"key": "1250#"}, {"swipe": "visa"}, {"pin": "1234"}]


def run(steps, config=FAST, runner=None):
    return (runner or ScenarioRunner()).run(parse_scenario({"name": "t", "config": config, "step": steps}))


@pytest.mark.parametrize("profile", ["cup", "iso87"])
def test_approved_transfer_prints_the_masked_destination_and_stays_out_of_the_settlement(profile, tmp_path):
    config = {"host": {**FAST["host"], "profile": profile}}
    data = tmp_path / "data"
    r = run(SALE + TRANSFER + [{"expect": {"outcome": "approved", "printed": f"TO ACCOUNT   {MASK}"}},
                               {"settle": True}], config=config, runner=ScenarioRunner(data_dir=data))
    assert r["ok"], r["failures"]
    _, transfer = r["transactions"]
    assert (transfer["kind"], transfer["amount"], transfer["response_code"]) == ("transfer", 5000, "00")
    assert all("TRANSFER" in text and MASK in text for text in transfer["receipts"])
    assert len(transfer["receipts"]) == 2
    (settled,) = r["settlements"]  # the sale only: the transfer is not the merchant's money
    assert (settled["result"], settled["debit_count"], settled["debit_amount"]) == ("balanced", 1, 1250)
    store = Store.open(data)
    try:
        assert store.record(transfer["txn_no"]).account == MASK  # the journal keeps the mask only
    finally:
        store.close()
    leaks = find_card_data([p for p in data.rglob("*") if p.is_file()])
    assert not leaks, leaks


def test_declined_by_the_host_rule():
    r = run([{"host": {"behaviour": "decline", "code": "51", "times": 1}}] + TRANSFER
            + [{"expect": {"outcome": "declined", "response_code": "51", "display": "TRANSFER DECLINED"}}])
    assert r["ok"], r["failures"]
    assert r["transactions"][0]["receipts"] == [] and mtis(r) == ["0200"]
    books(r)


def test_accounts_keyed_differently_are_keyed_again():
    steps = [{"transfer": {"amount": 5000, "account": TRANSFER_TO, "again": "6228480402564890026"}},
             {"swipe": "unionpay_debit"},
             {"expect": {"state": "account", "notes": "transfer.account_mismatch", "display": "ACCOUNTS DIFFER"}},
             {"key": f"{TRANSFER_TO}#{TRANSFER_TO}#"}, {"pin": "1234"}, {"expect": {"outcome": "approved"}}]
    r = run(steps)
    assert r["ok"], r["failures"]


@pytest.mark.parametrize("behaviour", ["drop", "close", "bad_mac"])
def test_unanswered_or_spoiled_it_is_reversed_exactly_once(behaviour):
    r = run([{"host": {"behaviour": behaviour, "times": 1}}] + TRANSFER + [{"expect": {"state": "idle"}}] + SALE)
    assert r["ok"], r["failures"]
    transfer, sale = r["transactions"]
    assert transfer["outcome"] == "reversed" and sale["outcome"] == "approved"
    assert mtis(r).count("0400") == 1 and r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    books(r)


@pytest.mark.parametrize("point", ["after:open_request", "after:send_request", "after:answer",
                                   "after:record_outcome"])
def test_power_cut_during_a_transfer(point, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    runner = ScenarioRunner(data_dir=data)
    r = run([{"power_cut": point}] + TRANSFER + [{"restart": True}] + SALE, runner=runner)
    assert r["power_cuts"] == [point]
    transfer, sale = r["transactions"]
    expected = "approved" if point == "after:record_outcome" else "reversed"
    assert transfer["outcome"] == expected and sale["outcome"] == "approved"
    assert mtis(r).count("0400") == (0 if expected == "approved" else 1)
    if expected == "approved":  # its receipts printed after the power came back, with the destination
        assert all(MASK in text and "POWER LOSS" in text for text in transfer["receipts"])
    assert r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    books(r)
    logged = "\n".join(f"{rec.getMessage()} {rec.args!r}" for rec in caplog.records)
    files = [p for p in data.rglob("*") if p.is_file()]  # the db with its -wal and -shm, after a crash
    leaks = find_card_data(files, {"log": logged})
    assert not leaks, leaks


def test_a_void_of_a_transfer_is_refused_by_name():
    r = run(TRANSFER + [{"void": 1}, {"expect": {"notes": "void.transfer", "display": "CANNOT VOID TRANSFER"}}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200"] and len(r["transactions"]) == 1


def test_journal_listing_shows_only_the_mask(tmp_path):
    import subprocess
    import sys

    run(TRANSFER, runner=ScenarioRunner(data_dir=tmp_path / "data"))
    out = subprocess.run([sys.executable, "-m", "firmware.cli", "journal", "--data-dir", str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.strip().splitlines()
    assert "transfer" in line and f"to {MASK}" in line and TRANSFER_TO not in line
