"""The DM-D customer display command set: encoding, decoding, and the simulator's reading of it (no wire)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.display.dmd import (
    CHARACTER_TABLES,
    COMMANDS,
    Command,
    Decoder,
    Op,
    Rejected,
    Text,
    encode,
    encode_text,
    is_char,
)
from hal.display.ptysim import CustomerDisplay, DisplayState


def decode_all(data: bytes, cuts: list[int] = ()) -> list:
    decoder, events, last = Decoder(), [], 0
    for cut in sorted(cuts) + [len(data)]:
        events += decoder.feed(data[last:cut])
        last = cut
    return events


def merged(events: list) -> list:
    """Text events joined where a feed split them (the only thing a split may change)."""
    out: list = []
    for e in events:
        if isinstance(e, Text) and out and isinstance(out[-1], Text) and out[-1].at + len(out[-1].data) == e.at:
            out[-1] = Text(out[-1].data + e.data, out[-1].at)
        else:
            out.append(e)
    return out


@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=8))
def test_a_stream_decodes_the_same_however_it_is_split(data, cuts):
    cuts = [c for c in cuts if c <= len(data)]
    assert merged(decode_all(data, cuts)) == merged(decode_all(data))


@given(st.binary(max_size=200))
def test_every_byte_is_accounted_for(data):
    """Events tile the stream from the start: nothing is skipped silently (a trailing partial command waits)."""
    pos = 0
    for e in decode_all(data):
        assert e.at == pos
        pos += len(e.data) if isinstance(e, (Text, Rejected)) else len(encode(e.op, *e.params))
    assert len(data) - pos < 4  # at most an unfinished command


@given(st.sampled_from(COMMANDS).flatmap(
    lambda spec: st.tuples(st.just(spec.op), *[st.sampled_from(list(allowed)) for allowed in spec.params])))
def test_every_command_round_trips(op_and_params):
    op, *params = op_and_params
    assert decode_all(encode(op, *params)) == [Command(op, tuple(params), 0)]


@given(st.text(), st.sampled_from(sorted(CHARACTER_TABLES)))
def test_text_is_one_printable_byte_a_character(text, codec):
    data = encode_text(text, codec)
    assert len(data) == len(text) and all(is_char(b) for b in data)


@pytest.mark.parametrize("op, params", [(Op.MOVE, (0, 1)), (Op.MOVE, (1, 5)), (Op.BRIGHTNESS, (5,)), (Op.CURSOR, ()),
                                        (Op.SELECT_TABLE, (1,)), (Op.CLEAR, (1,))])
def test_a_command_the_display_would_refuse_is_not_encoded(op, params):
    with pytest.raises(ValueError):
        encode(op, *params)


# -- the simulator's reading -----------------------------------------------------------------
def shown(*chunks: bytes, rows: int = 2, cols: int = 5) -> CustomerDisplay:
    display = CustomerDisplay(rows, cols)
    for chunk in chunks:
        display.handle(chunk)
    return display


@pytest.mark.parametrize(
    "data, screen, cursor",
    [
        (b"HELLOWORLD", ("HELLO", "WORLD"), (0, 0)),  # overwrite mode wraps row to row, bottom right to home
        (b"HELLOWORLD!", ("!ELLO", "WORLD"), (0, 1)),
        (b"AB\x0cC", ("C    ", "     "), (0, 1)),  # CLR
        (b"ABCDEFG\x18X", ("ABCDE", "X    "), (1, 1)),  # CAN clears the cursor's line
        (b"\x1f$\x03\x02X\x0bY", ("Y    ", "  X  "), (0, 1)),  # US $ is column, row, from 1; HOM
        (b"\x1fBX\x1f\x0aY\x1f\x0dZ", (" Y  Z", "X    "), (1, 0)),  # US B, US LF, US CR
        (b"AB\x08C\x09D\x0a\x0dE", ("AC D ", "E    "), (1, 1)),  # BS, HT, LF, CR
        (b"\x08X", ("     ", "    X"), (0, 0)),  # BS at home goes to the bottom right
        (b"ABC\x1b@", ("     ", "     "), (0, 0)),  # ESC @
    ],
)
def test_the_grid_follows_the_commands(data, screen, cursor):
    display = shown(data)
    assert (display.screen, display.cursor, display.errors) == (screen, cursor, [])


def test_a_command_split_across_reads_waits_for_its_last_byte():
    display = shown(b"\x1f", b"$", b"\x02", b"\x02", b"Z")
    assert display.screen == ("     ", " Z   ") and display.errors == []


def test_state_commands_are_recorded():
    display = shown(b"\x1fC\x00\x1fX\x02\x1fE\x0a\x1bt\x13\xd5\x1f\x03")
    assert display.state == DisplayState(mode=Op.HORIZONTAL_SCROLL, table=19, brightness=2, cursor_visible=False, blink=10)
    assert display.screen[0] == "€    " and display.brightness == 2
    assert [c.op for c in display.commands] == [Op.CURSOR, Op.BRIGHTNESS, Op.BLINK, Op.SELECT_TABLE, Op.HORIZONTAL_SCROLL]
    display.handle(b"\x1b@")
    assert display.state == DisplayState()


@pytest.mark.parametrize(
    "data, why, at",
    [
        (b"A\x1bR\x00", "unknown command", 1),  # ESC R (international set) is not in this simulator's set
        (b"\x00", "unknown command", 0),
        (b"\x7f", "unknown command", 0),
        (b"\x1fX\x09", "US X parameter out of range", 0),
        (b"\x1fC\x02", "US C parameter out of range", 0),
        (b"\x1bt\x01", "ESC t parameter out of range", 0),  # Katakana: no codec for it here
        (b"\x1f$\x06\x01", "US $ 6 1 is off a 2 x 5 grid", 0),
        (b"\x1f$\x01\x03", "US $ 1 3 is off a 2 x 5 grid", 0),
        (b"\x1f\x02AB", "text in US MD2 mode (not modelled)", 2),
    ],
)
def test_what_a_display_would_not_take_is_recorded(data, why, at):
    display = shown(data)
    assert (display.errors[0].why, display.errors[0].at) == (why, at)
    assert str(display.errors[0]).startswith(f"byte {at}: {why}")
