"""``posterm host-sim`` keeps its ledger in a SQLite file by default, so a restart forgets nothing.

Issue #2: the simulator "keeps its own ledger in its own SQLite file". A simulator restarted on the
same file still holds the postings and answers a repeated request as a duplicate (94), as an
acquirer would; ``--ledger :memory:`` is the explicit choice to forget at exit.
"""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

from firmware.hostsim.lab import exchange
from firmware.hostsim.ledger import Ledger


def start(posterm_cmd, env, cwd, *args: str) -> tuple[subprocess.Popen, str, tuple[str, int]]:
    proc = subprocess.Popen(posterm_cmd + ["host-sim", "--port", "0", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.fullmatch(r"host-sim \(ledger (.+)\) listening on (127\.0\.0\.1):(\d+)\n", line)
    if not match:
        stop(proc)
        pytest.fail(f"unexpected start-up line {line!r}")
    return proc, match.group(1), (match.group(2), int(match.group(3)))


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def sell(term, address) -> str:
    """The same sale each time (trace 1, the same date): a repeat is a duplicate to the host."""
    return term.read(exchange(address, term.sale(amount=1250, stan=1))).response_code


def test_the_default_ledger_file_survives_a_restart_and_catches_the_repeat(posterm_cmd, clean_env, tmp_path, cup_term):
    proc, where, address = start(posterm_cmd, clean_env, tmp_path)
    try:
        assert where == str(tmp_path / "host-ledger.db")  # the start-up line says where the books are
        assert sell(cup_term, address) == "00"
    finally:
        stop(proc)
    proc, where, address = start(posterm_cmd, clean_env, tmp_path)  # the same directory: the same file
    try:
        assert sell(cup_term, address) == "94"  # the host remembers it posted this one
    finally:
        stop(proc)
    with Ledger(tmp_path / "host-ledger.db") as ledger:
        (posting,) = ledger.postings()
        assert (posting["status"], posting["amount"], posting["duplicates"]) == ("approved", 1250, 1)
        assert [m["response_code"] for m in ledger.messages()] == ["00", "94"]


def test_an_explicit_ledger_file_is_used_and_named(posterm_cmd, clean_env, tmp_path, cup_term):
    path = tmp_path / "books" / "host.db"
    path.parent.mkdir()
    for expected in ("00", "94"):
        proc, where, address = start(posterm_cmd, clean_env, tmp_path, "--ledger", str(path))
        try:
            assert where == str(path)
            assert sell(cup_term, address) == expected
        finally:
            stop(proc)
    assert not (tmp_path / "host-ledger.db").exists()


def test_memory_is_an_explicit_choice_and_forgets_at_exit(posterm_cmd, clean_env, tmp_path, cup_term):
    for _ in range(2):
        proc, where, address = start(posterm_cmd, clean_env, tmp_path, "--ledger", ":memory:")
        try:
            assert where == "in memory"
            assert sell(cup_term, address) == "00"  # a fresh ledger each time: not a duplicate
        finally:
            stop(proc)
    assert list(tmp_path.iterdir()) == []  # no file written


@pytest.mark.parametrize("make", ["missing_dir", "not_sqlite", "a_directory"])
def test_a_ledger_that_cannot_be_opened_is_one_line_naming_it(posterm_cmd, clean_env, tmp_path, make):
    path = {"missing_dir": tmp_path / "no" / "such" / "host.db", "not_sqlite": tmp_path / "notes.txt",
            "a_directory": tmp_path}[make]
    if make == "not_sqlite":
        path.write_text("this is not a database, just some text long enough to be read as a header\n" * 20)
    out = subprocess.run(posterm_cmd + ["host-sim", "--port", "0", "--ledger", str(path)], cwd=tmp_path,
                         env=clean_env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0] == (f"host-sim: [hostsim.ledger] the ledger {path} cannot be opened "
                        "(is it a SQLite file in a writable directory?)")
