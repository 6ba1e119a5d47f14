"""The pre-auth family's messages: built per cup's transaction table, round-tripped through the codec
byte by byte, their reversals naming the same original, and the answers parsed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.errors import ProtocolError
from firmware.host.codec import decode, encode
from firmware.host.messages import (
    Original,
    build_request,
    build_response,
    build_reversal,
    kind_of,
    parse_reply,
    read_original,
)
from firmware.host.spec import TxnKind
from firmware.hostsim.lab import lab_card, lab_txn

HELD = Original(stan=0, batch=0, date="1122", auth_code="654321")  # a pre-auth the terminal does not hold
LOCAL = Original(stan=3, batch=1, date="1122", auth_code="654321")
COMPLETION = Original(stan=9, batch=1, date="1122", rrn="000000000009", auth_code="222222")

# kind: (MTI, processing code, condition code, 60.1), UnionPay's table
TABLE = {
    TxnKind.PREAUTH: ("0100", "030000", "06", "10"),
    TxnKind.PREAUTH_VOID: ("0100", "200000", "06", "11"),
    TxnKind.PREAUTH_COMPLETE: ("0200", "000000", "06", "20"),
    TxnKind.PREAUTH_COMPLETE_VOID: ("0200", "200000", "06", "21"),
}
ORIGINALS = {TxnKind.PREAUTH: None, TxnKind.PREAUTH_VOID: LOCAL, TxnKind.PREAUTH_COMPLETE: HELD,
             TxnKind.PREAUTH_COMPLETE_VOID: COMPLETION}


def txn(kind, **kw):
    return lab_txn(kind=kind, amount=10000, stan=12, original=ORIGINALS[kind], **kw)


@pytest.mark.parametrize("kind", list(TABLE))
def test_request_follows_the_unionpay_table_and_round_trips(cup, tpdu, mac_key, kind):
    message = build_request(cup, txn(kind), lab_card(), tpdu=tpdu)
    f = message.fields
    mti, pc, cc, type_code = TABLE[kind]
    assert (message.mti, f[3], f[25], f[60][:2]) == (mti, pc, cc, type_code)
    assert f[4] == "000000010000" and f[11] == "000012" and 52 in f and 35 in f
    decoded = decode(cup, encode(cup, message, mac_key=mac_key), mac_key=mac_key)
    assert decoded.mac_ok is True and decoded.mti == mti and decoded.fields == {**f, 64: decoded.fields[64]}
    assert kind_of(cup, decoded) is kind
    expected = ORIGINALS[kind]
    if kind is TxnKind.PREAUTH_COMPLETE_VOID:  # a void's 61 carries no date
        expected = replace(COMPLETION, date="")
    assert read_original(cup, decoded) == expected


def test_cancel_and_completion_name_the_preauth_by_auth_code_and_date(cup, tpdu, mac_key):
    f = build_request(cup, txn(TxnKind.PREAUTH_COMPLETE), lab_card(), tpdu=tpdu).fields
    assert f[38] == "654321" and f[61] == "000000" "000000" "1122" and 37 not in f
    f = build_request(cup, txn(TxnKind.PREAUTH_VOID), lab_card(), tpdu=tpdu).fields
    assert f[38] == "654321" and f[61] == "000001" "000003" "1122"
    payload = encode(cup, build_request(cup, txn(TxnKind.PREAUTH_COMPLETE), lab_card(), tpdu=tpdu), mac_key=mac_key)
    assert payload[11:13] == bytes.fromhex("0200") and b"654321" in payload  # 38: AN 6, ASCII
    assert bytes.fromhex("0016" "000000000000" "1122") in payload  # 61: LLL BCD, 16 digits


def test_completion_void_names_the_completion_as_a_void_does(cup, tpdu):
    f = build_request(cup, txn(TxnKind.PREAUTH_COMPLETE_VOID), lab_card(), tpdu=tpdu).fields
    assert f[37] == "000000000009" and f[38] == "222222" and f[61] == "000001" "000009"


@pytest.mark.parametrize("kind", list(TABLE))
def test_every_one_is_reversible_and_its_reversal_names_the_same(cup, tpdu, mac_key, kind):
    reversal = build_reversal(cup, txn(kind), lab_card(), tpdu=tpdu)
    f = reversal.fields
    assert reversal.mti == "0400" and f[11] == "000012" and f[4] == "000000010000" and f[39] == "98"
    assert f[3] == TABLE[kind][1] and f[60][:2] == TABLE[kind][3] and 52 not in f
    decoded = decode(cup, encode(cup, reversal, mac_key=mac_key), mac_key=mac_key)
    assert kind_of(cup, decoded) is kind
    if kind in (TxnKind.PREAUTH_VOID, TxnKind.PREAUTH_COMPLETE):
        assert f[38] == "654321" and f[61].endswith("1122")
    if kind is TxnKind.PREAUTH_COMPLETE_VOID:
        assert 37 not in f and f[61] == "000001000009"


@pytest.mark.parametrize("kind", [TxnKind.PREAUTH_VOID, TxnKind.PREAUTH_COMPLETE, TxnKind.PREAUTH_COMPLETE_VOID])
def test_one_that_names_nothing_is_refused(cup, tpdu, kind):
    with pytest.raises(ProtocolError) as err:
        build_request(cup, lab_txn(kind=kind, amount=100, stan=1), lab_card(), tpdu=tpdu)
    assert err.value.code == "host.bad_txn"


@pytest.mark.parametrize("kind", list(TABLE))
def test_the_answer_parses_with_its_auth_code(cup, tpdu, mac_key, kind):
    request = decode(cup, encode(cup, build_request(cup, txn(kind), lab_card(), tpdu=tpdu), mac_key=mac_key),
                     mac_key=mac_key)
    response = build_response(cup, request, response_code="00", rrn="000000000077", auth_code="777777",
                              when=datetime(2026, 11, 22, 10, 15))
    reply = parse_reply(cup, decode(cup, encode(cup, response, mac_key=mac_key), mac_key=mac_key))
    assert reply.mti == TABLE[kind][0][:2] + "10" and reply.approved and reply.auth_code == "777777"
    assert reply.stan == 12 and reply.amount == 10000


@settings(max_examples=40, deadline=None)
@given(auth=st.text("0123456789", min_size=6, max_size=6), month=st.integers(1, 12), day=st.integers(1, 28),
       amount=st.integers(1, 10**12 - 1))
def test_any_auth_code_and_date_round_trip(auth, month, day, amount):
    from crypto.keys import KeyUsage
    from crypto.provision import lab_key
    from firmware.host.codec import Tpdu
    from firmware.host.profiles import get_profile

    cup, tpdu, mac_key = get_profile("cup"), Tpdu("60", "0003", "0000"), lab_key(KeyUsage.MAC)
    original = Original(stan=0, batch=0, date=f"{month:02d}{day:02d}", auth_code=auth)
    message = build_request(cup, lab_txn(kind=TxnKind.PREAUTH_COMPLETE, amount=amount, stan=5, original=original),
                            lab_card(), tpdu=tpdu)
    decoded = decode(cup, encode(cup, message, mac_key=mac_key), mac_key=mac_key)
    assert read_original(cup, decoded) == original and int(decoded.fields[4]) == amount
