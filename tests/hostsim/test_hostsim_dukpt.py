"""The host simulator with DUKPT: the PIN key from the BDK and the KSN (TDES format 0, AES format 4), the same
PIN rules as with session keys, and a KSN sent twice refused with 63 (security violation)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from crypto.dukpt_device import DukptScheme
from crypto.dukpt_lab import lab_bdks, provision_lab_dukpt
from crypto.dukpt_reserve import DukptPinCipher
from crypto.keyring import KEK_FILE, FileKek
from crypto.keys import KeyUsage
from crypto.provision import lab_key
from crypto.secrets import Pan, PinBlock
from firmware.hostsim.dukpt import KSN_REUSED
from firmware.hostsim.lab import LAB_PAN, lab_card
from firmware.hostsim.processor import HostProcessor
from firmware.hostsim.rules import Rule


HOST_NOW = datetime(2024, 5, 6, 12, 0, 0)


@pytest.fixture
def dukpt_host(iso87, ledger, rules):
    return HostProcessor(iso87, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), ledger=ledger,
                         rules=rules, clock=lambda: HOST_NOW, dukpt_bdks=lab_bdks())


def _cipher(tmp_path, scheme=DukptScheme.TDES):
    data = tmp_path / scheme.value
    data.mkdir(mode=0o700)
    FileKek.create(data / KEK_FILE)
    provision_lab_dukpt(data, scheme)
    return DukptPinCipher.open(data)


def _card(cipher, pin="1234"):
    return dataclasses.replace(lab_card(pin=None), pin_block=cipher.encrypt_pin(bytearray(pin.encode()), Pan(LAB_PAN)))


def _code(host, term, card, stan):
    reply = term.read(host.respond(term.sale(card=card, stan=stan)).payload)
    return reply.response_code


def test_a_dukpt_pin_is_checked_under_the_key_of_its_ksn(dukpt_host, iso87_term, rules, tmp_path, ledger):
    cipher = _cipher(tmp_path)
    rules.push(Rule(pin="1234"))
    assert _code(dukpt_host, iso87_term, _card(cipher), 1) == "00"
    assert _code(dukpt_host, iso87_term, _card(cipher, "9999"), 2) == "55"  # wrong PIN, as with session keys
    assert [p["status"] for p in ledger.postings()] == ["approved", "declined"]


def test_a_ksn_sent_twice_is_a_security_violation(dukpt_host, iso87_term, tmp_path, ledger):
    cipher = _cipher(tmp_path)
    card = _card(cipher)
    again = dataclasses.replace(card, pin_block=PinBlock(card.pin_block.reveal(), ksn=card.pin_block.ksn))
    assert _code(dukpt_host, iso87_term, card, 1) == "00"
    assert _code(dukpt_host, iso87_term, again, 2) == KSN_REUSED == "63"
    assert iso87_term.profile.response_texts["63"] == "Security violation"
    assert [p["status"] for p in ledger.postings()] == ["approved", "declined"]


def test_the_same_request_repeated_is_a_duplicate_not_a_ksn_reuse(dukpt_host, iso87_term, tmp_path):
    payload = iso87_term.sale(card=_card(_cipher(tmp_path)), stan=1)
    assert iso87_term.read(dukpt_host.respond(payload).payload).response_code == "00"
    assert iso87_term.read(dukpt_host.respond(payload).payload).response_code == "94"


def test_aes_dukpt_blocks_need_a_16_byte_field_52(dukpt_host, tmp_path):
    """iso87's field 52 is b8: a format 4 block does not fit, which is why boot refuses AES DUKPT on iso87
    (keys.dukpt_pin_field); the host side reads one when it gets it (tests/crypto/test_dukpt_reserve.py)."""
    cipher = _cipher(tmp_path, DukptScheme.AES128)
    assert cipher.pin_block_size == 16 > dukpt_host.profile.fields[52].max_len


@pytest.mark.parametrize(("bdks", "ksn"), [
    ({}, "FFFF9876543210E00001"),  # the host holds no BDK for it
    (None, "FFFF9876543210E0"),  # 8 bytes: neither TDES nor AES
])
def test_a_ksn_the_host_cannot_use_is_a_pin_format_error(iso87, iso87_term, ledger, bdks, ksn):
    host = HostProcessor(iso87, mac_key=lab_key(KeyUsage.MAC), ledger=ledger, clock=lambda: HOST_NOW,
                         dukpt_bdks=lab_bdks() if bdks is None else bdks)
    card = dataclasses.replace(lab_card(pin=None), pin_block=PinBlock(bytes(8), ksn=bytes.fromhex(ksn)))
    assert _code(host, iso87_term, card, 1) == "99"


def test_the_ksns_seen_are_kept_across_a_restart_of_the_host(iso87, iso87_term, tmp_path):
    """A host keeps the KSNs a terminal has sent in its ledger file: a terminal that reuses a counter
    after the simulator restarts is still caught (before, they lived in the processor's memory)."""
    from firmware.hostsim.ledger import Ledger

    cipher = _cipher(tmp_path)
    card = _card(cipher)
    again = dataclasses.replace(card, pin_block=PinBlock(card.pin_block.reveal(), ksn=card.pin_block.ksn))

    def host(book):
        return HostProcessor(iso87, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), ledger=book,
                             clock=lambda: HOST_NOW, dukpt_bdks=lab_bdks())

    with Ledger(str(tmp_path / "host.db")) as book:
        assert _code(host(book), iso87_term, card, 1) == "00"
    with Ledger(str(tmp_path / "host.db")) as book:  # the simulator restarted on the same ledger file
        assert _code(host(book), iso87_term, again, 2) == KSN_REUSED
