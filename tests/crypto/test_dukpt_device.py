"""The terminal's DUKPT state on disk: wrapped under the KEK, 0600, and never a counter twice."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import time

import pytest

from crypto.dukpt import derive_ipek, derive_transaction_key, ksn_counter, tdes_working_key, TdesVariant
from crypto.dukpt_aes import derive_initial_key
from crypto.dukpt_device import STATE_FILE, DukptDevice, DukptScheme, initialise_from_bdk
from crypto.keyring import KEK_FILE, FileKek
from crypto.secrets import SecretKey
from firmware.errors import CryptoError

BDK = "0123456789ABCDEFFEDCBA9876543210"
IKSN = "FFFF9876543210E00000"
AES_BDK = "FEDCBA9876543210F1F1F1F1F1F1F1F1"
IKID = "1234567890123456"


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir(mode=0o700)
    FileKek.create(d / KEK_FILE)
    return d


def test_state_survives_a_restart_and_never_repeats(data_dir):
    ipek = derive_ipek(bytes.fromhex(BDK), IKSN)
    device = DukptDevice.initialise(data_dir, DukptScheme.TDES, SecretKey(ipek.reveal()), IKSN)
    first = [device.next_transaction() for _ in range(3)]
    again = DukptDevice.load(data_dir)
    fourth = again.next_transaction()
    assert [k.counter for k in first] + [fourth.counter] == [1, 2, 3, 4]
    host = derive_transaction_key(ipek, fourth.ksn)
    assert fourth.pin.reveal() == tdes_working_key(host, TdesVariant.PIN).reveal()
    assert DukptDevice.load(data_dir).next_ksn.hex().upper() == "FFFF9876543210E00005"


@pytest.mark.parametrize("scheme, bdk, ksn", [("tdes", BDK, IKSN), ("aes128", AES_BDK, IKID),
                                               ("aes256", AES_BDK * 2, IKID)])
def test_state_file_holds_no_clear_key(data_dir, scheme, bdk, ksn):
    if scheme == "tdes":
        initial = derive_ipek(bytes.fromhex(bdk), ksn).reveal()
    else:
        initial = derive_initial_key(bytes.fromhex(bdk), bytes.fromhex(ksn)).reveal()
    device = initialise_from_bdk(data_dir, scheme, SecretKey(bytes.fromhex(bdk)), ksn)
    keys = device.next_transaction()
    path = data_dir / STATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text().upper()
    for secret in (bdk, initial.hex().upper(), keys.pin.reveal().hex().upper()):
        assert secret not in text
    doc = json.loads(text.lower())
    assert doc["scheme"] == scheme and doc["next_counter"] == 2
    assert device.scheme.value == scheme and keys.scheme == scheme


def test_a_power_cut_never_reuses_a_counter(data_dir):
    """Terminals in child processes are SIGKILLed at random moments while taking transaction keys.

    A child reports each KSN it received (and so may have used) down a pipe;
    whatever it reported, the state on disk must already be past it.
    """
    initialise_from_bdk(data_dir, "tdes", SecretKey(bytes.fromhex(BDK)), IKSN)
    used: list[int] = []
    rng = random.Random(4)
    for _ in range(12):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: a terminal spending counters as fast as it can
            os.close(read)
            try:
                device = DukptDevice.load(data_dir)
                while True:
                    keys = device.next_transaction()
                    os.write(write, keys.ksn[-3:])
            finally:
                os._exit(1)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            got = pipe.read(3)  # it has started spending (however slow this machine is today)
            time.sleep(rng.uniform(0.0, 0.02))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            got += pipe.read()
        used += [int.from_bytes(got[i : i + 3], "big") & 0x1FFFFF for i in range(0, len(got) - len(got) % 3, 3)]
        next_counter = ksn_counter(DukptDevice.load(data_dir).next_ksn)
        assert not used or next_counter > max(used)
    assert len(used) == len(set(used)) and len(used) > 12


@pytest.mark.parametrize(
    "damage, code",
    [
        (lambda p: p.write_text("{not json"), "dukpt.state"),
        (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "registers": "00" * 40})), "keys.unwrap"),
        (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "kek_kcv": "000000"})), "keys.kek_mismatch"),
        (lambda p: os.chmod(p, 0o644), "keys.permissions"),
        (lambda p: p.unlink(), "dukpt.missing"),
    ],
)
def test_damaged_state_is_refused(data_dir, damage, code):
    initialise_from_bdk(data_dir, "tdes", SecretKey(bytes.fromhex(BDK)), IKSN)
    damage(data_dir / STATE_FILE)
    with pytest.raises(CryptoError) as e:
        DukptDevice.load(data_dir)
    assert e.value.code == code


def test_wrong_initial_key_length_is_refused(data_dir):
    with pytest.raises(CryptoError) as e:
        DukptDevice.initialise(data_dir, "aes256", SecretKey(bytes(16)), IKID)
    assert e.value.code == "crypto.key_length"
