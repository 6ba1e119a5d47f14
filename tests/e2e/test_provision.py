"""``posterm provision --manifest``, run as an estate tool runs it: a real process, real files, its JSON.

A fresh data directory is provisioned, provisioned again (nothing changes), then signs on to the
host simulator with the master key from the TR-31 block and sells. Re-provisioning as another
terminal is refused, and ``--replace`` is refused while a reversal is queued, which stays queued.
No clear key, KBPK, password or hash reaches the configuration, the report or the log.
"""

from __future__ import annotations

import json
import stat
import subprocess

import pytest

from crypto.keyring import Keyring
from crypto.keys import KeyUsage, kcv
from crypto.secrets import SecretKey
from firmware.config import load_config
from firmware.embedded_host import EmbeddedHost
from firmware.provisioning import IDENTITY_FILE, Identity, Request, provision_from_manifest, queued_records
from firmware.scenario import ScenarioRunner, parse_scenario
from storage.operators import OperatorBook
from storage.store import Store
from tests.firmware.provision_helpers import (KBPK, KBPK_HEX, LAB_TMK, OTHER_TMK, PASSWORD, manifest_doc,
                                              supervisor_hash, write_manifest)

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def provision(posterm_cmd, env, manifest, data, config, *extra, kbpk=True):
    argv = posterm_cmd + ["provision", "--manifest", str(manifest), "--data-dir", str(data), "--config-out",
                          str(config), "--json", *extra] + (["--kbpk", KBPK_HEX] if kbpk else [])
    out = subprocess.run(argv, capture_output=True, text=True, env=dict(env), timeout=60)
    return out.returncode, json.loads(out.stdout), out


def in_process(tmp_path, manifest, *, replace=False, kbpk=KBPK, data="data", config="posterm.toml"):
    return provision_from_manifest(Request(manifest, tmp_path / data, tmp_path / config,
                                           kbpk=SecretKey(kbpk, "kbpk"), replace=replace))


def test_a_fresh_terminal_is_provisioned_again_unchanged_then_signs_on_and_sells(posterm_cmd, clean_env, tmp_path):
    manifest = write_manifest(tmp_path / "m.toml")
    data, config = tmp_path / "data", tmp_path / "posterm.toml"
    code, report, _ = provision(posterm_cmd, clean_env, manifest, data, config)
    assert code == 0, report
    assert (report["ok"], report["terminal_id"], report["merchant_id"]) == (True, "10000001", "898100012340001")
    assert report["created"] == ["device_key", "data_key", "pan_hash_key", "identity", "master_key", "config",
                                 "supervisor"]
    assert report["kcvs"]["tmk"] == kcv(LAB_TMK) and report["selftest"]["passed"]
    assert {r["name"]: r["code"] for r in report["selftest"]["results"]}["keys"] == "keys.need_sign_on"
    assert stat.S_IMODE(config.stat().st_mode) == 0o644 and stat.S_IMODE(data.stat().st_mode) == 0o700
    assert load_config(config).terminal.terminal_id == "10000001"
    assert Identity.load(data) is not None and stat.S_IMODE((data / IDENTITY_FILE).stat().st_mode) == 0o600
    store = Store.open(data)
    stored = OperatorBook(store.conn).get("00")
    store.close()
    assert stored.password_hash == supervisor_hash() and not stored.default_password

    files = {p.name: p.read_bytes() for p in (config, data / "keyring.json", data / "kek.key", data / IDENTITY_FILE)}
    code, again, _ = provision(posterm_cmd, clean_env, manifest, data, config)
    assert code == 0 and again["created"] == again["replaced"] == again["kept"] == []
    assert again["existing"] == report["created"]
    assert {p.name: p.read_bytes() for p in (config, data / "keyring.json", data / "kek.key",
                                             data / IDENTITY_FILE)} == files
    assert again["kcvs"] == report["kcvs"]

    host = EmbeddedHost().start()  # holds the lab TMK, which the manifest's block carries
    try:
        runner = ScenarioRunner(config=load_config(config), data_dir=data, host_url=host.url)
        result = runner.run(parse_scenario({"name": "first sale", "step": SALE}))
        messages = host.ledger.messages()
    finally:
        host.stop()
    assert result["ok"], result["failures"]
    assert result["transactions"][0]["outcome"] == "approved"
    assert [m["mti"] for m in messages][:2] == ["0800", "0200"]  # signed on by itself, with the block's key
    assert {m["terminal_id"] for m in messages} == {"10000001"}  # the manifest's identity on the wire
    assert Keyring.load(data).has(KeyUsage.PIN)


