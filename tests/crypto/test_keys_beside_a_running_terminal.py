"""Key commands beside a running terminal (audit AU9 H2, H4), and the key ring's one-writer rule.

``posterm run`` holds the data directory's run lock and keeps its key ring in memory; at each
sign-on it writes that ring back. So every command that changes keys takes the run lock and
refuses (``storage.in_use``), and ``Keyring.save`` refuses (``keys.ring_changed``) to write
over a ring another process changed since it was read: the running terminal then locks
instead of putting back the keys from before (and losing what was sealed under the new ones).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crypto.keyring import KEYRING_FILE, Keyring
from crypto.keys import KeyUsage
from crypto.provision import TerminalKeys, provision
from crypto.secrets import SecretKey
from crypto.tr31 import Tr31Header, wrap
from firmware.errors import CryptoError
from firmware.runlock import run_lock
from firmware.scenario import ScenarioRunner, parse_scenario
from storage.rekey import rotate_data_key, versions_in_use
from storage.store import Store
from tests.engineer import FAST, booted, cli

K = "0123456789ABCDEFFEDCBA9876543210"
KBPK = "89E88CF7931444F334BD7547FC3F380C"


def copy_of(lab_sale_dir: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    return data


def sign_on(ring: Keyring) -> None:
    """What the running terminal's sign-on does to the ring it loaded at boot."""
    ring.put(KeyUsage.PIN, SecretKey(bytes(range(16)), usage="pin"), note="sign-on")


# -- rotate-data-key ----------------------------------------------------------------------------------
def test_rotate_data_key_refuses_while_the_terminal_runs(capsys, tmp_path, lab_sale_dir):
    """The running terminal's Sealer holds the data key a rotation drops from the ring on disk:
    whatever it sealed afterwards would open under no key at its next start."""
    data = copy_of(lab_sale_dir, tmp_path)
    with run_lock(data):  # posterm run holds this for as long as it runs
        running = TerminalKeys.load(Keyring.load(data))
        code, out, err = cli(capsys, "keys", "rotate-data-key", "--data-dir", str(data))
        blob = running.sealer.seal(b"queued reversal", b"aad")  # what the running terminal seals next
    on_disk = TerminalKeys.load(Keyring.load(data)).sealer  # what the terminal holds after its restart
    assert bytes(on_disk.open(blob, b"aad")) == b"queued reversal"
    assert code == 2 and "[storage.in_use]" in err


def test_a_sign_on_after_a_rotation_beside_the_terminal_keeps_the_stored_records_readable(capsys, tmp_path, lab_sale_dir):
    data = copy_of(lab_sale_dir, tmp_path)
    with run_lock(data):
        running = Keyring.load(data)  # the ring posterm run loaded at boot
        cli(capsys, "keys", "rotate-data-key", "--data-dir", str(data))
        sign_on(running)
    store = Store.open(data)
    try:
        sealed_under = set(versions_in_use(store.conn))
    finally:
        store.close()
    kept = set(Keyring.load(data).versions(KeyUsage.DATA))
    assert sealed_under <= kept, f"records sealed under data key {sorted(sealed_under)}, the ring holds {sorted(kept)}"


def test_a_rotation_that_got_past_the_lock_is_never_written_over(tmp_path, lab_sale_dir):
    """The last line: a rotation by any other way (an older posterm, a script) and then the running
    terminal's sign-on. The sign-on is refused and the rotated ring stands."""
    data = copy_of(lab_sale_dir, tmp_path)
    running = Keyring.load(data)
    other = Keyring.load(data)
    store = Store.open(data)
    try:
        rotate_data_key(other, store.conn)
        sealed_under = set(versions_in_use(store.conn))
    finally:
        store.close()
    with pytest.raises(CryptoError) as e:
        sign_on(running)
    assert e.value.code == "keys.ring_changed"
    assert sealed_under <= set(Keyring.load(data).versions(KeyUsage.DATA))
    assert not running.has(KeyUsage.PIN) or running.entry(KeyUsage.PIN).note != "sign-on"  # undone in memory


# -- inject, inject-dukpt, provision ------------------------------------------------------------------
def test_a_master_key_injected_beside_the_running_terminal_survives_its_next_sign_on(capsys, tmp_path):
    data = tmp_path / "data"
    provision(data, lab=True)
    with run_lock(data):
        running = Keyring.load(data)
        code, out, err = cli(capsys, "keys", "inject", "--data-dir", str(data), "--component", K,
                             "--component", "1" * 32)
        injected = Keyring.load(data).get(KeyUsage.TMK).reveal()
        sign_on(running)
    assert code == 2 and "[storage.in_use]" in err, (code, out, err)
    assert Keyring.load(data).get(KeyUsage.TMK).reveal() == injected


def _dukpt_block() -> str:
    from crypto.dukpt import derive_ipek

    ipek = derive_ipek(bytes.fromhex(K), "FFFF9876543210E00000")
    return wrap(SecretKey(bytes.fromhex(KBPK), "kbpk"), Tr31Header("B", "B1", "T", "X"), ipek)


