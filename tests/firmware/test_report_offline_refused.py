"""``posterm report`` and ``posterm journal`` say what became of an offline approval (audit AU21 H1): one the
host refused on upload is not paid, and the listing leaves it out of what it counts, as the settlement does;
one not yet uploaded says so. And each row names the operator who made it (AU21 M2)."""

from __future__ import annotations

import json

import pytest

from firmware.cli import main
from firmware.scenario import ScenarioRunner, parse_scenario

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
OFFLINE = [{"link": "down"}, {"key": "700#"}, {"swipe": "visa"}, {"pin": "1234"}, {"link": "up"}]


def _run(tmp_path, profile: str, steps: list[dict]):
    config = {"host": {"profile": profile, "response_timeout": 0.5, "connect_timeout": 0.5}}
    result = ScenarioRunner(data_dir=tmp_path / "data").run(
        parse_scenario({"name": "offline refused", "config": config, "step": steps}))
    assert result["failures"] == [], result["failures"]
    conf = tmp_path / "posterm.toml"
    conf.write_text(f'[host]\nprofile = "{profile}"\n')
    return result, ["--config", str(conf), "--data-dir", str(tmp_path / "data")]


def _cli(capsys, *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("profile", ["cup", "iso87"])
def test_an_offline_sale_the_host_refused_is_listed_as_not_paid_and_outside_what_is_counted(tmp_path, capsys, profile):
    steps = SALE + OFFLINE + [{"host": {"behaviour": "decline", "code": "05", "mti": "0220", "times": 1}},
                              {"upload": True}, {"expect": {"alerts": "advice.declined"}}, {"settle": True}]
    result, where = _run(tmp_path, profile, steps)
    [settled] = result["settlements"]
    assert (settled["debit_count"], settled["debit_amount"]) == (1, 1250)

    doc = json.loads(_cli(capsys, "report", "--batch", "1", "--json", *where))
    rows = {t["trace"]: t for t in doc["transactions"]}
    assert rows[2]["state"] == "offline_approved" and not rows[2]["in_totals"]
    assert rows[2]["advice"] == {"code": "05", "accepted": False}
    assert sum(t["amount"] for t in doc["transactions"] if t["in_totals"]) == settled["debit_amount"]

    text = _cli(capsys, "report", "--batch", "1", *where)
    [row] = [line for line in text.splitlines() if line.startswith("000002 ")]
    assert "DECLINED BY HOST (05) - NOT PAID" in row and "NOT IN TOTALS" in row, row

    listing = json.loads(_cli(capsys, "journal", "--json", *where))
    assert [r["advice"] for r in listing if r["stan"] == 2] == [{"code": "05", "accepted": False}]
    assert "advice DECLINED 05: NOT PAID" in _cli(capsys, "journal", *where)


def test_an_offline_sale_accepted_on_upload_counts_and_one_not_yet_uploaded_says_so(tmp_path, capsys):
    steps = SALE + OFFLINE + [{"upload": True}] + [{"link": "down"}, {"key": "300#"}, {"swipe": "visa"},
                                                   {"pin": "1234"}]
    _, where = _run(tmp_path, "cup", steps)
    doc = json.loads(_cli(capsys, "report", "--json", *where))
    rows = {t["trace"]: t for t in doc["transactions"]}
    assert rows[2]["advice"] == {"code": "00", "accepted": True} and rows[2]["in_totals"]
    assert rows[3]["advice"] is None and not rows[3]["in_totals"]  # not yet had by the host: not yet counted
    assert sum(t["amount"] for t in doc["transactions"] if t["in_totals"]) == doc["totals"]["debit_amount"] == 1950
    text = _cli(capsys, "report", *where)
    [row] = [line for line in text.splitlines() if line.startswith("000003 ")]
    assert "NOT YET UPLOADED" in row, row


def test_each_row_names_the_operator_who_made_it(tmp_path, capsys):
    _, where = _run(tmp_path, "cup", SALE)
    doc = json.loads(_cli(capsys, "report", "--json", *where))
    assert [t["operator"] for t in doc["transactions"]] == ["01"]
    text = _cli(capsys, "report", *where)
    assert text.splitlines()[[i for i, line in enumerate(text.splitlines()) if line.startswith("TRACE")][0]].split()[:2] == [
        "TRACE", "OP"]
    [row] = [line for line in text.splitlines() if line.startswith("000001 ")]
    assert row.split()[1] == "01", row
