"""The host simulator serves pipelined frames: it reads on while an earlier answer waits out its delay.

Never timed: the order in which answers arrive is what shows a delayed answer
held nothing back (a serial host would answer in request order whatever the delays).
"""

from __future__ import annotations

import socket
import time

import pytest

from firmware.hostsim.lab import FrameReader
from firmware.hostsim.rules import Behaviour, Rule
from firmware.hostsim.server import HostSimServer
from hal.framing import frame


@pytest.fixture
def server(cup_host):
    with HostSimServer(cup_host) as running:
        yield running


def _connect(server) -> socket.socket:
    return socket.create_connection(server.address, timeout=5)


def test_a_delayed_answer_is_overtaken_by_the_frames_behind_it(server, cup_term, rules, ledger):
    rules.push(Rule(Behaviour.DELAY, seconds=0.5, amount=101))
    rules.push(Rule(Behaviour.DELAY, seconds=0.2, amount=102))
    with _connect(server) as sock:
        reader = FrameReader(sock)
        sock.sendall(b"".join(frame(cup_term.advice(stan=s, amount=100 + s)) for s in (1, 2, 3, 4)))
        order = [cup_term.read(reader.read()).stan for _ in range(4)]
    assert order == [3, 4, 2, 1]  # each answered when its own delay ended
    assert [m["stan"] for m in ledger.messages()] == ["000001", "000002", "000003", "000004"]  # read in order
    assert len(ledger.postings()) == 4


def test_close_sends_what_was_due_before_it_and_nothing_after(server, cup_term, rules, ledger):
    rules.push(Rule(Behaviour.DELAY, seconds=0.3, amount=101))
    rules.push(Rule(Behaviour.CLOSE, amount=103))
    with _connect(server) as sock:
        reader = FrameReader(sock)
        # 1 waits out its delay, 2 is answered, 3 closes the connection: 4 is never read
        sock.sendall(b"".join(frame(cup_term.advice(stan=s, amount=100 + s)) for s in (1, 2, 3, 4)))
        assert cup_term.read(reader.read()).stan == 2
        assert reader.read() is None  # closed before 1's delay ended: its answer is lost
    assert [m["stan"] for m in ledger.messages()] == ["000001", "000002", "000003"]


def test_answers_owed_still_go_after_the_terminal_stops_sending(server, cup_term, rules):
    rules.push(Rule(Behaviour.DELAY, seconds=0.2, amount=101))
    with _connect(server) as sock:
        reader = FrameReader(sock)
        sock.sendall(frame(cup_term.advice(stan=1, amount=101)) + frame(cup_term.advice(stan=2, amount=102)))
        sock.shutdown(socket.SHUT_WR)  # half-closed: nothing more comes, answers may still go back
        assert [cup_term.read(reader.read()).stan for _ in range(2)] == [2, 1]
        assert reader.read() is None


def test_stop_does_not_wait_for_an_answer_held_back(cup_host, cup_term, rules):
    rules.push(Rule(Behaviour.DELAY, seconds=600, amount=101))
    server = HostSimServer(cup_host)
    server.start()
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(frame(cup_term.advice(stan=1, amount=101)))
        while not cup_host.ledger.messages():  # read and processed; its answer waits 600 s
            time.sleep(0.01)
        server.stop()  # returns: the held answer is dropped with the connection
        assert FrameReader(sock).read() is None
