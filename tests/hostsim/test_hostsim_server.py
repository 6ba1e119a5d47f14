"""The host simulator over real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest

from firmware.errors import LinkError
from firmware.hostsim.lab import FrameReader, exchange, read_frame
from firmware.hostsim.rules import Behaviour, Rule
from firmware.hostsim.server import HostSimServer
from hal.framing import frame


@pytest.fixture
def server(cup_host):
    with HostSimServer(cup_host) as running:
        yield running


def _connect(server) -> socket.socket:
    return socket.create_connection(server.address, timeout=5)


def test_a_framed_request_gets_its_answer(server, cup_term, ledger):
    answer = exchange(server.address, cup_term.sale(amount=1234, stan=5))
    reply = cup_term.read(answer)
    assert reply.approved and reply.stan == 5 and reply.amount == 1234
    assert len(ledger.postings()) == 1


def test_several_requests_on_one_connection_split_anyhow(server, cup_term):
    first, second = frame(cup_term.sale(stan=1)), frame(cup_term.sale(stan=2))
    stream = first + second
    with _connect(server) as sock:
        reader = FrameReader(sock)
        sock.sendall(stream[:3])
        sock.sendall(stream[3:len(first) + 7])
        sock.sendall(stream[len(first) + 7 :])
        replies = [cup_term.read(reader.read()) for _ in range(2)]
    assert [r.stan for r in replies] == [1, 2]


def test_delay_holds_the_answer_back(server, cup_term, rules):
    rules.push(Rule(Behaviour.DELAY, seconds=0.4, times=1))
    started = time.monotonic()
    answer = exchange(server.address, cup_term.sale(stan=3))
    assert time.monotonic() - started >= 0.35  # a lower bound only: the host waited as told
    assert cup_term.read(answer).approved


def test_drop_answers_nothing_and_keeps_the_connection(server, cup_term, rules):
    rules.push(Rule(Behaviour.DROP, times=1))
    with _connect(server) as sock:
        reader = FrameReader(sock)
        sock.sendall(frame(cup_term.sale(stan=1)))
        with pytest.raises(TimeoutError):
            reader.read(timeout=0.3)
        sock.sendall(frame(cup_term.sale(stan=2)))
        assert cup_term.read(reader.read()).stan == 2


def test_close_closes_without_answering(server, cup_term, rules):
    rules.push(Rule(Behaviour.CLOSE, times=1))
    assert exchange(server.address, cup_term.sale(stan=1)) is None
    assert cup_term.read(exchange(server.address, cup_term.sale(stan=2))).approved


def test_two_connections_at_once(server, cup_term, rules):
    rules.push(Rule(Behaviour.DROP, stan=1))
    with _connect(server) as a, _connect(server) as b:
        sale_a = frame(cup_term.sale(stan=2))
        a.sendall(frame(cup_term.sale(stan=1)))  # A's first request is never answered
        a.sendall(sale_a[:10])  # and its second is half sent
        b.sendall(frame(cup_term.sale(stan=3)))
        assert cup_term.read(read_frame(b)).stan == 3  # B is served while A waits
        a.sendall(sale_a[10:])
        assert cup_term.read(read_frame(a)).stan == 2


def test_a_bad_frame_length_drops_the_connection(server):
    with _connect(server) as sock:
        sock.sendall(b"\xff\xff" + b"x" * 10)
        assert read_frame(sock) is None


def test_undecodable_payload_is_not_answered(server, ledger):
    with _connect(server) as sock:
        sock.sendall(frame(b"not an iso message"))
        with pytest.raises(TimeoutError):
            read_frame(sock, timeout=0.3)
    assert ledger.messages()[0]["mti"] == "????"


def test_stop_closes_open_connections(cup_host, cup_term):
    server = HostSimServer(cup_host)
    address = server.start()
    assert server.start() == address
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(frame(cup_term.sale()))
        assert read_frame(sock) is not None
        server.stop()
        assert read_frame(sock) is None
    with pytest.raises(LinkError) as err:
        exchange(address, cup_term.sale())
    assert err.value.code == "link.refused"
    server.stop()  # twice is harmless


class _Broken:
    def respond(self, payload):
        from firmware.errors import ProtocolError

        raise ProtocolError("cannot answer", code="host.bad_field")


def test_a_processor_error_drops_only_that_connection(caplog):
    with HostSimServer(_Broken()) as server:
        assert exchange(server.address, b"\x60anything") is None
        assert exchange(server.address, b"\x60again") is None  # still listening
    assert any("host.bad_field" in r.getMessage() for r in caplog.records)


def test_frame_reader_keeps_a_frame_that_arrived_with_another():
    import socket

    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame(b"first") + frame(b"second"))  # one write, one recv on the other side
        reader = FrameReader(b)
        assert reader.read(timeout=1) == b"first"
        assert reader.read(timeout=1) == b"second"
