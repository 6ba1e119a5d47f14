"""No key, PIN or PAN shows in any repr, log line, error or file the crypto code writes."""

from __future__ import annotations

import logging
import re
from datetime import datetime

import pytest

from crypto.dukpt import TdesRegisters, derive_ipek, parse_ksn
from crypto.dukpt_device import initialise_from_bdk
from crypto.inject import inject_dukpt_tr31, inject_key
from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.pinblock import decrypt_pin_block, encrypt_pin_block
from crypto.provision import LAB_KEYS, lab_key, provision
from crypto.secrets import Pan, SecretKey
from crypto.signon import install_working_keys, issue_working_keys
from crypto.tamper import zeroize
from crypto.tr31 import Tr31Header, unwrap, wrap
from firmware.errors import TerminalError
from firmware.host.codec import Tpdu, decode, encode
from firmware.host.messages import build_signon, read_signon_keys
from firmware.host.profiles import get_profile
from firmware.hostsim.processor import HostProcessor
from storage.rekey import rotate_data_key
from storage.store import Store

BDK = "0123456789ABCDEFFEDCBA9876543210"
IKSN = "FFFF9876543210E00000"
PIN, PAN = "9735", "6212345678901234569"
KBPK = "89E88CF7931444F334BD7547FC3F380C"


def test_nothing_secret_in_reprs_logs_errors_or_files(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    data_dir = tmp_path / "data"
    ring = provision(data_dir, lab=True)
    Store.open(data_dir).close()  # its database, made at the first start: keys a sign-on used need one (AU12)
    ipek = derive_ipek(bytes.fromhex(BDK), IKSN)
    secrets = {BDK, ipek.reveal().hex().upper(), KBPK, PAN, *LAB_KEYS.values()}
    shown: list[str] = []

    def expect_error(call):
        with pytest.raises(TerminalError) as e:
            call()
        shown.extend([str(e.value), repr(e.value), e.value.text])

    # DUKPT: registers, a device, the keys of a transaction
    regs = TdesRegisters.from_initial_key(SecretKey(ipek.reveal()), parse_ksn(IKSN))
    device = initialise_from_bdk(data_dir, "tdes", SecretKey(bytes.fromhex(BDK)), IKSN)
    keys = device.next_transaction()
    secrets |= {k.reveal().hex().upper() for k in (keys.pin, keys.mac_generate, keys.mac_verify, keys.data_encrypt)}
    shown += [repr(regs), repr(device), repr(keys), str(keys), f"{keys.pin}"]

    # PIN blocks in every format, and a failing decrypt under the wrong key. Formats 1, 3 and 4 carry random
    # fill, so a wrong key gives a random clear block, which now and then (about 1 in 600 for format 1) reads
    # as a well-formed one: a new block is made until the decrypt fails, and one of the first few must.
    for fmt, key in ((0, keys.pin), (1, keys.pin), (3, keys.pin), (4, SecretKey(bytes(range(16))))):
        wrong = bytes(range(16, 32)) if fmt == 4 else bytes(16)
        for _attempt in range(20):
            block = encrypt_pin_block(PIN.encode(), Pan(PAN), key, fmt)
            secrets.add(block.reveal().hex().upper())
            shown += [repr(block), str(block)]
            try:
                decrypt_pin_block(block, PAN, wrong)
            except TerminalError as e:
                shown.extend([str(e), repr(e), e.text])
                break
        else:
            pytest.fail(f"a format {fmt} PIN block decrypted under the wrong key 20 times out of 20")

    # TR-31: an opened block, a wrong KBPK, a refused BDK block
    block = wrap(bytes.fromhex(KBPK), Tr31Header("B", "K0", "T", "B"), lab_key(KeyUsage.TMK))
    opened = unwrap(bytes.fromhex(KBPK), block)
    shown += [repr(opened), repr(opened.header)]
    expect_error(lambda: unwrap(bytes(16), block))
    bdk_block = wrap(bytes.fromhex(KBPK), Tr31Header("B", "B0", "T", "X", blocks=(("KS", IKSN),)), bytes.fromhex(BDK))
    expect_error(lambda: inject_dukpt_tr31(data_dir, bdk_block, SecretKey(bytes.fromhex(KBPK))))
    expect_error(lambda: inject_key(ring, KeyUsage.TMK, lab_key(KeyUsage.TMK), expected_kcv="ABCDEF"))

    # Sign-on through the host simulator (which logs), then a refused check value
    profile, tpdu = get_profile("cup"), Tpdu("60", "0003", "0000")
    host = HostProcessor(profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                         tmk=lab_key(KeyUsage.TMK), clock=lambda: datetime(2024, 5, 6))
    request = build_signon(profile, stan=1, batch=1, terminal_id="12345678", merchant_id="123456789012345",
                           when=datetime(2024, 5, 6), tpdu=tpdu)
    reply = decode(profile, host.respond(encode(profile, request)).payload)
    encrypted, checks = read_signon_keys(profile, reply)
    issued = issue_working_keys(lab_key(KeyUsage.TMK), {KeyUsage.PIN: 16})
    secrets |= {k.reveal().hex().upper() for k in issued.clear.values()}
    shown += [repr(issued), repr(reply), repr(host)]
    install_working_keys(ring, None, encrypted, checks)
    new_ring = Keyring.load(data_dir)
    secrets |= {new_ring.get(u).reveal().hex().upper() for u in (KeyUsage.PIN, KeyUsage.MAC)}
    shown += [repr(new_ring), repr(new_ring.get(KeyUsage.PIN)), str(new_ring.summary())]
    expect_error(lambda: install_working_keys(ring, None, issued.encrypted, {KeyUsage.PIN: b"\0\0\0\0"}))

    # Data-key rotation, then tamper
    store = Store.open(data_dir)
    shown.append(repr(rotate_data_key(Keyring.load(data_dir), store.conn)))
    store.close()
    files = {p.name: p.read_bytes().hex().upper() + p.read_text(errors="replace").upper()
             for p in data_dir.iterdir() if p.is_file() and p.suffix == ".json"}
    shown.append(repr(zeroize(data_dir, reason="test")))

    shown += [r.getMessage() for r in caplog.records]
    for text in shown:
        for secret in secrets:
            assert secret not in text.upper(), (secret[:4], text[:60])
        assert not re.search(rf"(?<![0-9A-F]){PIN}(?![0-9A-F])", text.upper()), text[:60]  # not inside a KCV
    for name, content in files.items():
        for secret in secrets:
            assert secret not in content, (name, secret[:4])
    assert {"keyring.json", "dukpt.json"} <= set(files)
