"""Bad input of every kind: a clear error naming the problem, nothing lost, the terminal usable or safely refusing."""

from __future__ import annotations

import json
import subprocess

import pytest

from firmware.scenario import ScenarioRunner, parse_scenario
from tests.engineer import tmpfs_prefix

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]


def run(steps, config=None):
    return ScenarioRunner().run(parse_scenario({"name": "t", "config": config or {}, "step": steps}))


def codes(result) -> list[str]:
    return [code for code, _ in result["alerts"]]


DISK_FULL_SCENARIO = """
name = "full disk"
[config]
host = { response_timeout = 1.0 }

[[step]]
key = "1250#"
[[step]]
swipe = "unionpay_debit"
[[step]]
disk = "full"
[[step]]
pin = "1234"
[[step]]
expect = { state = "suspended", display = "SALES SUSPENDED", alerts = "storage.full" }
[[step]]
expect = { display = "STORAGE FULL" }
[[step]]
key = "5"
[[step]]
expect = { state = "suspended", journal_count = 0, ledger_postings = 0 }
[[step]]
disk = "ok"
[[step]]
key = "#"
[[step]]
expect = { state = "idle", display = "STORAGE OK" }
[[step]]
key = "1250#"
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
expect = { outcome = "approved", journal_count = 1, ledger_postings = 1 }
"""


def test_a_full_disk_suspends_sales_sends_nothing_loses_nothing_and_resumes(posterm_cmd, clean_env, tmp_path):
    scenario = tmp_path / "full.toml"
    scenario.write_text(DISK_FULL_SCENARIO)
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o size=2m tmpfs {disk} && "
        f"exec {posterm_cmd[0]} sim --scenario {scenario} --data-dir {disk}/data --json"
    )
    out = subprocess.run(tmpfs_prefix() + [script], capture_output=True, text=True, env=clean_env, timeout=120)
    assert "Traceback" not in out.stderr
    result = json.loads(out.stdout)
    assert result["ok"], result["failures"]
    messages = [m["mti"] for m in result["host_ledger"]["messages"]]
    assert messages == ["0200"]  # nothing left the terminal while the disk was full


@pytest.mark.parametrize(
    "device, before, trigger, text, code",
    [
        ("reader", [], [{"key": "1250#"}], "CARD READER FAULT", "reader.not_responding"),
        ("pinpad", [{"key": "1250#"}], [{"swipe": "unionpay_debit"}], "PIN PAD FAULT", "pinpad.not_responding"),
    ],
)
def test_a_device_that_stops_answering_is_named_and_the_sale_abandoned(device, before, trigger, text, code):
    r = run(before + [{device: "stop_answering"}] + trigger)
    assert r["state"] == "idle"
    assert code in codes(r)
    assert r["display"][0].startswith(text)
    assert r["display"][1].strip() == "NOT RESPONDING"  # its cause, from the code: the sentence is in the alert
    assert r["transactions"] == []
    r = run(before + [{device: "stop_answering"}] + trigger + [{device: "resume"}] + SALE)
    assert r["transactions"][-1]["outcome"] == "approved"  # usable again once the device answers


def test_a_printer_that_stops_answering_holds_the_receipt_of_a_recorded_sale():
    r = run([{"printer": "stop_answering"}] + SALE + [{"printer": "resume"}, {"key": "#"}])
    (txn,) = r["transactions"]
    assert txn["outcome"] == "approved" and len(txn["receipts"]) == 2
    assert "printer.not_responding" in codes(r)


def test_a_dead_display_does_not_stop_a_sale():
    r = run([{"display": "stop_answering"}] + SALE)
    (txn,) = r["transactions"]
    assert txn["outcome"] == "approved" and len(txn["receipts"]) == 2


def test_offline_disabled_and_host_down_declines_with_a_reason():
    r = run([{"link": "down"}] + SALE, config={"offline": {"enabled": False}, "host": {"connect_timeout": 0.3}})
    (txn,) = r["transactions"]
    assert (txn["outcome"], txn["reason"]) == ("declined", "offline.disabled")
    assert "HOST UNAVAILABLE" in r["display"][0]


@pytest.mark.parametrize(
    "swipe, code, said",
    [
        ({"track2": "6205500000000000005=49121200000000000"}, "card.luhn", "SWIPE AGAIN"),
        ({"track2": "620550000000000000A=49121200000000000"}, "card.pan_digits", "SWIPE AGAIN"),
        # UX25: an expired card said SWIPE AGAIN, which the same card cannot answer
        ("expired", "card.expired", "USE ANOTHER CARD"),
    ],
)
def test_a_bad_swipe_asks_again_and_a_good_one_then_works(swipe, code, said):
    r = run([{"key": "1250#"}, {"swipe": swipe}, {"expect": {"state": "card", "display": said}},
             {"swipe": "unionpay_debit"}, {"pin": "1234"}])
    assert r["ok"], r["failures"]
    assert r["transactions"][0]["outcome"] == "approved"


