"""``posterm demo`` and ``posterm sim`` never take over a real terminal's data directory (AU9).

A scenario against its built-in host simulator loads the published lab keys into its data directory,
and writes that host's sales into its journal and batch. Given ``--data-dir`` of a real terminal it
loaded the lab master, PIN, MAC and reader keys beside the terminal's own, cleared a tamper record (a
zeroized terminal read 'ready to take a sale' after a demo), and beside a running terminal shared its
STAN counter. It now refuses a directory holding a real terminal's keys or a tamper record, and holds
the run lock for the whole run.
"""

from __future__ import annotations

import os
import shutil

import pytest

from crypto.dukpt_device import DukptScheme, initialise_from_bdk
from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import provision
from crypto.secrets import SecretKey
from crypto.tamper import tamper_status, zeroize
from firmware.errors import ScenarioError
from firmware.runlock import run_lock
from firmware.scenario.runner import _check_lab_directory
from storage.store import DB_FILE
from tests.engineer import cli


def test_a_zeroized_terminal_is_not_unlocked_by_a_demo(capsys, tmp_path):
    data = tmp_path / "data"
    provision(data)
    zeroize(data, reason="case opened", source="gpio")
    code, out, err = cli(capsys, "demo", "--data-dir", str(data))
    assert code == 2 and "[scenario.tampered]" in err and "case opened" in err, err
    assert tamper_status(data) is not None


def test_a_production_data_directory_gets_no_lab_keys(capsys, tmp_path):
    data = tmp_path / "data"
    provision(data)
    Keyring.load(data).generate(KeyUsage.TMK, 16, note="TR-31 B")  # the terminal's own master key
    code, out, err = cli(capsys, "demo", "--data-dir", str(data))
    assert code == 2 and "[scenario.not_lab]" in err and "TMK" in err, err
    ring = Keyring.load(data)
    assert [e["note"] for e in ring.summary() if e["usage"] == "tmk"] == ["TR-31 B"]
    assert not ring.has(KeyUsage.PIN) and not (data / DB_FILE).exists()  # nothing sold into it


def test_a_terminal_provisioned_for_production_gets_no_lab_keys_before_its_master_key(capsys, tmp_path):
    """DOC24: ``posterm provision`` without --lab (device and data keys, its master key to come by TR-31) read as
    a new directory, and a demo loaded the lab master key into it: a production terminal on lab keys."""
    data = tmp_path / "data"
    provision(data)
    code, out, err = cli(capsys, "demo", "--data-dir", str(data))
    assert code == 2 and "[scenario.not_lab]" in err and "master key" in err, err
    assert not Keyring.load(data).has(KeyUsage.TMK) and not (data / DB_FILE).exists()


def test_a_lab_directory_is_used_again(capsys, tmp_path, lab_sale_dir):
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    code, out, err = cli(capsys, "demo", "--data-dir", str(data))
    assert code == 0 and "APPROVED" in out, err


@pytest.mark.parametrize("argv", [
    ("demo",),
    ("sim", "--scenario", "SCENARIO", "--host", "tcp://127.0.0.1:1"),
    ("sim", "--scenario", "SCENARIO"),
], ids=["demo", "sim-host", "sim"])
def test_scenarios_refuse_the_data_directory_of_a_running_terminal(capsys, tmp_path, lab_sale_dir, argv, root_logging):
    data = tmp_path / "data"
    shutil.copytree(lab_sale_dir, data)
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "x"\n[[step]]\nkey = "1250#"\n[[step]]\nswipe = "unionpay_debit"\n'
                        '[[step]]\npin = "1234"\n')
    argv = tuple(str(scenario) if a == "SCENARIO" else a for a in argv)
    with run_lock(data):
        code, out, err = cli(capsys, *argv, "--data-dir", str(data))
    assert code == 2 and "[storage.in_use]" in err, (code, err[-300:])


def test_a_real_dukpt_terminal_is_not_a_lab_directory(tmp_path):
    """AU10: a DUKPT terminal has no master key to tell it by; its DUKPT key from its own BDK (not a lab
    initial KSN) makes it a real terminal's."""
    provision(tmp_path)  # a production terminal: KEK, data and PAN-hash keys only
    own_bdk = SecretKey(os.urandom(16), usage="dukpt-bdk")  # stands for its acquirer's BDK (TR-31 in the field)
    initialise_from_bdk(tmp_path, DukptScheme.TDES, own_bdk, "FFFF0123456789E00000").wipe()
    with pytest.raises(ScenarioError) as e:
        _check_lab_directory(tmp_path)
    assert e.value.code == "scenario.not_lab"


def test_a_lab_dukpt_terminal_is_one(tmp_path):
    from crypto.dukpt_lab import provision_lab_dukpt

    provision(tmp_path, lab=True)
    provision_lab_dukpt(tmp_path, DukptScheme.TDES)
    _check_lab_directory(tmp_path)
