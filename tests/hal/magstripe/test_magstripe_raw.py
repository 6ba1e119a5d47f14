"""Splitting a reader's raw text into tracks by sentinel (hal.magstripe.raw)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.errors import CardError
from hal.magstripe import Swipe
from hal.magstripe.raw import ISO_SENTINELS, Sentinels, split_tracks

PLUS = Sentinels(track3="+")


def texts(tracks):
    return {n: d.reveal() for n, d in tracks.items()}


def test_the_published_sample_splits_into_tracks_1_and_2(vectors):
    sample = vectors["magstripe"]
    raw = (sample["track1"] + sample["track2"] + "\r\n").encode()
    assert texts(split_tracks(raw)) == {1: sample["track1"][1:-1].encode(), 2: sample["track2"][1:-1].encode()}


@pytest.mark.parametrize(
    ("raw", "sentinels", "expected"),
    [
        (b";1234=5678?", ISO_SENTINELS, {2: b"1234=5678"}),
        (b";1234=5678?;99123=456?", ISO_SENTINELS, {2: b"1234=5678", 3: b"99123=456"}),
        (b";1234=5678?+99123=456?", PLUS, {2: b"1234=5678", 3: b"99123=456"}),
        (b"%B1^A B^1?\r;12=3?\n+45?\r\n", PLUS, {1: b"B1^A B^1", 2: b"12=3", 3: b"45"}),
        (b"+45?", PLUS, {3: b"45"}),  # track 3 alone: the parser, not the splitter, refuses it
        (b"%E?;1234=5678?", ISO_SENTINELS, {2: b"1234=5678"}),  # the reader's "track 1 unreadable" mark
        (b"%E?;1234=5678?;E?", ISO_SENTINELS, {2: b"1234=5678"}),  # tracks 1 and 3 the reader could not read
        (b"%B1^A^1?;?", ISO_SENTINELS, {1: b"B1^A^1"}),  # an empty track counts as absent
    ],
)
def test_tracks_are_found_by_their_sentinels(raw, sentinels, expected):
    assert texts(split_tracks(raw, sentinels)) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "card.no_track"),
        (b"\r\n", "card.no_track"),
        (b"hello", "card.no_track"),
        (b"%E?;E?", "card.unreadable"),  # track 2, the host's, marked unreadable by the reader
        (b"%E?;E?;99=1?", "card.unreadable"),
        (b";?", "card.no_track"),
        (b";1234=5678", "card.end_sentinel"),
        (b"%B1234^NAME^2512", "card.end_sentinel"),
        (b"%B1234^NAME^2512;1234=2512?", "card.end_sentinel"),  # track 1 ran into track 2
        (b";1234=25;99=1?", "card.end_sentinel"),  # track 2 ran into track 3
        (b";12a4=5678?", "card.bad_char"),  # 'a' is not a 4-bit character
        (b"%b1234^x^1?", "card.bad_char"),  # lower case is not on track 1
        (b";12\xff4?", "card.bad_char"),
    ],
)
def test_damaged_raw_text_gives_a_card_error_code(raw, code):
    with pytest.raises(CardError) as info:
        split_tracks(raw)
    assert info.value.code == code
    assert "swipe again" in info.value.text


def test_sentinels_are_checked():
    with pytest.raises(ValueError):
        Sentinels(end=";")
    with pytest.raises(ValueError):
        Sentinels(track1="")


@given(st.binary(max_size=200))
def test_random_bytes_give_tracks_or_a_card_error(raw):
    try:
        tracks = split_tracks(raw, PLUS)
    except CardError as exc:
        assert exc.code in {"card.no_track", "card.end_sentinel", "card.bad_char"}
    else:
        assert tracks and set(tracks) <= {1, 2, 3}
        Swipe.from_tracks(tracks).wipe()


_T1 = st.text(st.sampled_from([chr(c) for c in range(0x20, 0x60) if chr(c) not in "%?;+"]), min_size=1, max_size=76)
_T23 = st.text(st.sampled_from("0123456789:<=>"), min_size=1, max_size=40)


@given(t1=st.none() | _T1, t2=st.none() | _T23, t3=st.none() | _T23, sep=st.sampled_from(["", "\r", "\r\n"]))
def test_any_valid_track_text_round_trips_through_its_sentinels(t1, t2, t3, sep):
    given_tracks = {n: t for n, t in ((1, t1), (2, t2), (3, t3)) if t is not None and t != "E"}
    raw = "".join(f"{s}{t}?{sep}" for s, t in (("%", t1), (";", t2), ("+", t3)) if t is not None)
    if not given_tracks:
        with pytest.raises(CardError):
            split_tracks(raw.encode(), PLUS)
        return
    assert texts(split_tracks(raw.encode(), PLUS)) == {n: t.encode() for n, t in given_tracks.items()}
