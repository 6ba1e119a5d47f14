"""Building requests, reversals, advices and responses; reading replies; matching."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.keys import KeyUsage
from crypto.pinblock import encrypt_iso0
from crypto.provision import lab_key
from crypto.secrets import Pan, TrackData
from firmware.errors import ProtocolError
from firmware.host.codec import Message, Tpdu, decode, encode
from firmware.host.messages import (
    CardData,
    EntryMode,
    Expectation,
    Reply,
    ReversalReason,
    TxnData,
    TxnKind,
    as_repeat,
    build_advice,
    build_request,
    build_response,
    build_reversal,
    build_signon,
    expectation_for,
    kind_of,
    mismatch,
    parse_reply,
    response_text,
    with_reason,
)
from firmware.host.profiles import get_profile
from firmware.hostsim.lab import LAB_PAN, lab_card, lab_txn

ROUND = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WHEN = datetime(2024, 5, 6, 12, 34, 56)


# -- requests ----------------------------------------------------------------------
def test_cup_sale_with_pin_carries_exactly_the_brief_fields(cup, tpdu):
    message = build_request(cup, lab_txn(), lab_card(), tpdu=tpdu)
    assert message.mti == "0200" and message.tpdu == tpdu and message.header == "603100000000"
    assert set(message.fields) == {2, 3, 4, 11, 14, 22, 25, 26, 35, 41, 42, 49, 52, 53, 60}
    f = message.fields
    assert (f[3], f[4], f[11], f[22], f[25], f[26], f[60]) == (
        "000000", "000000000100", "000001", "021", "00", "12", "2200000100020")
    assert f[53] == "1600000000000000" and f[49] == "156"


def test_cup_sale_without_pin_or_expiry(cup, tpdu):
    card = lab_card(pin=None, expiry=None, track3=True)
    message = build_request(cup, lab_txn(pin_entered=False), card, tpdu=tpdu, header="603100100000")
    assert set(message.fields) == {2, 3, 4, 11, 22, 25, 35, 36, 41, 42, 49, 60}
    assert message.fields[22] == "022" and message.header == "603100100000"


def test_iso87_sale_sends_local_time_and_no_tpdu(iso87):
    when = datetime(2024, 5, 6, 20, 30, 0, tzinfo=timezone(timedelta(hours=8)))
    message = build_request(iso87, lab_txn(when=when), lab_card(), tpdu=None)
    f = message.fields
    assert message.tpdu is None and message.header is None
    assert (f[7], f[12], f[13]) == ("0506123000", "203000", "0506")  # 7 in UTC, 12/13 local
    assert f[22] == "021" and 53 not in f and 60 not in f  # 02: 1987's magnetic stripe read; 1: PIN capable


@pytest.mark.parametrize("mode, cup_code, ic_condition", [
    (EntryMode.SWIPE, "02", "0"), (EntryMode.FALLBACK, "02", "2"),  # a fallback: a swipe, 60.5 = 2
    (EntryMode.MANUAL, "01", "0"), (EntryMode.CHIP, "05", "0"), (EntryMode.CONTACTLESS, "07", "0")])
def test_entry_mode_is_mapped_by_the_profile(cup, tpdu, mode, cup_code, ic_condition):
    message = build_request(cup, lab_txn(entry_mode=mode), lab_card(), tpdu=tpdu)
    assert message.fields[22] == cup_code + "1"
    assert message.fields[60] == "22000001000" + "2" + ic_condition  # 60.4 = 2: a magstripe reader


@pytest.mark.parametrize("kind", [TxnKind.OFFLINE_SALE, TxnKind.SIGN_ON])
def test_kinds_not_built_yet_are_refused(cup, tpdu, kind):
    with pytest.raises(ProtocolError) as err:
        build_request(cup, lab_txn(kind=kind), lab_card(), tpdu=tpdu)
    assert err.value.code == "host.unsupported"


@pytest.mark.parametrize("pin_entered, pin", [(True, None), (False, "1234")])
def test_pin_block_goes_with_pin_entered(cup, tpdu, pin_entered, pin):
    with pytest.raises(ProtocolError) as err:
        build_request(cup, lab_txn(pin_entered=pin_entered), lab_card(pin=pin), tpdu=tpdu)
    assert err.value.code == "host.bad_txn"


@pytest.mark.parametrize(
    "change, named",
    [
        (dict(amount=10.0), "amount"),
        (dict(amount=-1), "amount"),
        (dict(amount=10**12), "amount"),
        (dict(stan=0), "STAN"),
        (dict(stan=1000000), "STAN"),
        (dict(batch=-1), "batch"),
        (dict(currency="CNY"), "currency"),
        (dict(terminal_id="1234567"), "terminal ID"),
        (dict(merchant_id="1234567890123456"), "merchant ID"),
        (dict(kind="layaway"), "kind"),
    ],
)
def test_txn_data_is_checked(change, named):
    base = dict(kind="sale", amount=100, currency="156", stan=1, batch=1, when=WHEN, terminal_id="12345678",
                merchant_id="123456789012345", entry_mode="swipe", pin_entered=False)
    with pytest.raises(ProtocolError) as err:
        TxnData(**{**base, **change})
    assert err.value.code == "host.bad_txn" and named in err.value.text


def test_txn_data_takes_the_cores_string_enums():
    txn = TxnData(kind="sale", amount=100, currency="156", stan=1, batch=1, when=WHEN, terminal_id="12345678",
                  merchant_id="123456789012345", entry_mode="fallback", pin_entered=False)
    assert txn.kind is TxnKind.SALE and txn.entry_mode is EntryMode.FALLBACK


# -- reversals, advices, repeats ------------------------------------------------------
def test_reversal_has_no_track_and_no_pin_block(profile, tpdu_of):
    txn = lab_txn(amount=4321, stan=77)
    message = build_reversal(profile, txn, lab_card(track3=True), tpdu=tpdu_of(profile), reason=ReversalReason.MAC_FAILURE)
    assert message.mti == "0400"
    assert not {26, 35, 36, 52, 53} & set(message.fields)
    assert (message.fields[2], message.fields[4], message.fields[11], message.fields[39]) == (
        LAB_PAN, "000000004321", "000077", {"cup": "A0"}.get(profile.family, "20"))
    assert kind_of(profile, message) is TxnKind.SALE


@pytest.mark.parametrize("reason", ["97", "", "x"])
def test_reversal_reason_must_be_known(cup, tpdu, reason):
    with pytest.raises(ProtocolError) as err:
        build_reversal(cup, lab_txn(), lab_card(), tpdu=tpdu, reason=reason)
    assert err.value.code == "host.bad_reason" and "98, 96, A0, 06" in err.value.text


def test_a_refund_is_not_reversed(cup, tpdu):
    with pytest.raises(ProtocolError) as err:
        build_reversal(cup, lab_txn(kind=TxnKind.REFUND), lab_card(), tpdu=tpdu)
    assert err.value.code == "host.not_reversible"


def test_advice_is_pan_and_expiry_only(cup, tpdu):
    message = build_advice(cup, lab_txn(amount=900, stan=5), lab_card(track3=True), tpdu=tpdu)
    assert message.mti == "0220"
    assert set(message.fields) == {2, 3, 4, 11, 12, 13, 14, 22, 25, 41, 42, 49, 60}
    assert message.fields[60] == "3000000100020" and message.fields[13] == "0506" and message.fields[12] == "123456"
    assert kind_of(cup, message) is TxnKind.OFFLINE_SALE


@pytest.mark.parametrize("name, reversal_repeat", [("cup", "0400"), ("iso87", "0401")])
def test_repeats(name, reversal_repeat, mac_key):
    p = get_profile(name)
    tpdu = Tpdu() if p.tpdu else None
    reversal = build_reversal(p, lab_txn(), lab_card(), tpdu=tpdu)
    reversal.fields[64] = "00" * 8
    again = as_repeat(p, reversal)
    assert again.mti == reversal_repeat and 64 not in again.fields and 64 in reversal.fields
    assert as_repeat(p, again).mti == reversal_repeat
    advice = build_advice(p, lab_txn(), lab_card(), tpdu=tpdu)
    assert as_repeat(p, advice).mti == "0221" and advice.mti == "0220"
    with pytest.raises(ProtocolError) as err:
        as_repeat(p, build_request(p, lab_txn(), lab_card(), tpdu=tpdu))
    assert err.value.code == "host.not_repeatable"


def test_with_reason_copies(cup, tpdu):
    reversal = build_reversal(cup, lab_txn(), lab_card(), tpdu=tpdu, reason="98")
    changed = with_reason(reversal, "96")
    assert changed.fields[39] == "96" and reversal.fields[39] == "98"
    assert changed.fields is not reversal.fields
    with pytest.raises(ProtocolError) as err:
        with_reason(reversal, "long")
    assert err.value.code == "host.bad_reason"


def test_sign_on(cup, tpdu):
    message = build_signon(cup, stan=9, batch=3, terminal_id="12345678", merchant_id="123456789012345",
                           when=WHEN, tpdu=tpdu)
    assert message.mti == "0800" and message.fields[60] == "00000003003" and message.fields[63] == "01 "
    response = build_response(cup, message, response_code="00", when=WHEN)
    assert response.mti == "0810" and set(response.fields) == {11, 12, 13, 39, 41, 42, 60}


# -- responses and replies --------------------------------------------------------------
def test_response_echoes_and_swaps_the_tpdu(cup, tpdu):
    request = build_request(cup, lab_txn(amount=555, stan=42), lab_card(), tpdu=tpdu)
    response = build_response(cup, request, response_code="00", rrn="000000000007", auth_code="A1B2C3", when=WHEN)
    assert response.mti == "0210" and response.tpdu == Tpdu("60", "0000", "0003")
    assert set(response.fields) == {2, 3, 4, 11, 12, 13, 15, 25, 37, 38, 39, 41, 42, 49, 60}
    assert (response.fields[4], response.fields[11], response.fields[15]) == ("000000000555", "000042", "0506")


def test_parse_reply(cup, tpdu, mac_key):
    request = build_request(cup, lab_txn(amount=555, stan=42, batch=7), lab_card(), tpdu=tpdu)
    response = build_response(cup, request, response_code="51", rrn="000000000007", when=WHEN)
    reply = parse_reply(cup, decode(cup, encode(cup, response, mac_key=mac_key), mac_key=mac_key))
    assert reply == Reply(mti="0210", stan=42, terminal_id="12345678", merchant_id="123456789012345", amount=555,
                          response_code="51", rrn="000000000007", auth_code=None, settle_date="0506",
                          host_date="0506", host_time="123456", batch=7, mac_ok=True, approved=False)
    assert mismatch(expectation_for(request), reply) is None
    bare = parse_reply(cup, Message("0210", {39: "05"}))
    assert bare.stan is None and bare.amount is None and bare.rrn is None and not bare.approved


def _reply(**change):
    base = dict(mti="0210", stan=123, terminal_id="12345678", merchant_id="123456789012345", amount=1000,
                response_code="00", rrn=None, auth_code=None, settle_date=None, host_date=None, host_time=None,
                batch=None, mac_ok=True, approved=True)
    return Reply(**{**base, **change})


@pytest.mark.parametrize(
    "change, reason",
    [
        (dict(), None),
        (dict(mti="0230"), "MTI 0230, expected 0210"),
        (dict(stan=124), "STAN 000124, expected 000123"),
        (dict(stan=None), "no STAN, expected 000123"),
        (dict(terminal_id="87654321"), "terminal 87654321, expected 12345678"),
        (dict(terminal_id=None), "no terminal, expected 12345678"),
        (dict(amount=1001), "amount 1001, expected 1000"),
        (dict(amount=None), "no amount, expected 1000"),
    ],
)
def test_mismatch_names_what_differs(change, reason):
    assert mismatch(Expectation("0210", 123, "12345678", 1000), _reply(**change)) == reason


def test_expectation_for_a_request():
    request = Message("0200", {4: "000000001000", 11: "000123", 41: "12345678"})
    assert expectation_for(request) == Expectation("0210", 123, "12345678", 1000)
    assert expectation_for(Message("0800", {11: "000001", 41: "12345678"})).amount is None


@pytest.mark.parametrize("code, text", [("00", "Approved"), ("51", "Insufficient funds"), ("55", "Incorrect PIN"),
                                        ("94", "Duplicate transaction"), ("A0", "MAC error"),
                                        ("Z9", "Declined (code Z9)"), (None, "No response code")])
def test_response_text(cup, code, text):
    assert response_text(cup, code) == text


def test_reprs_never_show_card_data(cup, tpdu, mac_key):
    card = lab_card(track3=True)
    track2, track3 = card.track2.reveal_str(), card.track3.reveal_str()
    request = build_request(cup, lab_txn(), card, tpdu=tpdu)
    response = decode(cup, encode(cup, build_response(cup, request, response_code="00", rrn="000000000001",
                                                      when=WHEN), mac_key=mac_key))
    reply = parse_reply(cup, response)
    for obj in (card, request, response, reply):
        for text in (repr(obj), str(obj)):
            assert LAB_PAN not in text and track2 not in text and track3 not in text
            assert "3012" not in text.replace("000000", "")  # no expiry


def test_card_data_wipe():
    card = lab_card(track3=True)
    card.wipe()
    assert card.pan.wiped and card.track2.wiped and card.track3.wiped and card.pin_block.wiped
    assert card.expiry is None


# -- round trips (hypothesis) ------------------------------------------------------------
_printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1)


@st.composite
def sales(draw):
    pan = draw(st.text("0123456789", min_size=12, max_size=19))
    expiry = draw(st.none() | st.text("0123456789", min_size=4, max_size=4))
    discretionary = draw(st.text("0123456789", min_size=0, max_size=36 - len(pan) - 4 - 3))
    track2 = f"{pan}={expiry or '4912'}101{discretionary}"[:37]
    track3 = draw(st.none() | st.text("0123456789=", min_size=1, max_size=104))
    pin = draw(st.none() | st.text("0123456789", min_size=4, max_size=12))
    block = encrypt_iso0(pin.encode(), Pan(pan), lab_key(KeyUsage.PIN)) if pin else None
    card = CardData(Pan(pan), expiry, TrackData(track2, 2), TrackData(track3, 3) if track3 else None, block)
    txn = TxnData(
        kind=TxnKind.SALE, amount=draw(st.integers(1, 10**12 - 1)), currency=draw(st.text("0123456789", min_size=3, max_size=3)),
        stan=draw(st.integers(1, 999999)), batch=draw(st.integers(0, 999999)),
        when=draw(st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31))),
        terminal_id=draw(_printable.map(lambda s: (s * 8)[:8])), merchant_id=draw(_printable.map(lambda s: (s * 15)[:15])),
        entry_mode=draw(st.sampled_from(EntryMode)), pin_entered=pin is not None,
    )
    return txn, card


def _round_trip(profile, message, mac_key):
    decoded = decode(profile, encode(profile, message, mac_key=mac_key), mac_key=mac_key)
    assert decoded.mti == message.mti and decoded.tpdu == message.tpdu and decoded.header == message.header
    assert {n: v for n, v in decoded.fields.items() if n not in (64, 128)} == message.fields
    assert decoded.mac_ok is (True if message.mti not in profile.unmacced_mtis else None)
    return decoded


@ROUND
@given(sale=sales(), code=st.sampled_from(["00", "05", "51", "55", "94", "A0"]),
       rrn=st.text("0123456789", min_size=12, max_size=12))
def test_round_trip_every_message(profile, tpdu_of, mac_key, sale, code, rrn):
    txn, card = sale
    tpdu = tpdu_of(profile)
    request = _round_trip(profile, build_request(profile, txn, card, tpdu=tpdu), mac_key)
    reversal = build_reversal(profile, txn, card, tpdu=tpdu, reason="98")
    _round_trip(profile, reversal, mac_key)
    _round_trip(profile, as_repeat(profile, with_reason(reversal, "A0")), mac_key)
    advice = build_advice(profile, txn, card, tpdu=tpdu)
    _round_trip(profile, advice, mac_key)
    _round_trip(profile, as_repeat(profile, advice), mac_key)
    for sent in (request, reversal, advice):
        response = _round_trip(profile, build_response(profile, sent, response_code=code, rrn=rrn, when=txn.when), mac_key)
        reply = parse_reply(profile, response)
        assert mismatch(expectation_for(sent), reply) is None
        assert reply.approved is (code == "00")
