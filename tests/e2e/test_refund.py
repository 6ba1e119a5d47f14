"""Refunds end to end: simulated devices, the real TCP link, the host simulator on a socket."""

from __future__ import annotations

from datetime import datetime

import pytest

from firmware.hostsim.ledger import PostingStatus
from firmware.scenario import ScenarioRunner, parse_scenario

from .consistency import books, mtis

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}
RRN1 = "000000000001"  # the host simulator's first RRN: the first sale's


def refund(amount: int, rrn: str = RRN1, card=CARD, **kw) -> list[dict]:
    return [{"refund": {"rrn": rrn, "amount": amount, **kw}}] + card


def run(steps, config=FAST, runner=None):
    return (runner or ScenarioRunner()).run(parse_scenario({"name": "t", "config": config, "step": steps}))


def notes(result) -> list[str]:
    return [code for code, _text in result["notes"]]


def alerts(result) -> list[str]:
    return [code for code, _text in result["alerts"]]


def postings(result, kind="refund") -> list[dict]:
    return [p for p in result["host_ledger"]["postings"] if p["kind"] == kind]


def test_partial_refunds_approved_then_an_over_refund_refused_before_sending():
    r = run(SALE + refund(500) + refund(700) + [{"refund": {"rrn": RRN1, "amount": 51}},
                                                {"expect": {"notes": "refund.over_amount", "state": "amount",
                                                            "display": "OVER REFUNDABLE"}},
                                                {"key": "X"}])
    assert r["ok"], r["failures"]
    sale, first, second = r["transactions"]
    assert (first["kind"], first["outcome"], first["amount"], first["original_stan"]) == ("refund", "approved", 500,
                                                                                        "000001")
    assert second["outcome"] == "approved" and sale["refunded"] == 1200
    assert mtis(r) == ["0200", "0220", "0220"]  # the over-refund never left the terminal
    merchant = first["receipts"][0]
    assert "REFUND" in merchant and "-CNY 5.00" in merchant and f"ORIG REF NO:        {RRN1}" in merchant
    assert len(first["receipts"]) == 2 and "CARDHOLDER COPY" in first["receipts"][1]
    assert books(r)["approved_total"] == 50
    assert r["host_ledger"]["summary"]["net_amount"] == 50


