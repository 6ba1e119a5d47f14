"""The DUKPT KSN on the wire: iso87 carries it in field 53 (ISO 8583:1993 b..48) beside field 52; cup has no
place for it; a profile's ``ksn_field`` is checked when the profile is built."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.secrets import PinBlock
from firmware.errors import ConfigError, ProtocolError
from firmware.host.codec import decode, encode
from firmware.host.messages import build_request
from firmware.host.spec import FieldKind, FieldSpec, LengthType
from firmware.hostsim.lab import LAB_PAN, lab_card, lab_txn

KSN = bytes.fromhex("FFFF9876543210E00001")


def _card(ksn: bytes, block: bytes = bytes(range(8))):
    card = lab_card(pin=None)
    return dataclasses.replace(card, pin_block=PinBlock(block, format=0, ksn=ksn))


def test_iso87_sends_the_ksn_in_53_beside_the_pin_block(iso87, mac_key):
    message = build_request(iso87, lab_txn(), _card(KSN), tpdu=None)
    f = message.fields
    assert f[52] == "0001020304050607" and f[53] == "FFFF9876543210E00001" and f[26] == "12"
    raw = encode(iso87, message, mac_key=mac_key)
    assert b"20FFFF9876543210E00001" in raw  # LL counts hex characters, as every binary field of iso87
    decoded = decode(iso87, raw, mac_key=mac_key)
    assert decoded.fields[53] == f[53]
    shown = repr(decoded) + str(decoded.redacted())
    assert "0001020304050607" not in shown and f[53] in shown  # dumps mask the PIN block; the KSN is not secret


def test_a_session_pin_block_sends_no_53_on_iso87(iso87):
    assert 53 not in build_request(iso87, lab_txn(), lab_card(), tpdu=None).fields


@given(st.sampled_from([10, 12]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_any_tdes_or_aes_ksn_goes_and_comes_back(ksn):
    from firmware.host.profiles import get_profile

    iso87 = get_profile("iso87")
    raw = encode(iso87, build_request(iso87, lab_txn(), _card(ksn), tpdu=None))
    assert bytes.fromhex(decode(iso87, raw).fields[53]) == ksn


def test_cup_has_no_field_for_a_ksn(cup, tpdu):
    with pytest.raises(ProtocolError) as err:
        build_request(cup, lab_txn(), _card(KSN), tpdu=tpdu)
    assert err.value.code == "host.no_ksn_field" and LAB_PAN not in str(err.value)


@pytest.mark.parametrize(("change", "code"), [
    ({"ksn_field": 47}, "config.bad_field"),  # ans, not binary
    ({"ksn_field": 52}, "config.bad_field"),  # fixed length
    ({"ksn_field": 62, "fields_drop": 62}, "config.missing_field"),
    ({"ksn_field": 53, "pin_security_info": "1600000000000000"}, "config.bad_field"),
])
def test_a_profile_ksn_field_is_checked(iso87, change, code):
    change = dict(change)
    fields = dict(iso87.fields)
    if "fields_drop" in change:
        del fields[change.pop("fields_drop")]
    with pytest.raises(ConfigError) as err:
        dataclasses.replace(iso87, fields=fields, **change)
    assert err.value.code == code


def test_a_short_binary_field_cannot_carry_an_aes_ksn(iso87):
    fields = dict(iso87.fields)
    fields[53] = FieldSpec(number=53, name="short", kind=FieldKind.B, length=LengthType.LLVAR, max_len=10,
                           encoding=fields[53].encoding, length_encoding=fields[53].length_encoding)
    with pytest.raises(ConfigError) as err:
        dataclasses.replace(iso87, fields=fields)
    assert err.value.code == "config.bad_field"
