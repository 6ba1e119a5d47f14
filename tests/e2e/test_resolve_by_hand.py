"""A reversal the host never applies, resolved by hand (``posterm journal resolve``).

A host that answers every 0400 with 12 (invalid transaction) never closes the reversal
(only the profile's ``reversal_done_codes`` do), so it stays queued and settlement is
refused with ``settle.queue_pending``. Once the merchant has settled it with the
acquirer, the supervisor's decision is recorded: the record becomes LOST with the
note as its reason, the reversal is never sent again, and the batch settles.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from firmware.cli import main
from firmware.scenario import ScenarioRunner, parse_scenario
from firmware.runlock import run_lock

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}
NOTE = "acquirer ticket 4471: original not applied"


def run(data, steps):
    return ScenarioRunner(data_dir=data).run(parse_scenario({"name": "resolve", "config": FAST, "step": steps}))


def mtis(result) -> list[str]:
    return [m["mti"] for m in result["host_ledger"]["messages"]]


@pytest.fixture
def stuck(tmp_path):
    """A data directory whose only sale's reversal the host keeps refusing, and settlement refused for it."""
    data = tmp_path / "data"
    r = run(data, [
        {"host": {"behaviour": "drop", "mti": "0200", "times": 1}},
        {"host": {"behaviour": "decline", "code": "12", "mti": "0400"}},  # for ever
        *SALE,
        {"upload": True},
        {"settle": True},
    ])
    assert "0500" not in mtis(r), mtis(r)
    assert any(code == "settle.queue_pending" for code, _ in r["alerts"]), r["alerts"]
    assert any(code == "reversal.pending" and "posterm journal resolve --txn 1" in text
               for code, text in r["alerts"]), r["alerts"]  # the operator is told the way out
    return data