def test_refund_of_the_whole_sale_then_another_is_refused_as_fully_refunded():
    r = run(SALE + refund(1250) + [{"refund": {"rrn": RRN1, "amount": 1}},
                                   {"expect": {"notes": "refund.fully_refunded", "display": "ALREADY REFUNDED"}}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0220"]


def test_declined_refund_prints_nothing():
    r = run(SALE + [{"host": {"behaviour": "decline", "code": "05", "kind": "refund", "times": 1}}] + refund(500)
            + [{"expect": {"outcome": "declined", "response_code": "05", "display": "REFUND DECLINED"}}])
    assert r["ok"], r["failures"]
    assert r["transactions"][-1]["receipts"] == [] and r["transactions"][0]["refunded"] == 0
    books(r)


def test_unknown_original_is_answered_25_by_the_host():
    r = run(SALE + refund(500, rrn="000000000777")
            + [{"expect": {"outcome": "declined", "response_code": "25", "notes": "refund.original_elsewhere"}}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0220"] and postings(r)[0]["status"] == "declined"


class OtherTerminals(ScenarioRunner):
    """The host already holds a transaction of ``kind`` this terminal never made (another terminal of the
    merchant): CNY 20.00, RRN 000000009999, authorisation ``auth_code``, made today."""

    def __init__(self, kind: str = "sale", auth_code: str = "000777") -> None:
        super().__init__()
        self.elsewhere = kind, auth_code

    def _start(self, config):
        config = super()._start(config)
        today = datetime.now()
        kind, auth_code = self.elsewhere
        self.processor.ledger.add_posting(
            kind=kind, terminal_id="87654321", stan="000123", txn_date=today.strftime("%m%d"),
            txn_day=today.date().isoformat(), amount=2000,
            currency="156", pan_masked="620550*********0004", rrn="000000009999", auth_code=auth_code,
            response_code="00", status=PostingStatus.APPROVED, when=today.isoformat(timespec="seconds"),
            batch="000009")
        return config


def test_refund_of_a_sale_made_elsewhere_is_judged_by_the_host():
    r = run(refund(1500, rrn="000000009999") + refund(600, rrn="000000009999")
            + [{"expect": {"outcome": "declined", "response_code": "64"}}], runner=OtherTerminals())
    assert r["ok"], r["failures"]
    first, second = r["transactions"]
    assert (first["outcome"], first["original_stan"]) == ("approved", None)  # not in this journal
    assert "ORIG REF NO:        000000009999" in first["receipts"][0] and "ORIG TRACE" not in first["receipts"][0]
    assert [p["status"] for p in postings(r)] == ["approved", "declined"]


def test_a_different_card_is_refused_for_a_sale_the_journal_holds():
    r = run(SALE + [{"refund": {"rrn": RRN1, "amount": 500}}, {"swipe": "visa"},
                    {"expect": {"notes": "refund.card_mismatch", "display": "NOT ORIGINAL CARD", "state": "card"}},
                    {"key": "X"}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200"]


def test_refund_of_a_voided_sale_and_void_of_a_refunded_sale_are_refused():
    voided = run(SALE + [{"void": 1}] + CARD + [{"refund": {"rrn": RRN1, "amount": 500}},
                                               {"expect": {"notes": "refund.voided", "display": "SALE VOIDED"}}])
    assert voided["ok"], voided["failures"]
    assert mtis(voided) == ["0200", "0200"]
    refunded = run(SALE + refund(500) + [{"void": 1}, {"expect": {"notes": "void.refunded"}}])
    assert refunded["ok"], refunded["failures"]
    assert mtis(refunded) == ["0200", "0220"]


def test_refund_of_an_offline_sale_whose_advice_the_host_declined_is_refused_and_nothing_is_sent():
    """The host refused the sale's advice (05) yet named an RRN in its answer: the journal keeps that reference,
    so a refund keyed with it finds the sale and is refused as its void is (DECLINED BY HOST), never sent."""
    from .hostile import run as hostile_run
    from .hostile import setting

    rrn, sent = "000000000777", []
    credit = [{"swipe": "unionpay_credit"}, {"pin": "1234"}]
    steps = [{"host": {"behaviour": "decline", "code": "05", "kind": "offline_sale", "times": 1}}, {"link": "down"},
             {"key": "1250#"}] + credit + [{"link": "up"}, {"upload": True}, {"expect": {"alerts": "advice.declined"}}]
    steps += [{"refund": {"rrn": rrn, "amount": 500}}]
    steps += [{"expect": {"notes": "refund.advice_declined", "display": "DECLINED BY HOST", "state": "idle"}}]
    r = hostile_run(steps, setting(f37=rrn), mti="0230", sent=sent)
    assert r["ok"], r["failures"]
    assert [m.mti for m in sent] == ["0220"]  # the sale's advice only: no refund left the terminal
    (sale,) = r["transactions"]
    assert (sale["outcome"], sale["refunded"]) == ("offline_approved", 0)
    assert postings(r) == [] and "refund.original_elsewhere" not in notes(r)


def test_host_silent_the_refund_is_sent_again_once_never_reversed():
    steps = SALE + [{"host": {"behaviour": "drop", "mti": "0220", "times": 1}}] + refund(500)
    steps += [{"expect": {"outcome": "approved", "alerts": "refund.approved"}}]
    r = run(steps)
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0220", "0221"]  # exactly one repeat; no 0400
    (posting,) = postings(r)
    assert posting["status"] == "approved" and posting["duplicates"] == 1  # posted once
    refund_record = r["transactions"][-1]
    assert refund_record["rrn"] == posting["rrn"]
    late = refund_record["receipts"]  # money went back to the card: both copies print, marked late
    assert len(late) == 2 and all("LATE HOST ANSWER" in t and posting["rrn"] in t for t in late)
    assert "MERCHANT COPY" in late[0] and "CARDHOLDER COPY" in late[1]
    assert books(r)["approved_total"] == 750


def test_power_cut_after_a_late_refund_answer_prints_its_receipts_at_boot():
    steps = SALE + [{"host": {"behaviour": "drop", "mti": "0220", "times": 1}}, {"power_cut": "after:advice_outcome"}]
    steps += refund(500) + [{"restart": True}, {"expect": {"outcome": "approved"}}]
    r = run(steps)
    assert r["ok"], r["failures"]
    assert r["power_cuts"] == ["after:advice_outcome"] and r["owed"]["receipts"] == 0
    assert mtis(r) == ["0200", "0220", "0221"]
    late = r["transactions"][-1]["receipts"]  # owed with the outcome, printed after the restart
    assert len(late) == 2 and all("PRINTED AFTER POWER LOSS" in t for t in late)
    books(r)


def test_refund_unanswered_after_every_retry_stays_queued_until_it_is_answered():
    steps = SALE + [{"host": {"behaviour": "drop", "mti": "0220", "times": 1}},
                    {"host": {"behaviour": "drop", "mti": "0221", "times": 2}}]
    steps += refund(500) + [{"expect": {"alerts": "advice.pending", "outcome": "requested"}},
                            {"expect": {"display": "1 REFUND QUEUED"}}, {"upload": True},
                            {"expect": {"outcome": "approved", "alerts": "refund.approved"}}]
    r = run(steps, config={"host": {"response_timeout": 0.4, "connect_timeout": 0.4, "reversal_retries": 2}})
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0220", "0221", "0221", "0221"] and r["owed"]["advices"] == 0
    (posting,) = postings(r)
    assert posting["duplicates"] == 3 and posting["status"] == "approved"
    assert [("LATE HOST ANSWER" in t) for t in r["transactions"][-1]["receipts"]] == [True, True]
    books(r)


def test_a_refund_still_queued_is_counted_and_named_when_the_sale_is_looked_up_again(tmp_path):
    """The refund the host left unanswered stays queued (sent by itself at the next upload); looking the
    sale up again finds it as still to go, and counts it against what is left."""
    from storage.store import Store

    steps = SALE + [{"host": {"behaviour": "drop", "mti": "0220", "times": 1}},
                    {"host": {"behaviour": "drop", "mti": "0221", "times": 2}}]
    steps += refund(500) + [{"expect": {"outcome": "requested"}}]
    r = run(steps, config={"host": {"response_timeout": 0.4, "connect_timeout": 0.4, "reversal_retries": 2}},
            runner=ScenarioRunner(data_dir=tmp_path / "data"))
    assert r["ok"], r["failures"]
    store = Store.open(tmp_path / "data")
    try:
        found = store.find_by_reference(RRN1, f"{store.record(1).when:%m%d}")
    finally:
        store.close()
    assert (found.facts.refunded, found.facts.refund_pending, found.facts.refundable) == (500, 500, 750)


def test_refund_needs_the_host():
    r = run(SALE + [{"link": "down"}] + refund(500) + [{"expect": {"display": "NOT REFUNDED"}}])
    assert r["ok"], r["failures"]
    v = r["transactions"][-1]
    assert (v["outcome"], v["reason"], v["receipts"]) == ("declined", "refund.online_only", []) and mtis(r) == ["0200"]
    assert r["owed"]["advices"] == 0


@pytest.mark.parametrize("point", [
    "after:open_request", "before:send_request", "after:send_request", "after:answer", "after:record_outcome",
    "after:print",
])
@pytest.mark.parametrize("host", ["approve", "drop"])
def test_power_cut_during_a_refund_recovers_without_a_reversal(point, host):
    steps = SALE + [{"host": {"behaviour": host, "times": 1, "mti": "0220"}}, {"power_cut": point}]
    steps += refund(500) + [{"restart": True}]
    r = run(steps, config={"host": {"response_timeout": 0.4}})
    if host == "approve":
        assert r["power_cuts"] == [point]
    summary = books(r)
    sale, v = r["transactions"]
    assert r["state"] == "idle" and v["kind"] == "refund" and "0400" not in mtis(r)
    # wherever the cut came, the refund's repeat (committed before sending) went out at start-up if its
    # answer was not yet recorded, and the host posted it exactly once
    assert v["outcome"] == "approved", f"refund ended {v['outcome']} after a cut at {point}"
    assert [p["status"] for p in postings(r)] == ["approved"] and summary["approved_total"] == 750
    assert sale["refunded"] == 500
    assert mtis(r).count("0220") <= 1 and r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    if point in ("after:open_request", "before:send_request", "after:send_request"):  # left open by the cut
        # what the alert says is what becomes of it: sent again, not "will be reversed" (UX24)
        assert "1 transaction(s) interrupted by a power cut: 1 sent again (never reversed)" in [t for _c, t in r["alerts"]]


def test_power_cut_while_the_refund_is_sent_again_recovers_it_once():
    steps = SALE + [{"host": {"behaviour": "drop", "times": 1, "mti": "0220"}}, {"power_cut": "after:send_advice"}]
    steps += refund(500) + [{"restart": True}]
    r = run(steps, config={"host": {"response_timeout": 0.4}})
    assert r["power_cuts"] == ["after:send_advice"]
    assert r["transactions"][-1]["outcome"] == "approved" and mtis(r).count("0220") == 1
    assert postings(r)[0]["duplicates"] >= 1 and "0400" not in mtis(r)
    books(r)


def test_settlement_counts_the_refund_as_a_credit_and_the_host_agrees():
    r = run(SALE + refund(500) + [{"settle": True}, {"expect": {"printed": "REFUND        1"}},
                                  {"expect": {"printed": "VOID          0"}}])
    assert r["ok"], r["failures"]
    (settle,) = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0500"]
    assert "balanced" in settle["action"] and "unbalanced" not in settle["action"]
    assert ("settle.ok", "batch 000001 settled, totals balanced") in [tuple(a) for a in r["alerts"]]


def test_journal_command_lists_refunds(tmp_path):
    import subprocess
    import sys

    runner = ScenarioRunner(data_dir=tmp_path / "data")
    run(SALE + refund(500), runner=runner)
    out = subprocess.run([sys.executable, "-m", "firmware.cli", "journal", "--data-dir", str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    # amounts as the slips and the report give them (12.50, not 1250 minor units)
    assert "sale" in first and " 12.50 " in first and first.endswith("REFUNDED 5.00"), first
    assert "refund" in second and "approved" in second and " 5.00 " in second and "of trace 000001 (#1)" in second
    # a currency with no minor unit (terminal.currency_exponent = 0) lists whole units
    config = tmp_path / "yen.toml"
    config.write_text("[terminal]\ncurrency = \"392\"\ncurrency_symbol = \"JPY\"\ncurrency_exponent = 0\n")
    out = subprocess.run([sys.executable, "-m", "firmware.cli", "journal", "--config", str(config), "--data-dir",
                          str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].endswith(" 1250 620550*********0004 trace 000001 rc 00 REFUNDED 500"), out.stdout

