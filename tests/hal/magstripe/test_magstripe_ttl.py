"""The TTL (GPIO) reader driver against a simulated head on a simulated pin source."""

from __future__ import annotations

import logging
import select

import pytest
from conftest import TODAY, card_texts, poll_until, settle

from firmware.errors import CardError, ConfigError, ReaderError
from hal.gpio import Edge, make_pin_source
from hal.gpio.sim import SimPins
from hal.magstripe import Swipe
from hal.magstripe.devsim import TtlHeadSim
from hal.magstripe.f2f import encode_track
from hal.magstripe.sim import TEST_CARDS, Damage, swipe_track_bits
from hal.magstripe.tracks import parse_swipe
from hal.magstripe.ttl import MAX_BITS, GpioReader
from hal.registry import make_device, open_device

THREE = "gpio://?pins=sim&present=4&strobe1=5&data1=6&strobe2=13&data2=19&strobe3=20&data3=21&timeout=0.05"


@pytest.fixture
def reader():
    r = open_device("reader", THREE)
    r.enable()
    yield r
    r.close()


@pytest.fixture
def head(reader):
    return TtlHeadSim.for_reader(reader)


def tracks_of(swipe) -> dict[int, str]:
    return {t.track: t.reveal_str() for t in swipe.tracks}


def expected(name: str) -> dict[int, str]:
    c = TEST_CARDS[name]
    return {n: t for n, t in ((1, c.track1), (2, c.track2), (3, c.track3)) if t}


def test_the_pins_are_set_up_as_the_wiring_needs(reader):
    pins = reader.pins
    assert isinstance(pins, SimPins) and all(pins.pull_up[p] for p in (4, 5, 6, 13, 19, 20, 21))
    assert pins.watched(4) == [Edge.BOTH] and pins.watched(13) == [Edge.FALLING] and pins.watched(19) == []


@pytest.mark.parametrize("name", sorted(TEST_CARDS))
@pytest.mark.parametrize("reverse", [False, True])
def test_every_card_swiped_either_way_reads(reader, head, name, reverse):
    head.swipe_card(name, reverse=reverse)
    (got,) = reader.poll()
    assert isinstance(got, Swipe) and tracks_of(got) == expected(name)
    if name != "expired":
        assert parse_swipe(got, TODAY).pan.reveal_str() == TEST_CARDS[name].pan


def test_a_swipe_clocked_in_over_several_polls_arrives_when_the_card_leaves(reader, head):
    bits = swipe_track_bits(TEST_CARDS["unionpay_full"])
    head.insert()
    for n in (1, 2, 3):
        half = len(bits[n]) // 2
        head.clock(n, bits[n][:half])
        assert reader.poll() == []
        head.clock(n, bits[n][half:])
        assert reader.poll() == []
    head.remove()
    (got,) = reader.poll()
    assert tracks_of(got) == expected("unionpay_full") and parse_swipe(got, TODAY).tracks == (1, 2, 3)


@pytest.mark.parametrize(
    ("damage", "code", "position"),
    [
        (Damage.FLIPPED_BIT, "card.parity", 6),
        (Damage.BAD_LRC, "card.lrc", None),
        (Damage.MISSING_END_SENTINEL, "card.end_sentinel", None),
        (Damage.TRUNCATED, "card.end_sentinel", None),
    ],
)
def test_damaged_cards_give_their_codes_and_positions(reader, head, damage, code, position):
    head.swipe_card("visa", damage=damage)
    (got,) = reader.poll()
    assert isinstance(got, CardError) and got.code == code and got.__traceback__ is None
    if position is not None:
        assert f"track 2 character {position} failed" in got.text


