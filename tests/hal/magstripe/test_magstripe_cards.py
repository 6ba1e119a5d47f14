"""A swipe of any track combination into a checked card (hal.magstripe.tracks), including UnionPay track 3."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from conftest import TODAY, make_swipe
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.secrets import Pan, Secret
from firmware.errors import CardError
from hal.magstripe import Swipe
from hal.magstripe.f2f import decode_swipe_bits, encode_track
from hal.magstripe.iso4909 import Track3, encode_track3
from hal.magstripe.pan import luhn_ok
from hal.magstripe.sim import TEST_CARDS
from hal.magstripe.sred import EncryptedSwipe
from hal.magstripe.tracks import parse_swipe, summary

FULL = TEST_CARDS["unionpay_full"]
PAN = FULL.pan
T1, T2, T3 = FULL.track1, FULL.track2, FULL.track3
OTHER = "6200000000000047"


@pytest.mark.parametrize(
    ("tracks", "used"),
    [("12", (1, 2)), ("23", (2, 3)), ("13", (1, 3)), ("123", (1, 2, 3)), ("2", (2,)), ("1", (1,))],
)
def test_every_track_combination_reads_and_cross_checks(tracks, used):
    given_tracks = {f"t{n}": t for n, t in (("1", T1), ("2", T2), ("3", T3)) if n in tracks}
    card = parse_swipe(make_swipe(**given_tracks), TODAY)
    assert card.pan.reveal_str() == PAN and card.expiry == "4912" and card.service_code == ("101" if "2" in tracks or "1" in tracks else None)
    assert card.tracks == used
    s = summary(card)
    assert s.tracks == "".join(map(str, used)) and s.sequence_number == ("1" if 3 in used else None)
    assert card.name == ("UNIONPAY/THREE TRACKS" if 1 in used else None)
    assert (card.track3 is not None) == ("3" in tracks)


def test_a_unionpay_debit_card_reads_from_tracks_2_and_3(vectors):
    card = TEST_CARDS["unionpay_debit"]
    parsed = parse_swipe(make_swipe(t2=card.track2, t3=card.track3), TODAY)
    assert parsed.tracks == (2, 3) and parsed.track3_fields.currency == "156"
    assert summary(parsed).pin_required and summary(parsed).online_only


def _t3(pan: str = PAN, expiry: str = "4912") -> str:
    return T3.replace(PAN, pan).replace("49121=", f"{expiry}1=")


def _t1(pan: str = PAN, expiry: str = "4912") -> str:
    return T1.replace(PAN, pan).replace("^4912", f"^{expiry}")


def _t2(pan: str = PAN, expiry: str = "4912") -> str:
    return T2.replace(PAN, pan).replace("=4912", f"={expiry}")


@pytest.mark.parametrize(
    "tracks",
    [
        {"t1": _t1(OTHER), "t2": _t2()},
        {"t1": _t1(expiry="4911"), "t2": _t2()},
        {"t2": _t2(), "t3": _t3(OTHER)},
        {"t2": _t2(), "t3": _t3(expiry="4911")},
        {"t1": _t1(), "t3": _t3(OTHER)},
        {"t1": _t1(), "t3": _t3(expiry="5001")},
        {"t1": _t1(), "t2": _t2(), "t3": _t3(OTHER)},
        {"t1": _t1(OTHER), "t2": _t2(), "t3": _t3()},
    ],
)
def test_tracks_that_disagree_are_refused(tracks):
    with pytest.raises(CardError) as info:
        parse_swipe(make_swipe(**tracks), TODAY)
    assert info.value.code == "card.tracks_disagree" and info.value.text == "Card tracks disagree: swipe again"


def test_a_track3_without_pan_or_expiry_agrees_with_anything():
    t3 = f"99={T3.split('=', 1)[1]}".replace("49121=", "00001=")
    card = parse_swipe(make_swipe(t2=T2, t3=t3), TODAY)
    assert card.tracks == (2, 3) and card.track3_fields.pan is None and card.track3_fields.expiry is None


def test_a_track3_in_an_issuer_layout_is_carried_but_not_checked(caplog):
    caplog.set_level(logging.DEBUG)
    odd = "99" + PAN + "=ABC"  # not ISO 4909 after the PAN
    odd = "99" + PAN + "=1"
    card = parse_swipe(make_swipe(t2=T2, t3=odd), TODAY)
    assert card.tracks == (2,) and card.track3.reveal_str() == odd and card.track3_fields is None
    assert "track 3 ignored" in caplog.text and "card.format" in caplog.text and PAN not in caplog.text


@pytest.mark.parametrize(
    ("tracks", "code"),
    [
        ({"t2": T2, "t3": _t3(PAN[:-1] + "9")}, "card.luhn"),  # a misread track 3 spoils the swipe
        ({"t2": T2, "t3": _t3(PAN[:5] + ":" + PAN[6:])}, "card.pan_digits"),
        ({"t2": T2, "t1": _t1(PAN[:-1] + "9")}, "card.luhn"),
        ({"t3": T3}, "card.no_track"),  # the host needs track 2, or track 1's PAN
        ({"t2": T2 + "0" * 14}, "card.track_length"),  # 38 characters: more than track 2 holds
        ({"t1": T1 + "0" * 30}, "card.track_length"),
        ({"t2": _t2(expiry="2505")}, "card.expired"),
    ],
)
def test_card_level_errors(tracks, code):
    with pytest.raises(CardError) as info:
        parse_swipe(make_swipe(**tracks), TODAY)
    assert info.value.code == code
    assert PAN not in str(info.value)


def test_a_long_track1_beside_a_good_track2_is_ignored():
    card = parse_swipe(make_swipe(t1=T1 + "0" * 30, t2=T2), TODAY)
    assert card.tracks == (2,) and card.name is None


def test_an_encrypted_swipe_is_refused_until_it_is_decrypted():
    enc = EncryptedSwipe(bytes(10), {2: bytes(16)})
    with pytest.raises(CardError) as info:
        parse_swipe(Swipe(encrypted=enc), TODAY)
    assert info.value.code == "card.encrypted"


@pytest.mark.parametrize(("restriction", "restricted"), [("10", False), ("14", False), ("12", True), ("13", True)])
def test_a_track3_service_restriction_against_pos_use_is_reported(restriction, restricted):
    t3 = T3.replace("210000049121", f"2{restriction}00004912" + "1")
    card = parse_swipe(make_swipe(t2=T2, t3=t3), TODAY)
    assert card.track3_fields.restriction_pan == restriction
    assert summary(card).service_restricted is restricted


def test_the_card_wipes_its_track3_fields():
    card = parse_swipe(make_swipe(t2=T2, t3=T3), TODAY)
    fields = card.track3_fields
    card.wipe()
    assert fields.pan.wiped and fields.pin_control.wiped and card.track3.wiped


# -- the whole path, from bits: hypothesis ---------------------------------------------------

def _with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


pans = st.integers(11, 18).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)).map(_with_check_digit)
expiries = st.tuples(st.integers(25, 99), st.integers(1, 12)).map(lambda t: f"{t[0]:02d}{t[1]:02d}")
services = st.text("0123456789", min_size=3, max_size=3)
names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ /.", min_size=2, max_size=26).filter(lambda n: n.strip())
disc = st.text("0123456789", max_size=8)


@settings(max_examples=150, deadline=None)
@given(pan=pans, expiry=expiries, svc=services, name=names, d=disc, combo=st.sampled_from(["12", "23", "13", "123"]),
       directions=st.tuples(st.booleans(), st.booleans(), st.booleans()), csn=st.text("0123456789", min_size=1, max_size=1))
def test_random_valid_cards_round_trip_from_bits_in_any_direction(pan, expiry, svc, name, d, combo, directions, csn):
    texts = {
        1: f"B{pan}^{name}^{expiry}{svc}{d}",
        2: f"{pan}={expiry}{svc}{d}",
        3: encode_track3(Track3("99", Pan(pan), "156", "156", 2, 100, 50, "0001", "01", 3, Secret("000000"), "2",
                                "10", "00", "00", expiry, csn, san1=Secret("0"), san2=None, relay_marker="0"),
                         through="relay_marker"),
    }
    bits = {n: encode_track(texts[n], n, reverse=directions[n - 1]) for n in map(int, combo)}
    swipe = decode_swipe_bits(bits)
    assert {n: t.reveal_str() for n, t in ((1, swipe.track1), (2, swipe.track2), (3, swipe.track3)) if t} == {n: texts[n] for n in map(int, combo)}
    card = parse_swipe(swipe, date(2025, 1, 1))
    assert card.pan.reveal_str() == pan and card.expiry == expiry
    assert card.service_code == (svc if combo != "3" else None)
    assert card.tracks == tuple(map(int, combo))
    assert (card.name == name.strip()) if "1" in combo else card.name is None
    assert card.sequence_number == (csn if "3" in combo else None)
