"""The pre-auth family end to end: simulated devices, the real TCP link, the host simulator on a socket.
Hold, cancel, completion and completion void; refusals by the journal and by the host; a silent host
(exactly one reversal); power cuts at the named points; settlement totals with completions."""

from __future__ import annotations

import re

import pytest

from firmware.scenario import ScenarioRunner, parse_scenario

from .test_refund import CARD, FAST, OtherTerminals, books, mtis, run

AUTH1 = "000001"  # the host simulator's first authorisation code: the first approved transaction's


def preauth(amount: int = 10000, card=CARD) -> list[dict]:
    return [{"preauth": amount}] + card


def complete(amount: int, auth: str = AUTH1, card=CARD, **kw) -> list[dict]:
    return [{"preauth_complete": {"auth": auth, "amount": amount, **kw}}] + card


def cancel(amount: int, auth: str = AUTH1, card=CARD) -> list[dict]:
    return [{"preauth_cancel": {"auth": auth, "amount": amount}}] + card


def postings(result, kind) -> list[dict]:
    return [p for p in result["host_ledger"]["postings"] if p["kind"] == kind]


def test_preauth_then_completion_then_its_void_settle_balanced():
    steps = preauth() + complete(11500) + [{"preauth_complete_void": 2}] + CARD + [{"settle": True}]
    r = run(steps)
    assert r["ok"], r["failures"]
    pa, done, void = r["transactions"]
    assert (pa["kind"], pa["outcome"], pa["auth_code"]) == ("preauth", "approved", AUTH1)
    assert (done["kind"], done["outcome"], done["amount"], done["original_stan"], done["orig_auth"]) == (
        "preauth_complete", "approved", 11500, "000001", AUTH1)
    assert (void["kind"], void["outcome"], void["amount"], void["original_stan"]) == (
        "preauth_complete_void", "approved", 11500, "000002")
    assert mtis(r)[:3] == ["0100", "0200", "0200"]
    assert "PREAUTH" in pa["receipts"][0] and re.search(rf"ORIG AUTH NO:\s+{AUTH1}", done["receipts"][0])
    assert "AUTH COMPLETE" in done["receipts"][0] and "-CNY 115.00" in void["receipts"][0]
    (settlement,) = r["settlements"]
    assert settlement["result"] == "balanced"
    assert (settlement["debit_count"], settlement["debit_amount"], settlement["credit_count"],
            settlement["credit_amount"]) == (1, 11500, 1, 11500)
    assert books(r)["approved_total"] == 0


def test_a_lone_preauth_is_not_in_the_totals_and_a_completion_is():
    r = run(preauth(5000) + complete(4000) + [{"settle": True}])
    assert r["ok"], r["failures"]
    (settlement,) = r["settlements"]
    assert settlement["result"] == "balanced" and (settlement["debit_count"], settlement["debit_amount"]) == (1, 4000)
    assert books(r)["approved_total"] == 4000


def test_cancel_releases_and_then_the_journal_refuses_a_completion():
    steps = preauth() + cancel(10000) + [{"preauth_complete": {"auth": AUTH1, "amount": 100}},
                                         {"expect": {"notes": "preauth.cancelled", "display": "PREAUTH CANCELLED"}}]
    r = run(steps)
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100", "0100"] and r["transactions"][1]["outcome"] == "approved"
    assert postings(r, "preauth")[0]["status"] == "voided"
    assert books(r)["approved_total"] == 0


@pytest.mark.parametrize(("steps", "code"), [
    (complete(100) + [{"preauth_complete": {"auth": AUTH1, "amount": 100}}], "preauth.completed"),
    (complete(100) + [{"preauth_cancel": {"auth": AUTH1, "amount": 10000}}], "preauth.completed"),
    ([{"preauth_complete_void": 1}], "preauth.wrong_kind"),
    ([{"preauth_complete_void": 9}], "preauth.not_found"),
])
def test_what_the_journal_refuses_is_never_sent(steps, code):
    r = run(preauth() + steps + [{"expect": {"notes": code, "state": "idle"}}])
    assert r["ok"], r["failures"]
    assert "0100" in mtis(r) and len(mtis(r)) == 1 + (len(steps) > 1)


