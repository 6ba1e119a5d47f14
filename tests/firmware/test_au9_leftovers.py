"""AU9's leftovers (FX5): an emptied database beside a used key ring, an engineer's command on a directory
with no database, ... Each test runs the real command in-process on a real lab data directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import lab_key, provision
from storage.store import DB_FILE
from tests.engineer import cli, tmpfs_prefix


@pytest.fixture(autouse=True)
def _restore_logging(root_logging):
    """``posterm run`` and ``selftest`` set up the root logger on this test's captured stderr (conftest)."""
    yield


def _lab_copy(lab_sale_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    return data, config


# -- M9: a 0-byte posterm.db beside a used key ring ---------------------------------------
def _signed_on(data: Path) -> None:
    """The key ring as a sign-on leaves it: working keys the host sent (crypto.signon's note)."""
    ring = Keyring.load(data)
    ring.put(KeyUsage.PIN, lab_key(KeyUsage.PIN), note="sign-on")


def test_an_emptied_database_beside_a_used_key_ring_is_refused_by_run_and_selftest(capsys, tmp_path, lab_sale_dir):
    data, config = _lab_copy(lab_sale_dir, tmp_path)
    _signed_on(data)
    (data / DB_FILE).write_bytes(b"")  # truncated: before, posterm run started a new, empty terminal on it
    for suffix in ("-wal", "-shm"):
        (data / (DB_FILE + suffix)).unlink(missing_ok=True)
    code, out, err = cli(capsys, "run", "--config", str(config), "--exit-when-ready")
    assert code == 2 and "[storage.empty_database]" in err and "sign-on" in err, (out, err)
    assert (data / DB_FILE).stat().st_size == 0  # nothing was made of it
    code, out, err = cli(capsys, "selftest", "--config", str(config), "--json")
    storage = next(r for r in json.loads(out) if r["name"] == "storage")
    assert (storage["status"], storage["code"]) == ("fail", "storage.empty_database"), storage


@pytest.mark.parametrize("lab", [True, False], ids=["lab ring", "production ring"])
def test_an_empty_database_beside_a_ring_fresh_from_provisioning_still_starts(capsys, tmp_path, lab):
    data = tmp_path / "data"
    provision(data, lab=lab)
    (data / DB_FILE).write_bytes(b"")  # e.g. a first start cut off before SQLite wrote its header
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    code, out, err = cli(capsys, "run", "--config", str(config), "--exit-when-ready")
    assert code == 0, (out, err)
    assert (data / DB_FILE).stat().st_size > 0


def _rotated(data: Path) -> None:
    Keyring.load(data).generate(KeyUsage.DATA, 32, note="rotated")  # version 2: card data was re-sealed


@pytest.mark.parametrize("use, said", [
    (None, None),
    (_signed_on, "it holds working keys from a sign-on (pin)"),
    (_rotated, "its data key has been replaced since provisioning"),
], ids=["fresh", "signed on", "data key rotated"])
def test_what_makes_a_key_ring_used(tmp_path, use, said):
    from storage.emptied import ring_used

    provision(tmp_path, lab=True)
    if use is not None:
        use(tmp_path)
    assert ring_used(tmp_path) == said


# -- L4: what a rejected configuration value's error shows ----------------------------------
PASTED_KEY = "0123456789ABCDEFFEDCBA9876543210"


@pytest.mark.parametrize("doc, hidden, shown", [
    ({"terminal": {"merchant_name": "Z" * 10_000}}, "Z" * 41, "'" + "Z" * 36 + "..."),  # not hex: not key-like
    ({"host": {"pin_keys": PASTED_KEY}}, PASTED_KEY[:8], "a value not shown here"),
    ({"host": {"pin_keys": "sessoin"}}, "sessoin", "a value not shown here"),  # named key: never echoed
    ({"terminal": {"x" * 5000: 1}}, "x" * 41, "x" * 37 + "..."),
], ids=["10 kB value", "a key pasted into pin_keys", "pin_keys typo", "a 5 kB unknown name"])
def test_a_rejected_value_is_echoed_capped_and_never_for_a_key_named_secret(doc, hidden, shown):
    from firmware.config import parse_config
    from firmware.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    assert e.value.code in ("config.bad_value", "config.unknown_key")
    assert hidden not in e.value.text and shown in e.value.text, e.value.text
    assert len(e.value.text) < 400


def test_a_short_rejected_value_is_still_shown_whole():
    from firmware.config import parse_config
    from firmware.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_config({"terminal": {"currency": "15"}})
    assert e.value.text == "terminal.currency must be 3 digits, got '15'" and e.value.code == "config.bad_value"


# -- L5: posterm provision --manifest --json on a full disk -----------------------------------
def test_provision_json_on_a_full_disk_says_which_steps_were_done_and_which_failed(posterm_cmd, clean_env,
                                                                                  tmp_path):
    """A real 1 MB tmpfs (``unshare``, as the full-disk sale test does): the keys are made, then the disk is
    filled; the manifest run stops at the identity file. Before, its JSON listed no step at all."""
    import subprocess

    from tests.firmware.provision_helpers import KBPK_HEX, write_manifest

    prefix = tmpfs_prefix()
    manifest = write_manifest(tmp_path / "m.toml")
    disk = tmp_path / "disk"
    disk.mkdir()
    exe = posterm_cmd[0]
    script = (f"mount -t tmpfs -o size=1m tmpfs {disk} && {exe} provision --data-dir {disk}/data >/dev/null && "
              f"(cat /dev/zero > {disk}/filler 2>/dev/null; true) && "
              f"exec {exe} provision --manifest {manifest} --data-dir {disk}/data --config-out {disk}/posterm.toml "
              f"--kbpk {KBPK_HEX} --json")
    out = subprocess.run(prefix + [script], capture_output=True, text=True, env=clean_env, timeout=120)
    assert "Traceback" not in out.stderr, out.stderr
    report = json.loads(out.stdout)
    assert out.returncode == 1 and report["ok"] is False, report
    assert report["existing"] == ["device_key", "data_key", "pan_hash_key"], report
    assert report["failed"] == ["identity"], report
    failed = report["steps"][-1]
    assert failed["step"] == "identity" and failed["result"] == "failed" and report["error"]["code"] in failed["detail"]


# -- L6: the lab-keys banner of posterm tools only when a key was given -------------------------


@pytest.mark.parametrize("argv, keyed", [
    (["pinblock", "decode", "--format", "3", "--pan", "5555555551234567", "--block", "3C1261032D8226A9"], False),
    (["pinblock", "encode", "--format", "0", "--pin", "1234", "--pan", "5555555551234567"], False),
    (["pinblock", "encode", "--format", "0", "--pin", "1234", "--pan", "4012345678909", "--key",
      "042666B49184CF5C68DE9628D0397B36"], True),
    (["kcv", "--key", "0123456789ABCDEFFEDCBA9876543210"], True),
], ids=["pinblock decode, no key", "pinblock encode, no key", "pinblock with a key", "kcv"])
def test_the_lab_key_banner_is_printed_only_when_a_key_was_given(capsys, argv, keyed):
    from firmware.tools.crypto import LAB_NOTICE

    code, out, err = cli(capsys, "tools", *argv)
    assert code == 0, err
    assert (LAB_NOTICE in out) is keyed, out


def test_a_frame_decoded_without_a_mac_key_prints_no_lab_key_banner(capsys):
    from firmware.tools.crypto import LAB_NOTICE

    code, out, err = cli(capsys, "tools", "iso8583", "encode", "--profile", "cup", '{"mti": "0800", "tpdu": '
                         '"6000030000", "header": "603100000000", "fields": {"11": "000001", "41": "12345678"}}')
    assert code == 0, err
    wire = out.split()[-1]
    code, out, err = cli(capsys, "tools", "iso8583", "decode", "--profile", "cup", wire)
    assert code == 0 and "0800" in out and LAB_NOTICE not in out, (out, err)


# -- M2: selftest without --online opens and closes the link device -----------------------------
def _link_result(tmp_path: Path, link: str):
    from firmware.selftest import Target, run_selftest

    data = tmp_path / "data"
    if not data.exists():
        provision(data, lab=True)
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[devices]\nlink = "{link}"\n')
    results = {r.name: r for r in run_selftest(Target(config_path=config))}
    assert "host" not in results  # offline: nothing connects
    return results["link"]


def test_offline_selftest_fails_a_modem_whose_port_is_gone(tmp_path):
    result = _link_result(tmp_path, f"modem://{tmp_path}/ttyUSB9?number=95516&carrier=none")
    assert (result.status.value, result.code) == ("fail", "link.open_failed"), result
    assert "95516" not in result.text  # the dial string is not for the console


def test_offline_selftest_opens_and_closes_a_modem_on_a_real_pty_without_dialling(tmp_path):
    import os

    controller, worker = os.openpty()
    try:
        result = _link_result(tmp_path, f"modem://{os.ttyname(worker)}?number=95516&carrier=none")
        os.set_blocking(controller, False)
        try:
            sent = os.read(controller, 1024)
        except BlockingIOError:
            sent = b""
    finally:
        os.close(controller)
        os.close(worker)
    assert (result.status.value, result.code) == ("pass", ""), result
    assert "opened and closed; nothing dialled" in result.text
    assert b"ATD" not in sent  # nothing dialled


@pytest.mark.parametrize("link", ["sim://", "tcp://127.0.0.1:9"], ids=["sim", "tcp, nothing listening"])
def test_offline_selftest_link_check_passes_without_host_traffic(tmp_path, link):
    result = _link_result(tmp_path, link)
    assert (result.status.value, result.code) == ("pass", ""), result


# -- Store.open(create=False): an existing directory without a database is no terminal either ------
@pytest.mark.parametrize("argv", [("operators", "list"), ("operators", "list", "--json"), ("operators", "remove", "05"),
                                  ("operators", "unlock", "05"), ("journal", "resolve", "--txn", "1", "--note", "supervisor 00: test")],
                         ids=" ".join)
def test_an_existing_directory_without_a_database_is_missing_not_a_new_terminal(capsys, tmp_path, argv):
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    code, out, err = cli(capsys, *argv, "--data-dir", str(empty))
    assert code == 2 and "[storage.missing]" in err and str(empty) in err, (code, out, err)
    assert not (empty / DB_FILE).exists(), f"{' '.join(argv)} created a database in {empty}"


def test_a_terminal_s_first_cashier_may_be_added_before_its_first_start(capsys, tmp_path, monkeypatch):
    import io
    import sys

    data = tmp_path / "data"
    provision(data)
    monkeypatch.setattr(sys, "stdin", io.StringIO("73950284\n"))
    code, out, err = cli(capsys, "operators", "add", "01", "--password-stdin", "--data-dir", str(data))
    assert code == 0 and (data / DB_FILE).exists(), err
