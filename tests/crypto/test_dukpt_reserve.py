"""DUKPT PIN blocks for sales: published vectors, the reservation scheme, kills and restarts on real files."""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.dukpt import ksn_counter
from crypto.dukpt_device import STATE_FILE, DukptDevice, DukptScheme
from crypto.dukpt_lab import LAB_INITIAL_KSNS, lab_bdk, lab_bdks, provision_lab_dukpt
from crypto.dukpt_reserve import DukptPinCipher, counters_left, valid_below
from crypto.keyring import KEK_FILE, FileKek
from crypto.pinblock import decrypt_pin_block
from crypto.secrets import Pan
from firmware.errors import CryptoError, StorageError
from firmware.hostsim.dukpt import dukpt_pin_key
from tests.forking import CUT, run_in_child

VECTOR_PAN = "4012345678909"


def _dir(base: Path, scheme: DukptScheme = DukptScheme.TDES) -> Path:
    data = base / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    FileKek.create(data / KEK_FILE)
    provision_lab_dukpt(data, scheme)
    return data


def _counter(ksn: bytes) -> int:
    return ksn_counter(ksn) if len(ksn) == 10 else int.from_bytes(ksn[8:], "big")


def _spent(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def _disk_counter(data: Path) -> int | None:
    return json.loads((data / STATE_FILE).read_text())["next_counter"]


# -- counting counters --------------------------------------------------------------
@given(st.integers(1, 10), st.data())
def test_valid_below_counts_what_a_walk_counts(bits, data):
    max_ones = data.draw(st.integers(0, bits))
    n = data.draw(st.integers(0, 1 << bits))
    assert valid_below(n, bits, max_ones) == sum(1 for x in range(n) if x.bit_count() <= max_ones)


def test_a_fresh_tdes_key_has_every_counter_but_zero_left():
    assert counters_left(1, 21, 10) == 1_048_575
    assert counters_left(None, 21, 10) == 0


# -- the blocks -----------------------------------------------------------------------
def test_the_first_pin_blocks_are_the_published_x9_24_1_blocks_with_their_ksns(tmp_path, vectors):
    v = vectors["dukpt_tdes"]
    cipher = DukptPinCipher.open(_dir(tmp_path))
    for txn in v["transactions"]:
        block = cipher.encrypt_pin(bytearray(v["pin"].encode()), Pan(v["pan"]))
        assert block.ksn.hex().upper() == txn["ksn"]
        assert block.format == 0 and block.reveal().hex().upper() == txn["encrypted_pin_block"]
        assert txn["ksn"] not in repr(block) and txn["encrypted_pin_block"] not in repr(block)
    cipher.close()


def test_aes_dukpt_makes_format_4_blocks_with_a_12_byte_ksn_the_host_reads(tmp_path):
    cipher = DukptPinCipher.open(_dir(tmp_path, DukptScheme.AES128))
    assert (cipher.pin_format, cipher.pin_block_size) == (4, 16)
    blocks = [cipher.encrypt_pin(bytearray(b"4321"), Pan(VECTOR_PAN)) for _ in range(3)]
    assert [b.ksn.hex().upper() for b in blocks] == [LAB_INITIAL_KSNS[DukptScheme.AES128] + f"{c:08X}"
                                                     for c in (1, 2, 3)]
    for block in blocks:
        key, fmt = dukpt_pin_key(lab_bdks(), block.ksn)
        assert fmt == 4 and len(block.reveal()) == 16
        assert decrypt_pin_block(block, VECTOR_PAN, key, fmt) == b"4321"
    cipher.close()


def test_the_working_keys_are_wiped_once_the_block_is_made(tmp_path, monkeypatch):
    import crypto.dukpt_device as device_module

    made = []
    spend = device_module.DukptDevice.spend

    def keeping(self):
        keys = spend(self)
        made.append(keys)
        return keys

    monkeypatch.setattr(device_module.DukptDevice, "spend", keeping)
    cipher = DukptPinCipher.open(_dir(tmp_path))
    cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))
    (keys,) = made
    assert all(k.wiped for k in (keys.pin, keys.mac_generate, keys.mac_verify, keys.data_encrypt, keys.data_decrypt))


