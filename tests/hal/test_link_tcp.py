"""The TCP link against a real TCP server on loopback (a socketserver thread)."""

from __future__ import annotations

import select
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from firmware.errors import LinkError
from hal.framing import FrameBuffer, frame
from hal.registry import open_device

WAIT = 5.0  # the longest any step may wait; a bound, not a speed requirement


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: HostServer = self.server  # type: ignore[assignment]
        frames = FrameBuffer()
        while True:
            try:
                data = self.request.recv(4096)
            except OSError:
                return
            if not data:
                return
            for payload in frames.feed(data):
                server.requests.append(payload)
                if server.behaviour(self.request, payload, server) == "stop":
                    return


class HostServer(socketserver.ThreadingTCPServer):
    """A host that answers each framed request as ``behaviour(sock, payload, server)`` says."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviour: Callable) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.go = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"tcp://{host}:{port}?connect_timeout=5"


@pytest.fixture
def serve() -> Iterator[Callable[[Callable], HostServer]]:
    servers: list[HostServer] = []

    def start(behaviour: Callable) -> HostServer:
        server = HostServer(behaviour)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.go.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def dial() -> Iterator[Callable[[str], object]]:
    """Open a link by URL; every link opened is closed when the test ends."""
    links = []

    def open_link(url: str):
        link = open_device("link", url)
        links.append(link)
        return link

    yield open_link
    for link in links:
        link.close()


def abort(sock) -> None:
    """Close with linger 0: the peer gets a RST, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def echo(sock, payload, server):
    sock.sendall(frame(b"re:" + payload))


def wait_for(link, count: int) -> list[bytes]:
    """Wait on the socket like the runner does and poll until ``count`` payloads arrived."""
    got: list[bytes] = []
    while len(got) < count:
        assert select.select([link], [], [], WAIT)[0], f"only {got} arrived"
        got += link.poll()
    return got


def wait_for_close(link) -> list[bytes]:
    """Poll until the link reports the close; return the payloads that came before it."""
    got: list[bytes] = []
    while True:
        if link.connected:
            assert select.select([link], [], [], WAIT)[0], "the close never came"
        try:
            got += link.poll()
        except LinkError as exc:
            assert exc.code == "link.closed"
            return got


def test_requests_are_framed_and_answers_reassembled(serve, dial):
    server = serve(echo)
    link = dial(server.url)
    link.connect()
    assert link.connected and link.fileno() is not None
    link.send(b"0800 sign-on")
    link.send(b"0200 sale")
    assert wait_for(link, 2) == [b"re:0800 sign-on", b"re:0200 sale"]
    assert server.requests == [b"0800 sign-on", b"0200 sale"]
    link.disconnect()
    assert link.fileno() is None and not link.connected
    link.close()


def test_a_frame_split_across_reads_is_reassembled(serve, dial):
    def split(sock, payload, server):
        whole = frame(b"first answer") + frame(b"second")
        sock.sendall(whole[:1])  # half the length prefix
        server.go.wait(WAIT)
        server.go.clear()
        sock.sendall(whole[1:9])  # the rest of the prefix and part of the body
        server.go.wait(WAIT)
        sock.sendall(whole[9:])  # the end of one frame and all of the next, in one write

    server = serve(split)
    link = dial(server.url)
    link.connect()
    link.send(b"req")
    for _ in range(2):
        assert select.select([link], [], [], WAIT)[0]
        assert link.poll() == []  # a partial frame is not handed out
        server.go.set()
    assert wait_for(link, 2) == [b"first answer", b"second"]


def test_the_peer_closing_after_an_answer(serve, dial):
    def answer_and_close(sock, payload, server):
        sock.sendall(frame(b"bye"))
        return "stop"

    server = serve(answer_and_close)
    link = dial(server.url)
    link.connect()
    link.send(b"req")
    assert wait_for_close(link) == [b"bye"]
    assert not link.connected and link.fileno() is None
    assert link.poll() == []  # raised once only
    link.connect()  # and the link can dial again
    link.send(b"again")
    assert wait_for_close(link) == [b"bye"]


