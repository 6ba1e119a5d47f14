"""End to end: simulated devices, the real TCP link, the host simulator on a socket."""

from __future__ import annotations

from firmware.core.model import JournalState
from firmware.scenario import ScenarioRunner, parse_scenario

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
CREDIT_SALE = [{"key": "1250#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def run(steps, config=FAST):
    return ScenarioRunner().run(parse_scenario({"name": "t", "config": config, "step": steps}))


def mtis(result) -> list[str]:
    """The message types the host received, in order."""
    return [m["mti"] for m in result["host_ledger"]["messages"]]


def test_approved_then_declined():
    r = run(SALE + [{"host": {"behaviour": "decline", "code": "55", "times": 1}}] + SALE)
    first, second = r["transactions"]
    assert (first["outcome"], second["outcome"]) == ("approved", "declined")
    assert second["response_code"] == "55" and second["receipts"] == []
    assert int(second["stan"]) == int(first["stan"]) + 1


def test_host_timeout_sends_exactly_one_reversal():
    result = run([{"host": {"behaviour": "drop", "times": 1}}] + SALE)
    assert result["transactions"][0]["outcome"] == "reversed"
    assert mtis(result) == ["0200", "0400"]
    assert result["host_ledger"]["postings"][0]["status"] == "reversed"
    assert result["host_ledger"]["summary"]["reversals_seen"] == 1


def test_unanswered_reversal_is_retried_then_alerted_then_sent_on_the_next_connection():
    steps = [{"host": {"behaviour": "drop", "times": 4}}] + SALE + [
        {"expect": {"alerts": "reversal.pending", "display": "REVERSAL QUEUED"}},  # the outcome, held (AU20 M5)
        {"upload": True},
        {"expect": {"outcome": "reversed"}},
    ]
    result = run(steps)
    assert result["ok"], result["failures"]
    assert mtis(result) == ["0200", "0400", "0400", "0400", "0400"]  # 1 request, 3 tries, 1 more on the next connection
    assert result["host_ledger"]["summary"]["reversed"] == 1


def test_link_down_offline_approval_forwarded_exactly_once():
    steps = [{"link": "down"}] + CREDIT_SALE + [{"link": "up"}, {"upload": True}, {"upload": True}]
    result = run(steps)
    (txn,) = result["transactions"]
    assert txn["outcome"] == "offline_approved" and len(txn["receipts"]) == 2
    assert mtis(result) == ["0220"]
    (posting,) = result["host_ledger"]["postings"]
    assert (posting["kind"], posting["status"], posting["amount"]) == ("offline_sale", "approved", 1250)


def test_advice_retry_after_a_lost_answer_uses_the_repeat_mti_and_posts_once():
    steps = [{"link": "down"}] + CREDIT_SALE + [
        {"link": "up"},
        {"host": {"behaviour": "drop", "times": 1}},
        {"upload": True},
    ]
    result = run(steps)
    assert mtis(result) == ["0220", "0221"]
    assert result["host_ledger"]["summary"]["postings"] == 1


def test_over_the_offline_limits_is_declined():
    r = run([{"link": "down"}] + [{"key": "60000#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"}],
            config={**FAST, "offline": {"floor_limit": 50000}})
    (txn,) = r["transactions"]
    assert (txn["outcome"], txn["reason"]) == ("declined", "offline.floor_limit")
    assert txn["receipts"] == []
    assert r["host_ledger"]["summary"]["messages"] == 0


def test_queued_reversal_goes_before_the_next_sale():
    steps = [{"host": {"behaviour": "drop", "times": 4}}] + SALE + SALE
    result = run(steps)
    # the second sale's request only goes out after the first sale's reversal
    assert mtis(result) == ["0200", "0400", "0400", "0400", "0400", "0200"]
    assert [t["outcome"] for t in result["transactions"]] == ["reversed", "approved"]


def test_receipt_shows_everything_the_issue_asks_for():
    r = run(SALE)
    merchant, cardholder = r["transactions"][0]["receipts"]
    for label in ("MERCHANT NO:", "TERMINAL NO:", "OPERATOR NO:", "CARD NO:", "TRANS TYPE:", "BATCH NO:",
                  "TRACE NO:", "REF NO:", "AUTH NO:", "DATE/TIME:", "AMOUNT:"):
        assert label in merchant and label in cardholder
    assert "POSTERM DEMO SHOP" in merchant
    assert "CARDHOLDER SIGNATURE" in merchant and "CARDHOLDER SIGNATURE" not in cardholder
    assert "CARDHOLDER COPY" in cardholder
    assert "620550*********0004" in merchant and "***************0004" in cardholder
    assert "CNY 12.50" in merchant


def test_journal_states_after_a_mixed_session():
    r = run(SALE + [{"host": {"behaviour": "bad_mac", "times": 1}}] + SALE)
    assert [t["outcome"] for t in r["transactions"]] == [JournalState.APPROVED.value, JournalState.REVERSED.value]
    assert r["transactions"][1]["reason"] == "A0" and r["transactions"][1]["receipts"] == []
