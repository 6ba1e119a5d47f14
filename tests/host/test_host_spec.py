"""Profiles as validated data: bad specs fail at build time, naming the field."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from firmware.errors import ConfigError
from firmware.host.profiles import PROFILES, get_profile
from firmware.host.spec import (
    Encoding,
    FieldKind,
    FieldSpec,
    LengthType,
    MacAlgorithm,
    Mtis,
    Pad,
    ReversalReason,
    TxnKind,
    TxnSpec,
)

N, B, AN = FieldKind.N, FieldKind.B, FieldKind.AN
FIX, LL, LLL = LengthType.FIXED, LengthType.LLVAR, LengthType.LLLVAR
BCD, ASCII, BIN = Encoding.BCD, Encoding.ASCII, Encoding.BINARY


def test_profiles_are_listed_and_cached():
    assert PROFILES == ("cup", "iso87", "iso87-aes")
    for name in PROFILES:
        assert get_profile(name) is get_profile(name)
        assert get_profile(get_profile(name)) is get_profile(name)


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ConfigError) as err:
        get_profile("visa")
    assert err.value.code == "config.unknown_profile"
    assert "'visa'" in err.value.text and "cup" in err.value.text and "iso87" in err.value.text


def test_profiles_are_not_built_at_import():
    code = ("import sys, firmware.host.profiles as p; "
            "print(any(m.startswith('firmware.host.profiles.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "kwargs, code, named",
    [
        (dict(number=1), "config.bad_field_number", "field 1"),
        (dict(number=129), "config.bad_field_number", "field 129"),
        (dict(max_len=0), "config.bad_field_length", "field 4"),
        (dict(name=""), "config.bad_spec", "field 4"),
        (dict(encoding=BIN), "config.bad_field_encoding", "field 4"),
        (dict(kind=AN, encoding=BCD), "config.bad_field_encoding", "field 4"),
        (dict(length_encoding=BCD), "config.bad_field_encoding", "field 4"),
        (dict(length=LL), "config.bad_field_encoding", "field 4"),
        (dict(length=LL, length_encoding=BCD, max_len=100), "config.bad_field_length", "field 4"),
        (dict(length=LLL, length_encoding=BCD, max_len=1000), "config.bad_field_length", "field 4"),
        (dict(kind=B, encoding=ASCII, length=LL, length_encoding=ASCII, max_len=50), "config.bad_field_length", "field 4"),
        (dict(number=2, length=LL, length_encoding=BCD, max_len=19), "config.not_sensitive", "field 2"),
        (dict(number=52, kind=B, encoding=BIN, max_len=8), "config.not_sensitive", "field 52"),
    ],
)
def test_field_spec_validation_names_the_field(kwargs, code, named):
    base = dict(number=4, name="Amount", kind=N, length=FIX, max_len=12, encoding=BCD)
    with pytest.raises(ConfigError) as err:
        FieldSpec(**{**base, **kwargs})
    assert err.value.code == code
    assert named in err.value.text


def _without(fields, *numbers):
    return {n: s for n, s in fields.items() if n not in numbers}


@pytest.mark.parametrize(
    "change, code, named",
    [
        (lambda p: dict(fields=_without(p.fields, 64)), "config.no_mac_field", "field 64"),
        (lambda p: dict(fields={**p.fields, 64: FieldSpec(64, "MAC", AN, FIX, 8, ASCII)}), "config.no_mac_field", "field 64"),
        (lambda p: dict(fields={**p.fields, 5: p.fields[4]}), "config.bad_spec", "field 5"),
        (lambda p: dict(fields={**p.fields, 70: FieldSpec(70, "Net code", N, FIX, 3, BCD)}), "config.bad_field_number", "field 70"),
        (lambda p: dict(fields=_without(p.fields, 41)), "config.missing_field", "field 41"),
        (lambda p: dict(mtis=Mtis(reversal="400")), "config.bad_mti", "'400'"),
        (lambda p: dict(default_header="6031"), "config.bad_header", "12 hex digits"),
        (lambda p: dict(transactions={**p.transactions, TxnKind.VOID: p.transactions[TxnKind.SALE]}), "config.bad_txn", "void"),
        (lambda p: dict(transactions={**p.transactions, TxnKind.SALE: TxnSpec("0200", "00000", "00")}), "config.bad_txn", "sale"),
        (lambda p: dict(approved_codes=frozenset({"00", "Z9"})), "config.bad_response_code", "approved code"),
        (lambda p: dict(response_texts={**p.response_texts, "123": "x"}), "config.bad_response_code", "'123'"),
        (lambda p: dict(mac=MacAlgorithm.X919, secondary_bitmap=True), "config.bad_spec", "secondary bitmap"),
        (lambda p: dict(reason_codes={"98": "68"}), "config.bad_response_code", "no_answer goes as '68'"),
        (lambda p: dict(reversal_reasons=_without(p.reversal_reasons, "A0")), "config.bad_response_code",
         "mac_failure goes as 'A0'"),
        (lambda p: dict(reversal_reasons={}, reason_codes={"98": "68"}), "config.bad_response_code", "reason_codes"),
    ],
)
def test_profile_validation_names_the_problem(change, code, named):
    cup = get_profile("cup")
    with pytest.raises(ConfigError) as err:
        dataclasses.replace(cup, **change(cup))
    assert err.value.code == code
    assert named in err.value.text


def test_a_valid_variation_builds():
    cup = get_profile("cup")
    plain = dataclasses.replace(cup, name="cup-nomac", mac=MacAlgorithm.NONE, fields=_without(cup.fields, 64))
    assert plain.mac_wire_size == 0 and 64 not in plain.pyiso8583_spec


def test_pyiso8583_spec_is_built_once_and_read_only(profile):
    spec = profile.pyiso8583_spec
    assert spec is profile.pyiso8583_spec
    with pytest.raises(TypeError):
        spec["2"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        spec["2"]["max_len"] = 99  # type: ignore[index]


def test_cup_layout_choices_are_documented_field_by_field():
    cup = get_profile("cup")
    assert cup.fields[22].pad is Pad.RIGHT and "left-aligned" in cup.fields[22].desc
    assert cup.fields[2].pad is Pad.RIGHT and cup.fields[35].pad is Pad.RIGHT and "nibble D" in cup.fields[35].desc
    assert cup.fields[23].pad is Pad.LEFT and "right-aligned" in cup.fields[23].desc
    assert {n for n, s in cup.fields.items() if s.sensitive} == {2, 14, 35, 36, 48, 52, 54, 55, 62}  # 48: an upload's cards; 54: a balance
    assert cup.pyiso8583_spec["2"]["right_pad"] == "0" and cup.pyiso8583_spec["2"]["len_enc"] == "bcd"


def test_cup_transaction_table_matches_the_unionpay_description():
    t = get_profile("cup").transactions
    rows = {k.value: (s.mti, s.processing_code, s.condition_code, s.type_code, s.reversible) for k, s in t.items()}
    assert rows["sale"] == ("0200", "000000", "00", "22", True)
    assert rows["balance"] == ("0200", "310000", "00", "01", False)
    assert rows["preauth"] == ("0100", "030000", "06", "10", True)
    assert rows["preauth_void"] == ("0100", "200000", "06", "11", True)
    assert rows["preauth_complete"] == ("0200", "000000", "06", "20", True)
    assert rows["preauth_complete_void"] == ("0200", "200000", "06", "21", True)
    assert rows["void"] == ("0200", "200000", "00", "23", True)
    assert rows["refund"] == ("0220", "200000", "00", "25", False)
    assert rows["offline_sale"] == ("0220", "000000", "00", "30", False)


@pytest.mark.parametrize("request_mti, answer", [("0200", "0210"), ("0100", "0110"), ("0400", "0410"),
                                                 ("0401", "0410"), ("0220", "0230"), ("0221", "0230"),
                                                 ("0800", "0810")])
def test_response_mti(request_mti, answer):
    assert Mtis.response(request_mti) == answer


def test_kinds_share_values_with_the_core():
    from firmware.host.messages import EntryMode, TxnKind

    assert TxnKind("sale") is TxnKind.SALE and EntryMode("fallback") is EntryMode.FALLBACK
    assert {k.value for k in TxnKind} >= {"sale", "void", "refund", "preauth", "preauth_void", "preauth_complete",
                                          "preauth_complete_void", "balance"}


def test_each_profile_sends_its_own_reversal_reasons():
    """The journal keeps the terminal's reasons (UnionPay's codes); field 39 of a reversal carries the
    profile's: ISO 8583:1987 has no 98 or A0."""
    cup, iso87 = get_profile("cup"), get_profile("iso87")
    assert [cup.reversal_code(r) for r in ReversalReason] == ["98", "96", "A0", "06"]
    assert [iso87.reversal_code(r) for r in ReversalReason] == ["68", "96", "20", "06"]
    assert get_profile("iso87-aes").reason_codes == iso87.reason_codes
    assert iso87.reversal_code("68") == "68"  # a code already the host's passes through
