"""Refund and balance inquiry messages: built per the profile's table, round-tripped through the codec
against the cup layout byte by byte; field 54 parsed and never shown in a repr."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.errors import ProtocolError
from firmware.host.balance import AVAILABLE, LEDGER, Balance, format_balance, parse_balances, pick_balance
from firmware.host.codec import decode, encode
from firmware.host.messages import (
    Original,
    as_repeat,
    build_request,
    build_resend,
    build_response,
    kind_of,
    parse_reply,
    read_original,
)
from firmware.host.spec import TxnKind
from firmware.hostsim.lab import LAB_PAN, lab_card, lab_txn

REF = Original(stan=0, batch=0, date="1122", rrn="000000000042")  # an original the terminal does not hold
LOCAL = Original(stan=7, batch=3, date="1122", rrn="000000000007")


def refund_txn(original=REF, **kw):
    return lab_txn(kind=TxnKind.REFUND, amount=500, stan=12, original=original, **kw)


def test_refund_request_follows_the_unionpay_table(cup, tpdu, mac_key):
    message = build_request(cup, refund_txn(LOCAL), lab_card(), tpdu=tpdu)
    f = message.fields
    assert message.mti == "0220" and (f[3], f[25], f[4], f[11]) == ("200000", "00", "000000000500", "000012")
    assert f[60] == "2500000100020"  # 60.1 type 25, 60.2 batch, 60.3 network code, 60.4 2, 60.5 0
    assert f[37] == "000000000007" and f[61] == "000003000007" "1122"  # original batch, trace, date
    assert f[12] == "123456" and f[13] == "0506"  # a 0220 always carries its local time
    assert 52 in f and 35 in f and 38 not in f
    payload = encode(cup, message, mac_key=mac_key)
    decoded = decode(cup, payload, mac_key=mac_key)
    assert decoded.mac_ok is True and decoded.fields == {**f, 64: decoded.fields[64]}
    assert kind_of(cup, decoded) is TxnKind.REFUND
    assert read_original(cup, decoded) == Original(stan=7, batch=3, date="1122", rrn="000000000007")


def test_refund_wire_bytes_of_the_original(cup, tpdu, mac_key):
    payload = encode(cup, build_request(cup, refund_txn(), lab_card(), tpdu=tpdu), mac_key=mac_key)
    assert payload[11:13] == bytes.fromhex("0220")
    assert b"000000000042" in payload  # 37: AN 12, ASCII
    assert bytes.fromhex("0016" "000000000000" "1122") in payload  # 61: LLL BCD, 16 digits, zeros for elsewhere


def test_refund_resend_has_no_track_nor_pin_and_repeats_as_0221(cup, tpdu, mac_key):
    message = build_resend(cup, refund_txn(), lab_card(track3=True), tpdu=tpdu)
    assert message.mti == "0220" and not {35, 36, 52, 26, 53} & set(message.fields)
    assert message.fields[37] == "000000000042" and message.fields[61].endswith("1122")
    repeat = as_repeat(cup, message)
    assert repeat.mti == "0221"
    decoded = decode(cup, encode(cup, repeat, mac_key=mac_key), mac_key=mac_key)
    assert decoded.mac_ok is True and kind_of(cup, decoded) is TxnKind.REFUND


def test_iso87_cannot_resend_a_refund(iso87):
    with pytest.raises(ProtocolError) as err:
        build_resend(iso87, refund_txn(), lab_card(), tpdu=None)
    assert err.value.code == "host.unsupported"


def test_refund_needs_its_original(cup, tpdu):
    with pytest.raises(ProtocolError) as err:
        build_request(cup, refund_txn(original=None), lab_card(), tpdu=tpdu)
    assert err.value.code == "host.bad_txn"


def test_balance_request_has_no_amount(cup, tpdu, mac_key):
    message = build_request(cup, lab_txn(kind=TxnKind.BALANCE, amount=0), lab_card(), tpdu=tpdu)
    f = message.fields
    assert message.mti == "0200" and (f[3], f[25], f[60][:2]) == ("310000", "00", "01") and 4 not in f
    assert 52 in f and 12 not in f
    decoded = decode(cup, encode(cup, message, mac_key=mac_key), mac_key=mac_key)
    assert kind_of(cup, decoded) is TxnKind.BALANCE and 4 not in decoded.fields


def test_balance_answer_carries_field_54_on_the_wire_and_into_the_reply(cup, tpdu, mac_key):
    request = build_request(cup, lab_txn(kind=TxnKind.BALANCE, amount=0), lab_card(), tpdu=tpdu)
    response = build_response(cup, request, response_code="00", rrn="000000000001", when=lab_txn().when)
    block = format_balance(Balance(-98703, "156", AVAILABLE, "10"))
    assert block == "1002156D000000098703"
    response = response.copy(fields={**response.fields, 54: block})
    payload = encode(cup, response, mac_key=mac_key)
    assert bytes.fromhex("0020") + block.encode() in payload  # 54: LLL BCD length, 20 ASCII characters
    reply = parse_reply(cup, decode(cup, payload, mac_key=mac_key))
    assert reply.amount is None and reply.approved and reply.balance == Balance(-98703, "156", AVAILABLE, "10")
    assert "98703" not in repr(reply) and "98703" not in repr(reply.balance)


def test_a_malformed_field_54_leaves_no_balance_but_the_answer_stands(cup, tpdu):
    request = build_request(cup, lab_txn(kind=TxnKind.BALANCE, amount=0), lab_card(), tpdu=tpdu)
    response = build_response(cup, request, response_code="00", when=lab_txn().when)
    response = response.copy(fields={**response.fields, 54: "1002156X000000012345"})
    reply = parse_reply(cup, decode(cup, encode(cup, response)))
    assert reply.approved and reply.balance is None


# -- field 54 ------------------------------------------------------------------------------------
blocks = st.builds(
    Balance,
    amount=st.integers(-(10**12) + 1, 10**12 - 1),
    currency=st.from_regex(r"\d{3}", fullmatch=True),
    amount_type=st.sampled_from([LEDGER, AVAILABLE, "03", "20"]),
    account_type=st.from_regex(r"\d{2}", fullmatch=True),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(blocks, min_size=1, max_size=6))
def test_field_54_round_trips(balances):
    text = "".join(format_balance(b) for b in balances)
    parsed = parse_balances(text)
    assert list(parsed) == [b if b.amount else Balance(0, b.currency, b.amount_type, b.account_type) for b in balances]
    picked = pick_balance(parsed)
    available = [b for b in parsed if b.amount_type == AVAILABLE]
    assert picked == (available[0] if available else parsed[0])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_field_54_parser_never_raises_anything_but_its_error(text):
    try:
        parse_balances(text)
    except ProtocolError as err:
        assert err.code == "host.bad_field"


@pytest.mark.parametrize("text, where", [
    ("", "whole blocks"),
    ("1002156C00000001234", "whole blocks"),
    ("1002156X000000012345", "block 1"),
    ("1002156C000000012345" "10021X6C000000012345", "block 2"),
    ("10021560000000012345", "block 1"),
])
def test_field_54_errors_name_the_block(text, where):
    with pytest.raises(ProtocolError) as err:
        parse_balances(text)
    assert err.value.code == "host.bad_field" and where in err.value.text


@pytest.mark.parametrize("kw", [dict(amount=10**12), dict(amount=1.5), dict(currency="15"), dict(amount_type="2")])
def test_a_balance_is_checked_when_built(kw):
    base = dict(amount=1, currency="156")
    base.update(kw)
    with pytest.raises(ProtocolError) as err:
        Balance(**base)
    assert err.value.code == "host.bad_field"


def test_lab_card_pan_is_what_the_balance_is_derived_from():
    from firmware.hostsim.txnset import lab_balance

    assert lab_balance(LAB_PAN) == lab_balance(LAB_PAN) and 0 <= lab_balance(LAB_PAN) < 10**7
    assert lab_balance(LAB_PAN) != lab_balance("6205500000000000004")


def test_field_54_is_masked_in_a_message_s_repr(profile):
    assert 54 in profile.sensitive_fields