def journal(data, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["journal", "--json", "--data-dir", str(data)]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_reversal_resolved_by_hand_is_never_sent_again_and_the_batch_settles(stuck, capsys):
    (sale,) = journal(stuck, capsys)
    assert sale["state"] == "reversing"
    assert main(["journal", "resolve", "--txn", str(sale["txn_no"]), "--note", NOTE, "--data-dir", str(stuck)]) == 0
    said = capsys.readouterr().out
    assert "LOST" in said and "reversal will not be sent" in said, said
    (sale,) = journal(stuck, capsys)
    assert (sale["state"], sale["reason"]) == ("lost", f"resolved by hand: {NOTE}")
    assert main(["journal", "--data-dir", str(stuck)]) == 0
    assert f"(resolved by hand: {NOTE})" in capsys.readouterr().out
    assert main(["report", "--data-dir", str(stuck)]) == 0
    assert f"RECONCILE BY HAND: resolved by hand: {NOTE}" in capsys.readouterr().out

    r = run(stuck, [{"upload": True}, {"settle": True}])
    assert mtis(r) == ["0500"], mtis(r)  # no 0400 any more; the settlement goes
    assert not any(code == "settle.queue_pending" for code, _ in r["alerts"]), r["alerts"]
    (settled,) = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0500"]
    assert settled["response_code"] == "00", settled


@pytest.mark.parametrize("args, code", [
    (["--txn", "1"], "journal.usage"),
    (["--note", NOTE], "journal.usage"),
    (["--txn", "1", "--note", "ok"], "journal.bad_note"),
    (["--txn", "1", "--note", "x" * 81], "journal.bad_note"),
    (["--txn", "1", "--note", "card 6222021234567890123 per bank"], "journal.note_digits"),
    (["--txn", "1", "--note", "card 6222 0212 3456 7890 123 refused"], "journal.note_digits"),  # as on the card
    (["--txn", "1", "--note", "pan 6222-0212-3456-7890-123 ticket 4471"], "journal.note_digits"),
    (["--txn", "1", "--note", "6222.0212.3456.7890.123 per acquirer"], "journal.note_digits"),
    (["--txn", "1", "--note", "caf\u00e9 said so"], "journal.bad_note"),
    (["--txn", "9", "--note", NOTE], "storage.missing_record"),
])
def test_resolve_refuses_bad_input_naming_it(stuck, capsys, args, code):
    capsys.readouterr()
    assert main(["journal", "resolve", *args, "--data-dir", str(stuck)]) == 2
    assert f"[{code}]" in capsys.readouterr().err
    (sale,) = journal(stuck, capsys)
    assert sale["state"] == "reversing"  # nothing changed


def test_resolve_refuses_a_record_with_nothing_queued(tmp_path, capsys):
    data = tmp_path / "data"
    run(data, SALE)
    capsys.readouterr()
    assert main(["journal", "resolve", "--txn", "1", "--note", NOTE, "--data-dir", str(data)]) == 2
    assert "[journal.nothing_queued]" in capsys.readouterr().err
    (sale,) = journal(data, capsys)
    assert sale["state"] == "approved"


def test_resolve_is_refused_beside_a_running_terminal(stuck, capsys):
    capsys.readouterr()
    with run_lock(stuck):  # what posterm run holds
        assert main(["journal", "resolve", "--txn", "1", "--note", NOTE, "--data-dir", str(stuck)]) == 2
    assert "[storage.in_use]" in capsys.readouterr().err
    with sqlite3.connect(stuck / "posterm.db") as conn:
        assert conn.execute("SELECT state FROM reversals").fetchall() == [("due",)]


def test_list_takes_no_resolve_options(stuck, capsys):
    capsys.readouterr()
    assert main(["journal", "--txn", "1", "--data-dir", str(stuck)]) == 2
    assert "[journal.usage]" in capsys.readouterr().err


def test_a_stored_advice_the_host_keeps_refusing_can_be_resolved_by_hand(tmp_path, capsys):
    """An offline sale (receipt printed) that the host answers with 96 at every upload stays queued
    (a try-again code); once resolved it is LOST, never sent again, and the batch settles."""
    data = tmp_path / "data"
    r = run(data, [
        {"link": "down"},
        {"key": "1250#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"},
        {"link": "up"},
        {"host": {"behaviour": "decline", "code": "96", "mti": "0220"}},
        {"host": {"behaviour": "decline", "code": "96", "mti": "0221"}},
        {"upload": True},
    ])
    assert r["transactions"][0]["outcome"] == "offline_approved"
    assert main(["journal", "resolve", "--txn", "1", "--note", NOTE, "--data-dir", str(data)]) == 0
    assert "its advice will not be sent" in capsys.readouterr().out
    (sale,) = journal(data, capsys)
    assert sale["state"] == "lost"
    r = run(data, [{"upload": True}, {"settle": True}])
    assert mtis(r) == ["0500"], mtis(r)


def test_a_note_may_name_a_reference_number():
    from firmware.journalcli import check_note

    assert check_note("RRN 000000000001 not applied, ticket 4471") == "RRN 000000000001 not applied, ticket 4471"


def test_a_batch_closed_by_an_unanswered_settlement_the_host_keeps_refusing_is_reopened_by_hand(tmp_path, capsys):
    """A 0500 unanswered, then every 0500 refused: the batch takes no transaction (the host may have closed it
    unheard). Once the acquirer says it is open, resolve --settlement lifts the block, keeping the note."""
    data = tmp_path / "data"
    r = run(data, [
        *SALE,
        {"host": {"behaviour": "drop", "mti": "0500", "times": 3}},
        {"settle": True},
        {"host": {"behaviour": "decline", "code": "96", "mti": "0500"}},  # for ever
        {"settle": True},
        {"key": "1"},
        {"expect": {"alerts": "settle.interrupted"}},
    ])
    assert r["failures"] == [], r["failures"]
    capsys.readouterr()
    assert main(["journal", "resolve", "--settlement", "--note", NOTE, "--data-dir", str(data)]) == 0
    assert "batch 000001" in capsys.readouterr().out
    with sqlite3.connect(data / "posterm.db") as conn:
        assert conn.execute("SELECT value FROM settings WHERE key = 'settle.resolved.1'").fetchall() == [
            (f"resolved by hand: {NOTE}",)]
    r = run(data, SALE)
    assert [t["batch"] for t in r["transactions"]] == ["000001", "000001"]  # sold into the batch again
    assert main(["journal", "resolve", "--settlement", "--note", NOTE, "--data-dir", str(data)]) == 2
    assert "[journal.nothing_queued]" in capsys.readouterr().err  # nothing left to resolve
    assert main(["journal", "resolve", "--settlement", "--txn", "1", "--note", NOTE, "--data-dir", str(data)]) == 2
    assert "[journal.usage]" in capsys.readouterr().err


# -- the supervisor's password, where the terminal has a supervisor ------------------------------------------
@pytest.fixture
def guarded(tmp_path):
    """A configuration whose terminal asks the supervisor's password before a settlement."""
    path = tmp_path / "posterm.toml"
    path.write_text('[operators]\nsupervisor_for = ["settle"]\nmax_tries = 2\n')
    return path


def resolve_typing(stuck, guarded, password, monkeypatch, capsys) -> tuple[int, str]:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    capsys.readouterr()
    status = main(["journal", "resolve", "--txn", "1", "--note", NOTE, "--password-stdin",
                   "--config", str(guarded), "--data-dir", str(stuck)])
    return status, capsys.readouterr().err


def test_resolve_asks_the_supervisors_password_where_functions_are_guarded(stuck, guarded, monkeypatch, capsys):
    status, err = resolve_typing(stuck, guarded, "123456", monkeypatch, capsys)  # a fresh terminal's 00
    assert status == 0, err
    (sale,) = journal(stuck, capsys)
    assert (sale["state"], sale["reason"]) == ("lost", f"resolved by hand: {NOTE}")


def test_a_wrong_supervisor_password_changes_nothing_counts_and_locks_00_out(stuck, guarded, monkeypatch, capsys):
    status, err = resolve_typing(stuck, guarded, "999999", monkeypatch, capsys)
    assert status == 2 and "[operator.wrong_password]" in err and "1 tries left" in err, err
    assert "999999" not in err and "Traceback" not in err
    (sale,) = journal(stuck, capsys)
    assert sale["state"] == "reversing"  # nothing changed

    status, err = resolve_typing(stuck, guarded, "999998", monkeypatch, capsys)  # the last try: 00 locked out
    assert status == 2 and "[operator.wrong_password]" in err and "locked out" in err, err
    status, err = resolve_typing(stuck, guarded, "123456", monkeypatch, capsys)  # the right one is not checked now
    assert status == 2 and "[operator.locked_out]" in err and "posterm operators unlock 00" in err, err
    (sale,) = journal(stuck, capsys)
    assert sale["state"] == "reversing"

    assert main(["operators", "unlock", "00", "--data-dir", str(stuck)]) == 0
    status, err = resolve_typing(stuck, guarded, "123456", monkeypatch, capsys)
    assert status == 0, err
    (sale,) = journal(stuck, capsys)
    assert sale["state"] == "lost"
