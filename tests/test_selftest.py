"""``posterm selftest``: real simulators, a real provisioned data directory, the installed console script.

Nothing here mocks a device or the file system: printers are the sim:// printer
and a real serial printer simulator on a pty, the reader an encrypting serial
reader on a pty, the host a real (or deliberately absent) TCP listener.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest

from crypto.keyring import Keyring
from storage import migrations
from crypto.keys import KeyUsage
from crypto.provision import LAB_KEYS, lab_key, provision
from crypto.tamper import zeroize
from firmware.embedded_host import EmbeddedHost
from firmware.bytecode import compile_bytecode, pyc_path, stale_sources
from firmware.selftest import Status, Target, check_firmware, run_selftest
from firmware.selftest_storage import SPACE_FAIL_BYTES, SPACE_WARN_BYTES, space_finding
from hal.base import DeviceContext
from hal.display.sim import SimDisplay
from hal.link.sim import SimLink
from hal.magstripe.devsim import PtyReaderSim
from hal.printer.ptysim import PtyPrinterSim
from hal.printer.sim import SimPrinter
from hal.tamper import SimTamperSwitch
from storage.store import Store

BASE_CHECKS = ["config", "firmware", "storage", "keys", "reader", "pinpad", "printer", "display"]


# -- fixtures and helpers ------------------------------------------------------------
@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "data"
    provision(path, lab=True)
    return path


def write_config(tmp_path: Path, data: Path, devices: dict[str, str] | None = None, extra: str = "") -> Path:
    lines = ["[storage]", f'data_dir = "{data}"', "[host]", "connect_timeout = 2.0"]
    if devices:
        lines.append("[devices]")
        lines += [f'{kind} = "{url}"' for kind, url in devices.items()]
    path = tmp_path / "posterm.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@pytest.fixture
def selftest_cli(posterm_cmd, clean_env):
    env = clean_env

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            posterm_cmd + ["selftest", *args], check=False, capture_output=True, text=True, env=env, timeout=60
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    return run


def by_name(results) -> dict:
    return {r.name: r for r in results}


def selftest(config: Path, **kw):
    return by_name(run_selftest(Target(config_path=config, **kw)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the console script ----------------------------------------------------------------
def test_all_pass_on_the_default_sim_configuration_and_nothing_is_left_behind(selftest_cli, tmp_path, data):
    before = set(os.listdir(data))
    proc = selftest_cli("--config", str(write_config(tmp_path, data)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["PASS", name] for name in BASE_CHECKS + ["link"]]
    assert "commit" in lines[2] and "ms" in lines[2]  # the measured cost of a durable commit
    assert "KCV" in lines[3]
    assert lines[-1].startswith("selftest: 9 pass: ready to take a sale")
    for hex_key in LAB_KEYS.values():  # check values only, never a key
        assert hex_key not in proc.stdout and hex_key not in proc.stderr
    after = set(os.listdir(data))
    assert "posterm.db" not in after  # measured on a scratch file, which is gone again
    assert not [n for n in after if n.startswith(".selftest-")]
    assert after - before <= {"cache"}  # python-escpos's profile cache, as posterm run makes it


def test_a_bad_config_key_fails_config_and_skips_the_rest(selftest_cli, tmp_path, data):
    config = write_config(tmp_path, data, extra="[sale]\nmax_amont = 5\n")
    proc = selftest_cli("--config", str(config), "--json", "--online")
    assert proc.returncode == 1
    results = json.loads(proc.stdout)
    assert results[0]["status"] == "fail" and results[0]["code"] == "config.unknown_key"
    assert "sale.max_amont" in results[0]["text"]
    assert [(r["name"], r["status"]) for r in results[1:] if r["name"] != "firmware"] == [
        (n, "skip") for n in BASE_CHECKS[2:] + ["host"]]  # the firmware check needs no configuration
    assert all("config check failed" in r["text"] for r in results[1:] if r["name"] != "firmware")


def test_printer_out_of_paper_fails_with_the_printers_code(selftest_cli, tmp_path, data):
    with PtyPrinterSim() as printer:  # the real serial driver against a printer on a pty
        printer.paper_out()
        proc = selftest_cli("--config", str(write_config(tmp_path, data, {"printer": printer.url})))
        assert printer.print_data == b""  # status requests only: nothing went to paper
    assert proc.returncode == 1
    line = next(line for line in proc.stdout.splitlines() if line.split()[1] == "printer")
    assert line.startswith("FAIL") and "[printer.paper_out]" in line
    assert "cannot take a sale" in proc.stdout.splitlines()[-1]


def test_online_against_a_port_where_nothing_listens_fails_host_link_down(selftest_cli, tmp_path, data):
    config = write_config(tmp_path, data, {"link": f"tcp://127.0.0.1:{free_port()}"})
    proc = selftest_cli("--config", str(config), "--online")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-2].startswith("FAIL  host")
    assert "[link.down]" in proc.stdout.splitlines()[-2]


def test_json_lists_every_check_including_a_fitted_tamper_switch_and_the_host(selftest_cli, tmp_path, data):
    config = write_config(tmp_path, data, {"tamper": "sim://", "display": "nope://"})
    proc = selftest_cli("--config", str(config), "--json", "--online")
    results = json.loads(proc.stdout)
    assert [r["name"] for r in results] == BASE_CHECKS + ["tamper", "host"]
    assert all(set(r) == {"name", "status", "code", "text", "detail"} for r in results)
    statuses = {r["name"]: (r["status"], r["code"]) for r in results}
    assert statuses["display"] == ("fail", "config.unknown_scheme")
    assert statuses["host"] == ("pass", "")  # the built-in simulator behind sim://
    assert proc.returncode == 1


def test_help_says_online_sends_nothing(posterm_cmd):
    out = subprocess.run(posterm_cmd + ["selftest", "--help"], check=False, capture_output=True, text=True, timeout=60).stdout
    assert "nothing is sent" in " ".join(out.split())


# -- config -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, code",
    [
        ("[sale]\nmax_amont = 5\n", "config.unknown_key"),
        ("[terminal]\ncurrency = \"12\"\n", "config.bad_value"),
        ("[terminal\n", "config.syntax"),
        ("[terminal]\nmerchant_name = \"上海浦东测试商户\"\n", "config.bad_value"),  # the printer (sim://) has no cjk
    ],
)
def test_config_errors_carry_their_code(tmp_path, data, text, code):
    results = selftest(write_config(tmp_path, data, extra=text))
    assert (results["config"].status, results["config"].code) == (Status.FAIL, code)
    assert {r.status for name, r in results.items() if name not in ("config", "firmware")} == {Status.SKIP}


def test_a_missing_config_file_fails_config(tmp_path):
    results = selftest(tmp_path / "absent.toml")
    assert results["config"].code == "config.missing"


# -- firmware -----------------------------------------------------------------------------
def test_the_firmware_check_warns_while_modules_would_be_compiled_at_every_start(tmp_path):
    root = tmp_path / "slot"
    (root / "firmware" / "sub").mkdir(parents=True)
    (root / "hal").mkdir()
    for name in ("firmware/__init__.py", "firmware/sub/a.py", "hal/b.py"):
        (root / name).write_text("X = 1\n")
    target = Target(firmware_root=root)
    none = check_firmware(target)
    assert (none.status, none.code) == (Status.WARN, "firmware.no_bytecode")
    assert "3 of its 3 modules" in none.text and "python3 -m firmware.bytecode" in none.text
    compile_bytecode(root)  # as update apply does
    assert check_firmware(target).status is Status.PASS
    (root / "hal" / "b.py").write_text("X = 22\n")  # changed since: the interpreter would not use its bytecode
    stale = check_firmware(target)
    assert (stale.status, stale.detail) == (Status.WARN, "hal/b.py") and "1 of its 3 modules" in stale.text


def test_bytecode_is_checked_against_the_source_bytes_not_its_timestamp(tmp_path):
    import py_compile

    root = tmp_path / "slot"
    (root / "hal").mkdir(parents=True)
    a, b = root / "hal" / "a.py", root / "hal" / "b.py"
    a.write_text("X = 1\n")
    b.write_text("Y = 1\n")
    assert compile_bytecode(root) == 2
    assert compile_bytecode(root) == 0  # fresh bytecode is left alone: cheap at every checkout's start
    st = a.stat()
    a.write_text("X = 2\n")  # the same size, and the mtime put back: a timestamp check would run the old code
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert stale_sources(root) == (["hal/a.py"], 2)
    assert compile_bytecode(root) == 1 and stale_sources(root) == ([], 2)
    # bytecode the import would trust unchecked, for a source changed since: it would run the old code
    py_compile.compile(str(b), cfile=str(pyc_path(b)), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    b.write_text("Y = 2\n")
    assert stale_sources(root) == (["hal/b.py"], 2)


# -- storage ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "free, expected",
    [
        (SPACE_WARN_BYTES, None),
        (SPACE_WARN_BYTES - 1, Status.WARN),
        (SPACE_FAIL_BYTES, Status.WARN),
        (SPACE_FAIL_BYTES - 1, Status.FAIL),
        (0, Status.FAIL),
    ],
)
def test_free_space_thresholds(free, expected):
    finding = space_finding(free)
    assert (finding[0] if finding else None) is expected
    if finding:
        assert finding[1] == "storage.space_low"


def test_an_existing_current_database_is_measured_in_place(tmp_path, data):
    Store.open(data).close()  # what posterm run leaves
    result = selftest(write_config(tmp_path, data))["storage"]
    assert result.status is Status.PASS
    assert "database)" in result.detail and f"schema v{migrations.LATEST}" in result.detail
    with sqlite3.connect(data / "posterm.db") as conn:  # the durable commits it timed really happened
        assert conn.execute("SELECT COUNT(*) FROM settings WHERE key = 'heartbeat'").fetchone() == (1,)
    conn.close()


def test_missing_data_directory_fails_storage_and_keys(tmp_path):
    results = selftest(write_config(tmp_path, tmp_path / "never-provisioned"))
    assert results["storage"].code == "storage.no_data_dir"
    assert results["keys"].code == "keys.not_provisioned"
    assert not (tmp_path / "never-provisioned").exists()  # a selftest creates nothing


@pytest.mark.parametrize("target, mode", [(".", 0o755), ("keyring.json", 0o644), ("posterm.db", 0o640)])
def test_files_that_are_not_private_fail_storage(tmp_path, data, target, mode):
    Store.open(data).close()
    os.chmod(data / target, mode)
    result = selftest(write_config(tmp_path, data))["storage"]
    assert (result.status, result.code) == (Status.FAIL, "storage.permissions")
    assert f"{mode:04o}" in result.text


@pytest.mark.parametrize("version, status, code", [(99, Status.FAIL, "storage.schema_newer"), (1, Status.WARN, "storage.schema_old")])
def test_schema_version_is_checked_not_migrated(tmp_path, data, version, status, code):
    Store.open(data).close()
    with sqlite3.connect(data / "posterm.db") as conn:
        conn.execute(f"PRAGMA user_version={version}")
    conn.close()
    result = selftest(write_config(tmp_path, data))["storage"]
    assert (result.status, result.code) == (status, code)
    with sqlite3.connect(data / "posterm.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    conn.close()


# -- keys ---------------------------------------------------------------------------------
def test_zeroized_keys_fail(tmp_path, data):
    zeroize(data, reason="case opened", source="gpio")
    result = selftest(write_config(tmp_path, data))["keys"]
    assert (result.status, result.code) == (Status.FAIL, "keys.tampered")
    assert "case opened" in result.text


def test_missing_working_keys_warn_need_sign_on_and_the_terminal_still_passes(tmp_path):
    data = tmp_path / "data"
    ring = provision(data)
    ring.put(KeyUsage.TMK, lab_key(KeyUsage.TMK), note="LAB TEST KEY")
    results = run_selftest(Target(config_path=write_config(tmp_path, data)))
    keys = by_name(results)["keys"]
    assert (keys.status, keys.code) == (Status.WARN, "keys.need_sign_on")
    assert "tmk v1 KCV" in keys.detail
    assert not any(r.status is Status.FAIL for r in results)


def test_no_master_key_and_no_working_keys_fail(tmp_path):
    data = tmp_path / "data"
    provision(data)
    result = selftest(write_config(tmp_path, data))["keys"]
    assert (result.status, result.code) == (Status.FAIL, "keys.no_master_key")


@pytest.mark.parametrize("with_key", [True, False])
def test_an_encrypting_reader_needs_its_sred_key(tmp_path, data, with_key):
    if not with_key:
        Keyring.load(data).drop(KeyUsage.SRED)
    reader = PtyReaderSim()
    try:
        results = selftest(write_config(tmp_path, data, {"reader": f"serial://{reader.port}?format=magtek"}))
    finally:
        reader.close()
    assert results["reader"].status is Status.PASS and "encrypting" in results["reader"].text
    expected = (Status.PASS, "") if with_key else (Status.FAIL, "keys.no_sred")
    assert (results["keys"].status, results["keys"].code) == expected


# -- devices ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, url, code",
    [
        ("reader", "bogus://", "config.unknown_scheme"),
        ("printer", "lpt://", "config.unknown_scheme"),
        ("display", "sim://?colour=red", "config.unknown_option"),
        ("printer", "sim://?columns=4", "config.bad_option"),
        ("printer", "sim://?profile=NoSuchModel", "config.bad_option"),
        ("printer", "sim://?columns=48", "config.bad_option"),  # the default profile's Font A has 42
        ("reader", "serial:///dev/posterm-no-such-port", "reader.open_failed"),
        ("printer", "serial:///dev/posterm-no-such-port", "printer.open_failed"),
    ],
)
def test_a_device_that_cannot_be_made_or_opened_fails_with_its_code(tmp_path, data, kind, url, code):
    results = selftest(write_config(tmp_path, data, {kind: url}))
    assert (results[kind].status, results[kind].code) == (Status.FAIL, code)
    others = [r for name, r in results.items() if name != kind]
    assert all(r.status is Status.PASS for r in others)


@pytest.mark.parametrize(
    "fault, status, code",
    [
        ("paper_out", Status.FAIL, "printer.paper_out"),
        ("open_cover", Status.FAIL, "printer.cover_open"),
        ("go_offline", Status.FAIL, "printer.offline"),
        ("stop_answering", Status.FAIL, "printer.not_responding"),
        ("paper_low", Status.WARN, "printer.paper_near_end"),
    ],
)
def test_printer_status_decides_the_printer_check(tmp_path, data, fault, status, code):
    printer = SimPrinter("sim://", DeviceContext(data_dir=data))
    getattr(printer, fault)()
    result = selftest(write_config(tmp_path, data), devices={"printer": printer})["printer"]
    assert (result.status, result.code) == (status, code)
    assert printer.output == b"" and not printer.is_open  # nothing printed, closed again


def test_a_tripped_tamper_switch_fails_and_nothing_is_zeroized(tmp_path, data):
    switch = SimTamperSwitch("sim://")
    switch.trip("case opened")
    result = selftest(write_config(tmp_path, data), devices={"tamper": switch})["tamper"]
    assert (result.status, result.code) == (Status.FAIL, "tamper.tripped")
    assert (data / "kek.key").exists()


class ExplodingDisplay(SimDisplay):
    """A driver with a bug: an unexpected exception whose message holds a card number."""

    def _do_open(self) -> None:
        raise RuntimeError("boom 6205500000000000004")


def test_an_unexpected_exception_is_a_failed_check_not_a_crash(tmp_path, data):
    results = selftest(write_config(tmp_path, data), devices={"display": ExplodingDisplay("sim://")})
    result = results["display"]
    assert (result.status, result.code) == (Status.FAIL, "selftest.crashed")
    assert "display" in result.text and "RuntimeError" in result.text
    assert "6205500000000000004" not in result.text + result.detail
    assert results["printer"].status is Status.PASS  # the checks after it still ran


# -- host and money state ----------------------------------------------------------------
def test_online_connects_and_sends_nothing_over_tcp(tmp_path, data):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        results = selftest(write_config(tmp_path, data, {"link": f"tcp://127.0.0.1:{port}"}), online=True)
        server.settimeout(5)
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            assert conn.recv(64) == b""  # the terminal connected and closed without a byte
    assert results["host"].status is Status.PASS and "nothing sent" in results["host"].detail


def _money_state(path: Path) -> dict:
    with sqlite3.connect(path) as conn:
        state = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("journal", "reversals", "offline_queue", "counters")}
        state["settings"] = conn.execute("SELECT key FROM settings WHERE key != 'heartbeat'").fetchall()
    conn.close()
    return state


def test_selftest_never_changes_the_money_state(tmp_path, data):
    Store.open(data).close()
    before = _money_state(data / "posterm.db")
    host = EmbeddedHost()
    try:
        link = SimLink("sim://", DeviceContext(host=host.processor))
        results = run_selftest(Target(config_path=write_config(tmp_path, data), online=True, devices={"link": link}))
        assert [r.status for r in results] == [Status.PASS] * 9
        assert link.connects == 1 and link.sent == []
        assert host.ledger.postings() == []
    finally:
        host.stop()
    assert _money_state(data / "posterm.db") == before
