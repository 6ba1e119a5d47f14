"""A sale's answer that is not an answer to it: reversed once, the terminal idle, the next sale approved.

Each host behaviour spoils one part the terminal matches an answer on (MTI, STAN, terminal ID,
amount: ``firmware.host.replies.mismatch``) or the frame itself (garbage). The host posted the sale
either way, so the terminal must take it back: reason 98 (no usable answer), one 0400 the host
acknowledged, nothing owed. cup profile, the real ``tcp://`` link, the built-in host simulator.
"""

from __future__ import annotations

import pytest

from firmware.scenario import ScenarioRunner, parse_scenario

from .consistency import books, mtis

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"profile": "cup", "response_timeout": 0.4, "connect_timeout": 0.4}}


def run(steps):
    return ScenarioRunner().run(parse_scenario({"name": "t", "config": FAST, "step": steps}))


@pytest.mark.parametrize("behaviour, note", [
    ("wrong_stan", "answer rejected: STAN 000002, expected 000001"),
    ("wrong_mti", "answer rejected: MTI"),
    ("wrong_amount", "answer rejected: amount 1251, expected 1250"),
    ("wrong_terminal", "answer rejected: terminal "),
    ("garbage", "host.malformed"),
])
def test_an_answer_that_does_not_answer_the_sale_reverses_it_once(behaviour, note):
    r = run([{"host": {"behaviour": behaviour, "mti": "0200", "times": 1}}] + SALE
            + [{"expect": {"state": "idle", "outcome": "reversed", "reason": "98", "notes": note}}]
            + SALE + [{"expect": {"state": "idle", "outcome": "approved", "response_code": "00"}}])
    assert r["ok"], r["failures"]
    assert r["state"] == "idle" and r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    spoiled, good = r["transactions"]
    assert (spoiled["outcome"], spoiled["reason"], spoiled["receipts"]) == ("reversed", "98", [])
    assert (good["outcome"], good["response_code"]) == ("approved", "00")
    assert mtis(r) == ["0200", "0400", "0200"]  # the reversal goes before the next request
    ledger = r["host_ledger"]
    (reversal,) = [m for m in ledger["messages"] if m["mti"] == "0400"]
    assert (reversal["stan"], reversal["response_code"]) == (spoiled["stan"], "00")  # acknowledged
    assert ledger["messages"][0]["action"] == f"approved; {behaviour}"  # the host did post it
    by_stan = {p["stan"]: p for p in ledger["postings"]}
    assert (by_stan[spoiled["stan"]]["status"], by_stan[spoiled["stan"]]["reversals"]) == ("reversed", 1)
    assert by_stan[good["stan"]]["status"] == "approved"
    books(r)
