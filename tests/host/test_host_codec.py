"""The codec: golden bytes, MAC, strict validation both ways, and no data in errors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.mac import cup_ecb_mac, retail_mac
from crypto.pinblock import encrypt_iso0
from crypto.secrets import Pan
from firmware.errors import ConfigError, CryptoError, MacError, ProtocolError
from firmware.host.codec import Message, Tpdu, decode, encode, require_mac
from firmware.host.mac import RetailMacKey, compute_mac, mac_key_for
from firmware.host.spec import MacAlgorithm
from firmware.host.messages import build_request
from firmware.hostsim.lab import LAB_PAN, lab_card, lab_txn

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# A cup sale of 123.45 CNY (12345 fen), STAN 123, batch 1, lab card swiped, PIN 1234,
# derived by hand from the layout in firmware/host/profiles/cup.py.
GOLDEN_CUP_SALE = "".join([
    "6000030000",  # TPDU: id 60, destination 0003, source 0000
    "603100000000",  # header: app 60, version 31, status 0, requirement 0, reserved
    "0200",  # MTI, BCD
    "702404C020C09811",  # bitmap: 2 3 4 | 11 14 | 22 | 25 26 | 35 | 41 42 | 49 52 53 | 60 64
    "19" "62123456789012345690",  # 2: LL=19 BCD, 19 digits left-aligned, trailing 0 nibble
    "000000",  # 3: processing code 000000
    "000000012345",  # 4: amount n12
    "000123",  # 11: STAN
    "3012",  # 14: expiry YYMM
    "0210",  # 22: 02 swipe + 1 PIN entered, n3 left-aligned -> 02 10
    "00",  # 25: condition code, sale
    "12",  # 26: PIN capture code
    "37" "6212345678901234569D30121010000012345" "0",  # 35: LL=37, '=' as D, trailing pad nibble
    "3132333435363738",  # 41: terminal ID ans8 "12345678"
    "313233343536373839303132333435",  # 42: merchant ID ans15 "123456789012345"
    "313536",  # 49: currency an3 "156"
    "99AF066B4FFD6DCF",  # 52: ISO 0 PIN block under the lab PIN key
    "1600000000000000",  # 53: 1 = format 0 with PAN, 6 = double-length TDES
    # 60: LLL=0013, 22 sale + batch 000001 + 000 + 60.4 2 (magstripe reader) + 60.5 0, trailing pad nibble
    "0013" "22000001000200",
    "3430463244314333",  # 64: ECB MAC "40F2D1C3" as 8 ASCII characters
])

GOLDEN_ISO87_VECTOR_FIELDS = {2: "1234567890123456", 12: "123456", 20: "111"}


def _sale(profile, tpdu, **card):
    return build_request(profile, lab_txn(amount=12345, stan=123, batch=1), lab_card(**card), tpdu=tpdu)


def test_golden_cup_sale(cup, tpdu, mac_key, pin_key):
    payload = encode(cup, _sale(cup, tpdu), mac_key=mac_key)
    assert payload.hex().upper() == GOLDEN_CUP_SALE
    # The two crypto outputs in it are what the crypto module computes.
    assert encrypt_iso0(b"1234", Pan(LAB_PAN), pin_key).reveal().hex().upper() == "99AF066B4FFD6DCF"
    assert cup_ecb_mac(mac_key, payload[11:-8]) == b"40F2D1C3"


def test_golden_cup_sale_decodes_back(cup, mac_key):
    message = decode(cup, bytes.fromhex(GOLDEN_CUP_SALE), mac_key=mac_key)
    assert message.mti == "0200" and message.mac_ok is True
    assert message.tpdu == Tpdu("60", "0003", "0000") and message.header == "603100000000"
    assert message.fields[2] == LAB_PAN and message.fields[22] == "021" and message.fields[60] == "2200000100020"
    assert message.fields[35] == f"{LAB_PAN}=30121010000012345"


def test_iso87_matches_pyiso8583_default_ascii_vector(iso87, vectors):
    v = vectors["iso8583_default_ascii"]
    raw = v["message_ascii"].encode("ascii")
    message = decode(iso87, raw)
    assert message.mti == v["fields"]["t"]
    assert message.fields == {int(k): val for k, val in v["fields"].items() if k.isdigit()} == GOLDEN_ISO87_VECTOR_FIELDS
    assert encode(iso87, message) == raw


def test_iso87_mac_is_x919_over_mti_to_field_63_as_hex(iso87, mac_key):
    payload = encode(iso87, _sale(iso87, None), mac_key=mac_key)
    raw = mac_key.reveal()
    assert payload[-16:] == retail_mac(raw + raw, payload[:-16]).hex().upper().encode("ascii")
    assert decode(iso87, payload, mac_key=mac_key).mac_ok is True
    with pytest.raises(CryptoError) as err:
        from crypto.des import TdesEcb

        encode(iso87, _sale(iso87, None), mac_key=TdesEcb(raw))
    assert err.value.code == "crypto.mac_key"


def test_retail_mac_key_matches_the_psec_vector(vectors):
    v = vectors["retail_mac_x919"]
    key = RetailMacKey(bytes.fromhex(v["key1"] + v["key2"]))
    assert key.mac(v["data_ascii"].encode()).hex().upper() == v["padding_method_1"]
    assert "41" not in repr(key)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(key)
    with pytest.raises(CryptoError) as err:
        RetailMacKey(bytes(24))
    assert err.value.code == "crypto.key_length"


def test_mac_contexts_give_the_same_bytes_as_the_key(profile, tpdu_of, mac_key):
    """A terminal keeps a context, not the clear key: the wire must not change."""
    context = mac_key_for(profile, mac_key)
    assert type(context).__name__ == {"cup": "TdesEcb", "iso87": "RetailMacKey"}[profile.name]
    message = _sale(profile, tpdu_of(profile))
    payload = encode(profile, message, mac_key=context)
    assert payload == encode(profile, message, mac_key=mac_key)
    assert decode(profile, payload, mac_key=context).mac_ok is True


def test_a_context_of_the_wrong_kind_is_refused(mac_key):
    with pytest.raises(CryptoError) as err:
        compute_mac(MacAlgorithm.CUP_ECB, RetailMacKey(mac_key), b"data")
    assert err.value.code == "crypto.mac_key"
    with pytest.raises(CryptoError) as err:
        compute_mac(MacAlgorithm.NONE, mac_key, b"data")
    assert err.value.code == "crypto.no_mac"


def test_mac_verifies_and_one_flipped_byte_fails(profile, tpdu_of, mac_key):
    payload = encode(profile, _sale(profile, tpdu_of(profile)), mac_key=mac_key)
    assert decode(profile, payload, mac_key=mac_key).mac_ok is True
    assert decode(profile, payload).mac_ok is None  # no key: not checked
    # Change a byte inside the MAC block that keeps the message decodable: the last of field 42.
    at = payload.rindex(b"123456789012345") + 14
    flipped = payload[:at] + b"4" + payload[at + 1 :]
    message = decode(profile, flipped, mac_key=mac_key)
    assert message.mac_ok is False and message.fields[42] == "123456789012344"
    with pytest.raises(MacError) as err:
        require_mac(message)
    assert err.value.code == "host.mac"


def test_require_mac(cup, tpdu, mac_key):
    good = decode(cup, encode(cup, _sale(cup, tpdu), mac_key=mac_key), mac_key=mac_key)
    require_mac(good)
    unchecked = decode(cup, encode(cup, _sale(cup, tpdu), mac_key=mac_key))
    with pytest.raises(MacError) as err:
        require_mac(unchecked)
    assert err.value.code == "host.mac" and "no MAC" in err.value.text


def test_sign_on_is_not_maced_and_without_a_key_field_64_is_sent_as_given(cup, tpdu, mac_key):
    signon = Message("0800", {11: "000001", 41: "12345678", 42: "123456789012345"}, tpdu=tpdu)
    assert 64 not in decode(cup, encode(cup, signon, mac_key=mac_key)).fields
    sale = _sale(cup, tpdu)
    sale.fields[64] = "3030303030303030"
    assert decode(cup, encode(cup, sale), mac_key=mac_key).mac_ok is False


def test_encode_does_not_change_the_callers_message(cup, tpdu, mac_key):
    sale = _sale(cup, tpdu)
    before = dict(sale.fields)
    encode(cup, sale, mac_key=mac_key)
    assert sale.fields == before


@pytest.mark.parametrize(
    "number, value, code, problem",
    [
        (4, "0000000001AB", "host.bad_field", "field 4 (Amount, transaction) holds something other than digits"),
        (4, "12345", "host.bad_field", "field 4 (Amount, transaction) has 5 characters, expected 12"),
        (2, "62123456789012345690", "host.bad_field", "field 2 (Primary account number) has 20 characters, more than 19"),
        (35, "6212345678901234569D3012", "host.bad_field", "field 35 (Track 2 data) holds something other than digits and '='"),
        (52, "99AF066B4FFD6DC", "host.bad_field", "field 52 (PIN data) has an odd number of hex digits"),
        (52, "99AF066B4FFD6DCF00", "host.bad_field", "field 52 (PIN data) has 9 bytes, expected 8"),
        (41, "1234567\u00e9", "host.bad_field", "field 41 (Card acceptor terminal identification) holds something other than printable ASCII"),
        (39, "0-", "host.bad_field", "field 39 (Response code) holds something other than letters, digits and spaces"),
        (5, "000000000100", "host.unknown_field", "field 5 is not in profile cup"),
    ],
)
def test_encode_rejects_values_that_do_not_fit(cup, tpdu, number, value, code, problem):
    message = _sale(cup, tpdu)
    message.fields[number] = value
    with pytest.raises(ProtocolError) as err:
        encode(cup, message)
    assert err.value.code == code
    assert err.value.text == problem
    assert value not in str(err.value) and LAB_PAN not in str(err.value)


@pytest.mark.parametrize(
    "change, text",
    [
        (dict(mti="200"), "the MTI must be 4 digits"),
        (dict(tpdu=None), "profile cup needs a TPDU and the message has none"),
        (dict(header="6031"), "the header must be 12 hex digits"),
    ],
)
def test_encode_rejects_a_bad_frame(cup, tpdu, change, text):
    message = _sale(cup, tpdu).copy(**change)
    with pytest.raises(ProtocolError) as err:
        encode(cup, message)
    assert err.value.code == "host.bad_message" and err.value.text == text


def _cup_payload(cup, tpdu, mac_key):
    return encode(cup, _sale(cup, tpdu), mac_key=mac_key)


def _patch(payload: bytes, at: int, new: bytes) -> bytes:
    return payload[:at] + new + payload[at + len(new) :]


# Byte offsets in GOLDEN_CUP_SALE: TPDU 0, header 5, MTI 11, bitmap 13, field 2 at 21 (data 22),
# 3 at 32, 4 at 35, 11 at 41, 14 at 44, 22 at 46, 25 at 48, 26 at 49, 35 at 50 (data 51).
@pytest.mark.parametrize(
    "corrupt, starts",
    [
        (lambda p: p[:4], "the TPDU at byte 0 is not 5 bytes of BCD digits"),
        (lambda p: _patch(p, 0, b"\x6a"), "the TPDU at byte 0 is not 5 bytes of BCD digits"),
        (lambda p: p[:9], "the header at byte 5 is shorter than 6 bytes"),
        (lambda p: _patch(p, 11, b"\x02\x0a"), "the MTI at byte 11 is not 2 bytes of digits"),
        (lambda p: p[:16], "the bitmap at byte 13 is cut short"),
        (lambda p: _patch(p, 13, b"\xf0"), "the bitmap at byte 13 announces a secondary bitmap"),
        (lambda p: _patch(p, 13, b"\x78"), "the bitmap at byte 13 announces field 5, which profile cup does not define"),
        (lambda p: _patch(p, 41, b"\x00\x0a\x23"), "field 11 (System trace audit number) at byte 41 holds something other than digits"),
        (lambda p: _patch(p, 51, b"\x6e"), "field 35 (Track 2 data) at byte 50 holds a nibble other than a digit or D"),
        (lambda p: _patch(p, 21, b"\x1a"), "field 2 (Primary account number) at byte 21 is malformed: failed to decode field length"),
        (lambda p: _patch(p, 21, b"\x20"), "field 2 (Primary account number) at byte 21 is malformed: field data is 20 nibbles, larger than maximum 19"),
        (lambda p: _patch(p, 46, b"\x02\x11"), "field 22 (Point of service entry mode) at byte 46 is malformed"),
        (lambda p: p + b"\x00", "field 64 (Message authentication code) at byte 129 is malformed: extra data after last field"),
        (lambda p: p[:-3], "field 64 (Message authentication code) at byte 121 is malformed: field data is 5 bytes, expecting 8"),
    ],
)
def test_decode_errors_name_field_and_byte(cup, tpdu, mac_key, corrupt, starts):
    payload = corrupt(_cup_payload(cup, tpdu, mac_key))
    with pytest.raises(ProtocolError) as err:
        decode(cup, payload, mac_key=mac_key)
    assert err.value.code == "host.malformed"
    assert err.value.text.startswith(starts)
    assert LAB_PAN not in str(err.value) and err.value.__context__ is None and err.value.__cause__ is None


def test_iso87_bitmap_must_be_hex(iso87):
    with pytest.raises(ProtocolError) as err:
        decode(iso87, b"0200401010000000000G161234567890123456123456111")
    assert err.value.code == "host.malformed"
    assert err.value.text == "the bitmap at byte 4 is not 16 hex characters"


def test_iso87_numeric_field_must_be_digits(iso87):
    with pytest.raises(ProtocolError) as err:
        decode(iso87, b"02004010100000000000161234567890123456123456A11")
    assert err.value.text == "field 20 (PAN extended, country code) at byte 44 holds something other than digits"


def test_decode_needs_bytes(cup):
    with pytest.raises(ProtocolError):
        decode(cup, "0200")  # type: ignore[arg-type]


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_only_ever_raise_protocol_error(profile, data):
    try:
        decode(profile, data)
    except ProtocolError as err:
        assert err.code == "host.malformed"


@FUZZ
@given(tail=st.binary(max_size=200), bitmap=st.binary(min_size=8, max_size=8))
def test_random_fields_after_a_valid_head_only_raise_protocol_error(cup, bitmap, tail):
    head = bytes.fromhex("6000030000" "603100000000" "0200")
    try:
        decode(cup, head + bitmap + tail)
    except ProtocolError as err:
        assert err.code == "host.malformed"


_MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("drop"), st.integers(0, 10**6), st.just(0)),
)


@FUZZ
@given(mutations=st.lists(_MUTATION, min_size=1, max_size=3))
def test_errors_on_a_corrupted_sale_never_contain_the_card(profile, tpdu_of, mac_key, mutations):
    card = lab_card(track3=True)
    track2, track3 = card.track2.reveal_str(), card.track3.reveal_str()
    payload = bytearray(encode(profile, build_request(profile, lab_txn(), card, tpdu=tpdu_of(profile)), mac_key=mac_key))
    for op, where, value in mutations:
        at = where % (len(payload) + 1)
        if op == "flip" and at < len(payload):
            payload[at] ^= value
        elif op == "cut":
            del payload[at:]
        elif op == "insert":
            payload[at:at] = bytes([value])
        elif op == "drop" and at < len(payload):
            del payload[at]
    try:
        message = decode(profile, bytes(payload), mac_key=mac_key)
    except ProtocolError as err:
        assert err.code == "host.malformed"
        for text in (str(err), repr(err), err.text):
            assert LAB_PAN not in text and track2 not in text and track3 not in text
            assert LAB_PAN[6:15] not in text
        assert err.__context__ is None and err.__cause__ is None
    else:
        assert LAB_PAN not in repr(message) and track2 not in repr(message)


def test_message_repr_masks_card_data(profile, tpdu_of, mac_key):
    card = lab_card(track3=True)
    secrets = [LAB_PAN, card.track2.reveal_str(), card.track3.reveal_str(), card.pin_block.reveal().hex().upper(), "3012"]
    request = build_request(profile, lab_txn(), card, tpdu=tpdu_of(profile))
    decoded = decode(profile, encode(profile, request, mac_key=mac_key), mac_key=mac_key)
    for message in (request, decoded):
        for text in (repr(message), str(message), str(message.redacted())):
            for secret in secrets:
                assert secret not in text
            assert "621234*********4569" in text
        view = message.redacted()
        assert view["fields"][2] == "621234*********4569"
        assert view["fields"][35] == "<37 chars>" and view["fields"][52] == "<16 chars>"
        assert view["fields"][4] == "000000000100"


def test_tpdu():
    t = Tpdu("60", "0003", "0000")
    assert t.swapped() == Tpdu("60", "0000", "0003") and str(t) == "6000030000"
    assert t.to_bytes() == bytes.fromhex("6000030000")
    with pytest.raises(ConfigError) as err:
        Tpdu("60", "3", "0000")
    assert err.value.code == "config.bad_tpdu"
