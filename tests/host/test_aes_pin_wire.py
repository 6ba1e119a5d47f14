"""``iso87-aes`` on the wire: iso87 with field 52 widened to variable binary up to 16 bytes, so that an AES DUKPT
PIN block (ISO 9564-1 format 4) travels with its 12-byte KSN in 53. The block is checked against the X9.24-3-2017
test vectors; the encoded bytes of 52 and 53 are asserted exactly; cup's and iso87's field 52 stay fixed b 8."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.dukpt_device import DukptScheme, initialise_from_bdk
from crypto.dukpt_lab import LAB_INITIAL_KSNS, lab_bdk, lab_bdks, lab_scheme_for
from crypto.keyring import KEK_FILE, FileKek
from crypto.keys import KeyUsage
from crypto.pinblock import encrypt_pin_block
from crypto.provision import lab_key
from crypto.secrets import PinBlock
from firmware.errors import ProtocolError
from firmware.host.codec import decode, encode
from firmware.host.messages import build_request, parse_reply
from firmware.host.profiles import PROFILES, get_profile
from firmware.host.spec import Encoding, FieldKind, LengthType
from firmware.hostsim.dukpt import KSN_REUSED
from firmware.hostsim.lab import lab_card, lab_txn
from firmware.hostsim.ledger import Ledger
from firmware.hostsim.processor import HostProcessor
from firmware.hostsim.rules import Rule, RuleBook

# X9.24-3-2017 test vector supplement (AES-128 BDK, initial key ID 1234567890123456), as the repository's
# vectors quote it: counter 1's PIN encryption key, and the format 4 block of PIN 1234 for PAN 4111111111111111
# with the given random fill (tests/crypto/test_pinblock_mac.py checks the block under the bare key).
VECTOR_PAN = "4111111111111111"
VECTOR_FILL = bytes.fromhex("2F69ADDE2E9E7ACE")
VECTOR_BLOCK = "A912150391AB65A67E52883D81CE2D15"
VECTOR_KSN = "123456789012345600000001"  # key ID || counter 1


@pytest.fixture
def aes():
    return get_profile("iso87-aes")


def _lab_aes_device(tmp_path):
    data = tmp_path / "aes"
    data.mkdir(mode=0o700)
    FileKek.create(data / KEK_FILE)
    return initialise_from_bdk(data, DukptScheme.AES128, lab_bdk("aes128"), LAB_INITIAL_KSNS[DukptScheme.AES128])


def _card(block: bytes, ksn: bytes | None, fmt: int, pan: str = VECTOR_PAN):
    return dataclasses.replace(lab_card(pan=pan, pin=None), pin_block=PinBlock(block, format=fmt, ksn=ksn))


def test_the_profile_is_iso87_with_only_field_52_widened(aes, iso87, cup):
    assert set(aes.fields) == set(iso87.fields)
    assert {n: s for n, s in aes.fields.items() if n != 52} == {n: s for n, s in iso87.fields.items() if n != 52}
    f52 = aes.fields[52]
    assert (f52.kind, f52.length, f52.max_len, f52.encoding, f52.length_encoding, f52.sensitive) == (
        FieldKind.B, LengthType.LLVAR, 16, Encoding.ASCII, Encoding.ASCII, True)
    for other in (iso87, cup):  # the TDES profiles keep their fixed b 8
        assert (other.fields[52].length, other.fields[52].max_len) == (LengthType.FIXED, 8)
    assert aes.ksn_field == 53 and aes.mac is iso87.mac and aes.transactions == iso87.transactions
    assert aes.family == "iso87" and iso87.family == "iso87" and cup.family == "cup"
    assert "iso87-aes" in PROFILES and aes.name == "iso87-aes"


def test_published_vector_block_under_the_lab_aes_dukpt_key_and_its_bytes_in_52_and_53(tmp_path, aes, vectors,
                                                                                       mac_key):
    """The lab AES DUKPT key's first transaction gives X9.24-3's counter-1 PIN key; the format 4 block of the
    vector goes in 52 as LL 32 and the hex of 16 bytes, the KSN in 53 as LL 24 and the hex of 12 bytes."""
    device = _lab_aes_device(tmp_path)
    keys = device.spend()
    assert keys.ksn.hex().upper() == VECTOR_KSN
    assert keys.pin.reveal().hex().upper() == vectors["dukpt_aes"]["counter_1_working_keys"]["pin_encryption"]
    block = encrypt_pin_block(b"1234", VECTOR_PAN, keys.pin, 4, fill=VECTOR_FILL)
    assert block.reveal().hex().upper() == VECTOR_BLOCK
    message = build_request(aes, lab_txn(), _card(block.reveal(), keys.ksn, 4), tpdu=None)
    assert message.fields[52] == VECTOR_BLOCK and message.fields[53] == VECTOR_KSN
    raw = encode(aes, message, mac_key=mac_key)
    assert b"32" + VECTOR_BLOCK.encode() + b"24" + VECTOR_KSN.encode() in raw  # 52 then 53, nothing between
    decoded = decode(aes, raw, mac_key=mac_key)
    assert (decoded.fields[52], decoded.fields[53]) == (VECTOR_BLOCK, VECTOR_KSN)
    shown = repr(decoded) + str(decoded.redacted())
    assert VECTOR_BLOCK not in shown and VECTOR_KSN in shown  # the block is masked; the KSN is not secret
    device.wipe()


def test_a_tdes_block_travels_in_the_same_field_with_ll_16(aes):
    tdes_ksn = bytes.fromhex("FFFF9876543210E00001")
    message = build_request(aes, lab_txn(), _card(bytes(range(8)), tdes_ksn, 0), tpdu=None)
    raw = encode(aes, message)
    assert b"160001020304050607" + b"20FFFF9876543210E00001" in raw


def test_iso87_still_refuses_a_16_byte_block(iso87):
    message = build_request(iso87, lab_txn(), _card(bytes(16), bytes(12), 4), tpdu=None)
    with pytest.raises(ProtocolError) as err:
        encode(iso87, message)
    assert VECTOR_PAN not in str(err.value) and "00" * 16 not in str(err.value)


@given(st.sampled_from([8, 16]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       st.sampled_from([10, 12]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_any_8_or_16_byte_block_and_ksn_go_and_come_back(block, ksn):
    aes = get_profile("iso87-aes")
    raw = encode(aes, build_request(aes, lab_txn(), _card(block, ksn, 4 if len(block) == 16 else 0), tpdu=None))
    fields = decode(aes, raw).fields
    assert (bytes.fromhex(fields[52]), bytes.fromhex(fields[53])) == (block, ksn)


def test_a_block_longer_than_16_bytes_is_refused(aes):
    with pytest.raises(ProtocolError):
        encode(aes, build_request(aes, lab_txn(), _card(bytes(17), bytes(12), 4), tpdu=None))


def test_the_lab_scheme_follows_what_field_52_carries(aes, iso87, cup):
    assert lab_scheme_for(aes.fields[52].carries) is DukptScheme.AES128
    assert lab_scheme_for(iso87.fields[52].carries) is DukptScheme.TDES
    assert lab_scheme_for(cup.fields[52].carries) is DukptScheme.TDES
    assert [aes.fields[52].carries(n) for n in (0, 8, 16, 17)] == [False, True, True, False]
    assert [iso87.fields[52].carries(n) for n in (8, 16)] == [True, False]


def test_the_host_simulator_reads_the_vector_block_and_checks_its_pin(tmp_path, aes):
    """Approved for PIN 1234; the same KSN again is 63; the next counter's block of a wrong PIN is 55. The host derives each key from the lab BDK and the 12-byte KSN (format 4)."""
    rules = RuleBook()
    host = HostProcessor(aes, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), ledger=Ledger(":memory:"),
                         rules=rules, clock=lambda: datetime(2024, 5, 6, 12, 0, 0), dukpt_bdks=lab_bdks())
    mac = lab_key(KeyUsage.MAC)
    device = _lab_aes_device(tmp_path)

    def answer(keys, pin, stan):
        block = encrypt_pin_block(pin, VECTOR_PAN, keys.pin, 4).reveal()
        payload = encode(aes, build_request(aes, lab_txn(stan=stan), _card(block, keys.ksn, 4), tpdu=None),
                         mac_key=mac)
        return parse_reply(aes, decode(aes, host.respond(payload).payload, mac_key=mac)).response_code

    rules.push(Rule(pin="1234"))
    first = device.spend()
    assert answer(first, b"1234", 1) == "00"
    assert answer(first, b"1234", 2) == KSN_REUSED
    assert answer(device.spend(), b"9999", 3) == "55"  # the next counter, a wrong PIN
    device.wipe()
