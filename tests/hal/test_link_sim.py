"""The link port through the simulated link and an in-process host."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from firmware.errors import ConfigError, LinkError, ProtocolError
from hal.base import DeviceContext
from hal.link.hostend import RequestFacts
from hal.registry import make_device, open_device


@dataclass(frozen=True)
class Answer:
    payload: bytes | None
    delay: float = 0.0
    close: bool = False


class ScriptedHost:
    """Answers from a script, then echoes. Records every request it sees."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []

    def respond(self, payload: bytes) -> Answer:
        self.requests.append(payload)
        return self.answers.pop(0) if self.answers else Answer(b"re:" + payload)


def sim_link(*answers: Answer):
    host = ScriptedHost(*answers)
    link = open_device("link", "sim://", DeviceContext(host=host))
    return link, host


def test_a_request_is_answered_through_the_framing():
    link, host = sim_link()
    link.connect()
    link.keep_frames()
    assert link.connected and link.connects == 1
    link.send(b"0800 sign-on")
    assert host.requests == [b"0800 sign-on"] and link.frames == [b"0800 sign-on"]
    assert link.sent == [RequestFacts(12, "0800")]
    assert link.next_deadline() is not None
    assert link.poll() == [b"re:0800 sign-on"]
    assert link.poll() == [] and link.next_deadline() is None


def test_a_delayed_answer_arrives_at_its_deadline():
    link, _ = sim_link(Answer(b"late", delay=0.02))
    link.connect()
    before = time.monotonic()
    link.send(b"req")
    deadline = link.next_deadline()
    assert deadline is not None and deadline >= before + 0.02
    while time.monotonic() < deadline:
        assert link.poll() == []  # not yet
        time.sleep(max(0.0, deadline - time.monotonic()))
    assert link.poll() == [b"late"]


def test_a_quick_answer_overtakes_a_slow_one():
    link, _ = sim_link(Answer(b"slow", delay=3600), Answer(b"quick"))
    link.connect()
    link.send(b"one")
    link.send(b"two")
    assert link.poll() == [b"quick"]
    assert link.next_deadline() > time.monotonic() + 3000


def test_a_silent_host_sends_nothing():
    link, host = sim_link(Answer(None))
    link.connect()
    link.send(b"req")
    assert link.poll() == [] and link.next_deadline() is None and host.requests == [b"req"]


def test_a_host_that_answers_then_closes():
    link, _ = sim_link(Answer(b"bye", close=True))
    link.connect()
    link.send(b"req")
    assert link.poll() == [b"bye"]  # the frame first
    assert not link.connected
    with pytest.raises(LinkError) as info:
        link.poll()  # then the close, once
    assert info.value.code == "link.closed"
    assert link.poll() == []


def test_a_host_that_closes_without_answering():
    link, _ = sim_link(Answer(None, delay=0.0, close=True))
    link.connect()
    link.send(b"req")
    with pytest.raises(LinkError) as info:
        link.poll()
    assert info.value.code == "link.closed" and not link.connected
    with pytest.raises(LinkError) as info:
        link.send(b"again")
    assert info.value.code == "link.not_connected"
    link.connect()
    assert link.connected and link.connects == 2


def test_a_link_that_is_down_cannot_connect():
    link, host = sim_link()
    link.go_down()
    with pytest.raises(LinkError) as info:
        link.connect()
    assert info.value.code == "link.down" and isinstance(info.value, ConnectionError)
    assert not link.connected and link.connects == 0
    link.go_up()
    link.connect()
    assert link.connects == 1


def test_going_down_drops_a_live_connection():
    link, _ = sim_link(Answer(b"never", delay=3600))
    link.connect()
    link.send(b"req")
    link.go_down()
    assert link.next_deadline() is not None
    with pytest.raises(LinkError) as info:
        link.poll()
    assert info.value.code == "link.closed" and not link.connected


def test_a_send_on_a_connection_that_went_down_fails():
    link, host = sim_link()
    link.connect()
    link.go_down()
    with pytest.raises(LinkError) as info:
        link.send(b"req")
    assert info.value.code == "link.send_failed" and not link.connected
    assert host.requests == []


