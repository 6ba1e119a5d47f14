"""Parsing tracks into a card (hal.magstripe.tracks)."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.secrets import TrackData
from firmware.errors import CardError
from hal.magstripe import Swipe
from hal.magstripe.tracks import Card, CardSummary, luhn_ok, parse_swipe, summary

TODAY = date(2025, 6, 15)
VISA = "4761739001010010"


def swipe(t1: str | bytes | None = None, t2: str | bytes | None = None, t3: str | bytes | None = None) -> Swipe:
    make = lambda text, n: None if text is None else TrackData(text, track=n)  # noqa: E731
    return Swipe(make(t1, 1), make(t2, 2), make(t3, 3))


def test_the_published_sample_parses(vectors):
    sample = vectors["magstripe"]
    s = swipe(sample["track1"][1:-1], sample["track2"][1:-1])
    card = parse_swipe(s, date(2016, 4, 30))
    assert card.pan.reveal_str() == "5350290149345177"
    assert (card.expiry, card.service_code, card.name) == ("1604", "201", "FATEHI/SUALEH")
    assert card.track2.reveal() == sample["track2"][1:-1].encode()
    assert card.track3 is None
    assert repr(card) == "<Card 535029******5177>"
    with pytest.raises(CardError) as info:
        parse_swipe(s, date(2016, 5, 1))
    assert info.value.code == "card.expired"


def test_track2_alone_is_enough_and_track3_is_kept():
    t3 = "996205500000000000004=1561560000000000001003000000214000049120=000000000000"
    card = parse_swipe(swipe(t2="6205500000000000004=4912120" + "0000000000", t3=t3), TODAY)
    assert card.pan.reveal_str() == "6205500000000000004"
    assert (card.expiry, card.service_code, card.name) == ("4912", "120", None)
    assert card.track3.reveal_str() == t3 and card.track3.track == 3


def test_track1_alone_is_read_and_spaces_in_its_pan_are_allowed():
    card = parse_swipe(swipe(t1="B4761 7390 0101 0010^TEST/CARD    ^4912101000"), TODAY)
    assert card.pan.reveal_str() == VISA
    assert (card.expiry, card.service_code, card.name, card.track2) == ("4912", "101", "TEST/CARD", None)


def test_a_card_without_a_service_code_parses():
    card = parse_swipe(swipe(t1=f"B{VISA}^A/B^4912^123", t2=f"{VISA}=4912=123"), TODAY)
    assert (card.expiry, card.service_code) == ("4912", None)
    assert summary(card) == CardSummary("476173******0010", "0010", "4912", None, False, False, False, False, tracks="12")


def test_a_bad_track1_beside_a_good_track2_is_ignored(caplog):
    caplog.set_level(logging.DEBUG)
    card = parse_swipe(swipe(t1=f"A{VISA}^NAME^4912101", t2=f"{VISA}=4912101"), TODAY)
    assert card.pan.reveal_str() == VISA and card.name is None
    assert "card.format" in caplog.text and VISA not in caplog.text


def test_the_card_holds_copies_of_the_tracks():
    s = swipe(t2=f"{VISA}=4912101", t3="99=1")
    card = parse_swipe(s, TODAY)
    s.wipe()
    assert s.wiped
    assert card.track2.reveal_str() == f"{VISA}=4912101" and card.track3.reveal_str() == "99=1"
    card.wipe()
    assert card.pan.wiped and card.track2.wiped and card.track3.wiped and card.name is None


def test_a_card_expires_after_the_last_day_of_its_month():
    s = swipe(t2=f"{VISA}=2506101")
    assert parse_swipe(s, date(2025, 6, 30)).expiry == "2506"
    with pytest.raises(CardError) as info:
        parse_swipe(s, date(2025, 7, 1))
    assert info.value.code == "card.expired" and info.value.text == "Card expired: use another card"


@pytest.mark.parametrize(
    ("tracks", "code"),
    [
        ({}, "card.no_track"),
        ({"t3": "996205500000000000004=156"}, "card.no_track"),
        ({"t2": VISA}, "card.format"),
        ({"t2": "=4912101"}, "card.format"),
        ({"t2": f"{VISA}=49"}, "card.format"),
        ({"t2": f"{VISA}=4913101"}, "card.format"),
        ({"t2": f"{VISA}=4900101"}, "card.format"),
        ({"t2": f"{VISA}=4912"}, "card.format"),
        ({"t2": f"{VISA}=49121"}, "card.format"),
        ({"t2": f"{VISA}=4912:01"}, "card.format"),
        ({"t2": f"{VISA}=4912101".encode() + b"\xff"}, "card.format"),
        ({"t2": f"{VISA}=4912101^"}, "card.format"),  # '^' is not a track 2 character
        ({"t1": f"A{VISA}^NAME^4912101"}, "card.format"),
        ({"t1": f"B{VISA}^NAME"}, "card.format"),
        ({"t1": f"B{VISA}^{'N' * 27}^4912101"}, "card.format"),
        ({"t1": "B^NAME^4912101"}, "card.format"),
        ({"t1": f"B{VISA}^NAME^49AB101"}, "card.format"),
        ({"t2": "47617390010100:0=4912101"}, "card.pan_digits"),
        ({"t1": "B47617390A1010010^NAME^4912101"}, "card.pan_digits"),
        ({"t2": "47617390010=4912101"}, "card.pan_length"),
        ({"t2": "47617390010100100000=4912101"}, "card.pan_length"),
        ({"t1": "B4761739^NAME^4912101"}, "card.pan_length"),
        ({"t2": "4761739001010011=4912101"}, "card.luhn"),
        ({"t1": "B4761739001010011^NAME^4912101"}, "card.luhn"),
        ({"t2": f"{VISA}=2505101"}, "card.expired"),
        ({"t1": f"B{VISA}^NAME^1912101"}, "card.expired"),
        ({"t1": "B4111111111111111^NAME^4912101", "t2": f"{VISA}=4912101"}, "card.tracks_disagree"),
        ({"t1": f"B{VISA}^NAME^4911101", "t2": f"{VISA}=4912101"}, "card.tracks_disagree"),
    ],
)
def test_each_problem_has_its_code_and_never_quotes_the_data(tracks, code):
    with pytest.raises(CardError) as info:
        parse_swipe(swipe(**tracks), TODAY)
    assert info.value.code == code
    message = str(info.value) + repr(info.value)
    assert "again" in message or "expired" in message
    for digits in ("4761", "0010", "4111", "6205", "4912", "1912", "2505"):
        assert digits not in message


@pytest.mark.parametrize(
    ("svc", "chip", "online_only", "pin_required", "pin_prompt"),
    [
        ("101", False, False, False, False),
        ("120", False, True, True, True),
        ("201", True, False, False, False),
        ("221", True, True, False, False),
        ("226", True, True, False, True),
        ("501", False, False, False, False),
        ("601", True, False, False, False),
        ("143", False, True, True, True),
        ("105", False, False, True, True),
        ("107", False, False, False, True),
        ("102", False, False, False, False),
    ],
)
def test_the_service_code_table(svc, chip, online_only, pin_required, pin_prompt):
    s = summary(parse_swipe(swipe(t2=f"{VISA}=4912{svc}"), TODAY))
    assert (s.chip, s.online_only, s.pin_required, s.pin_prompt) == (chip, online_only, pin_required, pin_prompt)
    assert (s.masked_pan, s.last4, s.expiry, s.service_code) == ("476173******0010", "0010", "4912", svc)
    assert VISA not in repr(s)


@pytest.mark.parametrize(
    ("digits", "ok"),
    [(VISA, True), ("4111111111111111", True), ("6205500000000000004", True), ("79927398713", True),
     ("4761739001010011", False), ("79927398710", False), ("", False), ("0", False), ("12a4", False),
     ("١٢٣٤", False)],
)
def test_luhn(digits, ok):
    assert luhn_ok(digits) is ok


# -- properties ---------------------------------------------------------------

def _luhn_by_the_book(digits: str) -> bool:
    """ISO/IEC 7812-1 annex B, as written: double every second digit from the right, add the digits."""
    total = sum(sum(map(int, str(int(d) * (2 if i % 2 else 1)))) for i, d in enumerate(reversed(digits)))
    return len(digits) >= 2 and total % 10 == 0


@given(st.text("0123456789", max_size=25))
def test_luhn_agrees_with_the_book_for_text_bytes_and_buffers(digits):
    """``luhn_ok`` adds table entries by digit code; the same answer as the standard's own steps, whatever the
    digits come in (a swiped PAN as text, a keyed account number in the PIN pad's buffer)."""
    expected = _luhn_by_the_book(digits)
    assert luhn_ok(digits) is luhn_ok(digits.encode()) is luhn_ok(bytearray(digits.encode())) is expected


def _with_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


pans = st.integers(11, 18).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)).map(_with_check_digit)
expiries = st.tuples(st.integers(25, 99), st.integers(1, 12)).map(lambda t: f"{t[0]:02d}{t[1]:02d}")
services = st.text("0123456789", min_size=3, max_size=3)
names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ /.", min_size=2, max_size=26)
discretionary = st.text("0123456789", max_size=10)


