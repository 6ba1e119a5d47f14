"""The Z protocol's wire format (``hal.pinpad.zproto``), sans-IO: frames in any split, noise, the PIN response."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.errors import PinPadError
from hal.pinpad import zproto as z

MESSAGES = st.binary(max_size=80).map(lambda b: bytes(c for c in b if c not in (z.STX, z.ETX, z.SI, z.SO)))


@given(st.lists(st.tuples(MESSAGES, st.booleans()), max_size=5), st.data())
def test_frames_survive_any_split(messages, data):
    wire = b"".join(bytes(z.encode(m, short=s)) for m, s in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    rx, got = z.Receiver(), []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        got += rx.feed(wire[a:b])
    assert [(f.message, f.short, f.good) for f in got] == [(m, s, True) for m, s in messages]


@given(st.binary(max_size=600))
def test_noise_never_raises_and_a_bad_check_byte_is_caught(noise):
    z.Receiver().feed(noise)
    frame = z.encode(b"Z431")
    frame[-1] ^= 0x01
    assert [f.good for f in z.Receiver().feed(bytes(frame))] == [False]


def test_a_frame_shows_its_id_only():
    frame = z.Frame(b"71.00401" + b"ABCDEF0123456789")
    assert repr(frame) == "<Frame 71 24 bytes>" and "ABCDEF" not in repr(frame)


@pytest.mark.parametrize(
    "message, code",
    [(b"71.0040", "pinpad.protocol"), (b"71.0130111", "pinpad.protocol"), (b"Z43", "pinpad.protocol"),
     (b"71.004" + b"01" + b"ZZ" * 8, "pinpad.protocol")],
)
def test_a_malformed_pin_response_is_a_protocol_error(message, code):
    with pytest.raises(PinPadError) as e:
        z.parse_pin_response(message)
    assert e.value.code == code and "ZZ" not in str(e.value)
