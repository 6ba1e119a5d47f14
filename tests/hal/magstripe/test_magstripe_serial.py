"""The serial reader driver (real pyserial) against a reader simulator on a real pseudo-terminal."""

from __future__ import annotations

import logging
import select

import pytest
from conftest import TODAY, card_texts, poll_until, settle

from firmware.errors import CardError, ConfigError, ReaderError
from hal.magstripe import Swipe
from hal.magstripe.devsim import PtyReaderSim, pieces
from hal.magstripe.raw import Sentinels
from hal.magstripe.serial import SerialReader
from hal.magstripe.sim import TEST_CARDS, Damage
from hal.magstripe.tracks import parse_swipe
from hal.registry import open_device


@pytest.fixture
def sim():
    s = PtyReaderSim()
    yield s
    s.close()


@pytest.fixture
def reader(sim):
    r = open_device("reader", f"serial://{sim.port}?timeout=0.05")
    r.enable()
    yield r
    r.close()


def tracks_of(swipe: Swipe) -> dict[int, str]:
    return {t.track: t.reveal_str() for t in swipe.tracks}


def expected(name: str) -> dict[int, str]:
    c = TEST_CARDS[name]
    return {n: t for n, t in ((1, c.track1), (2, c.track2), (3, c.track3)) if t}


@pytest.mark.parametrize("name", sorted(TEST_CARDS))
def test_every_test_card_arrives_through_the_serial_line(sim, reader, name):
    sim.swipe_card(name)
    (got,) = poll_until(reader)
    assert isinstance(got, Swipe) and tracks_of(got) == expected(name)


def test_a_swipe_split_across_reads_is_put_back_together(sim, reader):
    for piece in pieces(sim.swipe_text("unionpay_full"), 5):
        assert settle(reader, 0.01) == []  # nothing until the terminator
        sim.send(piece)
    (got,) = poll_until(reader)
    assert tracks_of(got) == expected("unionpay_full")
    assert parse_swipe(got, TODAY).tracks == (1, 2, 3)


def test_two_swipes_in_one_read_are_two_swipes(sim, reader):
    sim.send(sim.swipe_text("visa") + sim.swipe_text("mastercard"))
    first, second = poll_until(reader, 2)
    assert tracks_of(first) == expected("visa") and tracks_of(second) == expected("mastercard")


def test_a_partial_swipe_times_out_as_a_bad_read(sim, reader):
    sim.send(sim.swipe_text("visa")[:30])  # the card was pulled back: no end sentinel, no terminator
    (got,) = poll_until(reader)
    assert isinstance(got, CardError) and got.code == "card.end_sentinel" and got.__traceback__ is None
    assert reader.next_deadline() is None
    sim.swipe_card("visa")  # and the next swipe reads normally
    (again,) = poll_until(reader)
    assert tracks_of(again) == expected("visa")


@pytest.mark.parametrize(
    ("damage", "code"),
    [(Damage.MISSING_END_SENTINEL, "card.end_sentinel"), (Damage.TRUNCATED, "card.format"),
     (Damage.NON_DIGIT_PAN, "card.pan_digits"), (Damage.BAD_LUHN, "card.luhn"), (Damage.FLIPPED_BIT, "card.unreadable")],
)
def test_damaged_cards_give_their_codes(sim, reader, damage, code):
    sim.swipe_card("unionpay_full", damage=damage)
    (got,) = poll_until(reader)
    if isinstance(got, CardError):
        assert got.code == code
        return
    with pytest.raises(CardError) as info:
        parse_swipe(got, TODAY)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("query", "sentinels", "terminator", "prefix", "noise"),
    [
        ("terminator=lf", Sentinels(), b"\n", b"", b""),
        ("terminator=crlf&track3=plus", Sentinels(track3="+"), b"\r\n", b"", b""),
        ("terminator=etx&prefix=stx", Sentinels(), b"\x03", b"\x02", b"\x5a"),  # a block check byte after ETX
        ("terminator=none", Sentinels(), b"", b"", b""),  # the silence ends the swipe
        ("track1=at&track2=exclamation&track3=hash&end=ampersand", Sentinels("@", "!", "#", "&"), b"\r", b"", b""),
    ],
)
def test_framing_is_configurable(query, sentinels, terminator, prefix, noise):
    sim = PtyReaderSim(sentinels=sentinels, terminator=terminator, prefix=prefix)
    reader = open_device("reader", f"serial://{sim.port}?timeout=0.05&{query}")
    try:
        reader.enable()
        sim.send(sim.swipe_text("unionpay_full") + noise)
        sim.send(sim.swipe_text("unionpay_debit") + noise)
        got = poll_until(reader, 1 if not terminator else 2)
        if not terminator:  # without a terminator, back-to-back swipes are one burst: send them apart
            assert len(got) == 1
            return
        assert [tracks_of(g) for g in got] == [expected("unionpay_full"), expected("unionpay_debit")]
    finally:
        reader.close()
        sim.close()


