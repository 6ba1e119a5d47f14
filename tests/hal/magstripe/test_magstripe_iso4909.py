"""Track 3 by ISO 4909 (hal.magstripe.iso4909): UnionPay layouts, every field, round trips and fuzzing."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.secrets import Pan, Secret
from firmware.errors import CardError
from hal.magstripe.iso4909 import LAYOUT, Track3, encode_track3, parse_track3
from hal.magstripe.pan import luhn_ok
from hal.magstripe.sim import TEST_CARDS

UP19 = "6205500000000000004"
UP16 = "6200000000000047"
FIXED = "1561560" + "5000" + "5000" + "0001" + "01" + "5" + "336958" + "2" + "14" + "00" + "00" + "4912" + "0"


def test_the_unionpay_test_card_reads_field_by_field():
    t = parse_track3(TEST_CARDS["unionpay_debit"].track3)
    assert (t.format_code, t.pan.reveal_str(), t.country, t.currency, t.currency_exponent) == ("99", UP19, "156", "156", 0)
    assert (t.amount_authorised, t.amount_remaining, t.cycle_begin, t.cycle_length, t.retry_count) == (0, 0, "0001", "00", 3)
    assert (t.pin_control.reveal_str(), t.interchange_control) == ("000000", "2")
    assert (t.restriction_pan, t.restriction_san1, t.restriction_san2) == ("14", "00", "00")
    assert (t.expiry, t.sequence_number, t.security_number) == ("4912", "0", None)
    assert (t.san1.reveal_str(), t.san2.reveal_str(), t.relay_marker) == ("0" * 12, "0" * 12, "0")
    assert (t.crypto_check.reveal_str(), t.additional_data.reveal_str()) == ("000000", "0000")
    assert t.pos_allowed


# Layouts modelled on UnionPay track 3 data seen in the field (test PANs, made-up values).
SAMPLES = {
    "subsidiary accounts and additional data": (
        f"99{UP16}={FIXED}=0209237727=000000000=0200000" + "0020000000000000",
        {"san1": "0209237727", "san2": "000000000", "relay_marker": "0", "crypto_check": "200000",
         "additional_data": "0020000000000000", "amount_authorised": 5000, "pin_control": "336958"},
    ),
    "empty subsidiary accounts, expiry not encoded": (
        f"99{UP19}=156156" + "0500050001328013000000010000000000" + "===0332468165",
        {"expiry": None, "san1": None, "san2": None, "relay_marker": "0", "crypto_check": "332468",
         "additional_data": "165", "cycle_begin": "1328", "restriction_pan": "10"},
    ),
    "ends inside SAN-1 with no separator": (
        f"99{UP16}=1561560000000000001003000000040404025120=0000000",
        {"expiry": "2512", "san1": "0000000", "san2": None, "relay_marker": None, "restriction_pan": "40"},
    ),
    "ends after the card sequence number": (f"99{UP16}={FIXED}", {"security_number": None, "san1": None}),
    "card security number present": (
        f"99{UP16}={FIXED}123456789" + "1=2=3654321",
        {"security_number": "123456789", "san1": "1", "san2": "2", "relay_marker": "3", "crypto_check": "654321"},
    ),
    "PIN parameters not used": (f"99{UP16}=1561560500050000001015=214000049120", {"pin_control": None, "expiry": "4912"}),
    "PAN left to track 2": (f"99={FIXED}", {"pan": None}),
    "ISO/IEC 4909:2006, country code deprecated": (f"01{UP16}==8402" + FIXED[7:], {"country": None, "currency": "840", "currency_exponent": 2}),
    "no crypto check digits": (f"99{UP16}={FIXED}===1=77", {"relay_marker": "1", "crypto_check": None, "additional_data": "77"}),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_realistic_track3_layouts_parse(name):
    text, expected = SAMPLES[name]
    t = parse_track3(text)
    for field, value in expected.items():
        got = getattr(t, field)
        if isinstance(got, (Secret, Pan)):
            got = got.reveal_str()
        assert got == value, field
    assert t.pan is None or luhn_ok(t.pan.reveal_str())


def _break(field: str, value: str) -> str:
    """The base sample with one fixed field replaced."""
    base = {"country": "156", "currency": "156", "currency_exponent": "0", "amount_authorised": "5000",
            "amount_remaining": "5000", "cycle_begin": "0001", "cycle_length": "01", "retry_count": "5",
            "pin_control": "336958", "interchange_control": "2", "restriction_pan": "14", "restriction_san1": "00",
            "restriction_san2": "00", "expiry": "4912", "sequence_number": "0"}
    base[field] = value
    return f"99{UP16}=" + "".join(base.values()) + "=0=0=0000000"


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("", "card.format", "format code is missing"),
        ("9", "card.format", "format code is unreadable"),
        ("99" + UP16, "card.format", "primary account number has no field separator"),
        (f"99{UP16}=", "card.format", "country code is missing"),
        (f"99{UP16}=15", "card.format", "country code is unreadable"),
        (f"99{UP16}=156156", "card.format", "currency exponent is missing"),
        (_break("currency", "1:6"), "card.format", "currency code is unreadable"),
        (_break("amount_authorised", "50>0"), "card.format", "amount authorised per cycle is unreadable"),
        (_break("retry_count", "<"), "card.format", "retry count is unreadable"),
        (_break("pin_control", "33695:"), "card.format", "PIN control parameters is unreadable"),
        (_break("restriction_pan", "1="), "card.format", "restriction of the PAN is unreadable"),
        (_break("expiry", "4913"), "card.format", "expiry date is unreadable"),
        (_break("expiry", "49"), "card.format", "is unreadable"),
        (_break("sequence_number", ""), "card.format", "is unreadable"),
        (f"99{UP16}={FIXED}12345=", "card.format", "card security number is unreadable"),
        (f"99{UP16}={FIXED}=1234567890123=", "card.format", "first subsidiary account number is unreadable"),
        (f"99{UP16}={FIXED}==1:=", "card.format", "second subsidiary account number is unreadable"),
        (f"99{UP16}={FIXED}===0123", "card.format", "crypto check digits is unreadable"),
        (f"9962000000000000:4={FIXED}", "card.pan_digits", "track 3 is not all digits"),
        (f"99{UP16[:-1]}8={FIXED}", "card.luhn", "track 3 fails its check digit"),
        (f"99620000000={FIXED}", "card.pan_length", "track 3 has the wrong length"),
    ],
)
def test_each_field_problem_is_named(text, code, words):
    with pytest.raises(CardError) as info:
        parse_track3(text)
    assert info.value.code == code
    assert words in info.value.text and "swipe again" in info.value.text
    assert UP16 not in str(info.value) and "4912" not in str(info.value)


def test_the_layout_is_iso_4909_in_order():
    assert [f.name for f in LAYOUT][:4] == ["format_code", "pan", "country", "currency"]
    # the fixed part after the PAN's separator, 1987 layout: 40 characters up to the card sequence number
    fixed = [f for f in LAYOUT[2:] if f.name != "security_number"]
    assert sum(f.length for f in fixed[: [f.name for f in fixed].index("sequence_number") + 1]) == 40


def test_secrets_never_show_and_a_track3_cannot_be_pickled():
    t = parse_track3(SAMPLES["subsidiary accounts and additional data"][0])
    shown = repr(t) + str(t)
    for secret in (UP16, "0209237727", "336958", "0020000000000000"):
        assert secret not in shown
    with pytest.raises(TypeError):
        pickle.dumps(t)
    with pytest.raises(TypeError):
        hash(t)
    t.wipe()
    assert t.pan.wiped and t.pin_control.wiped and t.san1.wiped and t.additional_data.wiped


# -- properties ---------------------------------------------------------------------------------

def _with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


digits = lambda n: st.text("0123456789", min_size=n, max_size=n)  # noqa: E731
pans = st.integers(11, 18).flatmap(digits).map(_with_check_digit)
secret = lambda n: st.none() | digits(n).map(Secret)  # noqa: E731
variable = st.none() | st.integers(1, 12).flatmap(digits).map(Secret)


@st.composite
def track3s(draw) -> Track3:
    return Track3(
        format_code=draw(digits(2)),
        pan=draw(st.none() | pans.map(Pan)),
        country=draw(st.none() | digits(3)),
        currency=draw(digits(3)),
        currency_exponent=draw(st.integers(0, 9)),
        amount_authorised=draw(st.integers(0, 9999)),
        amount_remaining=draw(st.integers(0, 9999)),
        cycle_begin=draw(digits(4)),
        cycle_length=draw(digits(2)),
        retry_count=draw(st.integers(0, 9)),
        pin_control=draw(secret(6)),
        interchange_control=draw(digits(1)),
        restriction_pan=draw(digits(2)),
        restriction_san1=draw(digits(2)),
        restriction_san2=draw(digits(2)),
        expiry=draw(st.none() | st.tuples(st.integers(0, 99), st.integers(1, 12)).map(lambda t: f"{t[0]:02d}{t[1]:02d}")),
        sequence_number=draw(digits(1)),
        security_number=draw(secret(9)),
        san1=draw(variable),
        san2=draw(variable),
        relay_marker=draw(digits(1)),
        crypto_check=draw(secret(6)),
        additional_data=draw(st.none() | st.text("0123456789", min_size=1, max_size=8).map(Secret)),
    )


@given(track3s())
def test_any_track3_round_trips_through_its_text(t):
    assert parse_track3(encode_track3(t)) == t


@given(st.text("0123456789:;<=>", max_size=110))
def test_random_track3_text_only_ever_gives_a_card_error(text):
    try:
        parse_track3(text)
    except CardError as exc:
        assert exc.code in {"card.format", "card.pan_digits", "card.pan_length", "card.luhn"}
