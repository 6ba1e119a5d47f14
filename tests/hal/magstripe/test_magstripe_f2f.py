"""Raw F2F bit streams (hal.magstripe.f2f): the published vector, round trips both ways, every error with its position."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.errors import CardError
from hal.magstripe.f2f import (
    FORMATS,
    BitSwipe,
    Direction,
    TrackReadError,
    bits_from_text,
    bits_to_text,
    decode_swipe_bits,
    decode_track,
    encode_track,
)

VISA2 = "4761739001010010=4912101"
VISA1 = "B4761739001010010^VISA ACQUIRER TEST/CARD 01^4912101"


def test_the_published_track2_example_encodes_and_decodes(vectors):
    example = vectors["magstripe"]["track2_bits_example"]
    bits = encode_track(example["text"][1:-1], 2, leading=0, trailing=0)
    assert bits_to_text(bits) == example["bits"].replace(" ", "")
    decoded = decode_track(example["bits"].replace(" ", ""), 2)
    assert decoded.data.reveal_str() == "1234" and decoded.direction is Direction.FORWARD


def test_the_published_sample_card_round_trips_on_both_tracks(vectors):
    sample = vectors["magstripe"]
    for track, key in ((1, "track1"), (2, "track2")):
        text = sample[key][1:-1]
        assert decode_track(encode_track(text, track), track).data.reveal_str() == text


@pytest.mark.parametrize(("track", "text"), [(1, VISA1), (2, VISA2), (3, "996205500000000000004=156")])
def test_a_reversed_swipe_reads_the_same_and_says_so(track, text):
    forward = decode_track(encode_track(text, track), track)
    backward = decode_track(encode_track(text, track, reverse=True), track)
    assert forward.data == backward.data
    assert (forward.direction, backward.direction) == (Direction.FORWARD, Direction.REVERSE)


def test_track_formats_are_the_iso_ones():
    assert [(f.data_bits, f.offset, f.start, f.end, f.max_chars) for f in FORMATS.values()] == [
        (6, 0x20, "%", "?", 79), (4, 0x30, ";", "?", 40), (4, 0x30, ";", "?", 107)
    ]
    # every character, sentinels included, has an odd number of one bits
    for track, fmt in FORMATS.items():
        bits = encode_track("", track, leading=0, trailing=0)
        for i in range(0, len(bits), fmt.char_bits):
            assert sum(bits[i : i + fmt.char_bits]) % 2 == 1


def _flip(bits: bytearray, char: int, bit: int, track: int, leading: int = 16) -> bytearray:
    out = bytearray(bits)
    out[leading + char * FORMATS[track].char_bits + bit] ^= 1
    return out


@pytest.mark.parametrize(("track", "text"), [(1, VISA1), (2, VISA2)])
@pytest.mark.parametrize("char", [1, 2, 7, 16])
def test_a_flipped_bit_names_the_character_that_failed_its_parity(track, text, char):
    bits = _flip(encode_track(text, track), char, 1, track)
    with pytest.raises(TrackReadError) as info:
        decode_track(bits, track)
    assert info.value.code == "card.parity" and info.value.position == char + 1
    assert f"track {track} character {char + 1} failed its parity check" in info.value.text
    assert "swipe again" in info.value.text


def test_a_flipped_bit_in_a_reversed_swipe_is_found_too():
    bits = _flip(encode_track(VISA2, 2), 5, 2, 2)
    bits.reverse()
    with pytest.raises(TrackReadError) as info:
        decode_track(bits, 2)
    assert (info.value.code, info.value.position) == ("card.parity", 6)


def _lrc_case(kind: str) -> bytearray:
    bits = encode_track(VISA2, 2, trailing=16)
    lrc = len(bits) - 16 - 5
    if kind == "mismatch":
        bits[lrc] ^= 1
        bits[lrc + 4] ^= 1  # parity still odd
    elif kind == "parity":
        bits[lrc + 1] ^= 1
    elif kind == "missing":
        del bits[lrc:]
    return bits


@pytest.mark.parametrize(("kind", "words"), [("mismatch", "does not match"), ("parity", "failed its parity"), ("missing", "has no LRC")])
def test_lrc_errors_name_the_lrc_character(kind, words):
    with pytest.raises(TrackReadError) as info:
        decode_track(_lrc_case(kind), 2)
    assert info.value.code == "card.lrc" and words in info.value.text
    assert info.value.position == len(VISA2) + 3  # start sentinel, data, end sentinel, then the LRC


def _ss_inside() -> bytearray:
    bits = encode_track("12", 2, leading=4, trailing=0, end_sentinel=False)
    return bits + encode_track("", 2, leading=0, trailing=4)[:5] + bytes(10)  # a second ';' inside the data


@pytest.mark.parametrize(
    ("bits", "track", "code", "position"),
    [
        ("", 2, "card.no_track", None),
        ("0" * 80, 2, "card.no_track", None),
        ("0000" + "10000" * 8 + "0000", 2, "card.start_sentinel", 1),  # '1's, but no ';' at either end
        ("0102", 2, "card.bad_bits", None),
        (b"\x00\x01\x02", 2, "card.bad_bits", None),
        ([0, 1, 300], 2, "card.bad_bits", None),
        (object(), 2, "card.bad_bits", None),
        (bits_to_text(encode_track(VISA2, 2, end_sentinel=False)), 2, "card.end_sentinel", 26),
        (bits_to_text(encode_track(VISA2, 2, trailing=0, end_sentinel=False)), 2, "card.end_sentinel", 26),
        (bits_to_text(encode_track("1" * 40, 2)), 2, "card.end_sentinel", 40),  # longer than a track holds
        (bits_to_text(_ss_inside()), 2, "card.bad_char", 4),
        (bits_to_text(_lrc_case("mismatch")), 2, "card.lrc", 27),
    ],
)
def test_every_bit_level_error_has_its_code_and_position(bits, track, code, position):
    with pytest.raises(TrackReadError) as info:
        decode_track(bits, track)
    assert info.value.code == code and info.value.position == position and info.value.track == track
    assert isinstance(info.value, CardError)


def test_errors_never_quote_the_data():
    bits = _flip(encode_track(VISA2, 2), 9, 0, 2)
    with pytest.raises(CardError) as info:
        decode_track(bits, 2)
    message = str(info.value) + repr(info.value)
    for digits in ("4761", "0010", "4912", "101"):
        assert digits not in message


def test_a_swipe_decodes_every_track_and_skips_blank_ones():
    swipe = decode_swipe_bits({1: encode_track(VISA1, 1, reverse=True), 2: encode_track(VISA2, 2), 3: bytes(64)})
    assert swipe.track1.reveal_str() == VISA1 and swipe.track2.reveal_str() == VISA2 and swipe.track3 is None


@pytest.mark.parametrize(
    ("tracks", "code"),
    [
        ({}, "card.no_track"),
        ({2: bytes(40), 3: ""}, "card.no_track"),
        ({1: encode_track(VISA1, 1), 2: _flip(encode_track(VISA2, 2), 3, 0, 2)}, "card.parity"),
        ({2: encode_track(VISA2, 2), 3: "0012"}, "card.bad_bits"),
        ({4: encode_track(VISA2, 2)}, "card.bad_bits"),
    ],
)
def test_one_bad_track_spoils_the_swipe(tracks, code):
    with pytest.raises(CardError) as info:
        decode_swipe_bits(tracks)
    assert info.value.code == code


def test_bits_as_text_allow_spaces_and_refuse_anything_else():
    assert bits_from_text("110 10_1\n0", 2) == bytearray([1, 1, 0, 1, 0, 1, 0])
    with pytest.raises(TrackReadError) as info:
        bits_from_text("11 2", 2)
    assert info.value.code == "card.bad_bits"


def test_the_encoder_refuses_what_a_track_cannot_carry():
    for text, track in (("a", 1), ("A", 2), (";", 2), ("?", 3), ("%", 1)):
        with pytest.raises(ValueError):
            encode_track(text, track)


def test_a_bit_swipe_is_a_secret_container():
    swipe = BitSwipe({2: encode_track(VISA2, 2)})
    held = swipe.tracks[2]
    assert repr(swipe) == f"<BitSwipe track 2: {len(held)} bits>"
    with pytest.raises(TypeError):
        pickle.dumps(swipe)
    with pytest.raises(ValueError):
        BitSwipe({5: bytearray()})
    swipe.wipe()
    assert held == bytes(len(held)) and repr(swipe) == "<BitSwipe no bits>"


# -- properties ---------------------------------------------------------------------------------

def _text(track: int):
    fmt = FORMATS[track]
    alphabet = [chr(fmt.offset + v) for v in range(1 << fmt.data_bits) if v not in (fmt.start_value, fmt.end_value)]
    return st.text(st.sampled_from(alphabet), max_size=fmt.max_chars - 3)


@settings(max_examples=150)
@given(data=st.data(), track=st.sampled_from([1, 2, 3]), reverse=st.booleans(),
       leading=st.integers(0, 40), trailing=st.integers(0, 40))
def test_any_valid_text_round_trips_through_bits_either_way(data, track, reverse, leading, trailing):
    text = data.draw(_text(track))
    bits = encode_track(text, track, leading=leading, trailing=trailing, reverse=reverse)
    decoded = decode_track(bits, track)
    got = decoded.data.reveal_str()
    if not reverse:
        assert got == text and decoded.direction is Direction.FORWARD  # the forward reading is tried first
    elif got != text:
        # The reversed stream is also a valid track read forwards (parity survives reversal); the
        # forward reading wins, as the module says. It must then be a genuine reading of these bits.
        assert decoded.direction is Direction.FORWARD
        assert _trimmed(encode_track(got, track)) == _trimmed(bits)


def _trimmed(bits) -> bytes:
    return bytes(bits).strip(b"\x00")


def test_a_reverse_swipe_that_also_reads_forwards_gives_the_forward_track():
    """Found by hypothesis: a track 1 that, reversed, is also a valid track read forwards."""
    text = "\\00259:<EHOPX+(& "
    reversed_bits = encode_track(text, 1, leading=0, trailing=0, reverse=True)
    decoded = decode_track(reversed_bits, 1)
    assert decoded.direction is Direction.FORWARD and decoded.data.reveal_str() != text
    assert _trimmed(encode_track(decoded.data.reveal_str(), 1)) == _trimmed(reversed_bits)
    forward = decode_track(encode_track(text, 1, leading=0, trailing=0), 1)  # swiped the other way: it reads
    assert forward.data.reveal_str() == text


@settings(max_examples=300)
@given(bits=st.lists(st.integers(0, 1), max_size=800), track=st.sampled_from([1, 2, 3]))
def test_random_bits_only_ever_give_a_track_or_a_typed_error(bits, track):
    try:
        decoded = decode_track(bits, track)
    except TrackReadError as exc:
        assert exc.code.startswith("card.") and exc.track == track
    else:
        assert len(decoded.data) <= FORMATS[track].max_chars - 3


@given(raw=st.binary(max_size=300) | st.text(max_size=100))
def test_random_bytes_and_text_only_ever_give_a_typed_error(raw):
    try:
        decode_swipe_bits({2: raw})
    except CardError as exc:
        assert exc.code.startswith("card.")


@settings(max_examples=300)
@given(data=st.data(), track=st.sampled_from([1, 2, 3]), flip=st.integers(0, 10_000))
def test_any_single_flipped_bit_is_caught_or_reads_the_other_way(data, track, flip):
    """Parity and LRC catch one flipped bit read forwards. Read backwards every character still has odd
    parity, so a spoiled start sentinel can (rarely) leave a stream that is a valid track the other way
    round: that reading is never the original text, and the card checks of the parser come next."""
    text = data.draw(_text(track))
    bits = encode_track(text, track, leading=8, trailing=8)
    index = 8 + flip % (len(bits) - 16)  # a bit of a character, not of the clocking zeros
    bits[index] ^= 1
    try:
        decoded = decode_track(bits, track)
    except TrackReadError:
        return
    assert decoded.direction is Direction.REVERSE and decoded.data.reveal_str() != text
    assert index < 8 + FORMATS[track].char_bits  # only a flip in the start sentinel gets this far
