"""Operators end to end: simulated devices, the host simulator; the cashier on paper and in field 63,
the supervisor's guard, and no typed password anywhere on disk, in the log or on the console."""

from __future__ import annotations

import re

from firmware.scenario import ScenarioRunner, parse_scenario

from .canary import run_logged

CONFIG = {"operators": {"required": True, "supervisor_for": ["void", "refund", "settle"], "kdf_cost": 4}}
SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]


def run(steps, config=CONFIG):
    return ScenarioRunner().run(parse_scenario({"name": "t", "config": config, "step": steps}))


def notes(result) -> list[str]:
    return [code for code, _text in result["notes"]]


def test_a_sale_by_cashier_07_names_07_on_the_receipt_and_in_field_63_of_the_settlement():
    """The cup profile carries the operator in field 63 of the 0800 and the 0500 (not of a 0200): the
    cashier's number is on the sale's journal row and receipts, and in the settlement the host receives."""
    r = run([{"add_operator": {"operator": "07", "password": "2580"}},
             {"sign_in": {"operator": "07", "password": "2580"}}] + SALE
            + [{"settle": {"supervisor": "123456"}}])
    assert r["ok"], r["failures"]
    (sale,) = r["transactions"]
    assert sale["outcome"] == "approved" and len(sale["receipts"]) == 2
    for receipt in sale["receipts"]:
        assert re.search(r"OPERATOR NO:\s+07\b", receipt), receipt
    (settle,) = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0500"]
    assert settle["operator"] == "07"  # field 63 as the host decoded it, not terminal.operator (01)


def test_without_sign_in_the_config_operator_goes_to_the_host_as_before():
    r = run(SALE + [{"settle": True}], config={})
    (settle,) = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0500"]
    assert settle["operator"] == "01" and r["transactions"][0]["outcome"] == "approved"
    assert re.search(r"OPERATOR NO:\s+01\b", r["transactions"][0]["receipts"][0])


def test_signed_out_no_sale_is_taken():
    r = run(SALE[:1] + [{"key": "X"}, {"swipe": "unionpay_debit"}])
    assert r["transactions"] == [] and r["host_ledger"]["postings"] == []


def test_a_supervisor_guarded_void_is_refused_then_allowed():
    r = run([{"add_operator": {"operator": "07", "password": "2580"}},
             {"sign_in": {"operator": "07", "password": "2580"}}] + SALE + [
        {"void": {"trace": 1, "supervisor": "999999"}},
        {"expect": {"notes": "operator.supervisor_refused", "journal_count": 1, "state": "idle"}},
        {"void": {"trace": 1, "supervisor": "123456"}}] + CARD)
    assert r["ok"], r["failures"]
    assert [(t["kind"], t["outcome"]) for t in r["transactions"]] == [("sale", "approved"), ("void", "approved")]
    assert notes(r).count("operator.supervisor_refused") == 1 and "operator.supervisor_ok" in notes(r)
    assert re.search(r"OPERATOR NO:\s+07\b", r["transactions"][1]["receipts"][0])


def test_a_guarded_settlement_stops_at_the_prompt_until_the_supervisor_types():
    r = run([{"add_operator": {"operator": "07", "password": "2580"}},
             {"sign_in": {"operator": "07", "password": "2580"}}] + SALE + [
        {"settle": True}, {"expect": {"state": "supervisor"}},
        {"supervisor": "123456"}, {"expect": {"state": "totals"}}, {"key": "#"}])
    assert r["ok"], r["failures"]
    (settlement,) = r["settlements"]
    assert settlement["result"] == "balanced"


CASHIER, SUPERVISOR, WRONG = "73950284", "41852963", "96385274"
SESSION = f"""
name = "operators canary"
[config]
operators = {{ required = true, supervisor_for = ["void", "refund", "settle"], kdf_cost = 4 }}
[[step]]
add_operator = {{ operator = "07", password = "{CASHIER}" }}
[[step]]
add_operator = {{ operator = "00", password = "{SUPERVISOR}" }}
[[step]]
sign_in = {{ operator = "07", password = "{WRONG}" }}
[[step]]
sign_in = {{ operator = "07", password = "{CASHIER}" }}
[[step]]
key = "1250#"
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
void = {{ trace = 1, supervisor = "{WRONG}" }}
[[step]]
void = {{ trace = 1, supervisor = "{SUPERVISOR}" }}
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
expect = {{ outcome = "approved", printed = "VOID" }}
"""