# -- the operator's command line ----------------------------------------------------
def _run_cmd(posterm_cmd, env, *args, config_text=None, tmp_path=None):
    argv = list(posterm_cmd) + list(args)
    if config_text is not None:
        cfg = tmp_path / "posterm.toml"
        cfg.write_text(config_text)
        argv += ["--config", str(cfg)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize(
    "config_text, code, words",
    [
        ('[devices]\nprinter = "usb://x"\n', "config.unknown_scheme", ["usb://", "sim://", "serial://"]),
        ('[devices]\nlink = "tcp://127.0.0.1:5000?retries=3"\n', "config.unknown_option", ["retries", "connect_timeout"]),
        ('[devices]\nprinter = "serial:///dev/ttyUSB0?baud=fast"\n', "config.bad_option", ["baud", "9600"]),
        ('[host]\nresponse_timout = 3\n', "config.unknown_key", ["host.response_timout"]),
        ('[offline]\nfloor_limit = 1.5\n', "config.bad_value", ["offline.floor_limit"]),
        ('[devices]\nprinter = "sim://?columns=48"\n', "config.bad_option", ["columns=48", "42 columns", "TM-T20II"]),
        ('[terminal]\nmerchant_name = "上海浦东测试商户"\n', "config.bad_value", ["terminal.merchant_name", "cjk=gb18030"]),
    ],
)
def test_bad_configuration_is_one_clear_line_without_a_traceback(posterm_cmd, clean_env, tmp_path, config_text, code, words):
    out = _run_cmd(posterm_cmd, clean_env, "config", "check", config_text=config_text, tmp_path=tmp_path)
    assert out.returncode == 2
    assert f"[{code}]" in out.stderr
    for w in words:
        assert w in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) == 1


def test_run_on_an_unprovisioned_data_directory_starts_locked_and_says_why(posterm_cmd, clean_env, tmp_path):
    out = _run_cmd(posterm_cmd, clean_env, "run", "--exit-when-ready", "--data-dir", str(tmp_path / "data"),
                   config_text="", tmp_path=tmp_path)
    assert out.returncode == 0  # it runs, so the display can say what is wrong
    assert "terminal locked, sales refused" in out.stderr and "provision" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("config_text, words", [
    ('[devices]\nprinter = "sim://?columns=48"\n', ["config.bad_option", "columns=48", "profile 'default'"]),
    ('[terminal]\nmerchant_name = "上海浦东测试商户"\n', ["config.bad_value", "terminal.merchant_name", "(CJK)"]),
])
def test_run_refuses_a_receipt_it_could_not_print_before_any_sale(posterm_cmd, clean_env, tmp_path, config_text, words):
    out = _run_cmd(posterm_cmd, clean_env, "run", "--exit-when-ready", "--data-dir", str(tmp_path / "data"),
                   config_text=config_text, tmp_path=tmp_path)
    assert out.returncode == 2 and "posterm ready" not in out.stdout
    assert all(w in out.stderr for w in words) and "Traceback" not in out.stderr


def test_run_with_a_missing_serial_device_names_it(posterm_cmd, clean_env, tmp_path):
    data = tmp_path / "data"
    assert _run_cmd(posterm_cmd, clean_env, "provision", "--data-dir", str(data), "--lab").returncode == 0
    out = _run_cmd(posterm_cmd, clean_env, "run", "--exit-when-ready", "--data-dir", str(data),
                   config_text='[devices]\nprinter = "serial:///dev/ttyPOSTERM-NOPE?baud=9600"\n', tmp_path=tmp_path)
    assert out.returncode == 2
    assert "/dev/ttyPOSTERM-NOPE" in out.stderr and "Traceback" not in out.stderr


def test_run_starts_recovers_and_reports_ready(posterm_cmd, clean_env, tmp_path):
    data = tmp_path / "data"
    _run_cmd(posterm_cmd, clean_env, "provision", "--data-dir", str(data), "--lab")
    out = _run_cmd(posterm_cmd, clean_env, "run", "--exit-when-ready", "--data-dir", str(data), config_text="",
                   tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("posterm ready in ")


@pytest.mark.parametrize("command", [["demo"], ["run", "--exit-when-ready"], ["keys", "show"],
                                     ["provision", "--lab"]])
def test_a_data_directory_that_cannot_be_made_is_named_not_an_internal_error(posterm_cmd, clean_env, tmp_path,
                                                                              command):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = _run_cmd(posterm_cmd, clean_env, *command, "--data-dir", str(blocker / "sub"))
    assert out.returncode == 2, out.stderr
    assert "[os.enotdir]" in out.stderr and str(blocker) in out.stderr, out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr


def test_a_pin_pad_that_fails_during_pin_entry_ends_the_sale_at_once(tmp_path):
    """The pad raises while the PIN is being taken (here: it cannot encrypt the PIN block). The sale
    ends at once, nothing journalled or sent, the alert names the fault; before, the terminal sat on
    ENTER PIN until the input timeout. The failure is injected at the HAL boundary (the pad's poll):
    what is tested is the runner's handling of it."""
    from firmware.bench_worker import _sell, _terminal
    from firmware.core.model import State
    from firmware.errors import PinPadError

    runner, host = _terminal(tmp_path, copies=[])
    pad = runner.devices.pinpad
    real_poll = pad.poll

    def failing_poll():
        if runner.core.state is State.PIN and pad.options is not None:
            pad.poll = real_poll  # once
            raise PinPadError("the PIN block could not be encrypted", code="pinpad.encrypt_failed")
        return real_poll()

    pad.poll = failing_poll
    pad.press("1250#")
    runner.devices.reader.swipe_card("unionpay_debit")
    assert runner.run_until(lambda: runner.core.state is State.IDLE, 5)
    assert [code for code, _ in runner.alerts] == ["pinpad.encrypt_failed"]
    assert runner.store.journal() == [] and host.last is None
    _sell(runner, 1)  # the terminal is usable again
    assert runner.store.journal()[-1].state.value == "approved"
    runner.close()
