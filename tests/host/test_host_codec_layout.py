"""The codec's per-profile tables: built for each profile, never mixed up between profiles,
and the bitmap check they drive names the same field a bit-by-bit reading would."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.errors import ProtocolError
from firmware.host.codec import Message, decode, encode
from firmware.host.field_rules import _layout
from firmware.host.profiles import PROFILES, get_profile
from firmware.host.spec import MacAlgorithm

CUP = get_profile("cup")
HEAD = bytes.fromhex("6000030000" "603100000000" "0200")  # TPDU, header, MTI of a cup message


def test_two_profiles_with_one_name_keep_their_own_tables(tpdu):
    """A variation of cup under the same name, whose field 4 is n6: each profile uses its own layout."""
    fields = dict(CUP.fields)
    fields[4] = dataclasses.replace(CUP.fields[4], max_len=6)
    short = dataclasses.replace(CUP, fields=fields, mac=MacAlgorithm.NONE)
    message = Message("0200", {3: "000000", 4: "000100", 11: "000001"}, tpdu=tpdu)

    with pytest.raises(ProtocolError) as err:
        encode(CUP, message)
    assert err.value.text == "field 4 (Amount, transaction) has 6 characters, expected 12"
    payload = encode(short, message)
    assert decode(short, payload).fields[4] == "000100"
    with pytest.raises(ProtocolError) as err:
        decode(CUP, payload)  # the same bytes read with cup's own layout do not fit
    assert err.value.code == "host.malformed"


def _bitmap_problem(bitmap: bytes) -> str | None:
    """The reading the codec must agree with: bit by bit, field 1 first."""
    bits = int.from_bytes(bitmap, "big")
    present = [i + 1 for i in range(64) if bits >> (63 - i) & 1]
    if 1 in present:
        return "announces a secondary bitmap"
    unknown = [n for n in present if n not in CUP.fields]
    return f"announces field {unknown[0]}," if unknown else None


@settings(max_examples=300, deadline=None)
@given(bitmap=st.binary(min_size=8, max_size=8))
def test_the_bitmap_check_names_the_lowest_undefined_field(bitmap):
    expected = _bitmap_problem(bitmap)
    bitmap_error = f"the bitmap at byte {len(HEAD)} announces"
    try:
        decode(CUP, HEAD + bitmap)  # no fields follow: decoding fails, the question is where
    except ProtocolError as err:
        if expected is None:
            assert not err.text.startswith(bitmap_error)
        else:
            assert err.text.startswith(f"the bitmap at byte {len(HEAD)} {expected}")
    else:
        assert expected is None



_RULES = [rule for name in PROFILES for rule in _layout(get_profile(name)).rules.values()]
_CHARS = "0123456789=DabcdefABCDEFXYZ xyz~\x7f\x1f\u00e9\u0660"


@settings(max_examples=1000, deadline=None)
@given(rule=st.sampled_from(_RULES), data=st.data())
def test_a_value_passes_the_one_pattern_exactly_when_the_step_by_step_check_finds_nothing(rule, data):
    """The codec passes a sound value in one ``fullmatch`` (``_FieldRule.sound``) and names a bad one step by
    step (``why``): the two must agree on every value of every field, or a bad value would leave (or come in)
    unchecked, or a good one be refused. Lengths are drawn about the field's limit, in its units."""
    units = 2 if rule.hex else 1
    size = data.draw(st.integers(0, 3) | st.integers(rule.max_len * units - 2, rule.max_len * units + 2))
    one = data.draw(st.sampled_from(_CHARS))
    value = data.draw(st.just(one * max(size, 0)) | st.text(alphabet=_CHARS, min_size=max(size, 0),
                                                          max_size=max(size, 0)))
    assert (rule.sound(value) is not None) == (rule.why(value) is None)
    assert rule.problem(value) == rule.why(value)
