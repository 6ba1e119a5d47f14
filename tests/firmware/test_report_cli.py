"""``posterm report``: a batch's totals and its transactions, text and JSON, read-only, PANs masked."""

from __future__ import annotations

import hashlib
import json

import pytest

from firmware.cli import main
from firmware.scenario import ScenarioRunner, parse_scenario
from storage.store import DB_FILE, Store

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
VOID_1 = [{"void": {"trace": 1}}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
CLEAR_PAN = "6205500000000000004"  # the unionpay_debit test card


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    """A data directory after: sale, void, sale, a settlement the host found unbalanced (batch 1 uploaded),
    then one sale and one declined sale in batch 2; and a configuration file for the report."""
    root = tmp_path_factory.mktemp("report")
    steps = SALE + VOID_1 + SALE + [{"host": {"behaviour": "unbalanced", "times": 1}}, {"settle": True}] + SALE + [
        {"host": {"behaviour": "decline", "code": "51", "times": 1}}] + SALE
    result = ScenarioRunner(data_dir=root / "data").run(parse_scenario({"name": "report", "step": steps}))
    assert result["failures"] == [] and result["settlements"][0]["uploaded"]
    config = root / "posterm.toml"
    config.write_text('[terminal]\nmerchant_name = "REPORT SHOP"\n')
    return root / "data", config


def report(terminal, capsys, *args: str) -> tuple[int, str, str]:
    data, config = terminal
    code = main(["report", "--config", str(config), "--data-dir", str(data), *args])
    out, err = capsys.readouterr()
    assert CLEAR_PAN not in out + err  # masked, always
    return code, out, err


def test_current_batch_text_counts_the_journal_and_lists_every_transaction(terminal, capsys):
    code, out, _ = report(terminal, capsys)
    assert code == 0
    assert "REPORT SHOP" in out and "RECONCILIATION REPORT" in out
    assert "BATCH NO:                                 000002" in out and "OPEN (NOT SETTLED)" in out
    assert "SALE          1                        CNY 12.50" in out  # the declined one does not count
    lines = [line for line in out.splitlines() if line[:6].isdigit()]
    assert [line.split()[0] for line in lines] == ["000007", "000008"]
    assert "approved" in lines[0] and "620550*********0004" in lines[0] and "declined" in lines[1]


def test_current_batch_json(terminal, capsys):
    code, out, _ = report(terminal, capsys, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["batch"] == 2 and doc["status"] == "open" and doc["settlement"] is None
    assert doc["totals"] == {"debit_count": 1, "debit_amount": 1250, "credit_count": 0, "credit_amount": 0,
                             "net": 1250, "unsent": 0}
    assert [(t["trace"], t["state"], t["response_code"]) for t in doc["transactions"]] == [
        (7, "approved", "00"), (8, "declined", "51")]


def test_settled_batch_text_shows_what_was_settled_and_uploaded(terminal, capsys):
    code, out, _ = report(terminal, capsys, "--batch", "1")
    assert code == 0 and "SETTLED 20" in out and "TOTALS UNBALANCED" in out and "BATCH UPLOADED" in out
    assert "SALE          2                        CNY 25.00" in out and "VOID          1" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:6].isdigit()}
    assert sorted(lines) == ["000001", "000002", "000003"]
    assert lines["000001"].endswith("VOIDED by trace 000002") and lines["000002"].endswith("of trace 000001")
    assert "-12.50" in lines["000002"]