def _queue_a_reversal(data):
    """The built-in host drops the answer: the sale's reversal stays queued (the terminal is off)."""
    config = {"host": {**FAST["host"], "reversal_retries": 1}}
    r = ScenarioRunner(data_dir=data).run(parse_scenario({"name": "t", "config": config, "step": [
        {"host": {"behaviour": "drop", "times": 2}}, *SALE, {"expect": {"display": "REVERSAL QUEUED"}}]}))
    assert r["ok"], r["failures"]


def test_another_terminal_is_refused_and_replace_waits_for_the_queue(posterm_cmd, clean_env, tmp_path):
    data, config = tmp_path / "data", tmp_path / "posterm.toml"
    assert provision(posterm_cmd, clean_env, write_manifest(tmp_path / "a.toml"), data, config)[0] == 0
    _queue_a_reversal(data)
    assert queued_records(data)[0] == {"reversals": 1}
    before = {p.name: p.read_bytes() for p in (config, data / "keyring.json", data / IDENTITY_FILE)}
    other = write_manifest(tmp_path / "b.toml", tid="10000002", key=OTHER_TMK)

    code, report, out = provision(posterm_cmd, clean_env, other, data, config)
    assert (code, report["error"]["code"]) == (1, "provision.other_terminal")
    assert "[provision.other_terminal]" in out.stderr and "10000001" in report["error"]["text"]
    code, report, _ = provision(posterm_cmd, clean_env, other, data, config, "--replace")
    assert (code, report["error"]["code"]) == (1, "provision.queued")
    assert "1 reversals" in report["error"]["text"] and report["steps"] == []

    assert {p.name: p.read_bytes() for p in (config, data / "keyring.json", data / IDENTITY_FILE)} == before
    assert queued_records(data)[0] == {"reversals": 1}  # nothing discarded
    ScenarioRunner(data_dir=data).run(parse_scenario({"name": "t", "config": FAST, "step": [
        {"key": "F1"}, {"expect": {"state": "idle"}}]}))
    assert queued_records(data)[0] == {}  # sent once the terminal ran, and then --replace goes ahead
    report = in_process(tmp_path, other, replace=True)
    assert report.exit_code == 0, report.error
    assert ("identity", "replaced") in [(s.name, s.outcome.value) for s in report.steps]
    assert Identity.load(data).terminal_id == "10000002"
    assert Keyring.load(data).entry(KeyUsage.TMK).kcv == kcv(OTHER_TMK)
    assert not Keyring.load(data).has(KeyUsage.PIN)  # the old working keys went with the old master key


def test_another_master_key_alone_is_refused_without_replace(tmp_path):
    assert in_process(tmp_path, write_manifest(tmp_path / "a.toml")).exit_code == 0
    report = in_process(tmp_path, write_manifest(tmp_path / "b.toml", key=OTHER_TMK))
    assert (report.exit_code, report.error.code) == (1, "provision.other_master_key")
    assert Keyring.load(tmp_path / "data").entry(KeyUsage.TMK).kcv == kcv(LAB_TMK)


def test_a_new_terminal_id_waits_for_the_open_batch_to_be_settled(tmp_path):
    data = tmp_path / "data"
    assert in_process(tmp_path, write_manifest(tmp_path / "a.toml")).exit_code == 0
    r = ScenarioRunner(data_dir=data).run(parse_scenario({"name": "t", "config": FAST, "step": SALE}))
    assert r["transactions"][0]["outcome"] == "approved" and queued_records(data) == ({}, 1)
    report = in_process(tmp_path, write_manifest(tmp_path / "b.toml", tid="10000002"), replace=True)
    assert (report.exit_code, report.error.code) == (1, "provision.open_batch")
    assert Identity.load(data).terminal_id == "10000001"
    # the same terminal with a new master key is no threat to the batch
    assert in_process(tmp_path, write_manifest(tmp_path / "c.toml", key=OTHER_TMK), replace=True).exit_code == 0


