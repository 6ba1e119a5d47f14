"""DLE EOT status bits and the ESC/POS stream decoder (both sans-IO)."""

from __future__ import annotations

import pytest
from escpos.printer import Dummy
from hypothesis import given
from hypothesis import strategies as st

from hal.printer.decode import Command, EscPosDecoder, LineFeed, StatusRequestEvent, Text, decode_lines
from hal.printer.status import (
    DeviceState,
    PaperLevel,
    PrinterStatus,
    StatusRequest,
    decode_status,
    encode_status,
    is_status_byte,
    request_bytes,
)


def test_requests_are_dle_eot_n():
    assert [request_bytes(n) for n in StatusRequest] == [b"\x10\x04\x01", b"\x10\x04\x02", b"\x10\x04\x03", b"\x10\x04\x04"]


@pytest.mark.parametrize(
    "printer, offline_cause, roll, expected",
    [
        (0x12, 0x12, 0x12, PrinterStatus.OK),
        (0x16, 0x12, 0x12, PrinterStatus.OK),  # drawer pin 3 high: not our business
        (0x12, 0x12, 0x1E, PrinterStatus.PAPER_NEAR_END),
        (0x12, 0x12, 0x16, PrinterStatus.PAPER_NEAR_END),  # one near-end sensor of two (Citizen)
        (0x1A, 0x32, 0x7E, PrinterStatus.PAPER_OUT),
        (0x12, 0x12, 0x32, PrinterStatus.PAPER_OUT),  # one end-sensor bit
        (0x1A, 0x32, 0x12, PrinterStatus.PAPER_OUT),  # stopped by paper end
        (0x1A, 0x16, 0x12, PrinterStatus.COVER_OPEN),
        (0x1A, 0x36, 0x7E, PrinterStatus.COVER_OPEN),  # an open cover also reads as paper end
        (0x1A, 0x52, 0x12, PrinterStatus.OFFLINE),  # error (cutter jam)
        (0x1A, 0x12, 0x12, PrinterStatus.OFFLINE),
        (0x1A, 0x1A, 0x1E, PrinterStatus.OFFLINE),  # feeding by the button, roll near its end
    ],
)
def test_decode_status(printer, offline_cause, roll, expected):
    assert decode_status(printer, offline_cause, roll) is expected


@pytest.mark.parametrize("bad", [0x00, 0x11, 0x13, 0xFF, 0x10, 0x02, 0x92])
def test_bytes_that_are_not_status_are_recognised(bad):
    assert not is_status_byte(bad)
    with pytest.raises(ValueError):
        decode_status(bad, 0x12, 0x12)


states = st.builds(DeviceState, paper=st.sampled_from(PaperLevel), cover_open=st.booleans(), error=st.booleans())


@given(states)
def test_encode_then_decode_gives_the_most_urgent_cause(state):
    replies = [encode_status(state, n) for n in StatusRequest]
    assert all(is_status_byte(b) for b in replies)
    if state.cover_open:
        expected = PrinterStatus.COVER_OPEN
    elif state.paper is PaperLevel.OUT:
        expected = PrinterStatus.PAPER_OUT
    elif state.error:
        expected = PrinterStatus.OFFLINE
    elif state.paper is PaperLevel.NEAR_END:
        expected = PrinterStatus.PAPER_NEAR_END
    else:
        expected = PrinterStatus.OK
    assert decode_status(replies[0], replies[1], replies[3]) is expected


class _Answering(Dummy):
    """python-escpos's own status reading, fed the bytes our simulators send."""

    def __init__(self, state: DeviceState) -> None:
        super().__init__()
        self.state = state

    def _read(self) -> bytes:
        return bytes([encode_status(self.state, self.output[-1])])


@given(states)
def test_python_escpos_reads_our_status_bytes_the_same_way(state):
    p = _Answering(state)
    assert p.is_online() == state.online
    assert p.paper_status() == {PaperLevel.OK: 2, PaperLevel.NEAR_END: 1, PaperLevel.OUT: 0}[state.paper]


# -- the stream decoder ------------------------------------------------------------


def test_decoder_events():
    data = b"\x1b@\x1bt\x00\x1b!\x30AB\n\x10\x04\x01\x1dV\x41\x03C\r\x1bdx"
    assert EscPosDecoder().feed(data) == [
        Command(b"\x1b@"),
        Command(b"\x1bt\x00"),
        Command(b"\x1b!\x30"),
        Text("AB", b"AB"),
        LineFeed(),
        StatusRequestEvent(1),
        Command(b"\x1dV\x41\x03"),
        Text("C", b"C"),
        Command(b"\r"),
        Command(b"\x1bdx"),
    ]


def test_decoder_waits_for_the_rest_of_a_command():
    dec = EscPosDecoder()
    assert dec.feed(b"A\x1b") == [Text("A", b"A")]
    assert dec.feed(b"a") == []
    assert dec.feed(b"\x01B") == [Command(b"\x1ba\x01"), Text("B", b"B")]
    assert dec.feed(b"\x1d(k\x03\x00") == []
    assert dec.feed(b"1Q0") == [Command(b"\x1d(k\x03\x001Q0")]


def test_decoder_follows_the_code_page():
    dec = EscPosDecoder({19: "cp858"})
    assert dec.feed(b"\x82\x1bt\x13\x82\x1b@\x82") == [
        Text("é", b"\x82"),
        Command(b"\x1bt\x13"),
        Text("é", b"\x82"),
        Command(b"\x1b@"),
        Text("é", b"\x82"),
    ]
    assert EscPosDecoder({16: "cp1252"}).feed(b"\x1bt\x10\x80")[-1] == Text("€", b"\x80")


def test_decode_lines_splits_printed_rows_from_the_pending_one():
    assert decode_lines(b"\x1b@one\n\x1bE\x01two\nthr") == (["one", "two"], "thr")


def _merged(events):
    out = []
    for e in events:
        if isinstance(e, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + e.text, out[-1].data + e.data)
        else:
            out.append(e)
    return out


@given(st.binary(max_size=200), st.lists(st.integers(1, 20), max_size=30))
def test_decoder_gives_the_same_events_however_the_bytes_are_split(data, cuts):
    whole = EscPosDecoder().feed(data)
    dec, pieces, start = EscPosDecoder(), [], 0
    for size in cuts + [len(data)]:
        pieces += dec.feed(data[start : start + size])
        start += size
    assert _merged(pieces) == _merged(whole)
    assert data.startswith(b"".join(e.data for e in whole))  # every byte is in some event, in order