def test_settled_batch_json(terminal, capsys):
    code, out, _ = report(terminal, capsys, "--batch", "1", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "settled"
    assert {k: doc["settlement"][k] for k in ("result", "uploaded", "upload_owed")} == {
        "result": "unbalanced", "uploaded": True, "upload_owed": False}
    assert doc["totals"]["net"] == 1250
    assert [(t["trace"], t["kind"], t["voided"], t["voided_by_trace"], t["original_trace"])
            for t in doc["transactions"]] == [(1, "sale", True, 2, None), (2, "void", False, None, 1),
                                              (3, "sale", False, None, None)]
    assert {t["masked_pan"] for t in doc["transactions"]} == {"620550*********0004"}


@pytest.mark.parametrize("args, code, text", [
    (["--batch", "9"], 2, "posterm: error [report.no_batch]: there is no batch 000009"),
    (["--batch", "9", "--json"], 2, "posterm: error [report.no_batch]"),
])
def test_an_unknown_batch_is_one_line_with_its_code(terminal, capsys, args, code, text):
    got, out, err = report(terminal, capsys, *args)
    assert got == code and err.startswith(text) and len(err.splitlines()) == 1
    if "--json" in args:  # the error as JSON on stdout too (firmware/cli.py _error)
        assert json.loads(out)["error"]["code"] == "report.no_batch"
    else:
        assert out == ""


def test_a_batch_number_that_is_not_one_is_refused_by_the_parser(terminal, capsys):
    with pytest.raises(SystemExit) as e:
        report(terminal, capsys, "--batch", "x1")
    assert e.value.code == 2


def test_a_missing_database_is_one_line_with_its_code_and_is_not_created(terminal, tmp_path, capsys):
    _, config = terminal
    assert main(["report", "--config", str(config), "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("posterm: error [storage.missing]: there is no database")
    assert not (tmp_path / DB_FILE).exists()


def test_the_report_changes_nothing_and_waits_for_no_lock(terminal, capsys):
    data, _ = terminal
    writer = Store.open(data)  # the terminal, in the middle of a commit
    writer.conn.execute("BEGIN IMMEDIATE")
    try:
        before = {name: hashlib.sha256((data / name).read_bytes()).hexdigest()
                  for name in (DB_FILE, f"{DB_FILE}-wal")}
        code, out, _ = report(terminal, capsys, "--batch", "1", "--json")
        assert code == 0 and json.loads(out)["batch"] == 1
        after = {name: hashlib.sha256((data / name).read_bytes()).hexdigest() for name in before}
        assert after == before
    finally:
        writer.conn.execute("ROLLBACK")
        writer.close()


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A batch of a sale (12.50), a pre-auth (200.00) and its cancel, a transfer (70.00): only the sale counts."""
    root = tmp_path_factory.mktemp("outside")
    card = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
    steps = SALE + [{"preauth": 20000}] + card + [{"preauth_cancel": {"auth": "000002", "amount": 20000}}] + card + [
        {"transfer": {"amount": 7000, "account": "6228480402564890018"}}] + card
    result = ScenarioRunner(data_dir=root / "data").run(parse_scenario({"name": "outside", "step": steps}))
    assert result["failures"] == [] and [t["outcome"] for t in result["transactions"]] == ["approved"] * 4
    config = root / "posterm.toml"
    config.write_text("")
    return root / "data", config


def test_the_approved_rows_the_totals_leave_out_say_so_and_the_rest_add_up_to_the_total(outside, capsys):
    """Audit AU20 M1: a merchant ticking the approved rows against TOTAL (12.50) got 482.50: the pre-auth, its
    cancel (a release, not money) and the transfer were listed "approved" like the sale, with nothing to tell them
    apart. The columns line up whatever the kind (TYPE was 4 wide), and no line of the head reads "-CNY 0.00"."""
    _, out, _ = report(outside, capsys)
    header, *rows = out[out.index("\nTRACE ") + 1:].splitlines()
    counted = sum(int(r[header.index("AMOUNT") - 7:header.index("AMOUNT") + 6].replace(".", "")) for r in rows
                  if " approved " in r and "NOT IN TOTALS" not in r)
    assert counted == 1250, out
    assert [("NOT IN TOTALS" in r) for r in rows] == [False, True, True, True], out
    end = header.index("AMOUNT") + len("AMOUNT")
    assert all(r[end - 1].isdigit() and r[end] == " " for r in rows), out
    assert "-CNY 0.00" not in out and "VOID          0                         CNY 0.00" in out
    _, js, _ = report(outside, capsys, "--json")
    assert [t["in_totals"] for t in json.loads(js)["transactions"]] == [True, False, False, False]


def test_each_row_names_its_kind_as_its_slip_does(outside, capsys):
    """UX24: the slip's TRANS TYPE read PRE-AUTH VOID and the report's row PREAUTH_VOID, an enum's name; UX25: PREAUTH on
    every screen, slip and report row, its cancel as the menu names it."""
    _, out, _ = report(outside, capsys)
    header, *rows = out[out.index("\nTRACE ") + 1:].splitlines()
    kinds = [r[header.index("TYPE"):header.index("CARD")].strip() for r in rows]
    assert kinds == ["SALE", "PREAUTH", "PREAUTH CANCEL", "TRANSFER"], out