def test_the_peer_resetting_the_connection(serve, dial):
    def reset(sock, payload, server):
        abort(sock)
        return "stop"

    server = serve(reset)
    link = dial(server.url)
    link.connect()
    link.send(b"req")
    assert wait_for_close(link) == []


@pytest.mark.parametrize("tail", [b"\xff\xffjunk", b"\x00\x00", b"\x10\x01"], ids=["junk", "zero", "4097"])
def test_an_answer_before_a_bad_length_is_delivered_then_the_link_drops(serve, dial, tail):
    """A whole answer and a bad length prefix in one write: the answer is handed out (it may be the approval
    of a sale, which would otherwise be reversed), then ``link.bad_frame``, once, and the link is down. Before,
    ``poll`` raised and the answer was lost with the garbage."""
    def garbage(sock, payload, server):
        sock.sendall(frame(b"good") + tail)

    server = serve(garbage)
    link = dial(server.url)
    link.connect()
    link.send(b"req")
    assert wait_for(link, 1) == [b"good"]
    with pytest.raises(LinkError) as info:
        while True:  # the garbage came with the answer (the link is down) or just after it
            if link.connected:
                assert select.select([link], [], [], WAIT)[0]
            link.poll()
    assert info.value.code == "link.bad_frame" and "junk" not in str(info.value)
    assert not link.connected and link.poll() == []  # raised once


def test_a_bad_length_with_nothing_before_it_disconnects_at_once(serve, dial):
    def garbage(sock, payload, server):
        sock.sendall(b"\xff\xffjunk")

    server = serve(garbage)
    link = dial(server.url)
    link.connect()
    link.send(b"req")
    with pytest.raises(LinkError) as info:
        while True:
            assert select.select([link], [], [], WAIT)[0]
            link.poll()
    assert info.value.code == "link.bad_frame" and not link.connected


def test_a_refused_connection_is_link_down(dial):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once s is closed
    link = dial(f"tcp://127.0.0.1:{port}")
    with pytest.raises(LinkError) as info:
        link.connect()
    assert info.value.code == "link.down" and f"127.0.0.1:{port}" in info.value.text
    assert info.value.__cause__ is None and not link.connected


def test_a_host_that_never_accepts_times_out(dial):
    """A listener whose accept queue is full drops new SYNs (Linux), so connect waits and times out.

    This stands in for an unroutable address, which on a machine without a
    route fails at once with "network unreachable" instead of timing out.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue until a connect hangs
            s = socket.socket()
            s.settimeout(0.2)
            fillers.append(s)
            try:
                s.connect(listener.getsockname())
            except TimeoutError:
                break
        else:
            pytest.skip("this kernel accepts every connection; cannot make a connect hang on loopback")
        host, port = listener.getsockname()
        link = dial(f"tcp://{host}:{port}?connect_timeout=0.2")
        with pytest.raises(LinkError) as info:
            link.connect()
        assert info.value.code == "link.connect_timeout" and "0.2 s" in info.value.text
        assert not link.connected
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_a_send_on_a_dead_connection_fails(serve, dial):
    def close_at_once(sock, payload, server):
        return "stop"

    server = serve(close_at_once)
    link = dial(server.url)
    link.connect()
    link.send(b"req")
    assert wait_for_close(link) == []
    with pytest.raises(LinkError) as info:
        link.send(b"again")
    assert info.value.code == "link.not_connected"


def test_a_send_failing_in_the_socket_is_send_failed(serve, dial):
    """The peer resets; the next sends hit the dead socket before any poll noticed."""

    def reset(sock, payload, server):
        abort(sock)
        server.go.set()
        return "stop"

    server = serve(reset)
    link = dial(server.url)
    link.connect()
    link.send(b"req")
    assert server.go.wait(WAIT)
    assert select.select([link], [], [], WAIT)[0]  # the RST has arrived
    with pytest.raises(LinkError) as info:
        for _ in range(3):  # the first send after a RST fails with EPIPE/ECONNRESET
            link.send(b"again")
    assert info.value.code == "link.send_failed" and not link.connected
