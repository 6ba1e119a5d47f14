"""``posterm operators``: passwords from stdin (never argv), one-line errors with codes, selftest's warning."""

from __future__ import annotations

import io
import json
import sys

import pytest

from crypto.passwords import KdfCost, cost_of
from crypto.provision import provision
from firmware.cli import main
from firmware.selftest import Status, Target, run_selftest
from storage.operators import OperatorBook
from storage.store import Store

SECRET = "73950284"


@pytest.fixture
def cfg(tmp_path):
    data = tmp_path / "data"
    provision(data)  # a provisioned terminal's directory: operators add and set-supervisor make its database
    path = tmp_path / "posterm.toml"
    path.write_text(f'[storage]\ndata_dir = "{data}"\n[operators]\nrequired = true\n'
                    'supervisor_for = ["void"]\nkdf_cost = 4\n')
    return path, data


def posterm(monkeypatch, capsys, cfg, *argv, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["operators", *argv, "--config", str(cfg[0])])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_passwd_remove(monkeypatch, capsys, cfg):
    assert posterm(monkeypatch, capsys, cfg, "add", "01", stdin=SECRET + "\n")[0] == 0
    assert posterm(monkeypatch, capsys, cfg, "set-supervisor", "--password-stdin", stdin="24681357\n")[0] == 0
    code, out, _ = posterm(monkeypatch, capsys, cfg, "list", "--json")
    rows = json.loads(out)
    fresh = {"active": True, "default_password": False, "locked_out": False, "locked_at": None, "tries_left": 3,
             "signed_in": False}
    assert rows == [{"number": "00", "role": "supervisor", **fresh}, {"number": "01", "role": "cashier", **fresh}]
    assert posterm(monkeypatch, capsys, cfg, "passwd", "01", stdin="11112222\n")[0] == 0
    store = Store.open(cfg[1])
    book = OperatorBook(store.conn)
    assert book.verify("01", _pw("11112222")).ok and not book.verify("01", _pw(SECRET)).ok
    assert book.verify("00", _pw("24681357")).ok
    assert cost_of(book.get("01").password_hash) == KdfCost(4, 8, 1)  # operators.kdf_cost
    store.close()
    assert posterm(monkeypatch, capsys, cfg, "remove", "01")[0] == 0
    code, out, _ = posterm(monkeypatch, capsys, cfg, "list")
    assert out.split("\n")[0].startswith("00  supervisor") and "01" not in out


def test_a_disabled_cashier_stays_on_file_and_cannot_sign_in_until_enabled(monkeypatch, capsys, cfg):
    assert posterm(monkeypatch, capsys, cfg, "add", "01", stdin=SECRET + "\n")[0] == 0
    assert posterm(monkeypatch, capsys, cfg, "disable", "01")[1] == "operator 01 disabled\n"
    assert "01  cashier inactive" in posterm(monkeypatch, capsys, cfg, "list")[1]
    store = Store.open(cfg[1])
    verdict = OperatorBook(store.conn).verify("01", _pw(SECRET))
    store.close()
    assert not verdict.ok and verdict.code == "operator.inactive"
    assert posterm(monkeypatch, capsys, cfg, "enable", "01")[0] == 0
    store = Store.open(cfg[1])
    assert OperatorBook(store.conn).verify("01", _pw(SECRET)).ok
    store.close()


def test_list_shows_tries_left_and_lock_outs_and_unlock_ends_one(monkeypatch, capsys, cfg):
    """What the terminal's check wrote (wrong tries, a lock-out of 01 and of the supervisor) as a field
    engineer sees it, and unlock clears it in storage, which the running terminal reads at its next check."""
    from datetime import datetime

    assert posterm(monkeypatch, capsys, cfg, "add", "01", stdin=SECRET + "\n")[0] == 0
    assert posterm(monkeypatch, capsys, cfg, "add", "02", stdin=SECRET + "\n")[0] == 0
    store = Store.open(cfg[1])
    book = OperatorBook(store.conn)
    when = datetime(2026, 11, 22, 9, 30)
    for _ in range(3):
        book.record_wrong("01", 3, when)
        book.record_wrong("00", 3, when)
    book.record_wrong("02", 3, when)
    store.close()
    out = posterm(monkeypatch, capsys, cfg, "list")[1].splitlines()
    assert out == ["00  supervisor DEFAULT PASSWORD LOCKED OUT since 2026-11-22T09:30:00 (posterm operators unlock 00)",
                   "01  cashier LOCKED OUT since 2026-11-22T09:30:00 (posterm operators unlock 01)",
                   "02  cashier 2/3 tries left"]
    rows = {r["number"]: r for r in json.loads(posterm(monkeypatch, capsys, cfg, "list", "--json")[1])}
    assert (rows["01"]["locked_out"], rows["01"]["tries_left"], rows["02"]["tries_left"]) == (True, 0, 2)
    assert posterm(monkeypatch, capsys, cfg, "unlock", "01")[1] == "operator 01 unlocked\n"
    assert posterm(monkeypatch, capsys, cfg, "unlock", "00")[1] == "operator 00 unlocked\n"
    assert posterm(monkeypatch, capsys, cfg, "unlock", "02")[1] == "operator 02 was not locked out; wrong tries cleared\n"
    rows = {r["number"]: r for r in json.loads(posterm(monkeypatch, capsys, cfg, "list", "--json")[1])}
    assert [(r["locked_out"], r["tries_left"]) for r in rows.values()] == [(False, 3)] * 3