def test_a_hand_provisioned_terminal_named_in_its_config_is_not_taken_over(tmp_path):
    (tmp_path / "posterm.toml").write_text('[terminal]\nterminal_id = "55555555"\n')
    report = in_process(tmp_path, write_manifest(tmp_path / "m.toml"))
    assert (report.exit_code, report.error.code) == (1, "provision.other_terminal")
    assert not (tmp_path / "data").exists()
    (tmp_path / "posterm.toml").write_text('[terminal]\nterminal_id = "10000001"\n')  # this one, by hand
    report = in_process(tmp_path, write_manifest(tmp_path / "m.toml"))
    assert report.exit_code == 0 and ("config", "replaced") in [(s.name, s.outcome.value) for s in report.steps]


def test_a_supervisor_password_changed_on_the_terminal_is_kept_unless_replace(tmp_path):
    from crypto.passwords import Password

    manifest = write_manifest(tmp_path / "m.toml")
    assert in_process(tmp_path, manifest).exit_code == 0
    store = Store.open(tmp_path / "data")
    with Password(b"11223344") as p:
        OperatorBook(store.conn).passwd("00", p, __import__("datetime").datetime.now())
    store.close()
    report = in_process(tmp_path, manifest)
    assert report.exit_code == 0 and ("supervisor", "kept") in [(s.name, s.outcome.value) for s in report.steps]
    report = in_process(tmp_path, manifest, replace=True)
    assert ("supervisor", "replaced") in [(s.name, s.outcome.value) for s in report.steps]
    store = Store.open(tmp_path / "data")
    with Password(PASSWORD.encode()) as p:
        assert OperatorBook(store.conn).verify("00", p).ok
    store.close()


def test_a_failing_selftest_exits_1_and_the_fixed_manifest_is_run_again(tmp_path):
    manifest = write_manifest(tmp_path / "m.toml", manifest_doc(extra={"devices": {
        "printer": f"serial://{tmp_path}/no-such-tty"}}))
    report = in_process(tmp_path, manifest)
    assert report.exit_code == 1 and report.error is None
    failed = [r for r in report.selftest if r.status.value == "fail"]
    assert [r.name for r in failed] == ["printer"]
    assert report.as_dict()["selftest"]["passed"] is False and "master_key" in report.as_dict()["created"]
    write_manifest(manifest)  # the printer's URL put right
    report = in_process(tmp_path, manifest)
    assert report.exit_code == 0, report.error
    assert [(s.name, s.outcome.value) for s in report.steps if s.outcome.value != "existing"] == [
        ("config", "replaced")]


def test_check_only_changes_nothing(tmp_path):
    manifest = write_manifest(tmp_path / "m.toml")
    report = provision_from_manifest(Request(manifest, tmp_path / "data", tmp_path / "posterm.toml",
                                             kbpk=SecretKey(KBPK, "kbpk")), check_only=True)
    assert report.exit_code == 0 and report.as_dict()["kcvs"] == {"tmk": kcv(LAB_TMK)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.toml"]


def test_a_bad_manifest_exits_2_from_the_cli_and_changes_nothing(posterm_cmd, clean_env, tmp_path):
    manifest = write_manifest(tmp_path / "m.toml", manifest_doc(extra={"devices": {"printr": "sim://"}}))
    code, report, out = provision(posterm_cmd, clean_env, manifest, tmp_path / "data", tmp_path / "posterm.toml")
    assert (code, report["error"]["code"]) == (2, "config.unknown_key")
    assert "devices.printr" in out.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "posterm.toml").exists()


@pytest.mark.parametrize("argv, code", [
    (["--data-dir", "D", "--config-out", "x.toml"], "provision.args"),
    (["--data-dir", "D", "--manifest", "m.toml", "--lab", "--config-out", "x.toml"], "provision.args"),
    (["--data-dir", "D", "--manifest", "m.toml"], "provision.args"),
    (["--manifest", "m.toml", "--config-out", "x.toml"], "provision.args"),
    (["--data-dir", "D", "--manifest", "m.toml", "--config-out", "x.toml", "--kbpk", "XYZ"], "provision.bad_kbpk"),
], ids=["config-out without manifest", "lab with manifest", "no config-out", "no data-dir", "bad kbpk hex"])
def test_command_line_mistakes(tmp_path, capsys, argv, code):
    from firmware.cli import main

    assert main(["provision", *argv]) == 2
    assert f"[{code}]" in capsys.readouterr().err


