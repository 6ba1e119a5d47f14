"""The reader port through its simulator: enabling, type-ahead, damaged swipes, faults."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from firmware.errors import CardError, ReaderError, ScenarioError
from hal.magstripe import Swipe
from hal.magstripe.sim import TEST_CARDS, SimReader
from hal.magstripe.raw import split_tracks
from hal.magstripe.tracks import luhn_ok, parse_swipe, summary
from hal.registry import open_device

TODAY = date(2025, 6, 15)


@pytest.fixture
def reader():
    r = open_device("reader", "sim://")
    yield r
    r.close()


def test_a_swipe_on_an_enabled_reader_arrives_once(reader):
    reader.enable()
    card = reader.swipe_card("visa")
    assert reader.swipes_pending == 1
    (got,) = reader.poll()
    assert isinstance(got, Swipe)
    assert got.track1.reveal_str() == card.track1 and got.track2.reveal_str() == card.track2
    assert got.track3 is None
    assert reader.poll() == [] and reader.swipes_pending == 0


def test_swipes_made_while_disabled_wait_for_enable(reader):
    reader.swipe_card("mastercard")
    assert reader.poll() == [] and reader.swipes_pending == 1
    assert reader.next_deadline() is None
    reader.enable()
    assert reader.next_deadline() is not None
    (got,) = reader.poll()
    assert parse_swipe(got, TODAY).pan.reveal_str() == TEST_CARDS["mastercard"].pan


def test_without_type_ahead_the_port_drops_and_wipes_a_swipe_while_disabled(caplog):
    caplog.set_level(logging.DEBUG)
    reader = open_device("reader", "sim://?type_ahead=false")
    reader.swipe_card("visa")
    raw = reader._queue[0]  # the buffer the port will be handed
    assert reader.poll() == []
    assert reader.swipes_pending == 0 and raw == bytes(len(raw))
    assert "dropped" in caplog.text and TEST_CARDS["visa"].pan not in caplog.text
    reader.enable()
    assert reader.poll() == []
    reader.disable()
    assert not reader.enabled


def test_track3_sentinel_option_is_honoured():
    for option, sentinel in (("semicolon", b";"), ("plus", b"+")):
        reader = open_device("reader", f"sim://?track3={option}")
        reader.enable()
        reader.swipe(track2="6205500000000000004=4912120", track3="99123=4")
        reader.swipe_raw(b";6205500000000000004=4912120?" + sentinel + b"99123=4?")
        for got in reader.poll():
            assert got.track3.reveal_str() == "99123=4"


@pytest.mark.parametrize("name", sorted(TEST_CARDS))
def test_every_test_card_reads_and_is_what_it_says(reader, name):
    reader.enable()
    reader.swipe_card(name)
    (got,) = reader.poll()
    card = TEST_CARDS[name]
    assert luhn_ok(card.pan)
    assert card.pan not in repr(card) and card.pan not in repr(got)
    if name == "expired":
        with pytest.raises(CardError, match="expired"):
            parse_swipe(got, TODAY)
        return
    parsed = parse_swipe(got, TODAY)
    assert parsed.pan.reveal_str() == card.pan and parsed.expiry == "4912"
    assert summary(parsed).chip is (name == "chip")


def test_a_card_name_may_be_spelt_with_hyphens(reader):
    reader.enable()
    assert reader.swipe_card("unionpay-debit") is TEST_CARDS["unionpay_debit"]
    assert len(reader.poll()) == 1


def test_the_test_cards_cover_the_brief():
    cards = TEST_CARDS
    assert cards["unionpay_debit"].pan.startswith("62") and cards["unionpay_debit"].track3
    assert cards["unionpay_debit"].track2 and not cards["unionpay_debit"].track1
    assert cards["unionpay_credit"].pan.startswith("62")
    assert cards["visa"].pan[0] == "4" and cards["visa"].track1 and cards["visa"].track2
    assert cards["mastercard"].pan[0] == "5" and cards["mastercard"].track1
    assert cards["chip"].track2.split("=")[1][4] == "2"


@pytest.mark.parametrize(
    ("damage", "card", "port_code", "parser_code"),
    [
        ("missing_end_sentinel", "visa", "card.end_sentinel", None),
        ("missing_end_sentinel", "unionpay_debit", "card.end_sentinel", None),
        ("truncated", "visa", None, "card.format"),
        ("non_digit_pan", "mastercard", None, "card.pan_digits"),
        ("bad_luhn", "visa", None, "card.luhn"),
        ("bad_luhn", "unionpay_debit", None, "card.luhn"),
    ],
)
def test_damaged_swipes_give_their_codes(reader, damage, card, port_code, parser_code):
    reader.enable()
    reader.swipe_damaged(damage, card=card)
    (got,) = reader.poll()
    if port_code:
        assert isinstance(got, CardError) and got.code == port_code
        assert got.__traceback__ is None  # returned, not raised: no frames holding raw text
        return
    assert isinstance(got, Swipe)
    with pytest.raises(CardError) as info:
        parse_swipe(got, TODAY)
    assert info.value.code == parser_code


def test_raw_input_is_split_by_the_port(reader):
    reader.enable()
    reader.swipe_raw(b"noise")
    reader.swipe_raw(";4761739001010010=4912101?\r\n")
    bad, good = reader.poll()
    assert isinstance(bad, CardError) and bad.code == "card.no_track"
    assert good.track2.reveal_str() == "4761739001010010=4912101"


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda r: r.swipe_card("amex"), "scenario.unknown_card"),
        (lambda r: r.swipe_damaged("wet"), "scenario.unknown_damage"),
        (lambda r: r.swipe_damaged("truncated", card="nope"), "scenario.unknown_card"),
    ],
)
def test_instrument_misuse_is_a_scenario_error(reader, call, code):
    with pytest.raises(ScenarioError) as info:
        call(reader)
    assert info.value.code == code


def test_a_silent_reader_cannot_be_enabled_and_delivers_nothing(reader):
    reader.stop_answering()
    with pytest.raises(ReaderError) as info:
        reader.enable()
    assert info.value.code == "reader.not_responding" and not reader.enabled
    reader.swipe_card("visa")
    assert reader.poll() == []
    reader.resume()
    reader.enable()
    assert len(reader.poll()) == 1


def test_a_closed_reader_refuses_work_and_wipes_what_it_held():
    reader = SimReader("sim://")
    with pytest.raises(ReaderError) as info:
        reader.poll()
    assert info.value.code == "reader.not_open"
    with pytest.raises(ReaderError):
        reader.enable()
    reader.open()
    reader.enable()
    reader.swipe_card("visa")
    raw = reader._queue[0]
    reader.close()
    assert not reader.enabled and reader.swipes_pending == 0 and raw == bytes(len(raw))


def test_swipe_repr_and_wipe_and_pickling():
    import pickle

    from crypto.secrets import TrackData

    s = Swipe(track2=TrackData("4761739001010010=4912101", track=2))
    assert repr(s) == "<Swipe track 2, 24 chars>"
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        Swipe(track1=TrackData("x", track=2))
    s.wipe()
    assert s.wiped and repr(s) == "<Swipe track 2, wiped>"
    assert repr(Swipe()) == "<Swipe no tracks>"


# -- bit-level swipes through the port (issue #3) ------------------------------------------------

@pytest.mark.parametrize("name", sorted(TEST_CARDS))
@pytest.mark.parametrize("reverse", [False, True])
def test_every_test_card_reads_from_its_bits_either_way(reader, name, reverse):
    reader.enable()
    reader.swipe_bits(name, reverse=reverse)
    (got,) = reader.poll()
    card = TEST_CARDS[name]
    for n in (1, 2, 3):
        text = getattr(card, f"track{n}")
        data = getattr(got, f"track{n}")
        assert (data.reveal_str() if data is not None else None) == text
    if name != "expired":
        assert parse_swipe(got, TODAY).pan.reveal_str() == card.pan


@pytest.mark.parametrize(
    ("damage", "port_code", "parser_code"),
    [
        ("flipped_bit", "card.parity", None),
        ("bad_lrc", "card.lrc", None),
        ("missing_end_sentinel", "card.end_sentinel", None),
        ("truncated", "card.end_sentinel", None),
        ("non_digit_pan", None, "card.pan_digits"),
        ("bad_luhn", None, "card.luhn"),
    ],
)
@pytest.mark.parametrize("reverse", [False, True])
def test_bit_level_damage_gives_its_code(reader, damage, port_code, parser_code, reverse):
    reader.enable()
    reader.swipe_bits("unionpay_debit", damage=damage, reverse=reverse)
    (got,) = reader.poll()
    if port_code:
        assert isinstance(got, CardError) and got.code == port_code and got.__traceback__ is None
        return
    with pytest.raises(CardError) as info:
        parse_swipe(got, TODAY)
    assert info.value.code == parser_code


def test_a_flipped_bit_names_the_character():
    reader = open_device("reader", "sim://")
    reader.enable()
    reader.swipe_bits("visa", damage="flipped_bit")
    (got,) = reader.poll()
    assert got.code == "card.parity" and "track 2 character 6 failed its parity check" in got.text


@pytest.mark.parametrize(("card", "damage"), [("visa", "flipped_bit"), ("unionpay_debit", "bad_lrc")])
def test_text_level_bit_damage_is_the_readers_E_and_a_swipe_again(reader, card, damage):
    """A text reader sends E for a track it found a parity or LRC error in. On track 2, the track the host is
    sent, that is a misread as it is at the bit level (card.parity, card.lrc): swipe again. It once read the
    visa card from track 1 alone, sending the host no track 2 for a card that has one (UX24)."""
    reader.enable()
    reader.swipe_damaged(damage, card=card)
    (got,) = reader.poll()
    assert isinstance(got, CardError) and got.code == "card.unreadable" and "swipe again" in got.text
    reader.swipe_card(card)  # and the next swipe reads normally
    (again,) = reader.poll()
    assert isinstance(again, Swipe) and 2 in parse_swipe(again, TODAY).tracks


def test_a_track_1_or_3_the_reader_could_not_read_is_left_out():
    tracks = split_tracks(b"%E?;4761739001010010=49121010000000000000?;E?")
    assert sorted(tracks) == [2]


def test_bits_of_given_tracks_and_closing_wipes_them():
    reader = open_device("reader", "sim://")
    reader.swipe_bits(tracks={2: "4761739001010010=4912101"})
    held = reader._queue[0]
    assert repr(held).startswith("<BitSwipe track 2")
    reader.close()
    assert held.tracks == {}


def test_damage_needs_a_track2(reader):
    with pytest.raises(ScenarioError) as info:
        reader.swipe_bits(tracks={1: "B4761739001010010^A/B^4912101"}, damage="flipped_bit")
    assert info.value.code == "scenario.bad_damage"
    with pytest.raises(ScenarioError) as info:
        reader.swipe_bits("visa", damage="soaked")
    assert info.value.code == "scenario.unknown_damage"


def test_test_pans_are_recognised_exactly():
    from hal.magstripe.sim import is_test_pan

    assert all(is_test_pan(card.pan) for card in TEST_CARDS.values())
    assert is_test_pan("4111111111111111")
    assert not is_test_pan("4111111111111129") and not is_test_pan("411111111111111") and not is_test_pan("")