def test_typed_passwords_never_reach_disk_the_log_or_the_console(posterm_cmd, clean_env, tmp_path):
    run = run_logged(posterm_cmd, clean_env, tmp_path, SESSION)
    result, out, data, log = run.result, run.out, run.data, run.log
    assert [(t["kind"], t["outcome"]) for t in result["transactions"]] == [("sale", "approved"),
                                                                            ("void", "approved")]
    assert "operator.wrong_password" in [c for c, _ in result["notes"]]
    files = sorted(p for p in data.rglob("*") if p.is_file())
    assert "posterm.db" in {p.name for p in files} and log.stat().st_size > 1000
    for password in (CASHIER, SUPERVISOR, WRONG):
        for path in [*files, log]:
            assert password.encode() not in path.read_bytes(), f"a password is in {path.name}"
        assert password not in out.stdout and password not in out.stderr


def test_a_guarded_preauth_cancel_waits_for_the_supervisor_then_cancels():
    """operators.supervisor_for takes the pre-auth kinds: the cancel (preauth_void) asks first."""
    from tests.e2e.test_preauth import AUTH1

    config = {"operators": {"required": True, "supervisor_for": ["preauth_void"], "kdf_cost": 4}}
    r = run([{"add_operator": {"operator": "07", "password": "2580"}},
             {"sign_in": {"operator": "07", "password": "2580"}},
             {"preauth": 10000}] + CARD + [
        {"preauth_cancel": {"auth": AUTH1, "amount": 10000}}, {"expect": {"state": "supervisor"}}, {"key": "X"},
        {"preauth_cancel": {"auth": AUTH1, "amount": 10000, "supervisor": "123456"}}] + CARD, config=config)
    assert r["ok"], r["failures"]
    assert [(t["kind"], t["outcome"]) for t in r["transactions"]] == [("preauth", "approved"),
                                                                      ("preauth_void", "approved")]
    assert "operator.supervisor_ok" in notes(r)


# -- durable: the lock-out and the sign-in across a restart (a real data directory, the runner rebuilt) --------
LOCKING = {"operators": {"required": True, "supervisor_for": ["void", "refund", "settle"], "kdf_cost": 4,
                         "max_tries": 3, "lockout_seconds": 600}}
ADD_07 = [{"add_operator": {"operator": "07", "password": "2580"}}]
GUESS = {"sign_in": {"operator": "07", "password": "1111"}}
SIGN_IN_07 = {"sign_in": {"operator": "07", "password": "2580"}}


def test_a_lock_out_survives_a_restart_until_the_cli_unlocks_it(tmp_path):
    """Guess max_tries times, cycle the power: still locked out. ``posterm operators unlock 07`` (another
    process on the same database, while the terminal runs) ends it; the right password then signs in."""
    from firmware.cli import main

    data = tmp_path / "data"
    steps = ADD_07 + [GUESS] * 3 + [{"restart": True}, SIGN_IN_07, SIGN_IN_07] + SALE
    unlock_after = len(ADD_07) + 3 + 2  # the first right password after the restart (steps count from 1)

    def between(step):
        if step.index == unlock_after:
            assert runner.runner.core.operator is None  # refused: still locked out after the restart
            assert main(["operators", "unlock", "07", "--data-dir", str(data)]) == 0

    runner = ScenarioRunner(data_dir=data)
    r = runner.run(parse_scenario({"name": "t", "config": LOCKING, "step": steps}), after_step=between)
    assert r["ok"], r["failures"]
    codes = notes(r)
    assert codes.count("operator.wrong_password") == 3
    assert codes.count("operator.locked_out") == 3  # begun, found at boot, met by the right password
    assert [(t["kind"], t["outcome"]) for t in r["transactions"]] == [("sale", "approved")]
    assert re.search(r"OPERATOR NO:\s+07\b", r["transactions"][0]["receipts"][0])


