"""A settlement refused after an earlier one went unanswered (found by the crash test's settlement rules).

The terminal marks a batch's settlement under way before its 0500 leaves, and while no answer is
recorded the batch takes no transaction (``settle.interrupted``): the host may have closed it unheard.
A refusal clears that mark (README "Settlement": "a refusal leaves it open for sales again"). That
is right for a refusal of the first transmission; but when an earlier transmission went unanswered,
the host may have closed the batch then, and a refusal of the later one (a 96, "system malfunction")
says nothing about that earlier one. The terminal then sells into a batch the host has closed.
"""

from __future__ import annotations


from firmware.scenario import ScenarioRunner, parse_scenario

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
QUICK = {"host": {"response_timeout": 0.2, "connect_timeout": 0.4}}


def run(steps):
    return ScenarioRunner().run(parse_scenario({"name": "t", "config": QUICK, "step": steps}))


def test_a_refusal_after_an_unanswered_settlement_does_not_reopen_the_batch():
    steps = SALE + [
        {"host": {"behaviour": "drop", "mti": "0500", "times": 3}},  # the host closes batch 1; no answer arrives
        {"settle": True},
        {"expect": {"alerts": "settle.failed"}},
        {"host": {"behaviour": "decline", "code": "96", "mti": "0500", "times": 1}},
        {"settle": True},  # settled again, as the terminal asks: refused with 96
        {"expect": {"alerts": "settle.refused"}},
    ] + SALE
    r = run(steps)
    assert r["failures"] == [], r["failures"]
    ledger = r["host_ledger"]
    assert [(b["batch"], b["result"]) for b in ledger["batches"]] == [("000001", "1")]  # closed at the first 0500
    # the sale after the refusal must not go into the batch the host closed: refused (settle.interrupted)
    assert [t["stan"] for t in r["transactions"]] == ["000001"], [(t["stan"], t["batch"]) for t in r["transactions"]]
    assert [p["stan"] for p in ledger["postings"] if p["batch"] == "000001"] == ["000001"]


def test_a_retry_refused_after_a_silent_first_try_keeps_the_batch_closed_until_a_settlement_is_answered():
    steps = SALE + [
        {"host": {"behaviour": "drop", "mti": "0500", "times": 1}},  # the first try: the host closes, no answer
        {"host": {"behaviour": "decline", "code": "96", "mti": "0500", "times": 1}},  # its retry: refused
        {"settle": True},
        {"expect": {"alerts": "settle.refused"}},
        {"key": "1"},
        {"expect": {"alerts": "settle.interrupted"}},  # a sale is refused before anything is recorded
        {"settle": True},  # answered now: the batch closes and sales go on in the next one
    ] + SALE
    r = run(steps)
    assert r["failures"] == [], r["failures"]
    assert [t["batch"] for t in r["transactions"]] == ["000001", "000002"], r["transactions"]  # none in between


def test_a_refusal_of_a_first_settlement_still_leaves_the_batch_open_for_sales():
    r = run(SALE + [{"host": {"behaviour": "decline", "code": "96", "mti": "0500", "times": 1}}, {"settle": True},
                    {"expect": {"alerts": "settle.refused"}}] + SALE)
    assert r["failures"] == [], r["failures"]
    assert [t["batch"] for t in r["transactions"]] == ["000001", "000001"]