def test_a_card_pulled_back_halfway_is_a_bad_read(reader, head):
    bits = swipe_track_bits(TEST_CARDS["visa"])
    head.insert()
    head.clock(2, bits[2][: len(bits[2]) // 3])
    head.remove()
    (got,) = reader.poll()
    assert isinstance(got, CardError) and got.code == "card.end_sentinel"


def test_a_card_left_in_the_slot_times_out(reader, head):
    head.swipe_bits(swipe_track_bits(TEST_CARDS["visa"]), remove=False)
    assert reader.next_deadline() is not None
    (got,) = poll_until(reader)  # the strobes stopped: the swipe is complete
    assert tracks_of(got) == expected("visa")
    head.remove()
    assert reader.poll() == []


def test_a_strobe_that_clocks_without_end_gives_bad_reads_not_a_growing_buffer(reader, head):
    """A noisy strobe with the card in never goes quiet: each card's worth of bits is one bad read."""
    head.insert()
    got: list = []
    for _ in range(20):
        head.clock(2, bytes([0, 1]) * 500)
        if select.select([reader.fileno()], [], [], 0)[0]:
            got += reader.poll()
    assert len(got) == 20 * 1000 // MAX_BITS
    assert all(isinstance(g, CardError) and g.code.startswith("card.") for g in got), got
    head.remove()


def test_a_head_without_a_card_present_wire_ends_swipes_by_silence():
    reader = open_device("reader", "gpio://?pins=sim&present=-1&strobe2=13&data2=19&timeout=0.05")
    try:
        reader.enable()
        head = TtlHeadSim.for_reader(reader)
        head.swipe_card("unionpay_debit")  # track 3 is not wired on this head
        (got,) = poll_until(reader)
        assert tracks_of(got) == {2: TEST_CARDS["unionpay_debit"].track2}
    finally:
        reader.close()


def test_clocking_with_no_card_in_the_slot_is_noise(reader, head):
    head.clock(2, encode_track("4761739001010010=4912101", 2))
    assert settle(reader, 0.08) == []


def test_the_wake_pipe_makes_the_reader_selectable(reader, head):
    fd = reader.fileno()
    assert not select.select([fd], [], [], 0)[0]
    head.swipe_card("visa")
    assert select.select([fd], [], [], 0)[0] == [fd]
    assert len(reader.poll()) == 1
    assert not select.select([fd], [], [], 0)[0]


def test_a_swipe_while_disabled_is_dropped(reader, head):
    reader.disable()
    head.swipe_card("visa")
    assert reader.poll() == []
    reader.enable()
    assert reader.poll() == []


def test_closing_releases_the_pins_and_wipes_what_was_held(reader, head):
    head.swipe_card("visa")
    held = reader._done[0]
    pins = reader.pins
    reader.close()
    assert pins.closed and held.tracks == {} and reader.fileno() is None


def test_a_pin_source_can_be_handed_in():
    pins = SimPins()
    reader = GpioReader("gpio://?present=4&strobe2=13&data2=19", pins=pins)
    reader.open()
    reader.enable()
    TtlHeadSim(pins, present=4, tracks={2: (13, 19)}).swipe_card("mastercard")
    (got,) = reader.poll()
    assert tracks_of(got) == {2: TEST_CARDS["mastercard"].track2}
    reader.close()


def test_rpi_gpio_off_a_pi_is_an_error_not_a_fallback():
    reader = make_device("reader", "gpio://")
    assert reader.options["pins"] == "rpigpio"
    with pytest.raises(ReaderError) as info:
        reader.open()
    assert info.value.code == "reader.open_failed" and "RPi.GPIO" in info.value.text
    assert not reader.is_open


def test_an_unknown_pin_source_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        make_pin_source("pigpio")
    assert info.value.code == "config.bad_option" and "rpigpio, sim" in info.value.text


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("strobe2=-1&data2=-1", "no track is wired"),
        ("strobe1=5", "track 1 needs both"),
        ("strobe2=17", "different BCM number"),
        ("data2=60", "different BCM number"),
        ("timeout=0", "timeout"),
        ("pins=pigpio", "one of rpigpio, sim"),
    ],
)
def test_bad_wiring_is_refused(query, words):
    with pytest.raises(ConfigError) as info:
        make_device("reader", f"gpio://?{query}")
    assert info.value.code == "config.bad_option" and words in info.value.text


def test_no_card_data_reaches_the_log(reader, head, caplog):
    caplog.set_level(logging.DEBUG)
    for name in TEST_CARDS:
        head.swipe_card(name, reverse=True)
    head.swipe_card("visa", damage=Damage.FLIPPED_BIT)
    got = reader.poll()
    assert len(got) == len(TEST_CARDS) + 1
    shown = caplog.text + "".join(repr(g) for g in got)
    for secret in card_texts():
        assert secret not in shown
