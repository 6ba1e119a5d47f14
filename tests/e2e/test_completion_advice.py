"""Completions end to end: the completion advice (预授权完成通知) stored without the host and forwarded
exactly once when the link returns (0221 on a repeat), power cuts at the named points, completions on
lines of their own in the settlement report and ``posterm report --json``, and the iso87 completion
and its void against the host simulator."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from firmware.scenario import ScenarioRunner, parse_scenario

from .test_preauth import AUTH1, complete, postings, preauth
from .test_refund import CARD, FAST, books, mtis, run

SWIPE = CARD[:1]  # an advice takes the card, no PIN


def advice(amount: int, auth: str = AUTH1, **kw) -> list[dict]:
    return [{"preauth_advice": {"auth": auth, "amount": amount, **kw}}] + SWIPE


@pytest.mark.parametrize("link", ["up", "down"])
def test_key_six_stores_the_advice_prints_and_forwards_it_exactly_once(link):
    """With the link up the advice goes as soon as its receipts are out (0220); with it down, that first
    attempt finds no host, so it was marked sent and goes as the repeat (0221) once the link is back."""
    steps = preauth() + [{"link": link}] + advice(11500) + [
        {"expect": {"outcome": "offline_approved", "state": "idle"}},
        {"link": "up"}, {"upload": True}, {"upload": True}, {"settle": True}]
    r = run(steps)
    assert r["ok"], r["failures"]
    assert mtis(r)[:2] == ["0100", "0220" if link == "up" else "0221"] and len(mtis(r)) == 3  # then the 0500
    pa, done = r["transactions"]
    assert (done["kind"], done["outcome"], done["amount"], done["original_stan"], done["orig_auth"]) == (
        "preauth_complete", "offline_approved", 11500, "000001", AUTH1)
    assert len(done["receipts"]) == 2 and "AUTH COMPLETE (OFFLINE)" in done["receipts"][0]
    (posting,) = postings(r, "preauth_complete")
    assert (posting["status"], posting["amount"], posting["stan"]) == ("approved", 11500, "000002")
    assert postings(r, "preauth")[0]["status"] == "approved" and r["host_ledger"]["summary"]["reversals_seen"] == 0
    (settlement,) = r["settlements"]
    assert settlement["result"] == "balanced"
    assert (settlement["debit_count"], settlement["debit_amount"]) == (1, 11500)
    assert (settlement["completion_count"], settlement["completion_amount"]) == (1, 11500)
    assert r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}


def test_an_online_completion_without_the_host_becomes_the_advice_and_goes_again_as_0221():
    steps = preauth() + [{"link": "down"}] + complete(9000) + [
        {"expect": {"outcome": "offline_approved"}},
        {"link": "up"}, {"host": {"behaviour": "drop", "times": 1}}, {"upload": True}]
    r = run(steps)
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100", "0220", "0221"]
    assert [(p["status"], p["amount"]) for p in postings(r, "preauth_complete")] == [("approved", 9000)]
    assert books(r)["approved_total"] == 9000 and r["owed"]["advices"] == 0


def test_a_completion_advice_of_a_preauth_not_held_here_is_refused_before_anything_is_stored():
    r = run([{"link": "down"}] + advice(500, auth="123456")
            + [{"expect": {"alerts": "preauth.advice_unheld", "state": "idle", "display": "PREAUTH NOT HELD"}}])
    assert r["ok"], r["failures"]
    assert r["transactions"] == [] and mtis(r) == []


@pytest.mark.parametrize("point", ["after:record_outcome", "after:advice_sending", "after:send_advice"])
def test_power_cut_around_a_completion_advice_still_forwards_it_exactly_once(point):
    """Key 6 with the link up: committed, printed, then forwarded at once; cut after its commit, after its
    "sent" mark, after it left. Recovery prints what is owed and forwards it; the host posts it once."""
    steps = preauth() + [{"power_cut": point}] + advice(9000) + [{"restart": True}, {"upload": True}]
    r = run(steps, config={"host": {"response_timeout": 0.4}})
    assert r["power_cuts"] == [point]
    _, done = r["transactions"]
    assert done["kind"] == "preauth_complete" and done["outcome"] == "offline_approved"
    assert [(p["status"], p["amount"]) for p in postings(r, "preauth_complete")] == [("approved", 9000)]
    assert "0400" not in mtis(r) and r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    if point == "after:send_advice":  # it may have arrived: it goes again as the repeat
        assert mtis(r).count("0221") >= 1


def test_a_completion_advice_the_host_refuses_leaves_its_preauth_to_be_completed_again():
    """The host answers the advice 25: it never took the funds, so it is out of the totals and the
    pre-auth may be completed again (online); an accepted one would have refused that."""
    steps = preauth() + [{"host": {"behaviour": "decline", "code": "25", "mti": "0220", "times": 1}}] + advice(9000)
    steps += [{"expect": {"alerts": "advice.declined"}}] + complete(8000) + [{"expect": {"outcome": "approved"}},
                                                                            {"settle": True}]
    r = run(steps)
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100", "0220", "0200", "0500"]
    _, refused, again = r["transactions"]
    assert (refused["outcome"], again["outcome"], again["amount"]) == ("offline_approved", "approved", 8000)
    assert refused["advice"] == {"response_code": "25", "accepted": False} and again["advice"] is None
    assert books(r)["approved_total"] == 8000  # the refused advice is out of the books, as out of the totals (AU22)
    (s,) = r["settlements"]
    assert (s["result"], s["debit_count"], s["debit_amount"], s["completion_count"]) == ("balanced", 1, 8000, 1)
    accepted = run(preauth() + advice(9000) + complete(8000)
                   + [{"expect": {"notes": "preauth.completed", "display": "ALREADY COMPLETED"}}])
    assert accepted["ok"], accepted["failures"]


def test_a_completion_advice_the_host_declined_is_refused_a_void_as_declined_by_host():
    """A completion void of an advice the host declined (AU14) names what the host did, not NOT YET
    UPLOADED: the advice was uploaded, and the host never took the funds."""
    steps = preauth() + [{"host": {"behaviour": "decline", "code": "05", "kind": "preauth_complete_advice",
                                   "times": 1}}, {"link": "down"}] + advice(9000)
    steps += [{"link": "up"}, {"upload": True}, {"expect": {"alerts": "advice.declined"}},
              {"preauth_complete_void": 2},
              {"expect": {"notes": "preauth.advice_declined", "display": "DECLINED BY HOST"}}]
    r = run(steps)
    assert r["ok"], r["failures"]
    notes = [code for code, _ in r["notes"]]
    assert "preauth.not_uploaded" not in notes and not any("NOT YET UPLOADED" in line for line in r["display"])
    assert [t["kind"] for t in r["transactions"]] == ["preauth", "preauth_complete"]


def test_completions_and_their_voids_have_their_own_report_lines_and_json(tmp_path):
    steps = (preauth() + complete(9000) + [{"preauth_complete_void": 2}] + CARD
             + [{"key": "1000#"}] + CARD + [{"settle": True},
                                            {"expect": {"printed": "COMPLETE"}}, {"expect": {"printed": "CMPL VOID"}}])
    runner = ScenarioRunner(data_dir=tmp_path / "data")
    r = runner.run(parse_scenario({"name": "t", "config": FAST, "step": steps}))
    assert r["ok"], r["failures"]
    (s,) = r["settlements"]
    assert s["result"] == "balanced"
    assert (s["debit_count"], s["debit_amount"], s["credit_count"], s["credit_amount"]) == (2, 10000, 1, 9000)
    assert (s["completion_count"], s["completion_amount"], s["completion_void_count"],
            s["completion_void_amount"]) == (1, 9000, 1, 9000)
    cmd = [sys.executable, "-m", "firmware.cli", "report", "--data-dir", str(tmp_path / "data"), "--batch", "1"]
    out = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["lines"] == {"sale": {"count": 1, "amount": 1000}, "completion": {"count": 1, "amount": 9000},
                               "void": {"count": 0, "amount": 0}, "refund": {"count": 0, "amount": 0},
                               "completion_void": {"count": 1, "amount": 9000}}
    assert report["totals"]["debit_count"] == 2 and report["totals"]["net"] == 1000
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False).stdout
    assert "COMPLETE" in text and "CMPL VOID" in text


ISO87 = {"host": {"profile": "iso87", "response_timeout": 0.4, "connect_timeout": 0.4}}


def test_iso87_completion_and_its_void_end_to_end():
    steps = preauth() + complete(11500) + [{"preauth_complete_void": 2}] + CARD + complete(9000) + [
        {"settle": True}]
    r = run(steps, config=ISO87)
    assert r["ok"], r["failures"]
    pa, done, void, again = r["transactions"]
    assert [t["outcome"] for t in (pa, done, void, again)] == ["approved"] * 4
    assert mtis(r)[:4] == ["0100", "0200", "0200", "0200"]
    assert [p["status"] for p in postings(r, "preauth_complete")] == ["voided", "approved"]
    (s,) = r["settlements"]
    assert s["result"] == "balanced" and (s["completion_count"], s["completion_void_count"]) == (2, 1)


def test_iso87_unanswered_completion_is_reversed_once_and_the_preauth_holds_again():
    steps = preauth() + [{"host": {"behaviour": "drop", "times": 1, "mti": "0200"}}] + complete(9000) + [
        {"expect": {"outcome": "reversed"}}]
    r = run(steps, config=ISO87)
    assert r["ok"], r["failures"]
    assert mtis(r).count("0400") == 1 and postings(r, "preauth_complete")[0]["status"] == "reversed"
    assert len(r["host_ledger"]["postings"]) == 2 and books(r)["approved_total"] == 0


def test_iso87_completion_advice_is_forwarded_once():
    steps = preauth() + advice(9000) + [{"upload": True}, {"upload": True}]
    r = run(steps, config=ISO87)
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0100", "0220"]
    assert [(p["status"], p["amount"]) for p in postings(r, "preauth_complete")] == [("approved", 9000)]


def test_a_guarded_completion_guards_its_advice_too():
    """operators.supervisor_for's preauth_complete asks for the supervisor before key 6 as before key 3."""
    config = {**FAST, "operators": {"required": True, "supervisor_for": ["preauth_complete"], "kdf_cost": 4}}
    r = run([{"add_operator": {"operator": "07", "password": "2580"}},
             {"sign_in": {"operator": "07", "password": "2580"}}] + preauth() + [
        {"preauth_advice": {"auth": AUTH1, "amount": 100}}, {"expect": {"state": "supervisor"}}, {"key": "X"},
        {"preauth_advice": {"auth": AUTH1, "amount": 9000, "supervisor": "123456"}}] + SWIPE, config=config)
    assert r["ok"], r["failures"]
    assert [(t["kind"], t["outcome"]) for t in r["transactions"]] == [("preauth", "approved"),
                                                                      ("preauth_complete", "offline_approved")]
    assert [(p["status"], p["amount"]) for p in postings(r, "preauth_complete")] == [("approved", 9000)]