@pytest.mark.parametrize("argv", [
    ("keys", "inject", "--component", K, "--component", "1" * 32),
    ("keys", "inject-dukpt", "--tr31", "BLOCK", "--kbpk", KBPK, "--ksn", "FFFF9876543210E00000"),
    ("keys", "rotate-data-key"),
    ("provision", "--lab"),
    ("provision", "--lab-dukpt", "tdes"),
], ids=["inject", "inject-dukpt", "rotate-data-key", "provision-lab", "provision-lab-dukpt"])
def test_key_commands_refuse_the_data_directory_of_a_running_terminal(capsys, tmp_path, argv):
    """Each one changes a file the running terminal holds in memory; nothing on disk changes."""
    data = tmp_path / "data"
    provision(data)  # a production terminal: no lab keys, no DUKPT key
    before = {p.name: p.read_bytes() for p in data.iterdir() if p.name != "run.lock"}
    argv = tuple(_dukpt_block() if a == "BLOCK" else a for a in argv)
    with run_lock(data):
        code, out, err = cli(capsys, *argv, "--data-dir", str(data))
    assert code == 2 and "[storage.in_use]" in err and "cannot " in err, (code, out, err)
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.name != "run.lock"} == before


def test_provision_keys_only_refuses_beside_a_running_terminal(capsys, tmp_path):
    """firmware/runlock.py: 'posterm provision takes the same lock before it checks or changes anything'."""
    data = tmp_path / "data"
    provision(data)
    with run_lock(data):
        code, out, err = cli(capsys, "provision", "--data-dir", str(data), "--lab")
    assert code == 2 and "[storage.in_use]" in err, (code, out[-200:], err)
    assert not Keyring.load(data).has(KeyUsage.TMK)


def test_key_commands_work_once_the_terminal_has_stopped(capsys, tmp_path):
    data = tmp_path / "data"
    provision(data)
    code, out, err = cli(capsys, "keys", "inject", "--data-dir", str(data), "--component", K, "--component", "1" * 32)
    assert code == 0, err
    code, out, err = cli(capsys, "keys", "rotate-data-key", "--data-dir", str(data))
    assert code == 0 and Keyring.load(data).versions(KeyUsage.DATA) == [2], err


# -- Keyring.save: one writer ---------------------------------------------------------------------------
def _change(data: Path, how: str) -> None:
    if how == "changed":
        Keyring.load(data).generate(KeyUsage.DATA, 32, note="another writer")
    elif how == "removed":
        (data / KEYRING_FILE).unlink()
    elif how == "replaced-same-size":  # another writer's ring of the same length: the content is what counts
        raw = bytearray((data / KEYRING_FILE).read_bytes())
        i = raw.index(b'"note": "') + len(b'"note": "')
        raw[i] = ord("X") if raw[i] != ord("X") else ord("Y")
        (data / KEYRING_FILE).write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["changed", "removed", "replaced-same-size"])
def test_a_ring_refuses_to_write_over_a_file_another_process_changed(tmp_path, how):
    data = tmp_path / "data"
    provision(data, lab=True)
    ring = Keyring.load(data)
    _change(data, how)
    after = (data / KEYRING_FILE).read_bytes() if (data / KEYRING_FILE).exists() else None
    with pytest.raises(CryptoError) as e:
        sign_on(ring)
    assert e.value.code == "keys.ring_changed" and str(data / KEYRING_FILE) in e.value.text
    now = (data / KEYRING_FILE).read_bytes() if (data / KEYRING_FILE).exists() else None
    assert now == after  # nothing written
    assert ring.versions(KeyUsage.PIN) == [1]  # undone in memory: the ring is what it was


def test_a_ring_created_by_another_process_is_not_written_over(tmp_path):
    data = tmp_path / "data"
    provision(data)
    (data / KEYRING_FILE).unlink()
    empty = Keyring.load(data)  # no file yet
    provision(data, lab=True)  # another process creates it
    with pytest.raises(CryptoError) as e:
        empty.generate(KeyUsage.DATA)
    assert e.value.code == "keys.ring_changed"
    assert Keyring.load(data).has(KeyUsage.TMK)


def test_a_ring_saves_over_its_own_writes_and_a_batch_saves_once(tmp_path):
    data = tmp_path / "data"
    ring = provision(data, lab=True)
    for _ in range(3):
        sign_on(ring)
    with ring.batch():
        ring.drop(KeyUsage.MAC, save=False)
        sign_on(ring)  # a save inside a batch: the batch's own save follows it
    assert Keyring.load(data).versions(KeyUsage.PIN) == [1, 2, 3, 4, 5]
    assert not Keyring.load(data).has(KeyUsage.MAC)


# -- the running terminal at its sign-on ----------------------------------------------------------------
def test_the_running_terminal_locks_at_a_sign_on_when_its_ring_was_changed_and_writes_nothing(tmp_path):
    """It cannot know whether the keys it holds are still the ring's: it refuses every sale until a
    restart loads the ring on disk, says why, and leaves the other writer's ring as it is."""
    data = tmp_path / "data"
    with booted(data) as runner:
        t = runner.runner
        assert t.core.state.value == "idle"
        Keyring.load(data).put(KeyUsage.TMK, SecretKey(bytes.fromhex(K), usage="tmk"), note="another writer")
        written = (data / KEYRING_FILE).read_bytes()
        runner.devices["pinpad"].press("F2")  # sign on
        t.run_until(lambda: t.core.state.value == "locked", 5)
        assert t.core.state.value == "locked"
        assert "keys.ring_changed" in [code for code, _ in t.alerts]
        assert "RESTART" in " ".join(runner.devices["display"].lines)
        assert (data / KEYRING_FILE).read_bytes() == written
    r = ScenarioRunner(data_dir=data).run(parse_scenario({"name": "t", "config": FAST, "step": [
        {"expect": {"state": "idle"}}]}))  # restarted: the ring on disk is loaded and the terminal works
    assert r["ok"], r["failures"]
