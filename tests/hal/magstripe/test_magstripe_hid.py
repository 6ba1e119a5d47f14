"""The keyboard-wedge driver: real input_event records, typed for each layout.

``/dev/uinput`` is not available on every machine (this kernel is built
without it), so the driver is tested against ``KeyboardWedgeSim``, which
writes the records the kernel would deliver into a FIFO, with ``grab=false``
since a FIFO cannot be grabbed. The grab itself is tested where uinput
exists (``test_a_real_input_device_is_grabbed``), and its refusal here.
"""

from __future__ import annotations

import logging
import os

import pytest
from conftest import TODAY, card_texts, poll_until, settle

from firmware.errors import CardError, ConfigError, ReaderError
from hal.magstripe.devsim import KeyboardWedgeSim, UinputKeyboardSim, pieces, uinput_usable
from hal.magstripe.hid import EV_KEY, INPUT_EVENT, HidReader
from hal.magstripe.keymaps import LAYOUTS, KeyDecoder, keystrokes
from hal.magstripe.raw import Sentinels
from hal.magstripe.sim import TEST_CARDS, Damage
from hal.magstripe.tracks import parse_swipe
from hal.registry import open_device


@pytest.fixture
def sim(tmp_path):
    s = KeyboardWedgeSim(tmp_path)
    yield s
    s.close()


def open_reader(sim, query: str = "") -> HidReader:
    r = open_device("reader", f"hid://{sim.path}?grab=false&timeout=0.05{query}")
    r.enable()
    return r


def tracks_of(swipe) -> dict[int, str]:
    return {t.track: t.reveal_str() for t in swipe.tracks}


def expected(name: str) -> dict[int, str]:
    c = TEST_CARDS[name]
    return {n: t for n, t in ((1, c.track1), (2, c.track2), (3, c.track3)) if t}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", ["visa", "unionpay_full", "unionpay_debit"])
def test_swipes_typed_on_each_layout_read_back(tmp_path, layout, name):
    sim = KeyboardWedgeSim(tmp_path, layout=layout)
    reader = open_reader(sim, f"&layout={layout}")
    try:
        sim.swipe_card(name)
        (got,) = poll_until(reader)
        assert tracks_of(got) == expected(name)
    finally:
        reader.close()
        sim.close()


@pytest.mark.parametrize(
    ("layout", "events", "text"),
    [
        ("us", [(42, 1), (21, 1), (21, 0), (42, 0), (44, 1), (44, 0)], "YZ"),
        ("de", [(21, 1), (21, 0), (44, 1), (44, 0)], "ZY"),  # QWERTZ
        ("fr", [(16, 1), (30, 1), (17, 1), (44, 1), (39, 1)], "AQZWM"),  # AZERTY
        ("fr", [(2, 1), (42, 1), (2, 1), (42, 0), (100, 1), (10, 1), (100, 0)], "&1^"),  # digits need Shift
        ("de", [(41, 1), (57, 1), (42, 1), (11, 1)], "^="),  # a dead ^, then the space that types it
        ("uk", [(42, 1), (40, 1), (3, 1), (42, 0), (43, 1)], '@"#'),
        ("us", [(82, 1), (79, 1), (96, 1)], "01\r"),  # the keypad, and its Enter
        ("us", [(58, 1), (30, 1), (30, 2), (30, 0)], "A"),  # Caps Lock does not matter, repeats are ignored
    ],
)
def test_key_codes_map_by_layout(layout, events, text):
    keys = KeyDecoder(LAYOUTS[layout])
    assert "".join(keys.feed(code, value) for code, value in events) == text


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_character_a_track_or_an_encrypting_reader_sends_is_typeable(layout):
    chars = "".join(chr(c) for c in range(0x20, 0x60)) + "|\r"
    keys = KeyDecoder(LAYOUTS[layout])
    assert "".join(keys.feed(code, value) for code, value in keystrokes(chars, LAYOUTS[layout])) == chars


def test_a_swipe_split_across_reads_even_inside_an_event_record(sim):
    reader = open_reader(sim)
    try:
        records = sim.events_for("%B4761739001010010^TEST/CARD^4912101?;4761739001010010=4912101?\r")
        assert len(records) % INPUT_EVENT.size == 0
        for piece in pieces(records, 7):  # the cuts fall inside records
            assert settle(reader, 0.005) == []
            sim.write(piece)
        (got,) = poll_until(reader)
        assert tracks_of(got) == {1: "B4761739001010010^TEST/CARD^4912101", 2: "4761739001010010=4912101"}
    finally:
        reader.close()


