"""``FrameBuffer``: whole frames out of any split of the stream; a bad length prefix is an error, raised only
after the whole frames that came before it in the same read are handed out (audit AU11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.errors import ProtocolError
from hal.framing import MAX_FRAME, FrameBuffer, frame

BAD = [b"\x00\x00", (MAX_FRAME + 1).to_bytes(2, "big"), b"\xff\xffjunk"]


@pytest.mark.parametrize("bad", BAD, ids=["zero", "too big", "junk"])
def test_a_whole_answer_followed_by_a_bad_length_is_still_delivered(bad):
    buffer = FrameBuffer()
    assert buffer.feed(frame(b"\x60answer") + frame(b"two") + bad) == [b"\x60answer", b"two"]
    assert buffer.broken and buffer.pending == 0
    with pytest.raises(ProtocolError) as info:
        buffer.feed(frame(b"after"))
    assert info.value.code == "link.bad_frame_length"
    assert not buffer.broken and buffer.feed(frame(b"fresh")) == [b"fresh"]  # raised once; the caller reconnects


def test_check_raises_the_error_once_and_clear_forgets_it():
    buffer = FrameBuffer()
    buffer.feed(frame(b"a") + b"\x00\x00")
    with pytest.raises(ProtocolError):
        buffer.check()
    buffer.check()
    buffer.feed(frame(b"a") + b"\x00\x00")
    buffer.clear()
    assert not buffer.broken and buffer.feed(b"") == []


@pytest.mark.parametrize("bad", BAD, ids=["zero", "too big", "junk"])
def test_a_bad_length_first_raises_at_once(bad):
    with pytest.raises(ProtocolError) as info:
        FrameBuffer().feed(bad + frame(b"x"))
    assert info.value.code == "link.bad_frame_length"


@given(payloads=st.lists(st.binary(min_size=1, max_size=40), max_size=5), bad=st.sampled_from(BAD),
       cuts=st.lists(st.integers(0, 300), max_size=6))
def test_every_whole_frame_comes_out_before_the_one_error_in_any_split(payloads, bad, cuts):
    stream = b"".join(frame(p) for p in payloads) + bad
    bounds = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    buffer, got, errors = FrameBuffer(), [], 0
    for a, b in zip(bounds, bounds[1:]):
        try:
            got += buffer.feed(stream[a:b])
        except ProtocolError:
            errors += 1
            break
    else:
        try:
            buffer.check()
        except ProtocolError:
            errors += 1
    assert got == payloads and errors == 1
