"""ISO 8583:1987's secondary bitmap and its MAC in field 128 (the iso87 profile), and the spec rules behind them."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.keys import KeyUsage
from crypto.mac import retail_mac
from crypto.provision import lab_key
from firmware.errors import ConfigError, MacError, ProtocolError
from firmware.host.codec import Message, decode, encode, require_mac
from firmware.host.messages import build_request, build_reversal
from firmware.host.spec import (
    FieldKind,
    FieldSpec,
    LengthType,
    MacAlgorithm,
    MacPlacement,
    OriginalField,
    OriginalPart,
    TxnKind,
    TxnSpec,
)
from firmware.hostsim.lab import lab_card, lab_txn

ROUND = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WHEN = datetime(2024, 5, 6, 12, 0, 0)
HEAD = 4  # the ASCII MTI; the bitmap starts at byte 4, the secondary at byte 20


def _bitmaps(payload: bytes) -> tuple[set[int], set[int] | None]:
    """The field numbers the primary and (if any) secondary bitmap announce, read bit by bit."""
    primary = int(payload[HEAD : HEAD + 16], 16)
    first = {n for n in range(1, 65) if primary >> (64 - n) & 1}
    if 1 not in first:
        return first, None
    secondary = int(payload[HEAD + 16 : HEAD + 32], 16)
    return first, {64 + n for n in range(1, 65) if secondary >> (64 - n) & 1}


def _reversal(iso87, **txn):
    return build_reversal(iso87, lab_txn(when=WHEN, **txn), lab_card(), tpdu=None)


def _x919(mac_key, data: bytes) -> bytes:
    raw = mac_key.reveal()
    return retail_mac(raw + raw, data).hex().upper().encode("ascii")


# -- the secondary bitmap ------------------------------------------------------------------
def test_a_sale_has_no_secondary_bitmap_and_its_mac_in_64(iso87, mac_key):
    payload = encode(iso87, build_request(iso87, lab_txn(when=WHEN), lab_card(), tpdu=None), mac_key=mac_key)
    primary, secondary = _bitmaps(payload)
    assert secondary is None and 1 not in primary and 64 in primary
    assert payload[-16:] == _x919(mac_key, payload[:-16])


def test_a_reversal_sends_the_secondary_bitmap_with_90_and_its_mac_in_128(iso87, mac_key):
    message = _reversal(iso87, stan=42)
    payload = encode(iso87, message, mac_key=mac_key)
    primary, secondary = _bitmaps(payload)
    assert 1 in primary and 64 not in primary and secondary == {90, 128}
    assert payload[-16:] == _x919(mac_key, payload[:-16])  # over MTI, both bitmaps and every field before 128
    back = decode(iso87, payload, mac_key=mac_key)
    assert back.mac_ok is True and 64 not in back.fields
    assert {n: v for n, v in back.fields.items() if n != 128} == message.fields


def test_the_mac_moves_between_64_and_128_as_fields_come_and_go(iso87, mac_key):
    """A MAC the message already holds is replaced in the field where it now belongs."""
    with_90 = decode(iso87, encode(iso87, _reversal(iso87), mac_key=mac_key), mac_key=mac_key)
    without = with_90.copy()
    del without.fields[90]
    back = decode(iso87, encode(iso87, without, mac_key=mac_key), mac_key=mac_key)
    assert 128 not in back.fields and 64 in back.fields and back.mac_ok is True


@pytest.mark.parametrize("flip", ["mac", "field"])
def test_a_wrong_mac_in_128_is_refused(iso87, mac_key, flip):
    payload = bytearray(encode(iso87, _reversal(iso87), mac_key=mac_key))
    at = len(payload) - 1 if flip == "mac" else len(payload) - 16 - 42  # the MAC, or field 90's first digit
    payload[at] = ord("1") if payload[at] != ord("1") else ord("2")
    message = decode(iso87, bytes(payload), mac_key=mac_key)
    assert message.mac_ok is False
    with pytest.raises(MacError) as err:
        require_mac(message)
    assert err.value.code == "host.mac"


def test_another_key_does_not_verify_a_mac_in_128(iso87, mac_key):
    payload = encode(iso87, _reversal(iso87), mac_key=mac_key)
    assert decode(iso87, payload, mac_key=lab_key(KeyUsage.PIN)).mac_ok is False
    assert decode(iso87, payload).mac_ok is None


def _frame(fields_hex: str, secondary_hex: str | None, tail: str = "") -> bytes:
    return ("0400" + fields_hex + (secondary_hex or "") + tail).encode("ascii")


@pytest.mark.parametrize(
    "payload, text",
    [
        # a secondary bitmap announcing a field iso87 does not define (65: a tertiary bitmap)
        (_frame("8000000000000000", "8000000000000000"),
         "the secondary bitmap at byte 20 announces field 65, which profile iso87 does not define"),
        (_frame("8000000000000000", "0000000000000000"), "the secondary bitmap at byte 20 announces no field"),
        (_frame("8000000000000000", "00000000004Z0000"), "the secondary bitmap at byte 20 is not 16 hex characters"),
        (_frame("8000000000000000", "0000000000"), "the secondary bitmap at byte 20 is cut short"),
        (_frame("8000000000000001", "0000000000000001"),
         "the bitmap at byte 4 announces field 64 (MAC) beside a secondary bitmap"),
    ],
)
def test_bad_secondary_bitmaps_are_refused_naming_the_problem(iso87, payload, text):
    with pytest.raises(ProtocolError) as err:
        decode(iso87, payload)
    assert err.value.code == "host.malformed" and err.value.text.startswith(text)


@pytest.mark.parametrize("number", [97, 90, 128, 66])
def test_a_field_above_64_the_profile_does_not_define_is_refused_by_name(iso87, number):
    """A profile without one of the fields (here: a copy of iso87 without it) names it, both ways."""
    fields = {n: s for n, s in iso87.fields.items() if n != number}
    if number == 128:
        fields = {n: s for n, s in fields.items() if n != 64}
        lean = dataclasses.replace(iso87, name="iso87-lean", fields=fields, mac=MacAlgorithm.NONE)
    else:
        lean = dataclasses.replace(iso87, name="iso87-lean", fields=fields,
                                   reversal_original=None if number == 90 else iso87.reversal_original,
                                   transactions={k: dataclasses.replace(t, original=()) for k, t in
                                                 iso87.transactions.items()} if number == 90 else iso87.transactions)
    secondary = f"{1 << (128 - number):016X}"
    payload = _frame("8000000000000000", secondary, "0" * 42)
    with pytest.raises(ProtocolError) as err:
        decode(lean, payload)
    assert err.value.code == "host.malformed"
    assert err.value.text == (f"the secondary bitmap at byte 20 announces field {number}, "
                              "which profile iso87-lean does not define")
    with pytest.raises(ProtocolError) as err:
        encode(lean, Message("0400", {11: "000001", number: "1"}))
    assert err.value.code == "host.unknown_field" and f"field {number} is not in profile iso87-lean" in err.value.text


def test_a_primary_only_profile_refuses_fields_above_64(cup, tpdu):
    with pytest.raises(ProtocolError) as err:
        encode(cup, Message("0400", {11: "000001", 90: "0" * 42}, tpdu=tpdu))
    assert err.value.code == "host.unknown_field" and "field 90 is not in profile cup" in err.value.text


@pytest.mark.parametrize(
    "fields, wrong, right",
    [({11: "000001", 90: "0" * 42, 64: "00" * 8}, 64, 128), ({11: "000001", 128: "00" * 8}, 128, 64)],
)
def test_without_a_key_a_mac_in_the_wrong_field_is_refused(iso87, fields, wrong, right):
    with pytest.raises(ProtocolError) as err:
        encode(iso87, Message("0400", fields))
    assert err.value.code == "host.bad_message"
    assert err.value.text == f"field {wrong} cannot carry the MAC of this message: it goes in field {right}"


def test_without_a_key_a_mac_in_the_right_field_is_sent_as_given(iso87):
    payload = encode(iso87, Message("0400", {11: "000001", 90: "0" * 42, 128: "AB" * 8}))
    assert payload.endswith(b"AB" * 8) and decode(iso87, payload).fields[128] == "AB" * 8


# -- hypothesis: any iso87 message, with and without secondary fields ----------------------------
_CHARS = {
    FieldKind.N: "0123456789",
    FieldKind.Z: "0123456789=",
    FieldKind.AN: "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ",
    FieldKind.ANS: "".join(map(chr, range(0x20, 0x7F))),
    FieldKind.B: "0123456789ABCDEF",
}


def _value(spec: FieldSpec):
    """A valid value of the field; variable fields kept short (the codec is the question, not the size)."""
    if spec.kind is FieldKind.B:
        size = st.just(spec.max_len) if spec.length is LengthType.FIXED else st.integers(0, min(spec.max_len, 20))
        return size.flatmap(lambda n: st.text(_CHARS[FieldKind.B], min_size=2 * n, max_size=2 * n))
    if spec.length is LengthType.FIXED:
        return st.text(_CHARS[spec.kind], min_size=spec.max_len, max_size=spec.max_len)
    return st.text(_CHARS[spec.kind], min_size=0, max_size=min(spec.max_len, 40))


@st.composite
def iso87_messages(draw, profile):
    numbers = sorted(n for n in profile.fields if n not in (64, 128))
    low = draw(st.sets(st.sampled_from([n for n in numbers if n < 65]), max_size=12))
    high = draw(st.sets(st.sampled_from([n for n in numbers if n > 64]), max_size=6))
    fields = {n: draw(_value(profile.fields[n])) for n in sorted(low | high)}
    mti = draw(st.sampled_from(["0100", "0200", "0220", "0400", "0401", "0500", "0510"]))
    return Message(mti, fields)


@ROUND
@given(data=st.data())
def test_any_iso87_message_round_trips_with_its_mac_where_it_belongs(iso87, mac_key, data):
    message = data.draw(iso87_messages(iso87))
    payload = encode(iso87, message, mac_key=mac_key)
    primary, secondary = _bitmaps(payload)
    above = any(n > 64 for n in message.fields)
    assert (secondary is not None) == above  # sent only when a field above 64 is present
    mac_field = 128 if above else 64
    assert (mac_field in (secondary or primary)) and (64 if above else 128) not in (secondary or set()) | primary
    back = decode(iso87, payload, mac_key=mac_key)
    assert back.mac_ok is True and back.mti == message.mti
    assert {n: v for n, v in back.fields.items() if n != mac_field} == message.fields
    assert encode(iso87, back) == payload  # the decoded message, MAC included, encodes to the same bytes


# -- the spec ------------------------------------------------------------------------------
def test_iso87_defines_the_secondary_fields_but_65_and_puts_its_mac_last(iso87, cup):
    assert iso87.secondary_bitmap and iso87.mac_placement is MacPlacement.LAST_BITMAP
    assert set(range(66, 129)) <= set(iso87.fields) and 65 not in iso87.fields
    assert iso87.fields[90].max_len == 42 and iso87.fields[97].max_len == 17
    assert iso87.mac_field([2, 3, 4]) == 64 and iso87.mac_field([2, 90]) == 128 and iso87.mac_field([11, 128]) == 128
    assert cup.mac_placement is MacPlacement.FIELD_64 and cup.mac_field([2, 3]) == 64 and not cup.secondary_bitmap
    assert iso87.reversal_original.number == 90 and iso87.reversal_original.width == 42


@pytest.mark.parametrize(
    "change, code, named",
    [
        (lambda p: dict(secondary_bitmap=False, fields={n: s for n, s in p.fields.items() if n < 65},
                        reversal_original=None, transactions={k: dataclasses.replace(t, original=())
                                                              for k, t in p.transactions.items()}),
         "config.no_mac_field", "needs a secondary bitmap"),
        (lambda p: dict(mac_placement=MacPlacement.FIELD_64), "config.bad_spec", "no secondary bitmap"),
        (lambda p: dict(fields={n: s for n, s in p.fields.items() if n != 128}), "config.no_mac_field", "field 128"),
        (lambda p: dict(fields={**p.fields, 128: dataclasses.replace(p.fields[128], max_len=16)}),
         "config.no_mac_field", "field 128"),
        (lambda p: dict(fields={**p.fields, 65: dataclasses.replace(p.fields[66], number=65)}),
         "config.bad_field_number", "field 65"),
        (lambda p: dict(reversal_original=OriginalField(90, (OriginalPart.RRN, OriginalPart.STAN))),
         "config.bad_txn", "reversal"),
        (lambda p: dict(reversal_original=OriginalField(90, (OriginalPart.MTI, OriginalPart.STAN))),
         "config.bad_txn", "original field 90"),  # 10 digits in a fixed n42
        (lambda p: dict(transactions={**p.transactions, TxnKind.VOID: TxnSpec(
            "0200", "020000", "00", original=(OriginalField(90, p.reversal_original.parts),))}),
         "config.bad_txn", "field 90"),  # the void's own 90 in its reversal would clash with the reversal's
    ],
)
def test_secondary_bitmap_and_mac_placement_rules(iso87, change, code, named):
    with pytest.raises(ConfigError) as err:
        dataclasses.replace(iso87, **change(iso87))
    assert err.value.code == code and named in err.value.text


def test_original_field_split():
    of = OriginalField(90, (OriginalPart.MTI, OriginalPart.STAN, OriginalPart.TRANSMITTED,
                            OriginalPart.ACQUIRER, OriginalPart.FORWARDER))
    text = "0200" "000042" "0506120000" + "0" * 10 + "1" + "0" * 11
    assert of.split(text) == {"mti": "0200", "stan": "000042", "transmitted": "0506120000",
                              "acquirer": "00000000001", "forwarder": "0" * 11}
    assert of.split(text[:41]) is None