def test_a_swipe_while_disabled_is_dropped_and_not_kept(sim, reader):
    reader.disable()
    sim.swipe_card("visa")
    assert settle(reader, 0.05) == []
    reader.enable()
    assert settle(reader, 0.02) == []


def test_the_port_can_be_selected_on(sim, reader):
    fd = reader.fileno()
    assert isinstance(fd, int) and not select.select([fd], [], [], 0)[0]
    sim.swipe_card("visa")
    assert select.select([fd], [], [], 5)[0] == [fd]
    assert len(poll_until(reader)) == 1


def test_an_unplugged_reader_is_a_reader_error(sim, reader):
    sim.close()
    with pytest.raises(ReaderError) as info:
        poll_until(reader)
    assert info.value.code == "reader.io_failed" and sim.port in info.value.text


def test_a_missing_port_cannot_be_opened():
    reader = SerialReader("serial:///dev/ttyPOSTERM-NONE")
    with pytest.raises(ReaderError) as info:
        reader.open()
    assert info.value.code == "reader.open_failed" and "/dev/ttyPOSTERM-NONE" in info.value.text


def test_the_port_is_taken_exclusively(sim, reader):
    other = SerialReader(f"serial://{sim.port}")
    with pytest.raises(ReaderError) as info:
        other.open()
    assert info.value.code == "reader.open_failed"


@pytest.mark.parametrize(
    ("url", "code", "words"),
    [
        ("serial://", "config.bad_url", "serial:///dev/ttyUSB0"),
        ("serial://host/dev/ttyS0", "config.bad_url", "serial:// takes no host, got 'host'"),
        ("serial:///dev/ttyS0?terminator=tab", "config.bad_option", "one of cr, lf, crlf, etx, none"),
        ("serial:///dev/ttyS0?track3=pipe", "config.bad_option", "percent"),
        ("serial:///dev/ttyS0?end=semicolon", "config.bad_option", "end sentinel"),
        ("serial:///dev/ttyS0?track2=percent", "config.bad_option", "track 1"),
        ("serial:///dev/ttyS0?timeout=0", "config.bad_option", "above 0"),
        ("serial:///dev/ttyS0?baud=1000", "config.bad_option", "9600"),
        ("serial:///dev/ttyS0?format=idtech", "config.bad_option", "ascii, magtek"),
        ("serial:///dev/ttyS0?parity=even", "config.unknown_option", "terminator"),
    ],
)
def test_bad_urls_are_refused(url, code, words):
    with pytest.raises(ConfigError) as info:
        open_device("reader", url)
    assert info.value.code == code and words in info.value.text


def test_no_card_data_reaches_the_log(sim, reader, caplog):
    caplog.set_level(logging.DEBUG)
    for name in TEST_CARDS:
        sim.swipe_card(name)
    sim.swipe_card("visa", damage=Damage.MISSING_END_SENTINEL)
    got = poll_until(reader, len(TEST_CARDS) + 1)
    shown = caplog.text + "".join(repr(g) + str(g) for g in got)
    for secret in card_texts():
        assert secret not in shown
    assert "unreadable swipe (card.end_sentinel)" in caplog.text
