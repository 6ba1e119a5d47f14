"""An engineer's command on a data directory that is not what it should be (AU9).

* A misspelt ``--data-dir`` made a new, empty terminal: ``posterm journal`` listed nothing (exit 0) and
  created a database there, ``posterm operators add`` stored a cashier the terminal never reads. A
  missing directory is now ``storage.missing``, and the journal is listed read-only.
* ``posterm selftest`` said 'ready to take a sale' of a database with damaged pages that ``posterm run``
  refuses (``storage.corrupt``); it now runs SQLite's quick_check.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from crypto.provision import provision
from storage.store import DB_FILE
from tests.engineer import cli


@pytest.mark.parametrize("argv", [("journal",), ("journal", "--json"), ("operators", "list"),
                                  ("operators", "disable", "05")], ids=" ".join)
def test_a_missing_data_directory_is_an_error_not_a_new_terminal(capsys, tmp_path, argv):
    typo = tmp_path / "var-lib-postrem"
    code, out, err = cli(capsys, *argv, "--data-dir", str(typo))
    assert not typo.exists(), f"{' '.join(argv)} created {typo}"
    assert code == 2 and "[storage.missing]" in err and str(typo) in err, (code, out, err)


def test_the_journal_is_listed_read_only(capsys, tmp_path, lab_sale_dir):
    """A listing opens the database read-only: it lists a terminal's journal, and in a provisioned
    directory with no database yet it says so and creates none (it made an empty one before)."""
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    code, out, err = cli(capsys, "journal", "--json", "--data-dir", str(data))
    assert code == 0 and json.loads(out)[0]["state"] == "approved", err
    provisioned = tmp_path / "provisioned"
    provision(provisioned)
    code, out, err = cli(capsys, "journal", "--data-dir", str(provisioned))
    assert code == 2 and "[storage.missing]" in err and not (provisioned / DB_FILE).exists(), err


@pytest.mark.parametrize("argv", [("operators", "add", "01"), ("operators", "set-supervisor")], ids=" ".join)
def test_operators_add_and_set_supervisor_make_a_database_only_in_a_provisioned_terminals_directory(
        capsys, monkeypatch, tmp_path, argv):
    """AU12 F9: any existing directory (a home, /tmp) got a database holding a cashier the terminal never
    reads. Now it must hold the terminal's key ring, identity file or database."""
    import io
    import sys

    bare = tmp_path / "somewhere"
    bare.mkdir()
    monkeypatch.setattr(sys, "stdin", io.StringIO("73950284\n73950284\n"))
    code, out, err = cli(capsys, *argv, "--data-dir", str(bare), "--password-stdin")
    assert code == 2 and "[storage.missing]" in err and "not a provisioned terminal's" in err, (code, out, err)
    assert list(bare.iterdir()) == []  # nothing made there
    provisioned = tmp_path / "data"
    provision(provisioned)  # its key ring: a terminal before its first start may get its cashiers first
    monkeypatch.setattr(sys, "stdin", io.StringIO("73950284\n73950284\n"))
    code, out, err = cli(capsys, *argv, "--data-dir", str(provisioned), "--password-stdin")
    assert code == 0, (out, err)
    assert (provisioned / DB_FILE).exists()


def test_selftest_fails_a_database_with_damaged_pages(capsys, tmp_path, lab_sale_dir, root_logging):
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    conn = sqlite3.connect(data / DB_FILE)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'operators'").fetchone()[0]
    conn.close()
    with open(data / DB_FILE, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xde\xad" * (page_size // 2))
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    code, out, err = cli(capsys, "run", "--config", str(config), "--exit-when-ready")
    assert code == 2 and "[storage.corrupt]" in err  # posterm run refuses this database
    code, out, err = cli(capsys, "selftest", "--config", str(config), "--json")
    storage = next(r for r in json.loads(out) if r["name"] == "storage")
    assert storage["status"] == "fail" and storage["code"] == "storage.corrupt", storage


@pytest.mark.parametrize("argv", [("journal", "--json"), ("report", "--json"), ("sim", "--scenario", "nowhere.toml",
                                                                                   "--json")], ids=" ".join)
def test_a_json_command_s_error_is_json_on_stdout_too(capsys, tmp_path, lab_sale_dir, argv):
    """AU9: with --json an error was text on stderr and nothing on stdout, so a script reading stdout
    failed to parse it; it is now also {"ok": false, "error": {code, text}} on stdout."""
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    with open(data / DB_FILE, "r+b") as f:
        f.write(b"GARBAGE" * 10)
    code, out, err = cli(capsys, *argv, "--data-dir", str(data))
    said = json.loads(out)
    assert code == 2 and said["ok"] is False and f"[{said['error']['code']}]" in err, (out, err)


def test_demo_json_is_one_json_document_on_stdout(capsys):
    """AU10: posterm demo --json printed the receipts and a summary line before its JSON on stdout, which
    no JSON reader could parse; the paper goes to stderr then."""
    code, out, err = cli(capsys, "demo", "--json")
    result = json.loads(out)
    assert code == 0 and result["transactions"][0]["outcome"] == "approved"
    assert "CARDHOLDER COPY" in err and "demo sale: APPROVED" in err
