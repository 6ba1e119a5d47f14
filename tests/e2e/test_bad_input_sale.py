"""A sale's answer that is not an answer to it: reversed once, the terminal idle, the next sale approved.

Each host behaviour spoils one part the terminal matches an answer on (MTI, STAN, terminal ID,
amount: ``firmware.host.replies.mismatch``) or the frame itself (garbage). The host posted the sale
either way, so the terminal must take it back: one 0400 the host acknowledged, nothing owed. An
answer that is not this request's (MTI, STAN, terminal, garbage) is no answer: reason 98 after the
timeout. One that is this request's but for another amount is named at once: reason 06 (other),
AMOUNT MISMATCH on the display, an alert. cup profile, the real ``tcp://`` link, the built-in host
simulator; the amount case on iso87 too.
"""

from __future__ import annotations

import pytest

from firmware.scenario import ScenarioRunner, parse_scenario

from .consistency import books, mtis

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"profile": "cup", "response_timeout": 0.4, "connect_timeout": 0.4}}


def run(steps):
    return ScenarioRunner().run(parse_scenario({"name": "t", "config": FAST, "step": steps}))


@pytest.mark.parametrize("behaviour, reason, said", [
    ("wrong_stan", "98", {"notes": "answer rejected: STAN 000002, expected 000001"}),
    ("wrong_mti", "98", {"notes": "answer rejected: MTI"}),
    ("wrong_amount", "06", {"alerts": "host.amount_mismatch sale trace 000001: answer for amount 1251, expected 1250",
                            "display": "AMOUNT MISMATCH"}),
    ("wrong_terminal", "98", {"notes": "answer rejected: terminal "}),
    ("garbage", "98", {"notes": "host.malformed"}),
])
def test_an_answer_that_does_not_answer_the_sale_reverses_it_once(behaviour, reason, said):
    r = run([{"host": {"behaviour": behaviour, "mti": "0200", "times": 1}}] + SALE
            + [{"expect": {"state": "idle", "outcome": "reversed", "reason": reason, **said}}]
            + SALE + [{"expect": {"state": "idle", "outcome": "approved", "response_code": "00"}}])
    assert r["ok"], r["failures"]
    assert r["state"] == "idle" and r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    spoiled, good = r["transactions"]
    assert (spoiled["outcome"], spoiled["reason"], spoiled["receipts"]) == ("reversed", reason, [])
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


@pytest.mark.parametrize("profile, code", [("cup", "06"), ("iso87", "06")])
def test_an_answer_for_another_amount_is_reversed_as_such_before_the_timeout(profile, code):
    """The answer is taken back at once: the 0400 carries reason 06, not the no-answer code (98, iso87's
    68), and the display never says NO ANSWER FROM HOST. A response timeout far longer than the run
    would leave the terminal authorising if the answer were only rejected."""
    config = {"host": {"profile": profile, "response_timeout": 30, "connect_timeout": 0.4}}
    r = ScenarioRunner().run(parse_scenario({"name": "t", "config": config, "step": [
        {"host": {"behaviour": "wrong_amount", "mti": "0200", "times": 1}}, *SALE,
        {"expect": {"state": "idle", "outcome": "reversed", "reason": "06", "display": "AMOUNT MISMATCH"}}]}))
    assert r["ok"], r["failures"]
    (reversal,) = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0400"]
    assert reversal["response_code"] == "00"
    assert not any("NO ANSWER" in line for line in r["display"])