# -- the reservation -------------------------------------------------------------------
class FsyncCounter:
    """Counts os.fsync calls (and still makes them): the DUKPT state's durable writes."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        real = os.fsync

        def counting(fd):
            self.calls += 1
            return real(fd)

        monkeypatch.setattr(os, "fsync", counting)


def test_pins_inside_the_window_write_nothing_and_idle_top_up_writes_once(tmp_path, monkeypatch):
    data = _dir(tmp_path)
    cipher = DukptPinCipher.open(data, window=8, low_water=4)
    assert _disk_counter(data) == 9 and cipher.reserved == 8  # counters 1..8 reserved, disk says 9
    fsyncs = FsyncCounter(monkeypatch)
    for _ in range(4):
        cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))
    assert fsyncs.calls == 0 and cipher.reserved == 4 and _disk_counter(data) == 9
    assert cipher.top_up() is False  # not below the low water yet
    cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))
    assert cipher.top_up() is True and fsyncs.calls == 2  # file and directory
    assert _disk_counter(data) == 6 + 8 and cipher.reserved == 8
    cipher.close()


def test_a_pin_that_finds_the_window_empty_pays_the_write_and_says_so(tmp_path, monkeypatch, caplog):
    data = _dir(tmp_path)
    cipher = DukptPinCipher.open(data, window=3, low_water=1)
    fsyncs = FsyncCounter(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="crypto.dukpt_reserve"):
        ksns = [cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn for _ in range(4)]
    assert [_counter(k) for k in ksns] == [1, 2, 3, 4]
    assert fsyncs.calls == 2 and cipher.empty_windows == 1 and _disk_counter(data) == 7
    assert "this PIN pays the state write" in caplog.text and "1234" not in caplog.text


def _block_the_state_write(data: Path) -> Path:
    """A real failing write: the state file's temporary (``write_private`` writes it, then renames it) is a
    directory, so ``open`` fails with EISDIR, as root too (a read-only directory does not stop root)."""
    blocker = data / f".{STATE_FILE}.tmp"
    blocker.mkdir()
    return blocker


def test_an_empty_window_whose_write_fails_is_a_storage_error_naming_the_state_file_and_spends_nothing(tmp_path):
    data = _dir(tmp_path)
    cipher = DukptPinCipher.open(data, window=2, low_water=1)
    first = [_counter(cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn) for _ in range(2)]
    state = (data / STATE_FILE).read_bytes()
    blocker = _block_the_state_write(data)
    with pytest.raises(StorageError) as err:
        cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))
    assert err.value.code == "storage.dukpt_state" and str(data / STATE_FILE) in err.value.text
    assert "1234" not in err.value.text and VECTOR_PAN not in err.value.text
    assert (data / STATE_FILE).read_bytes() == state and cipher.reserved == 0  # nothing moved, nothing spent
    blocker.rmdir()  # the disk is writable again: the next PIN takes the very next counter
    assert first + [_counter(cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn)] == [1, 2, 3]
    assert _disk_counter(data) == 5


def test_a_failed_write_at_close_is_a_storage_error_and_the_reservation_on_disk_still_holds(tmp_path):
    data = _dir(tmp_path)
    cipher = DukptPinCipher.open(data, window=16)
    cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))
    _block_the_state_write(data)
    with pytest.raises(StorageError) as err:
        cipher.close()
    assert err.value.code == "storage.dukpt_state" and _disk_counter(data) == 17  # skipped, never reused
    with pytest.raises(CryptoError):
        cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))


def test_a_clean_close_gives_back_the_unused_counters(tmp_path):
    data = _dir(tmp_path)
    cipher = DukptPinCipher.open(data, window=16)
    cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))
    cipher.close()
    assert _disk_counter(data) == 2
    with pytest.raises(CryptoError) as err:
        cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))
    assert err.value.code == "dukpt.closed"
    again = DukptPinCipher.open(data, window=16)
    assert _counter(again.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn) == 2


def test_a_power_cut_skips_the_reserved_counters_and_never_reuses_one(tmp_path):
    data = _dir(tmp_path)
    cipher = DukptPinCipher.open(data, window=16)
    spent = [_counter(cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn) for _ in range(5)]
    del cipher  # the power goes: no close, nothing written since the reservation
    again = DukptPinCipher.open(data, window=16)
    after = _counter(again.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn)
    assert spent == [1, 2, 3, 4, 5] and after == 17  # 6..16 skipped


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["pin", "idle", "cut", "close"]), st.integers(1, 9)), max_size=25),
       st.integers(1, 6), st.data())
def test_no_sequence_of_pins_idles_cuts_and_restarts_reuses_a_counter(ops, window, data):
    low_water = data.draw(st.integers(1, window))
    with tempfile.TemporaryDirectory() as tmp:
        path = _dir(Path(tmp))
        cipher = DukptPinCipher.open(path, window=window, low_water=low_water)
        spent: list[int] = []
        for op, n in ops:
            if op == "pin":
                for _ in range(n):
                    spent.append(_counter(cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn))
            elif op == "idle":
                cipher.top_up()
            else:
                if op == "close":
                    cipher.close()
                cipher = DukptPinCipher.open(path, window=window, low_water=low_water)
            assert _disk_counter(path) > (spent[-1] if spent else 0)  # the disk is past every counter spent
        assert spent == sorted(set(spent))


def test_a_kill_at_any_step_of_a_reservation_leaves_no_counter_to_reuse(tmp_path):
    """Fork a terminal that spends counters and reserves windows, die at its n-th step (the steps include
    the middle of the state write), restart from the disk: the next counter is past every counter spent."""
    data = _dir(tmp_path)
    spent_log = tmp_path / "spent"
    import crypto.keyring as keyring

    for die_at in range(1, 14):
        def work(hook):
            real_replace = keyring.os.replace

            def replace(src, dst):  # a step between writing the new file and renaming it
                hook("replace")
                real_replace(src, dst)
                hook("replaced")

            keyring.os.replace = replace
            cipher = DukptPinCipher.open(data, window=3, low_water=2)
            for _ in range(6):
                ksn = cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn
                with open(spent_log, "a") as f:
                    f.write(f"{_counter(ksn)}\n")
                hook("spent")
                cipher.top_up()
            cipher.close()

        assert run_in_child(work, die_at) in (0, CUT)
        spent = _spent(spent_log)
        assert len(spent) == len(set(spent)), f"counter reused after a cut at step {die_at}"
        assert _disk_counter(data) > max(spent, default=0)
    assert len(_spent(spent_log)) > 13  # the cuts did meet counters spent


def test_sigkill_at_random_moments_never_reuses_a_counter(tmp_path):
    """The same with real SIGKILLs of a process spending counters as fast as it can (no idle time at all)."""
    data = _dir(tmp_path)
    spent_log = tmp_path / "spent"
    for delay in (0.002, 0.01, 0.005, 0.02, 0.001):
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(spent_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                cipher = DukptPinCipher.open(data, window=4, low_water=2)
                while True:
                    ksn = cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN)).ksn
                    os.write(fd, f"{_counter(ksn)}\n".encode())
                    cipher.top_up()
            finally:
                os._exit(1)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    spent = _spent(spent_log)
    assert len(spent) == len(set(spent)) and spent == sorted(spent)
    assert DukptDevice.load(data).counter > max(spent, default=0)


# -- refusals ---------------------------------------------------------------------------
def test_no_dukpt_key_is_refused_with_its_code(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    with pytest.raises(CryptoError) as err:
        DukptPinCipher.open(data)
    assert err.value.code == "keys.no_dukpt" and "inject-dukpt" in err.value.text


def test_a_tamper_wipe_forgets_the_registers_and_writes_nothing(tmp_path):
    data = _dir(tmp_path)
    cipher = DukptPinCipher.open(data, window=8)
    cipher.encrypt_pin(bytearray(b"1234"), Pan(VECTOR_PAN))
    before = (data / STATE_FILE).read_bytes()
    cipher.wipe()
    cipher.close()
    assert (data / STATE_FILE).read_bytes() == before
    assert all(r is None for r in cipher.device._registers.registers)


def test_the_lab_tdes_key_is_the_published_bdk_and_ksn(tmp_path, vectors):
    assert lab_bdk("tdes").reveal().hex().upper() == vectors["dukpt_tdes"]["bdk"]
    assert LAB_INITIAL_KSNS[DukptScheme.TDES] == vectors["dukpt_tdes"]["initial_ksn"]
    assert lab_bdk("aes128").reveal().hex().upper() == vectors["dukpt_aes"]["bdk_aes128"]
    data = _dir(tmp_path)
    assert provision_lab_dukpt(data) is None  # kept: never re-initialised over a key in use


def test_provision_lab_dukpt_loads_the_lab_key_once(posterm_cmd, clean_env, tmp_path):
    import subprocess

    data = tmp_path / "data"
    cmd = posterm_cmd + ["provision", "--data-dir", str(data), "--lab", "--lab-dukpt", "tdes"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=clean_env, timeout=60)
    assert first.returncode == 0 and "dukpt     tdes  LAB TEST KEY loaded" in first.stdout
    assert DukptDevice.load(data).next_ksn.hex().upper() == "FFFF9876543210E00001"
    again = subprocess.run(cmd, capture_output=True, text=True, env=clean_env, timeout=60)
    assert "kept (a DUKPT key is loaded)" in again.stdout
    assert lab_bdk("tdes").reveal().hex().upper() not in first.stdout + first.stderr
