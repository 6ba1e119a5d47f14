"""DUKPT PIN keys end to end (``host.pin_keys = "dukpt"``, iso87): the real TCP link, the host simulator
deriving each PIN key from the BDK and the KSN in field 53. A sale, a void and a pre-auth each spend a fresh
counter; a power cut and a restart skip counters and never reuse one (the host would answer 63); a sale
pays no DUKPT fsync; boot refuses what cannot work, never falling back to the session PIN key."""

from __future__ import annotations

import os

import pytest

from crypto.dukpt import ksn_counter
from crypto.dukpt_device import DukptScheme
from crypto.dukpt_lab import LAB_INITIAL_KSNS, lab_bdks, provision_lab_dukpt
from crypto.keys import KeyUsage
from crypto.provision import lab_key, provision
from firmware.app import Overrides, build_runner
from firmware.config import Config
from firmware.core.model import State
from firmware.errors import CryptoError
from firmware.host.profiles import get_profile
from firmware.hostsim.ledger import Ledger
from firmware.hostsim.processor import HostProcessor

from .canary import find_card_data, run_logged
from .wiretap import run_tapped

ISO87 = get_profile("iso87")
CONFIG = {"host": {"profile": "iso87", "pin_keys": "dukpt", "response_timeout": 0.4, "connect_timeout": 0.4}}
SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
VOID_1 = [{"void": {"trace": 1}}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
PREAUTH = [{"preauth": 10000}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
INITIAL = bytes.fromhex(LAB_INITIAL_KSNS[DukptScheme.TDES])


def run(steps, tmp_path):
    result, _paper, tap = run_tapped("dukpt", CONFIG, steps, tmp_path, ISO87)
    return result, tap


def with_pin(tap):
    """The requests that carry a PIN block."""
    return [m for m in tap.decoded() if 52 in m.fields]


def _counters(tap) -> list[int]:
    out = []
    for m in with_pin(tap):
        ksn = bytes.fromhex(m.fields[53])
        assert len(ksn) == 10 and ksn[:8] == INITIAL[:8]  # the lab key's KSN, its counter in the low 21 bits
        out.append(ksn_counter(ksn))
    return out


def test_sale_void_and_preauth_each_spend_a_fresh_counter_the_host_checks(tmp_path):
    r, tap = run(SALE + VOID_1 + PREAUTH + SALE, tmp_path)
    assert [t["outcome"] for t in r["transactions"]] == ["approved"] * 4
    assert [m.mti for m in with_pin(tap)] == ["0200", "0200", "0100", "0200"]
    assert _counters(tap) == [1, 2, 3, 4]
    assert all(m.fields[52] != with_pin(tap)[0].fields[52] for m in with_pin(tap)[1:])
    assert not [m for m in r["host_ledger"]["messages"] if m["response_code"] == "63"]


def test_a_power_cut_and_a_restart_skip_counters_and_never_reuse_one(tmp_path):
    steps = SALE + [{"power_cut": "after:send_request"}] + SALE + [{"restart": True}] + SALE + SALE
    r, tap = run(steps, tmp_path)
    counters = _counters(tap)
    assert counters == sorted(set(counters)) and len(counters) == 4
    assert counters[2] > 64  # after the cut: past the window reserved on disk (crypto.dukpt_reserve.WINDOW)
    assert [t["outcome"] for t in r["transactions"]][-2:] == ["approved", "approved"]
    assert not [m for m in r["host_ledger"]["messages"] if m["response_code"] == "63"]


def _terminal(data, config, *, bdks=None):
    processor = HostProcessor("iso87", mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                              ledger=Ledger(":memory:"), dukpt_bdks=bdks or lab_bdks())
    runner = build_runner(config, overrides=Overrides(host=processor))
    runner.boot()
    return runner, processor


def _sell(runner, n):
    pad, reader = runner.devices.pinpad, runner.devices.reader
    for _ in range(n):
        before = runner.store.commits
        pad.press("1250#")
        reader.swipe_card("unionpay_debit")
        pad.press("1234#", hold_for_pin=True)
        assert runner.run_until(lambda: runner.core.state is State.IDLE and runner.store.commits > before, 10)


def _config(data, **host):
    return Config().replace({"storage": {"data_dir": str(data)}, "devices": {"link": "sim://"},
                             "receipts": {"copies": []}, "host": {"profile": "iso87", **host}})


def test_a_sale_pays_no_dukpt_fsync_and_as_many_commits_as_with_session_keys(tmp_path, monkeypatch):
    """The bench's fsyncs per sale are SQLite's commits; DUKPT adds none inside its window. os.fsync is
    where the DUKPT state's writes go (``write_private``): counted here, and still made."""
    commits = {}
    for mode in ("session", "dukpt"):
        data = tmp_path / mode
        provision(data, lab=True)
        provision_lab_dukpt(data)
        runner, _host = _terminal(data, _config(data, pin_keys=mode))
        _sell(runner, 2)  # warm: sign-on and the first sales
        calls = []
        real = os.fsync
        monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
        start = runner.store.commits
        _sell(runner, 40)  # past the low water mark, within the window
        commits[mode] = runner.store.commits - start
        monkeypatch.setattr(os, "fsync", real)
        assert calls == [], mode
        if mode == "dukpt":
            assert runner.dukpt.empty_windows == 0 and runner.dukpt.writes == 1  # only boot's reservation
            # idle time reserves ahead again, outside any sale
            runner.last_activity -= 10
            runner.drain()
            assert runner.dukpt.writes == 2 and runner.dukpt.reserved == 64
        runner.close()
    assert commits["dukpt"] == commits["session"]


@pytest.mark.parametrize(("scheme", "code"), [(None, "keys.no_dukpt"), (DukptScheme.AES128, "keys.dukpt_pin_field")])
def test_boot_refuses_dukpt_it_cannot_use_and_never_falls_back(tmp_path, scheme, code):
    data = tmp_path / "data"
    provision(data, lab=True)
    if scheme is not None:
        provision_lab_dukpt(data, scheme)
    with pytest.raises(CryptoError) as err:
        build_runner(_config(data, pin_keys="dukpt"), overrides=Overrides(host=HostProcessor("iso87")))
    assert err.value.code == code


def test_no_dukpt_pin_block_reaches_disk_logs_or_console(posterm_cmd, clean_env, tmp_path):
    """The canary with DUKPT: the blocks of every counter the run could have spent, for each test card."""
    from crypto.dukpt import derive_ipek, derive_transaction_key, tdes_working_key, TdesVariant, with_counter
    from crypto.pinblock import encrypt_iso0
    from crypto.secrets import Pan
    from hal.magstripe.sim import TEST_CARDS

    session = """
[config.host]
profile = "iso87"
pin_keys = "dukpt"
[[step]]
key = "1250#"
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
key = "880#"
[[step]]
swipe = "visa"
[[step]]
pin = "1234"
[[step]]
expect = { journal_count = 2 }
"""
    run = run_logged(posterm_cmd, clean_env, tmp_path, session)
    assert [t["outcome"] for t in run.result["transactions"]] == ["approved", "approved"]
    files = sorted(p for p in run.data.rglob("*") if p.is_file())
    assert "dukpt.json" in {p.name for p in files}
    assert not find_card_data([*files, run.log], {"stdout": run.out.stdout, "stderr": run.out.stderr})
    ipek = derive_ipek(lab_bdks()["tdes"], INITIAL)
    hay = {p: p.read_bytes() for p in [*files, run.log]}
    hay["console"] = (run.out.stdout + run.out.stderr).encode()
    for counter in range(1, 8):
        key = tdes_working_key(derive_transaction_key(ipek, with_counter(INITIAL, counter)), TdesVariant.PIN)
        for name in ("unionpay_debit", "visa"):
            pan = TEST_CARDS[name].track2.split("=")[0]
            block = encrypt_iso0(b"1234", Pan(pan), key).reveal()
            for where, content in hay.items():
                assert block not in content and block.hex().upper().encode() not in content, (name, counter, where)


def test_a_tamper_forgets_the_dukpt_registers_and_writes_none_back(tmp_path):
    data = tmp_path / "data"
    r, _tap = run(SALE + [{"tamper": "case opened"},
                          {"expect": {"state": "locked", "display": "TERMINAL LOCKED"}}], tmp_path)
    assert [t["outcome"] for t in r["transactions"]] == ["approved"]
    assert not (data / "dukpt.json").exists()  # zeroized with the other key files, and not written again at close


def test_a_sale_whose_dukpt_reservation_cannot_be_written_is_refused_with_a_storage_alert_and_loses_nothing(tmp_path):
    """The window runs empty (PINs with no idle time), then the state file cannot be written (its temporary
    is a directory: a real failing write): the sale ends at once with ``storage.dukpt_state`` naming the file,
    on the screen as a PIN pad fault with that code,
    nothing is journalled or sent and no counter spent; once the disk is writable the next sale is approved
    under the next counter, which the host accepts (a reused one would be answered 63)."""
    from crypto.dukpt_device import STATE_FILE
    from crypto.secrets import Pan
    from hal.magstripe.sim import TEST_CARDS

    data = tmp_path / "data"
    provision(data, lab=True)
    provision_lab_dukpt(data)
    runner, host = _terminal(data, _config(data, pin_keys="dukpt"))
    _sell(runner, 1)
    cipher = runner.dukpt
    while cipher.reserved:  # PINs with no idle time between them spend the window (no write)
        cipher.encrypt_pin(bytearray(b"1234"), Pan(TEST_CARDS["unionpay_debit"].pan)).wipe()
    counter, state = cipher.device.counter, (data / STATE_FILE).read_bytes()
    blocker = data / f".{STATE_FILE}.tmp"
    blocker.mkdir()
    records, messages = len(runner.store.journal()), len(host.ledger.messages())
    runner.devices.pinpad.press("1250#")
    runner.devices.reader.swipe_card("unionpay_debit")
    runner.devices.pinpad.press("1234#", hold_for_pin=True)
    assert runner.run_until(lambda: runner.core.state is State.IDLE, 10)
    assert [(c, str(data / STATE_FILE) in t) for c, t in runner.alerts] == [("storage.dukpt_state", True)]
    shown = [line.strip() for line in runner.devices.display.history[-1]]  # named, not a cancel (AU21 M3)
    assert shown[:3] == ["PIN PAD FAULT", "SALE CANCELLED", "STORAGE DUKPT STATE"], shown
    assert len(runner.store.journal()) == records and len(host.ledger.messages()) == messages
    assert cipher.device.counter == counter and (data / STATE_FILE).read_bytes() == state
    blocker.rmdir()
    _sell(runner, 1)
    assert runner.store.journal()[-1].state.value == "approved" and cipher.device.counter == counter + 1
    assert not [m for m in host.ledger.messages() if m["response_code"] == "63"]
    runner.close()
