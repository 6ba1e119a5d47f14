"""Transfer messages (转账): the destination account in the profile's field (cup 48, iso87 103), round-tripped
through the codec, in the reversal too, and masked in every repr and redacted dump."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.secrets import Pan
from firmware.errors import ProtocolError
from firmware.host.codec import decode, encode
from firmware.host.messages import build_request, build_reversal, kind_of
from firmware.host.spec import TxnKind
from firmware.hostsim.lab import lab_card, lab_txn

TO = "6228480402564890018"
FIELD = {"cup": 48, "iso87": 103}


def card(account: str | None = TO):
    c = lab_card()
    c.account = Pan(account) if account else None
    return c


def tpdu_for(profile, tpdu):
    return tpdu if profile.tpdu else None


def test_request_carries_the_destination_in_the_profiles_field(profile, tpdu, mac_key):
    message = build_request(profile, lab_txn(kind=TxnKind.TRANSFER, amount=5000), card(), tpdu=tpdu_for(profile, tpdu))
    f = message.fields
    assert f[3] == "400000" and f[4] == "000000005000" and f[FIELD[profile.name]] == TO
    if profile.name == "cup":
        assert f[60].startswith("40")  # 60.1 (assumed: no public table gives one)
    decoded = decode(profile, encode(profile, message, mac_key=mac_key), mac_key=mac_key)
    assert decoded.mac_ok is True and decoded.fields[FIELD[profile.name]] == TO
    assert kind_of(profile, decoded) is TxnKind.TRANSFER
    for text in (repr(decoded), str(decoded.redacted()), repr(message)):
        assert TO not in text and TO[6:-4] not in text


def test_cup_carries_it_as_left_aligned_bcd_in_48(cup, tpdu, mac_key):
    payload = encode(cup, build_request(cup, lab_txn(kind=TxnKind.TRANSFER, amount=5000), card(), tpdu=tpdu),
                     mac_key=mac_key)
    assert bytes.fromhex("0019" + TO + "0") in payload  # LLL BCD length 19, then the digits and a 0 nibble


def test_iso87_carries_it_in_103_beside_a_secondary_bitmap(iso87, mac_key):
    payload = encode(iso87, build_request(iso87, lab_txn(kind=TxnKind.TRANSFER, amount=5000), card(), tpdu=None),
                     mac_key=mac_key)
    assert b"19" + TO.encode() in payload
    assert 103 in decode(iso87, payload, mac_key=mac_key).fields


def test_the_reversal_names_both_accounts_without_track_or_pin(profile, tpdu):
    message = build_reversal(profile, lab_txn(kind=TxnKind.TRANSFER, amount=5000), card(), tpdu=tpdu_for(profile, tpdu))
    assert message.fields[FIELD[profile.name]] == TO and message.fields[2]
    assert not {35, 36, 52} & set(message.fields)


def test_a_transfer_without_its_destination_is_refused_before_anything_is_built(profile, tpdu):
    with pytest.raises(ProtocolError) as e:
        build_request(profile, lab_txn(kind=TxnKind.TRANSFER, amount=5000), card(None), tpdu=tpdu_for(profile, tpdu))
    assert e.value.code == "host.bad_txn" and TO not in str(e.value)


def test_card_data_repr_masks_the_destination():
    text = repr(card())
    assert TO not in text and "622848" in text


@settings(max_examples=60, deadline=None)
@given(st.text("0123456789", min_size=12, max_size=19))
def test_any_destination_round_trips_through_both_profiles(account):
    from crypto.keys import KeyUsage
    from crypto.provision import lab_key
    from firmware.host.codec import Tpdu
    from firmware.host.profiles import get_profile

    mac = lab_key(KeyUsage.MAC)
    for name in ("cup", "iso87"):
        p = get_profile(name)
        tp = Tpdu("60", "0003", "0000") if p.tpdu else None
        m = build_request(p, lab_txn(kind=TxnKind.TRANSFER, amount=1), card(account), tpdu=tp)
        assert decode(p, encode(p, m, mac_key=mac), mac_key=mac).fields[FIELD[name]] == account
