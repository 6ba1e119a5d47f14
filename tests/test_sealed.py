"""The sealed card of a sale: its packed form, rows sealed as JSON before it, and wiping."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.atrest import Sealer
from crypto.secrets import Pan, SecretKey, TrackData
from firmware.errors import CryptoError
from firmware.sealed import CardSession, ClearCard, card_aad, pack_card, unpack_card
from hal.magstripe.sim import find_card

CARD = find_card("unionpay_debit")
TRACK3 = CARD.track3


def _sealer() -> Sealer:
    return Sealer({1: SecretKey(bytes(range(32)), "data")}, 1)


def _clear(expiry: str | None = "4912", track2: str | None = CARD.track2, track3: str | None = TRACK3,
           sequence: str | None = "0") -> ClearCard:
    return ClearCard(
        Pan(CARD.pan),
        expiry,
        TrackData(track2, track=2) if track2 else None,
        TrackData(track3, track=3) if track3 else None,
        sequence,
    )


def _plain(card: ClearCard) -> tuple:
    return (
        card.pan.reveal_str(),
        card.expiry,
        card.track2.reveal_str() if card.track2 else None,
        card.track3.reveal_str() if card.track3 else None,
        card.sequence,
    )


def test_the_session_opens_the_card_it_sealed_each_time_and_wipes_each_copy():
    session = CardSession(42, _sealer(), _clear())
    opened = []
    for _ in range(3):
        with session.card() as card:
            assert _plain(card) == (CARD.pan, "4912", CARD.track2, TRACK3, "0")
            opened.append(card)
    assert all(c.pan.wiped and c.track2.wiped and c.track3.wiped for c in opened)
    session.wipe()
    with pytest.raises(CryptoError) as e:
        with session.card():
            pass
    assert e.value.code == "secret.wiped"


class _CountingSealer:
    """A sealer that counts the blobs it opens."""

    def __init__(self) -> None:
        self.inner, self.opened = _sealer(), 0

    def seal(self, plaintext, aad):
        return self.inner.seal(plaintext, aad)

    def open(self, blob, aad):
        self.opened += 1
        return self.inner.open(blob, aad)


def test_the_card_is_opened_only_on_entering_its_with_and_wiped_however_the_with_ends():
    sealer = _CountingSealer()
    session = CardSession(7, sealer, _clear())
    unused = session.card()  # nothing is opened until the ``with`` is entered
    assert sealer.opened == 0
    del unused
    with pytest.raises(KeyError):
        with session.card() as card:
            assert sealer.opened == 1 and not card.pan.wiped
            raise KeyError("the message could not be built")
    assert card.pan.wiped and card.track2.wiped and card.track3.wiped


def test_the_card_handed_in_is_wiped_once_sealed():
    clear = _clear()
    CardSession(1, _sealer(), clear)
    assert clear.pan.wiped and clear.track2.wiped and clear.track3.wiped


def test_the_journal_copy_has_no_tracks():
    sealer = _sealer()
    session = CardSession(7, sealer, _clear())
    with session.card() as card:
        blob = session.sealed_for_journal(card)
    journal = unpack_card(sealer.open(blob, card_aad(7, "journal")))
    assert _plain(journal) == (CARD.pan, "4912", None, None, "0")


@pytest.mark.parametrize("tracks", [True, False])
def test_a_journal_row_sealed_as_json_before_the_packed_form_still_opens(tracks):
    # What pack_card wrote until the packed form replaced it.
    doc = {"pan": CARD.pan, "expiry": "4912", "seq": None}
    if tracks:
        doc.update(t2=CARD.track2, t3=None)
    sealer = _sealer()
    blob = sealer.seal(json.dumps(doc, separators=(",", ":")).encode(), card_aad(9, "journal"))
    raw = sealer.open(blob, card_aad(9, "journal"))
    card = unpack_card(raw)
    assert _plain(card) == (CARD.pan, "4912", CARD.track2 if tracks else None, None, None)
    assert not any(raw)  # wiped


def test_unpacking_wipes_the_packed_bytes():
    raw = pack_card(_clear())
    assert CARD.pan.encode() in raw
    unpack_card(raw)
    assert not any(raw)


def _packed() -> bytearray:
    return pack_card(_clear())


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda raw: raw[:-1], id="cut short"),
        pytest.param(lambda raw: raw + b"0", id="trailing byte"),
        pytest.param(lambda raw: raw[:4], id="inside the lengths"),
        pytest.param(lambda raw: bytearray(b"\x01\xff" + raw[2:6] + raw[6 + len(CARD.pan):]), id="no card number"),
    ],
)
def test_packed_card_data_that_does_not_add_up_is_refused(spoil):
    raw = spoil(_packed())
    with pytest.raises(CryptoError) as e:
        unpack_card(raw)
    assert e.value.code == "sealed.format"
    assert CARD.pan not in str(e.value)
    assert not any(raw)


def test_a_field_too_long_for_its_length_byte_is_refused():
    with pytest.raises(CryptoError) as e:
        pack_card(_clear(track3="0" * 255))
    assert e.value.code == "sealed.format"


_digits = st.text("0123456789", min_size=1, max_size=8)
_track = st.text("0123456789=", min_size=1, max_size=104)


@given(
    expiry=st.one_of(st.none(), st.just(""), _digits),
    track2=st.one_of(st.none(), _track),
    track3=st.one_of(st.none(), _track),
    sequence=st.one_of(st.none(), st.just(""), _digits),
    tracks=st.booleans(),
)
def test_any_card_round_trips_through_its_packed_form(expiry, track2, track3, sequence, tracks):
    card = _clear(expiry, track2, track3, sequence)
    want = _plain(card)
    got = _plain(unpack_card(pack_card(card, tracks=tracks)))
    assert got == (want if tracks else want[:2] + (None, None) + want[4:])