def test_a_partial_swipe_times_out(sim):
    reader = open_reader(sim)
    try:
        sim.type("%B4761739001010010^TEST")
        (got,) = poll_until(reader)
        assert isinstance(got, CardError) and got.code == "card.end_sentinel"
    finally:
        reader.close()


@pytest.mark.parametrize(("damage", "code"), [(Damage.MISSING_END_SENTINEL, "card.end_sentinel"), (Damage.BAD_LUHN, "card.luhn")])
def test_damaged_swipes(sim, damage, code):
    reader = open_reader(sim)
    try:
        sim.swipe_card("visa", damage=damage)
        (got,) = poll_until(reader)
        if not isinstance(got, CardError):
            with pytest.raises(CardError) as info:
                parse_swipe(got, TODAY)
            got = info.value
        assert got.code == code
    finally:
        reader.close()


def test_a_character_no_track_holds_spoils_the_track(tmp_path):
    sim = KeyboardWedgeSim(tmp_path, layout="de")
    reader = open_reader(sim, "&layout=de")
    try:
        sim.type(";47617390010")
        sim.write(INPUT_EVENT.pack(0, 0, EV_KEY, 26, 1) + INPUT_EVENT.pack(0, 0, EV_KEY, 26, 0))  # ü
        sim.type("10010=4912101?\r")
        (got,) = poll_until(reader)
        assert isinstance(got, CardError) and got.code == "card.bad_char"
    finally:
        reader.close()
        sim.close()


def test_track3_sentinel_option(tmp_path):
    sim = KeyboardWedgeSim(tmp_path, sentinels=Sentinels(track3="+"))
    reader = open_reader(sim, "&track3=plus")
    try:
        sim.swipe_card("unionpay_debit")
        (got,) = poll_until(reader)
        assert tracks_of(got) == expected("unionpay_debit")
    finally:
        reader.close()
        sim.close()


def test_grabbing_is_the_default_and_a_device_that_cannot_be_grabbed_is_refused(sim):
    reader = HidReader(f"hid://{sim.path}")
    assert reader.options["grab"] is True
    with pytest.raises(ReaderError) as info:
        reader.open()  # a FIFO is not an input device: no grab, so no reading at all
    assert info.value.code == "reader.grab_failed" and "console" in info.value.text
    assert not reader.is_open


def test_a_missing_device_cannot_be_opened(tmp_path):
    with pytest.raises(ReaderError) as info:
        open_device("reader", f"hid://{tmp_path}/event99")
    assert info.value.code == "reader.open_failed"


@pytest.mark.parametrize(
    ("url", "code"),
    [("hid://", "config.bad_url"), ("hid:///dev/input/event0?layout=dvorak", "config.bad_option"),
     ("hid:///dev/input/event0?grab=maybe", "config.bad_option"), ("hid:///dev/input/event0?timeout=20", "config.bad_option"),
     ("hid:///dev/input/event0?repeat=1", "config.unknown_option")],
)
def test_bad_urls(url, code):
    with pytest.raises(ConfigError) as info:
        open_device("reader", url)
    assert info.value.code == code


def test_closing_releases_the_device(sim):
    reader = open_reader(sim)
    fd = reader.fileno()
    reader.close()
    assert reader.fileno() is None
    with pytest.raises(OSError):
        os.fstat(fd)


def test_no_card_data_reaches_the_log(sim, caplog):
    caplog.set_level(logging.DEBUG)
    reader = open_reader(sim)
    try:
        got = []
        for name in TEST_CARDS:  # one at a time: a pipe holds less than all of them
            sim.swipe_card(name)
            got += poll_until(reader)
        shown = caplog.text + "".join(repr(g) for g in got)
        for secret in card_texts():
            assert secret not in shown
    finally:
        reader.close()


@pytest.mark.skipif(not uinput_usable(), reason="/dev/uinput is not usable here (kernel without CONFIG_INPUT_UINPUT, or no rights)")
def test_a_real_input_device_is_grabbed():
    sim = UinputKeyboardSim()
    reader = open_device("reader", f"hid://{sim.path}?timeout=0.05")
    try:
        reader.enable()
        with open(sim.path, "rb", buffering=0) as other:  # a second reader, as a console would be
            os.set_blocking(other.fileno(), False)
            sim.swipe_card("visa")
            (got,) = poll_until(reader)
            assert tracks_of(got) == expected("visa")
            assert other.read() is None  # grabbed: nothing reached anyone else
    finally:
        reader.close()
        sim.close()