@pytest.mark.parametrize(("step", "code", "display"), [
    ({"preauth_cancel": {"auth": AUTH1, "amount": 9999}}, "preauth.amount_mismatch", "NOT PREAUTH AMOUNT"),
    ({"preauth_complete": {"auth": AUTH1, "amount": 11501}}, "preauth.over_amount", "OVER PREAUTH+15%"),
])
def test_amounts_outside_the_preauth_are_keyed_again(step, code, display):
    r = run(preauth() + [step, {"expect": {"notes": code, "state": "amount", "display": display}}, {"key": "X"}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100"]


def test_a_different_card_is_refused():
    r = run(preauth() + [{"preauth_complete": {"auth": AUTH1, "amount": 500}}, {"swipe": "visa"},
                         {"expect": {"notes": "preauth.card_mismatch", "display": "NOT ORIGINAL CARD"}},
                         {"key": "X"}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100"]


def test_declined_preauth_prints_nothing():
    r = run([{"host": {"behaviour": "decline", "code": "51", "kind": "preauth", "times": 1}}] + preauth()
            + [{"expect": {"outcome": "declined", "response_code": "51", "display": "PREAUTH DECLINED"}}])
    assert r["ok"], r["failures"]
    assert r["transactions"][0]["receipts"] == []


@pytest.mark.parametrize("mti, steps", [
    ("0100", preauth()),
    ("0200", preauth() + complete(9000)),
])
def test_host_silent_exactly_one_reversal(mti, steps):
    stan = 1 if mti == "0100" else 2
    steps = steps[:-3] + [{"host": {"behaviour": "drop", "times": 1, "mti": mti, "stan": stan}}] + steps[-3:]
    r = run(steps + [{"expect": {"outcome": "reversed"}}])
    assert r["ok"], r["failures"]
    assert mtis(r).count("0400") == 1 and r["host_ledger"]["summary"]["reversals_seen"] == 1
    assert r["transactions"][-1]["receipts"] == [] and r["owed"]["reversals"] == 0
    assert books(r)["approved_total"] == 0
    if mti == "0200":  # the completion undone: the pre-auth holds again and may be completed
        again = run(steps + complete(9000) + [{"expect": {"outcome": "approved"}}])
        assert again["ok"], again["failures"]


def test_a_preauth_made_elsewhere_is_judged_by_the_host():
    steps = complete(2301, auth="777777") + [{"expect": {"outcome": "declined", "response_code": "64",
                                                         "notes": "preauth.original_elsewhere"}}]
    steps += complete(2300, auth="777777") + [{"expect": {"outcome": "approved"}}]
    steps += complete(10, auth="777777") + [{"expect": {"outcome": "declined", "response_code": "12"}}]
    r = run(steps, runner=OtherTerminals("preauth", "777777"))
    assert r["ok"], r["failures"]
    _, second, _ = r["transactions"]
    assert second["original_stan"] is None and "ORIG AUTH NO:" in second["receipts"][0]
    assert [p["status"] for p in postings(r, "preauth_complete")] == ["declined", "approved", "declined"]


@pytest.mark.parametrize("point", ["after:open_request", "before:send_request", "after:send_request",
                                   "after:record_outcome"])
def test_power_cut_during_a_completion_recovers(point):
    steps = preauth() + [{"power_cut": point}] + complete(9000) + [{"restart": True}]
    r = run(steps, config={"host": {"response_timeout": 0.4}})
    assert r["power_cuts"] == [point]
    summary = books(r)
    _, done = r["transactions"]
    assert r["state"] == "idle" and done["kind"] == "preauth_complete"
    reversals = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0400"]
    if point == "after:record_outcome":  # recorded before the cut: its receipts were owed and printed
        assert done["outcome"] == "approved" and len(done["receipts"]) == 2 and reversals == []
        assert summary["approved_total"] == 9000
    else:  # cut before the outcome: reversed exactly once, the pre-auth holds again
        assert done["outcome"] == "reversed" and len(reversals) == 1
        assert summary["approved_total"] == 0 and postings(r, "preauth")[0]["status"] == "approved"
    assert r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}


def test_journal_command_shows_the_family(tmp_path):
    import json
    import subprocess
    import sys

    runner = ScenarioRunner(data_dir=tmp_path / "data")
    steps = preauth() + complete(9000) + preauth(300) + cancel(300, auth="000003") + complete(50, auth="123456")
    runner.run(parse_scenario({"name": "t", "config": FAST, "step": steps}))
    cmd = [sys.executable, "-m", "firmware.cli", "journal", "--data-dir", str(tmp_path / "data")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert "preauth " in lines[0] and "COMPLETED by #2" in lines[0]
    assert "preauth_complete" in lines[1] and "of trace 000001 (#1)" in lines[1]
    assert "CANCELLED by #4" in lines[2] and "preauth_void" in lines[3]
    assert "of pre-auth AUTH 123456 not in this journal" in lines[4] and "rc 25" in lines[4]
    rows = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=60, check=False).stdout)
    assert rows[0]["completed_by"] == 2 and rows[1]["orig_auth"] == AUTH1 and rows[2]["voided_by"] == 4


def test_an_unbalanced_batch_uploads_completions_and_their_voids_not_the_holds():
    steps = preauth() + complete(9000) + [{"preauth_complete_void": 2}] + CARD + preauth(500)
    steps += [{"host": {"behaviour": "unbalanced", "times": 1}}, {"settle": True}]
    r = run(steps)
    assert r["ok"], r["failures"]
    ledger = r["host_ledger"]
    assert [(u["stan"], u["amount"], u["matched"]) for u in ledger["uploads"]] == [
        ("000002", 9000, 1), ("000003", 9000, 1)]
    assert [(e["count"], e["uploaded"]) for e in ledger["upload_ends"]] == [(2, 2)]
    assert r["settlements"][0]["uploaded"] is True


def test_the_family_needs_the_host():
    r = run([{"link": "down"}] + preauth() + [{"expect": {"display": "NOT AUTHORISED"}}])
    assert r["ok"], r["failures"]
    (pa,) = r["transactions"]
    assert (pa["outcome"], pa["reason"], pa["receipts"]) == ("declined", "preauth.online_only", []) and mtis(r) == []