def test_the_lab_provision_is_as_before(tmp_path, capsys):
    from firmware.cli import main

    assert main(["provision", "--data-dir", str(tmp_path / "d"), "--lab"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("LAB TEST KEYS LOADED") and f"tmk       v1  KCV {kcv(LAB_TMK)}  LAB TEST KEY" in out


def test_no_clear_key_kbpk_password_or_hash_in_the_config_report_or_log(posterm_cmd, clean_env, tmp_path):
    log = tmp_path / "posterm.log"
    manifest = write_manifest(tmp_path / "m.toml", manifest_doc(extra={"log": {"level": "debug", "file": str(log)}}))
    data, config = tmp_path / "data", tmp_path / "posterm.toml"
    code, _, out = provision(posterm_cmd, clean_env, manifest, data, config)
    assert code == 0
    bad = write_manifest(tmp_path / "bad.toml", manifest_doc(key=OTHER_TMK, extra={
        "log": {"level": "debug", "file": str(log)}, "master_key": {"kcv": kcv(LAB_TMK)}}))
    code, _, out_bad = provision(posterm_cmd, clean_env, bad, data, config)
    assert code == 2
    text = manifest.read_text()
    block = text.split('tr31 = "')[1].split('"')[0]
    needles = {"TMK hex": LAB_TMK.hex(), "other TMK hex": OTHER_TMK.hex(), "KBPK hex": KBPK_HEX.lower(),
               "password": PASSWORD, "password hash": supervisor_hash().split("$")[-1], "TR-31 block": block[16:]}
    raw = {"TMK": LAB_TMK, "other TMK": OTHER_TMK, "KBPK": KBPK}
    places = {"config": config.read_text(), "log": log.read_text(), "identity record": (data / IDENTITY_FILE).read_text(),
              "report": out.stdout + out.stderr, "refusal": out_bad.stdout + out_bad.stderr}
    assert "provision master_key: created" in places["log"]  # the log was written
    found = [f"{what} in {where}" for where, hay in places.items() for what, n in needles.items()
             if n.lower() in hay.lower()]
    found += [f"{what} in {p.name}" for p in data.rglob("*") if p.is_file()
              for what, n in raw.items() if n in p.read_bytes()]
    assert found == []


def test_provisioning_is_refused_beside_a_running_terminal_and_changes_nothing(tmp_path):
    """``posterm run`` holds the data directory's run lock (firmware/runlock.py): provisioning
    under it would rewrite the keys and identity of a terminal that is selling."""
    from firmware.runlock import run_lock

    manifest = write_manifest(tmp_path / "m.toml")
    assert in_process(tmp_path, manifest).exit_code == 0
    data = tmp_path / "data"
    before = {p.name: p.read_bytes() for p in (data / "keyring.json", data / IDENTITY_FILE)}
    with run_lock(data):  # as a running posterm run holds it
        report = in_process(tmp_path, manifest, replace=True)
    assert (report.exit_code, report.error.code) == (1, "storage.in_use")
    assert {p.name: p.read_bytes() for p in (data / "keyring.json", data / IDENTITY_FILE)} == before
    assert in_process(tmp_path, manifest).exit_code == 0  # the lock went with its holder


def test_a_failed_step_is_the_one_apply_was_in_not_the_first_not_done(tmp_path):
    """AU12 F8: the report named the first step not done, a guess: a failure after the device key was made,
    in the key ring's part, was reported as the device key's. ``apply`` records the step it is in."""
    from crypto.keyring import KEK_FILE

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "keyring.json").mkdir()  # a key ring that cannot be read or written: a directory where it goes
    report = in_process(tmp_path, write_manifest(tmp_path / "m.toml"))
    assert report.exit_code == 1 and report.error.code == "keys.permissions", report.error
    assert (data / KEK_FILE).exists()  # the device key was made before the ring failed
    assert [(s.name, s.outcome.value) for s in report.steps] == [("device_key", "created"), ("data_key", "failed")], \
        report.steps