def _pw(text):
    from crypto.passwords import Password

    return Password(text)


def test_the_password_is_never_an_argument():
    with pytest.raises(SystemExit):
        main(["operators", "add", "01", SECRET])


@pytest.mark.parametrize("argv, stdin, code", [
    (["add", "1"], "1234\n", "operator.bad_number"),
    (["add", "00"], "1234\n", "operator.is_supervisor"),
    (["passwd", "00"], "1234\n", "operator.is_supervisor"),
    (["passwd", "07"], "1234\n", "operator.unknown"),
    (["remove", "00"], "", "operator.is_supervisor"),
    (["disable", "00"], "", "operator.is_supervisor"),
    (["disable", "07"], "", "operator.unknown"),
    (["unlock", "07"], "", "operator.unknown"),
    (["unlock", "7"], "", "operator.bad_number"),
    (["add", "02"], "987\n", "operator.bad_password"),
    (["add", "02"], "abcd\n", "operator.bad_password"),
])
def test_errors_are_one_line_with_a_code(monkeypatch, capsys, cfg, argv, stdin, code):
    Store.open(cfg[1]).close()  # a terminal's database (without one, every action but add is storage.missing)
    rc, out, err = posterm(monkeypatch, capsys, cfg, *argv, stdin=stdin)
    assert rc == 2 and err.count("\n") == 1 and f"[{code}]" in err
    assert stdin.strip() == "" or stdin.strip() not in err + out


def test_selftest_warns_about_the_default_supervisor_password_until_it_is_changed(monkeypatch, capsys, cfg):
    assert posterm(monkeypatch, capsys, cfg, "add", "01", stdin=SECRET + "\n")[0] == 0
    result = {r.name: r for r in run_selftest(Target(config_path=cfg[0]))}["operators"]
    assert (result.status, result.code) == (Status.WARN, "operator.default_password")
    assert posterm(monkeypatch, capsys, cfg, "set-supervisor", stdin="24681357\n")[0] == 0
    result = {r.name: r for r in run_selftest(Target(config_path=cfg[0]))}["operators"]
    assert (result.status, result.code) == (Status.WARN, "operator.weak_hash")  # kdf_cost 4: a test's cost


def test_selftest_warns_about_a_locked_out_operator_until_unlocked(monkeypatch, capsys, cfg):
    from datetime import datetime

    from storage.operators import OperatorBook

    assert posterm(monkeypatch, capsys, cfg, "add", "01", stdin=SECRET + "\n")[0] == 0
    store = Store.open(cfg[1])
    for _ in range(3):
        OperatorBook(store.conn).record_wrong("01", 3, datetime(2026, 11, 22, 12, 0))
    store.close()
    result = {r.name: r for r in run_selftest(Target(config_path=cfg[0]))}["operators"]
    assert (result.status, result.code) == (Status.WARN, "operator.locked_out") and "01" in result.text
    assert "operator.default_password" in result.detail  # the other warnings stay in the detail
    assert posterm(monkeypatch, capsys, cfg, "unlock", "01")[0] == 0
    result = {r.name: r for r in run_selftest(Target(config_path=cfg[0]))}["operators"]
    assert result.code == "operator.default_password"


def test_selftest_fails_when_sign_in_is_required_and_nobody_can(monkeypatch, capsys, cfg):
    Store.open(cfg[1]).close()
    result = {r.name: r for r in run_selftest(Target(config_path=cfg[0]))}["operators"]
    assert (result.status, result.code) == (Status.FAIL, "operator.no_cashier")