@given(pan=pans, expiry=expiries, svc=services, name=names, disc=discretionary, tracks=st.sampled_from(["12", "1", "2"]))
def test_valid_tracks_round_trip(pan, expiry, svc, name, disc, tracks):
    t1 = f"B{pan}^{name}^{expiry}{svc}{disc}" if "1" in tracks else None
    t2 = f"{pan}={expiry}{svc}{disc}" if "2" in tracks else None
    card = parse_swipe(swipe(t1, t2), date(2025, 1, 1))
    assert isinstance(card, Card)
    assert card.pan.reveal_str() == pan
    assert (card.expiry, card.service_code) == (expiry, svc)
    assert card.name == ((name.strip() or None) if t1 else None)
    assert pan not in repr(card) and (t2 is None or card.track2.reveal_str() == t2)
    s = summary(card)
    assert s.last4 == pan[-4:] and s.chip == (svc[0] in "26")


@given(t1=st.none() | st.binary(max_size=90), t2=st.none() | st.binary(max_size=45), t3=st.none() | st.binary(max_size=20))
def test_random_track_contents_only_ever_raise_card_error(t1, t2, t3):
    try:
        card = parse_swipe(swipe(t1, t2, t3), TODAY)
    except CardError as exc:
        assert exc.code.startswith("card.")
    else:
        assert luhn_ok(card.pan.reveal_str())


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x5F), max_size=80))
def test_random_track1_text_only_ever_raises_card_error(text):
    try:
        parse_swipe(swipe(t1=text), TODAY)
    except CardError:
        pass