def test_dropped_answers_are_lost_after_the_host_saw_the_request():
    link, host = sim_link()
    link.connect()
    link.drop_next(2)
    for payload in (b"a", b"b", b"c"):
        link.send(payload)
    assert host.requests == [b"a", b"b", b"c"]
    assert link.poll() == [b"re:c"]


def test_disconnect_forgets_answers_in_flight():
    link, _ = sim_link(Answer(b"late", delay=3600))
    link.connect()
    link.send(b"req")
    link.disconnect()
    link.disconnect()
    assert not link.connected and link.poll() == [] and link.next_deadline() is None


def test_connect_twice_is_one_connection():
    link, _ = sim_link()
    link.connect()
    link.connect(timeout=1)
    assert link.connects == 1


@pytest.mark.parametrize(
    ("action", "error", "code"),
    [
        (lambda link: link.send(b"x"), LinkError, "link.not_connected"),
        (lambda link: link.connect(timeout=0), ConfigError, "link.bad_timeout"),
        (lambda link: (link.connect(), link.send(b"")), ProtocolError, "link.empty_frame"),
        (lambda link: (link.connect(), link.send(b"x" * 5000)), ProtocolError, "link.frame_too_big"),
    ],
)
def test_misuse_codes(action, error, code):
    link, _ = sim_link()
    with pytest.raises(error) as info:
        action(link)
    assert info.value.code == code


def test_a_sim_link_needs_a_host():
    link = make_device("link", "sim://")  # the runner may add the host to the context later
    with pytest.raises(ConfigError) as info:
        link.open()
    assert info.value.code == "config.no_host"


def test_a_closed_link_cannot_connect():
    link = make_device("link", "sim://", DeviceContext(host=ScriptedHost()))
    with pytest.raises(LinkError) as info:
        link.connect()
    assert info.value.code == "link.not_open"
    link.open()
    link.connect()
    link.close()
    assert not link.connected


# -- the record: facts by default, whole requests only when a test asks ----------------
CUP_SALE = bytes.fromhex("6000030000" "603100000000" "0200") + b"\x70\x20" + b"6228480402564890018"  # TPDU, header, MTI


def test_the_record_keeps_facts_of_a_request_and_not_its_bytes():
    """A ``sim://`` link in ``posterm screen`` lives as long as the process: it must not keep the PAN,
    track 2 or PIN block of every sale it carried (audit AU15 M1)."""
    link, host = sim_link()
    link.connect()
    link.send(CUP_SALE)
    link.send(b"0800 sign-on")
    assert link.sent == [RequestFacts(len(CUP_SALE), "0200"), RequestFacts(12, "0800")]
    assert not any(isinstance(v, (bytes, bytearray)) for f in link.sent for v in vars(f).values())
    with pytest.raises(AssertionError, match="keep_frames"):
        link.frames  # noqa: B018 (a test that wants bytes must say so)


def test_whole_requests_are_kept_only_after_keep_frames_and_only_the_last_ones():
    link, _ = sim_link()
    link.connect()
    link.send(b"before")
    link.keep_frames(limit=2)
    for payload in (b"a", b"b", b"c"):
        link.send(payload)
    assert link.frames == [b"b", b"c"]
    assert [f.length for f in link.sent] == [6, 1, 1, 1]



def test_the_record_of_facts_keeps_only_the_last_ones(monkeypatch):
    """Even facts add up over a long ``posterm screen``: the record keeps the last ``FACTS_KEPT``."""
    monkeypatch.setattr("hal.link.hostend.FACTS_KEPT", 3)
    link, _ = sim_link()
    link.connect()
    for payload in (b"aaaa", b"bb", b"ccc", b"d"):
        link.send(payload)
    assert [f.length for f in link.sent] == [2, 3, 1]


@pytest.mark.parametrize("payload, mti", [
    (b"0200" + b"\x00" * 8, "0200"),  # iso87: ASCII MTI first
    (CUP_SALE, "0200"),  # cup: BCD MTI after the TPDU and 6-byte header
    (b"\x60" + b"\x00" * 10 + b"\xab\xcd", None),  # not digits: no MTI claimed
    (b"re", None),
])
def test_the_mti_is_taken_only_where_the_layout_shows_it(payload, mti):
    assert RequestFacts.of(payload) == RequestFacts(len(payload), mti)
