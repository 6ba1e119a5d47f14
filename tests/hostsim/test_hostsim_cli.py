"""``posterm host-sim`` as a real process: listens, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys

import pytest

from firmware.hostsim import cli
from firmware.hostsim.lab import exchange
from firmware.hostsim.ledger import Ledger

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "firmware.hostsim", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_host_sim_serves_until_signalled(tmp_path, cup_term, sig):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nbehaviour = "decline"\ncode = "51"\namount = 777\n')
    ledger_path = tmp_path / "ledger.db"
    proc = _start("--port", "0", "--ledger", str(ledger_path), "--rules", str(rules), "--profile", "cup")
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(rf"host-sim \(ledger {re.escape(str(ledger_path))}\) listening on (127\.0\.0\.1):(\d+)\n",
                             line)
        assert match, line
        address = (match.group(1), int(match.group(2)))
        assert cup_term.read(exchange(address, cup_term.sale(amount=777, stan=1))).response_code == "51"
        assert cup_term.read(exchange(address, cup_term.sale(amount=100, stan=2))).response_code == "00"
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    with Ledger(ledger_path) as ledger:
        assert [p["status"] for p in ledger.postings()] == ["declined", "approved"]


def test_a_bad_rules_file_exits_2_with_the_code(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nbehavior = "drop"\n')
    proc = subprocess.run([sys.executable, "-m", "firmware.hostsim", "--port", "0", "--rules", str(rules)],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "[scenario.unknown_key]" in proc.stderr and "'behavior'" in proc.stderr


def test_add_arguments_declares_the_documented_options():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--port", "9000"])
    assert (args.port, args.bind, args.ledger, args.rules, args.profile) == (9000, "127.0.0.1", "host-ledger.db", None,
                                                                             "cup")
    with pytest.raises(SystemExit):
        parser.parse_args(["--port", "1", "--profile", "visa"])
