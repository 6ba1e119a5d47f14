"""A database missing (or cut to 0 bytes) beside keys that have been used is refused, never taken for a new
terminal (AU12 F3, ``storage.emptied``); keys fresh from provisioning or a master-key injection are not "used";
the way out for an engineer who truly starts afresh is ``posterm keys zeroize`` and provisioning again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import lab_key, provision
from firmware.errors import StorageError
from storage.emptied import ring_used
from storage.store import DB_FILE, Store
from tests.engineer import cli

TMK_COMPONENTS = ("0123456789ABCDEFFEDCBA9876543210", "11111111111111112222222222222222")


@pytest.fixture(autouse=True)
def _restore_logging(root_logging):
    """``posterm run`` and ``selftest`` set up the root logger on this test's captured stderr (conftest)."""
    yield


def _remove_database(data: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (data / (DB_FILE + suffix)).unlink(missing_ok=True)


def _signed_on(data: Path) -> None:
    """A real sign-on's install (crypto.signon): working keys the host sent, under the terminal's TMK."""
    from crypto.signon import install_working_keys, issue_working_keys

    ring = Keyring.load(data)
    issued = issue_working_keys(ring.get(KeyUsage.TMK), {KeyUsage.PIN: 16, KeyUsage.MAC: 8})
    install_working_keys(ring, None, issued.encrypted, issued.check_values)


def test_a_deleted_database_beside_a_used_key_ring_is_not_taken_for_a_new_terminal(lab_sale_dir, tmp_path):
    """The database file removed (not emptied) beside a ring a sign-on used: a new, empty terminal started there
    (journal, queued reversals, counters, open batch gone), as the 0-byte case did before AU9."""
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    Keyring.load(data).put(KeyUsage.PIN, lab_key(KeyUsage.PIN), note="sign-on")
    _remove_database(data)
    with pytest.raises(StorageError) as e:
        Store.open(data).close()
    assert e.value.code == "storage.missing_database"
    assert f"the database {data / DB_FILE} is missing" in e.value.text and "sign-on" in e.value.text
    assert f"posterm keys zeroize --data-dir {data} and provision it again" in e.value.text
    assert not (data / DB_FILE).exists()  # nothing was made


def _inject_tmk(capsys, data: Path) -> None:
    args = [a for c in TMK_COMPONENTS for a in ("--component", c)]
    code, out, err = cli(capsys, "keys", "inject", "--data-dir", str(data), *args)
    assert code == 0, (out, err)


def _rotated(capsys, data: Path) -> None:
    Keyring.load(data).generate(KeyUsage.DATA, 32, note="rotated")


def _dukpt(capsys, data: Path, spend: int) -> None:
    from crypto.dukpt_device import DukptDevice
    from crypto.dukpt_lab import provision_lab_dukpt

    provision_lab_dukpt(data).wipe()
    device = DukptDevice.load(data)
    for _ in range(spend):
        device.next_transaction().wipe()


@pytest.mark.parametrize("lab, use, said", [
    (False, None, None),
    (True, None, None),  # the lab's published working keys: put there by provisioning
    (False, _inject_tmk, None),  # a production terminal's master key, injected
    (False, lambda c, d: (_inject_tmk(c, d), _inject_tmk(c, d)), None),  # re-injected: TMK version 2
    (True, lambda c, d: _dukpt(c, d, 0), None),  # DUKPT loaded, nothing spent
    (False, lambda c, d: (_inject_tmk(c, d), _signed_on(d)), "it holds working keys from a sign-on (mac, pin)"),
    (True, lambda c, d: _signed_on(d), "it holds working keys from a sign-on (mac, pin)"),  # a lab ring too
    (False, _rotated, "its data key has been replaced since provisioning"),
    (True, lambda c, d: _dukpt(c, d, 1), "its DUKPT counter has advanced"),
], ids=["fresh", "fresh lab", "TMK injected", "TMK re-injected", "DUKPT loaded", "signed on", "lab signed on",
        "data key rotated", "DUKPT spent"])
def test_what_makes_keys_used(capsys, tmp_path, lab, use, said):
    data = tmp_path / "data"
    provision(data, lab=lab)
    if use is not None:
        use(capsys, data)
    assert ring_used(data) == said
    if said is None:  # a new terminal: its database is made
        Store.open(data).close()
        assert (data / DB_FILE).stat().st_size > 0
    else:
        with pytest.raises(StorageError) as e:
            Store.open(data).close()
        assert e.value.code == "storage.missing_database" and said in e.value.text


def test_run_and_selftest_refuse_it_and_zeroize_then_provisioning_is_the_way_out(capsys, tmp_path, lab_sale_dir):
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    _signed_on(data)
    _remove_database(data)
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    code, out, err = cli(capsys, "run", "--config", str(config), "--exit-when-ready")
    assert code == 2 and "[storage.missing_database]" in err, (out, err)
    code, out, err = cli(capsys, "selftest", "--config", str(config), "--json")
    storage = next(r for r in json.loads(out) if r["name"] == "storage")
    assert (storage["status"], storage["code"]) == ("fail", "storage.missing_database"), storage
    assert not (data / DB_FILE).exists()
    # The way the error names: destroy the keys, provision again (here the lab's), and the terminal starts anew.
    code, out, err = cli(capsys, "keys", "zeroize", "--data-dir", str(data), "--reason", "database lost")
    assert code == 0, (out, err)
    code, out, err = cli(capsys, "provision", "--data-dir", str(data), "--lab")
    assert code == 0, (out, err)
    assert ring_used(data) is None
    code, out, err = cli(capsys, "run", "--config", str(config), "--exit-when-ready")
    assert code == 0, (out, err)
    assert (data / DB_FILE).stat().st_size > 0
