"""Balance inquiries end to end: the balance reaches the display and nothing else (disk, log, paper)."""

from __future__ import annotations

import logging

import pytest

from firmware.hostsim.txnset import lab_balance
from firmware.scenario import ScenarioRunner, parse_scenario
from hal.magstripe.sim import TEST_CARDS

from .consistency import books, mtis

INQUIRY = [{"balance": True}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}
BALANCE = lab_balance(TEST_CARDS["unionpay_debit"].pan)


def shown(amount: int) -> str:
    return f"CNY {amount // 100}.{amount % 100:02d}"


def needles(amount: int) -> list[bytes]:
    """Every form the balance could be kept in: the display's, the digits, the 12-digit wire form."""
    return [shown(amount).encode(), f"{amount // 100}.{amount % 100:02d}".encode(), f"{amount:012d}".encode(),
            str(amount).encode()]


def run(steps, config=FAST, runner=None):
    return (runner or ScenarioRunner()).run(parse_scenario({"name": "t", "config": config, "step": steps}))


def test_balance_is_shown_and_never_kept_on_disk_in_a_log_or_on_paper(tmp_path, caplog):
    assert len(str(BALANCE)) >= 5  # long enough that finding it means something
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    r = run(SALE + INQUIRY + [{"expect": {"display": shown(BALANCE), "outcome": "approved"}}] + SALE,
            runner=ScenarioRunner(data_dir=data))
    assert r["ok"], r["failures"]
    sale, inquiry, _ = r["transactions"]
    assert (inquiry["kind"], inquiry["amount"], inquiry["receipts"], inquiry["response_code"]) == ("balance", 0, [], "00")
    assert mtis(r) == ["0200", "0200", "0200"] and len(r["host_ledger"]["postings"]) == 2  # nothing posted
    assert books(r)["approved_total"] == 2500  # out of the money
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "posterm.db" for p in files)
    for path in files:
        content = path.read_bytes()
        for needle in needles(BALANCE):
            assert needle not in content, f"the balance ({needle!r}) is in {path.name}"
    logged = "\n".join(f"{rec.getMessage()} {rec.args!r}" for rec in caplog.records)
    for needle in needles(BALANCE):
        assert needle.decode() not in logged
    for text in sale["receipts"]:
        assert shown(BALANCE) not in text


def test_balance_declined_for_a_wrong_pin():
    r = run([{"host": {"behaviour": "approve", "pin": "9999", "times": 1}}] + INQUIRY
            + [{"expect": {"display": "BALANCE DECLINED", "outcome": "declined", "response_code": "55"}}])
    assert r["ok"], r["failures"]


@pytest.mark.parametrize("behaviour", ["drop", "close", "bad_mac", "garbage"])
def test_host_silent_or_spoiled_the_inquiry_is_neither_reversed_nor_sent_again(behaviour):
    r = run([{"host": {"behaviour": behaviour, "times": 1}}] + INQUIRY
            + [{"expect": {"display": "NO BALANCE", "outcome": "declined", "state": "idle"}}] + SALE)
    assert r["ok"], r["failures"]
    # an answer that failed its MAC: the host's keys may not be ours, so a sign-on goes before the sale
    assert mtis(r) == (["0200", "0800", "0200"] if behaviour == "bad_mac" else ["0200", "0200"])
    assert r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    assert r["transactions"][0]["reason"] == ("A0" if behaviour == "bad_mac" else "98")
    assert shown(BALANCE) not in r["display"]
    books(r)


def test_inquiry_needs_the_host():
    r = run([{"link": "down"}] + INQUIRY + [{"expect": {"display": "NO BALANCE"}}])
    assert r["ok"], r["failures"]
    assert r["transactions"][0]["reason"] == "balance.online_only" and mtis(r) == []


@pytest.mark.parametrize("point", ["after:open_request", "after:send_request", "after:answer", "after:record_outcome"])
def test_power_cut_during_an_inquiry_leaves_nothing_to_recover(point):
    r = run([{"power_cut": point}] + INQUIRY + [{"restart": True}] + SALE, config={"host": {"response_timeout": 0.4}})
    assert r["power_cuts"] == [point]
    inquiry, sale = r["transactions"]
    assert inquiry["outcome"] == ("approved" if point == "after:record_outcome" else "declined")
    if point != "after:record_outcome":
        assert inquiry["reason"] == "interrupted"
        assert "recovery.inquiries" in [code for code, _ in r["notes"]]
    assert "0400" not in mtis(r) and sale["outcome"] == "approved"
    assert r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    books(r)


def test_journal_lists_the_inquiry_without_its_balance(tmp_path):
    import subprocess
    import sys

    runner = ScenarioRunner(data_dir=tmp_path / "data")
    run(INQUIRY, runner=runner)
    out = subprocess.run([sys.executable, "-m", "firmware.cli", "journal", "--data-dir", str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.strip().splitlines()
    assert "balance" in line and "approved" in line and str(BALANCE) not in line


def test_balance_inquiry_on_the_iso87_profile():
    r = run(INQUIRY + [{"expect": {"display": shown(BALANCE), "outcome": "approved"}}],
            config={"host": {"profile": "iso87", "response_timeout": 0.4}})
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100"]