def test_a_wrong_try_is_committed_before_its_answer_shows(tmp_path):
    """The power goes right after the check wrote the third wrong try, before WRONG PASSWORD showed:
    after the restart the operator is locked out all the same."""
    steps = ADD_07 + [GUESS] * 2 + [{"power_cut": "after:verify_operator"}, GUESS, {"restart": True}, SIGN_IN_07]
    r = ScenarioRunner(data_dir=tmp_path / "data").run(parse_scenario({"name": "t", "config": LOCKING,
                                                                        "step": steps}))
    assert r["power_cuts"] == ["after:verify_operator"]
    codes = notes(r)
    assert codes.count("operator.wrong_password") == 2 and codes.count("operator.locked_out") == 2
    assert "operator.signed_in" not in codes


def test_a_guessed_supervisor_password_locks_the_guarded_functions_across_a_restart(tmp_path):
    steps = ADD_07 + [SIGN_IN_07] + SALE + [{"void": {"trace": 1, "supervisor": "999999"}}] * 3 + [
        {"restart": True}, {"void": {"trace": 1, "supervisor": "123456"}}]
    r = ScenarioRunner(data_dir=tmp_path / "data").run(parse_scenario({"name": "t", "config": LOCKING,
                                                                        "step": steps}))
    codes = notes(r)
    assert codes.count("operator.supervisor_refused") == 4 and "operator.supervisor_ok" not in codes
    assert [t["kind"] for t in r["transactions"]] == ["sale"]  # no void started


def test_the_cashier_stays_signed_in_across_a_power_cut_until_the_settlement(tmp_path):
    """UnionPay terminals keep the operator signed in until sign-out or settlement: a restart mid-shift
    goes on selling as 07; the settlement ends the shift, and that survives a restart too."""
    steps = ADD_07 + [SIGN_IN_07, {"restart": True}] + SALE + [{"settle": {"supervisor": "123456"}},
                                                          {"restart": True}] + SALE[:1] + [{"key": "X"}]
    r = ScenarioRunner(data_dir=tmp_path / "data").run(parse_scenario({"name": "t", "config": LOCKING,
                                                                        "step": steps}))
    assert r["ok"], r["failures"]
    codes = notes(r)
    assert codes.count("operator.resumed") == 1 and "operator.signed_out" in codes
    assert [(t["kind"], t["outcome"]) for t in r["transactions"]] == [("sale", "approved")]  # the last refused
    assert re.search(r"OPERATOR NO:\s+07\b", r["transactions"][0]["receipts"][0])


def test_a_sign_out_survives_a_restart(tmp_path):
    steps = ADD_07 + [SIGN_IN_07, {"sign_out": True}, {"restart": True}] + SALE[:1] + [{"key": "X"}]
    r = ScenarioRunner(data_dir=tmp_path / "data").run(parse_scenario({"name": "t", "config": LOCKING,
                                                                        "step": steps}))
    assert "operator.resumed" not in notes(r) and r["transactions"] == []


def test_a_power_cut_just_after_the_batch_closed_leaves_nobody_signed_in(tmp_path):
    """The settlement's own commit ends the shift: cut right after it, the restart asks for a sign-in."""
    steps = ADD_07 + [SIGN_IN_07] + SALE + [{"power_cut": "after:close_batch"}, {"settle": {"supervisor": "123456"}},
                                           {"restart": True}] + SALE[:1] + [{"key": "X"}]
    r = ScenarioRunner(data_dir=tmp_path / "data").run(parse_scenario({"name": "t", "config": LOCKING,
                                                                        "step": steps}))
    assert r["power_cuts"] == ["after:close_batch"]
    assert "operator.resumed" not in notes(r)
    assert [(t["kind"], t["outcome"]) for t in r["transactions"]] == [("sale", "approved")]  # the last refused
