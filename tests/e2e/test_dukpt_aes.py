"""AES DUKPT end to end on ``iso87-aes``: the scenario runner installs the lab AES-128 key (X9.24-3), each PIN
travels as a 16-byte ISO 9564 format 4 block in field 52 with its 12-byte KSN in 53, over the real TCP link to
the host simulator, which derives the PIN key from the BDK and the KSN and checks the PIN: approved with the
right one, 55 with a wrong one, never a KSN twice. Nothing of the card or the blocks reaches the data directory
or a log. Boot refuses what cannot work (an AES key where field 52 holds 8 bytes), never falling back."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from crypto.dukpt_device import DukptDevice, DukptScheme
from crypto.dukpt_lab import LAB_INITIAL_KSNS, provision_lab_dukpt
from crypto.keyring import KEK_FILE, FileKek
from crypto.keys import KeyUsage
from crypto.pinblock import decrypt_pin_block
from crypto.provision import lab_key, provision
from firmware.app import Overrides, build_runner, open_dukpt
from firmware.config import Config
from firmware.errors import CryptoError
from firmware.host.profiles import get_profile
from firmware.host.spec import LengthType
from firmware.hostsim.ledger import Ledger
from firmware.hostsim.processor import HostProcessor
from hal.magstripe.sim import TEST_CARDS

from .canary import find_card_data
from .wiretap import run_tapped

AES = get_profile("iso87-aes")
CONFIG = {"host": {"profile": "iso87-aes", "pin_keys": "dukpt", "response_timeout": 0.4, "connect_timeout": 0.4}}
KEY_ID = bytes.fromhex(LAB_INITIAL_KSNS[DukptScheme.AES128])  # the lab key's initial key ID (8 bytes)
SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
WRONG_PIN = [{"key": "880#"}, {"swipe": "unionpay_debit"}, {"pin": "9999"},
             {"expect": {"outcome": "declined", "response_code": "55"}}]


def with_pin(tap):
    return [m for m in tap.decoded() if 52 in m.fields]


def test_a_pin_checked_by_the_host_under_the_aes_key_of_each_ksn(tmp_path, caplog):
    """Right PIN approved, wrong PIN 55, right again approved; every block 16 bytes with its own 12-byte KSN,
    counters 1, 2, 3 of the lab key; the host never saw a KSN twice (it would answer 63); then a settlement."""
    caplog.set_level(logging.DEBUG)
    steps = [{"host": {"behaviour": "approve", "pin": "1234"}}] + SALE + WRONG_PIN + SALE + [{"settle": True}]
    r, paper, tap = run_tapped("aes dukpt", CONFIG, steps, tmp_path, AES)
    assert [(t["outcome"], t["response_code"]) for t in r["transactions"]] == [
        ("approved", "00"), ("declined", "55"), ("approved", "00")]
    sent = with_pin(tap)
    assert [m.mti for m in sent] == ["0200"] * 3
    ksns = [bytes.fromhex(m.fields[53]) for m in sent]
    assert all(len(k) == 12 and k[:8] == KEY_ID for k in ksns)  # the AES KSN: key ID, then the counter
    assert [int.from_bytes(k[8:], "big") for k in ksns] == [1, 2, 3] and len(set(ksns)) == 3  # 32-bit counter
    blocks = [bytes.fromhex(m.fields[52]) for m in sent]
    assert all(len(b) == 16 for b in blocks) and len(set(blocks)) == 3
    codes = [m["response_code"] for m in r["host_ledger"]["messages"]]
    assert "63" not in codes and "99" not in codes
    # the rest is iso87's (its family): sign-on, and the 1987 reconciliation, balanced
    assert [(s["result"], s["uploaded"]) for s in r["settlements"]] == [("balanced", False)]
    assert [b["result"] for b in r["host_ledger"]["batches"]] == ["1"] and "TOTALS BALANCED" in paper
    # The canary: no PAN, track or PIN block in any file of the data directory or any log record; the
    # format 4 blocks (random fill: not computable ahead, so taken off the wire) neither raw nor as hex.
    data = tmp_path / "data"
    files = [p for p in data.rglob("*") if p.is_file()]
    assert "dukpt.json" in {p.name for p in files}
    log = "\n".join(rec.getMessage() for rec in caplog.records)
    assert not find_card_data(files, {"log": log})
    hay = {str(p): p.read_bytes() for p in files} | {"log": log.encode()}
    clear_field = bytes.fromhex("441234AAAAAAAAAA")  # format 4's clear PIN field for 1234, up to its random fill
    for needle in (*blocks, clear_field):
        for where, content in hay.items():
            assert needle not in content and needle.hex().upper().encode() not in content, where


def test_the_wire_block_is_format_4_under_the_lab_aes_key(tmp_path):
    """What travels in 52 is the PIN under the X9.24-3 PIN encryption key of the KSN in 53 (the host
    simulator's derivation, checked apart from its verdict)."""
    from crypto.dukpt_lab import lab_bdks
    from firmware.hostsim.dukpt import dukpt_pin_key

    r, _paper, tap = run_tapped("aes dukpt", CONFIG, SALE, tmp_path, AES)
    (sent,) = with_pin(tap)
    key, fmt = dukpt_pin_key(lab_bdks(), bytes.fromhex(sent.fields[53]))
    pan = TEST_CARDS["unionpay_debit"].track2.split("=")[0]
    assert fmt == 4 and decrypt_pin_block(bytes.fromhex(sent.fields[52]), pan, key, 4) == b"1234"


def _config(data, profile, **host):
    return Config().replace({"storage": {"data_dir": str(data)}, "devices": {"link": "sim://"},
                             "receipts": {"copies": []}, "host": {"profile": profile, "pin_keys": "dukpt", **host}})


def _data(tmp_path, scheme):
    data = tmp_path / "data"
    provision(data, lab=True)
    provision_lab_dukpt(data, scheme)
    return data


@pytest.mark.parametrize(("profile", "scheme", "code"), [
    ("iso87", DukptScheme.AES128, "keys.dukpt_pin_field"),  # a 16-byte block where 52 holds 8
    ("iso87-aes", None, "keys.no_dukpt"),  # the AES profile without a DUKPT key: no session-key fallback
])
def test_boot_refuses_dukpt_the_profile_cannot_carry(tmp_path, profile, scheme, code):
    data = tmp_path / "data"
    provision(data, lab=True)
    if scheme is not None:
        provision_lab_dukpt(data, scheme)
    with pytest.raises(CryptoError) as err:
        build_runner(_config(data, profile), overrides=Overrides(host=HostProcessor(profile)))
    assert err.value.code == code
    if code == "keys.dukpt_pin_field":
        assert "iso87-aes" in err.value.text  # the error names the profile that would carry it


def test_tdes_dukpt_runs_on_the_aes_profile_its_8_byte_block_in_the_variable_field(tmp_path):
    """A TDES key on iso87-aes is not a mismatch: field 52 is variable, so an estate moving to AES sends its
    8-byte format 0 blocks (LL 16) on the same profile, and the host tells them apart by the KSN's length."""
    from crypto.dukpt_lab import lab_bdks

    data = _data(tmp_path, DukptScheme.TDES)
    host = HostProcessor("iso87-aes", mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                         ledger=Ledger(":memory:"), dukpt_bdks=lab_bdks())
    runner = build_runner(_config(data, "iso87-aes"), overrides=Overrides(host=host))
    try:
        assert runner.dukpt.scheme is DukptScheme.TDES
        runner.boot()
        pad, reader = runner.devices.pinpad, runner.devices.reader
        pad.press("1250#")
        reader.swipe_card("unionpay_debit")
        pad.press("1234#", hold_for_pin=True)
        assert runner.run_until(lambda: runner.store.journal() and runner.store.journal()[-1].state.value
                                == "approved", 10)
        (message,) = [m for m in host.ledger.messages() if m["mti"] == "0200"]
        assert message["response_code"] == "00"
    finally:
        runner.close()


def test_a_fixed_16_byte_field_refuses_a_tdes_block_at_start(tmp_path):
    """``open_dukpt`` asks the field whether it carries the block (``FieldSpec.carries``), not whether it is
    at least as long: an 8-byte TDES block cannot fill a fixed b16, so that mismatch stops the start too."""
    import dataclasses

    fields = dict(AES.fields)
    fields[52] = dataclasses.replace(fields[52], length=LengthType.FIXED, length_encoding=None)
    fixed16 = dataclasses.replace(AES, name="fixed16", fields=fields)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    FileKek.create(data / KEK_FILE)
    provision_lab_dukpt(data, DukptScheme.TDES)
    with pytest.raises(CryptoError) as err:
        open_dukpt(data, SimpleNamespace(profile=fixed16))  # open_dukpt reads only the bridge's profile
    assert err.value.code == "keys.dukpt_pin_field" and "fixed16" in err.value.text
    assert DukptDevice.exists(data)
