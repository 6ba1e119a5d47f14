"""``posterm tools dukpt``: each key's check value follows that key, not the working key type (audit AU9 M5).

An AES DUKPT initial key and derivation key are AES keys (KCV by AES-CMAC, ANSI X9.24-3)
whatever ``--key-type`` the working keys are; a TDES working key's KCV is the TDES one.
"""

from __future__ import annotations

import json

import pytest

from crypto.keys import kcv
from firmware.cli import main

BDK128 = "FEDCBA9876543210F1F1F1F1F1F1F1F1"
KSN = "123456789012345600000001"


def dukpt(capsys, *argv: str) -> dict:
    rc = main(["tools", "dukpt", "--ksn", KSN, *argv, "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def test_dukpt_initial_key_kcv_does_not_depend_on_the_working_key_type(capsys):
    rows = {kt: dukpt(capsys, "--bdk", BDK128, "--aes128", "--key-type", kt) for kt in ("aes128", "tdes2")}
    assert rows["aes128"]["initial_key"] == rows["tdes2"]["initial_key"]
    assert rows["aes128"]["derivation_key"] == rows["tdes2"]["derivation_key"]


@pytest.mark.parametrize("flag, bdk", [("--aes128", BDK128), ("--aes256", "F1" * 32)])
@pytest.mark.parametrize("key_type", ["aes128", "aes256", "tdes2", "tdes3"])
def test_every_key_shows_the_check_value_of_its_own_algorithm(capsys, flag, bdk, key_type):
    """aes256 with tdes2 failed outright: 'no tdes check value is defined for a 32-byte key'."""
    doc = dukpt(capsys, "--bdk", bdk, flag, "--key-type", key_type)
    for name in ("initial_key", "derivation_key"):
        assert doc[name]["kcv"] == kcv(bytes.fromhex(doc[name]["key"]), algorithm="aes-cmac"), name
    working = "aes-cmac" if key_type.startswith("aes") else "tdes"
    for usage, row in doc["working_keys"].items():
        assert len(row["key"]) == {"aes128": 32, "aes256": 64, "tdes2": 32, "tdes3": 48}[key_type]
        assert row["kcv"] == kcv(bytes.fromhex(row["key"]), algorithm=working), usage


def test_tdes_dukpt_keys_keep_their_tdes_check_values(capsys):
    rc = main(["tools", "dukpt", "--bdk", "0123456789ABCDEFFEDCBA9876543210", "--ksn", "FFFF9876543210E00001",
               "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["ipek"]["kcv"] == kcv(bytes.fromhex(doc["ipek"]["key"]), algorithm="tdes")
