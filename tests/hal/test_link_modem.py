"""The modem link: the real driver (real pyserial) against a Hayes modem simulator on a real pty."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.errors import ConfigError, LinkError
from firmware.hostsim.processor import Answer
from hal.framing import FrameBuffer, frame
from hal.link.hayes import MAX_LINE, Result, ResultCode, ResultReader
from hal.link.modem import DEFAULT_INIT, ModemLink
from hal.link.modemsim import Dial, DialMode, PtyModemSim
from hal.registry import make_device, open_device

WAIT = 5.0  # the longest any step may wait; a bound, not a speed requirement


class EchoHost:
    """An in-process host: answers ``re:<request>``; ``answers`` overrides the next answers."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []

    def respond(self, payload: bytes) -> Answer:
        return self.answers.pop(0) if self.answers else Answer(b"re:" + payload)


@pytest.fixture
def host() -> EchoHost:
    return EchoHost()


@pytest.fixture
def sim(host) -> Iterator[PtyModemSim]:
    with PtyModemSim(host, guard_time=0.02, keep_frames=True) as modem:
        yield modem


@pytest.fixture
def dial() -> Iterator[Callable[[str], ModemLink]]:
    """Open a link by URL; every link opened is closed (and hung up) before the simulator goes."""
    links: list[ModemLink] = []

    def open_link(url: str) -> ModemLink:
        link = open_device("link", url)
        links.append(link)
        return link

    yield open_link
    for link in links:
        link.close()


def wait_for(link, count: int) -> list[bytes]:
    """Wait on the port like the runner does and poll until ``count`` payloads arrived."""
    got: list[bytes] = []
    while len(got) < count:
        assert select.select([link], [], [], WAIT)[0], f"only {got} arrived"
        got += link.poll()
    return got


def wait_for_close(link) -> list[bytes]:
    got: list[bytes] = []
    while True:
        if link.connected:
            assert select.select([link], [], [], WAIT)[0], "the hang-up never came"
        try:
            got += link.poll()
        except LinkError as exc:
            assert exc.code == "link.closed"
            return got


# -- calls ----------------------------------------------------------------------------
def test_a_call_dials_carries_framed_messages_and_hangs_up(sim, dial):
    link = dial(sim.url("95516"))
    link.connect()
    assert link.connected and link.fileno() is not None and link.speed == "33600"
    assert sim.commands == ["AT", DEFAULT_INIT, "ATDT95516"]
    assert sim.dials == [Dial("95516", DialMode.TONE)]
    link.send(b"0800 sign-on")
    link.send(b"0200 sale")
    assert wait_for(link, 2) == [b"re:0800 sign-on", b"re:0200 sale"]
    assert sim.frames == [b"0800 sign-on", b"0200 sale"]
    assert [(r.length, r.mti) for r in sim.requests] == [(12, "0800"), (9, "0200")]
    assert sim.received == frame(b"0800 sign-on") + frame(b"0200 sale")
    link.disconnect()
    sim.assert_hung_up()  # a pty has no DTR: +++ and ATH0
    assert sim.commands[-1] == "ATH0" and sim.hangups == 1 and not link.connected


def test_the_modem_simulator_keeps_no_whole_request_unless_asked(host, dial):
    """Its record is each request's facts (length, MTI): the PAN it carried is not kept (audit AU15 M1)."""
    with PtyModemSim(host, guard_time=0.02) as plain:
        link = dial(plain.url("95516"))
        link.connect()
        link.send(b"0200 6228480402564890018")
        assert wait_for(link, 1) == [b"re:0200 6228480402564890018"]
        assert [(r.length, r.mti) for r in plain.requests] == [(24, "0200")]
        with pytest.raises(AssertionError, match="keep_frames"):
            plain.frames  # noqa: B018
        link.close()


def test_the_modem_simulator_keeps_no_raw_bytes_from_the_terminal_unless_asked(host, dial):
    """``received`` is every request whole, as the wire carried it (PAN, track 2, PIN block): only a test that
    opts in with ``keep_frames=True`` reads it; a simulator made without keeps none of it."""
    with PtyModemSim(host, guard_time=0.02) as plain:
        link = dial(plain.url("95516"))
        link.connect()
        link.send(b"0200 6228480402564890018")
        assert wait_for(link, 1) == [b"re:0200 6228480402564890018"]
        with pytest.raises(AssertionError, match="keeps no received bytes: make it with keep_frames=True"):
            plain.received  # noqa: B018
        with plain._cond:
            assert b"6228480402564890018" not in plain._received and not plain._received
        link.close()


def test_the_modem_simulator_keeps_only_the_newest_raw_bytes_when_asked(sim, dial, monkeypatch):
    from hal.link import modemsim

    monkeypatch.setattr(modemsim, "RECEIVED_KEPT", 16)
    link = dial(sim.url("95516"))
    link.connect()
    link.send(b"0200 6228480402564890018")
    link.send(b"0200 sale")
    assert wait_for(link, 2) == [b"re:0200 6228480402564890018", b"re:0200 sale"]
    assert sim.received == (frame(b"0200 6228480402564890018") + frame(b"0200 sale"))[-16:]


def test_pulse_dialling_and_a_custom_init_string(sim, dial):
    link = dial(sim.url("0,95516", dial="pulse", init="ATZ"))
    link.connect()
    assert sim.commands == ["AT", "ATZ", "ATDP0,95516"]
    assert sim.dials == [Dial("0,95516", DialMode.PULSE)]


def test_message_bytes_that_look_like_modem_talk_are_just_data(sim, dial):
    """``NO CARRIER`` or ``+++`` inside a message neither ends the call nor escapes to command mode."""
    link = dial(sim.url())
    link.connect()
    for payload in (b"\r\nNO CARRIER\r\n", b"+++", b"ATH0\r"):
        link.send(payload)
        assert wait_for(link, 1) == [b"re:" + payload]
    assert link.connected and sim.online and sim.hangups == 0


def test_an_answer_that_comes_later_arrives_later(sim, host, dial):
    host.answers.append(Answer(b"slow", delay=0.2))
    link = dial(sim.url())
    link.connect()
    link.send(b"req")
    assert link.poll() == []
    assert wait_for(link, 1) == [b"slow"]


def test_the_host_hanging_up_after_its_answer(sim, host, dial):
    host.answers.append(Answer(b"bye", close=True))
    link = dial(sim.url())
    link.connect()
    link.send(b"req")
    assert wait_for_close(link) == [b"bye"]  # the answer is read before the line goes
    assert not link.connected and link.fileno() is None and sim.drops == 1


# -- result codes ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "result"),
    [("busy", "BUSY"), ("no_dialtone", "NO DIALTONE"), ("no_answer", "NO ANSWER"), ("no_carrier", "NO CARRIER")],
)
def test_a_failed_dial_is_link_down_naming_the_result(sim, dial, fault, result):
    link = dial(sim.url())
    getattr(sim, fault)()
    with pytest.raises(LinkError) as info:
        link.connect()
    assert info.value.code == "link.down" and info.value.text == f"the modem reported {result}"
    assert not link.connected
    link.connect()  # the fault was for one dial; the next one connects
    assert link.connected and sim.connects == 1 and sim.dialled == ["95516", "95516"]


def test_no_result_in_time_is_a_connect_timeout_and_the_dial_is_aborted(sim, dial):
    link = dial(sim.url())
    sim.no_result()
    with pytest.raises(LinkError) as info:
        link.connect(timeout=0.3)
    assert info.value.code == "link.connect_timeout" and "0.3 s" in info.value.text
    sim.wait_until(lambda s: s.aborts == 1)
    assert not sim.online
    link.connect()
    assert link.connected


def test_a_silent_modem(sim, dial):
    link = dial(sim.url(command_timeout=0.2))
    sim.silent()
    with pytest.raises(LinkError) as info:
        link.connect()
    assert info.value.code == "link.modem_silent"
    assert info.value.text == "the modem does not answer AT commands"
    assert sim.commands == ["AT"] and sim.dials == []


def test_an_init_string_the_modem_refuses(sim, dial):
    link = dial(sim.url(init="ATE0V1X9"))  # X0-X4 only
    with pytest.raises(LinkError) as info:
        link.connect()
    assert info.value.code == "link.modem_error" and "init string" in info.value.text
    assert sim.commands == ["AT", "ATE0V1X9"] and sim.dials == []


def test_an_echoing_modem_is_understood(sim, dial):
    """Before the init's E0 the modem echoes each command; the echo is not a result code."""
    link = dial(sim.url(init="ATE1V1Q0"))
    link.connect()
    link.send(b"x")
    assert wait_for(link, 1) == [b"re:x"]


# -- carrier loss ---------------------------------------------------------------------
def test_a_carrier_drop_is_link_closed_then_a_clean_redial(sim, dial):
    link = dial(sim.url())
    link.connect()
    link.send(b"one")
    assert wait_for(link, 1) == [b"re:one"]
    sim.drop_carrier()
    with pytest.raises(LinkError) as info:
        assert select.select([link], [], [], WAIT)[0]
        link.poll()
    assert info.value.code == "link.closed"
    assert not link.connected and link.fileno() is None  # the hung-up port is closed ...
    with pytest.raises(LinkError) as info:
        link.send(b"lost")
    assert info.value.code == "link.not_connected"
    link.connect()  # ... and reopened at the next dial
    assert link.fileno() is not None
    link.send(b"two")
    assert wait_for(link, 1) == [b"re:two"]
    assert sim.drops == 1 and sim.connects == 2 and sim.hangups == 0


def test_closing_the_link_hangs_up(sim, dial):
    link = dial(sim.url())
    link.connect()
    link.close()
    sim.assert_hung_up()
    assert link.fileno() is None and not link.is_open


# -- configuration --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "code", "expected_in_text"),
    [
        ("modem:///dev/ttyUSB0", "config.bad_url", "modem:///dev/ttyUSB0?number=95516"),
        ("modem://?number=95516", "config.bad_url", "must name a serial port"),
        ("modem:///dev/ttyUSB0?number=95516&parity=E", "config.unknown_option", "expected baud, carrier"),
        ("modem:///dev/ttyUSB0?number=95516&dial=touch", "config.bad_option", "one of tone, pulse"),
        ("modem:///dev/ttyUSB0?number=95516&carrier=maybe", "config.bad_option", "one of dcd, none"),
        ("modem:///dev/ttyUSB0?number=95516&baud=1000", "config.bad_option", "'baud'"),
        ("modem:///dev/ttyUSB0?number=95516%0DATZ", "config.bad_option", "0-9 * # , W"),
        ("modem:///dev/ttyUSB0?number=", "config.bad_option", "'number'"),
        ("modem:///dev/ttyUSB0?number=95516&init=Z", "config.bad_option", "AT command line"),
        ("modem:///dev/ttyUSB0?number=95516&command_timeout=0", "config.bad_option", "'command_timeout'"),
        ("modem:///dev/ttyUSB0?number=95516&guard_time=-1", "config.bad_option", "'guard_time'"),
        ("modem:///dev/ttyUSB0?number=95516&connect_timeout=0", "config.bad_option", "'connect_timeout'"),
    ],
)
def test_bad_urls_are_refused_with_their_codes(url, code, expected_in_text):
    with pytest.raises(ConfigError) as info:
        make_device("link", url)
    assert info.value.code == code and expected_in_text in info.value.text


def test_options_and_their_defaults():
    link = make_device("link", "modem:///dev/ttyUSB0?number=95516&baud=9600&init=ATE0%26D2")
    assert isinstance(link, ModemLink) and link.device_path == "/dev/ttyUSB0"
    assert link.options == {
        "connect_timeout": 60.0, "number": "95516", "baud": 9600, "init": "ATE0&D2", "dial": "tone",
        "command_timeout": 2.0, "carrier": "dcd", "guard_time": 1.0, "idle_hangup": 2.0,
    }


def test_a_port_that_is_not_there(tmp_path):
    with pytest.raises(LinkError) as info:
        open_device("link", f"modem://{tmp_path}/ttyUSB9?number=1&carrier=none")
    assert info.value.code == "link.open_failed" and "ttyUSB9" in info.value.text


def test_carrier_dcd_on_a_port_without_the_line(sim):
    with pytest.raises(LinkError) as info:
        open_device("link", sim.url(carrier="dcd"))
    assert info.value.code == "link.no_dcd" and "carrier=none" in info.value.text


# -- a TCP host behind the simulated modem --------------------------------------------------------
@pytest.fixture
def tcp_host() -> Iterator[tuple[str, list[bytes]]]:
    """A host on loopback that answers one request with ``re:`` and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                frames, payloads = FrameBuffer(), []
                while not payloads and (data := conn.recv(4096)):
                    payloads = frames.feed(data)
                seen.extend(payloads)
                if payloads:
                    conn.sendall(frame(b"re:" + payloads[0]))

    threading.Thread(target=serve, daemon=True).start()
    host, port = server.getsockname()[:2]
    yield f"{host}:{port}", seen
    server.close()


def test_a_call_to_a_tcp_host(tcp_host, dial):
    address, seen = tcp_host
    with PtyModemSim(remote=address, guard_time=0.02) as sim:
        link = dial(sim.url())
        link.connect()
        link.send(b"0200 sale")
        assert wait_for_close(link) == [b"re:0200 sale"]  # the host hung up after answering
        assert seen == [b"0200 sale"] and sim.drops == 1
        link.close()


# -- the result reader (sans-IO) ------------------------------------------------------------
MODEM_TALK = b"AT\r\r\nOK\r\nATE0V1\r\r\nOK\r\n\r\nRING\r\n\r\nCONNECT 33600/ARQ\r\n"


@given(data=st.binary(max_size=64), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_the_reader_finds_the_results_and_leaves_the_data_in_any_split(data, cuts):
    stream = MODEM_TALK + data
    points = sorted({c % (len(stream) + 1) for c in cuts})
    reader, got = ResultReader(), []
    for a, b in zip([0, *points], [*points, len(stream)], strict=True):
        got += reader.feed(stream[a:b])
    assert got == [ResultCode(Result.OK), ResultCode(Result.OK), ResultCode(Result.RING),
                   ResultCode(Result.CONNECT, "33600/ARQ")]
    assert reader.connected and reader.rest == data


@pytest.mark.parametrize(
    ("talk", "expected"),
    [
        (b"0\r", ResultCode(Result.OK)),
        (b"7\r", ResultCode(Result.BUSY)),
        (b"\r\nNO DIAL TONE\r\n", ResultCode(Result.NO_DIALTONE)),
        (b"\r\nno answer\r\n", ResultCode(Result.NO_ANSWER)),
        (b"\r\nCONNECT\r\n", ResultCode(Result.CONNECT)),
    ],
)
def test_numeric_and_variant_result_codes(talk, expected):
    assert ResultReader().feed(talk) == [expected]


def test_a_numeric_connect_needs_no_line_feed():
    reader = ResultReader()
    assert reader.feed(b"1\r\x00\x05hello") == [ResultCode(Result.CONNECT)]
    assert reader.rest == b"\x00\x05hello"


def test_a_modem_that_talks_without_a_line_end_holds_bounded_memory_and_is_understood_after():
    """Line noise (a modem gone wrong) never ends a line: it is dropped, not kept, while the dial waits."""
    reader = ResultReader()
    for _ in range(1000):  # a megabyte: 90 s of a 115200 baud line
        assert reader.feed(bytes(range(14, 256)) * 4 + b"NO CARRIER") == []
        assert reader.pending <= MAX_LINE
    assert reader.feed(b"\r\nBUSY\r\n") == [ResultCode(Result.BUSY)]  # the noise's own line is not a result


# -- end to end: a sale dialled through the modem --------------------------------------------
@pytest.mark.parametrize("bridge", ["in-process", "tcp"])
def test_an_approved_sale_over_the_modem(tmp_path, bridge):
    from crypto.keys import KeyUsage
    from crypto.provision import lab_key, provision
    from firmware.app import build_runner
    from firmware.config import Config
    from firmware.core.model import State
    from firmware.embedded_host import EmbeddedHost
    from firmware.hostsim.ledger import Ledger
    from firmware.hostsim.processor import HostProcessor

    data = tmp_path / "data"
    provision(data, lab=True)
    config = Config().replace({"storage": {"data_dir": str(data)}})
    if bridge == "in-process":
        ledger = Ledger(":memory:")
        processor = HostProcessor(
            config.host.profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), ledger=ledger
        )
        embedded, sim = None, PtyModemSim(processor, guard_time=0.02)
    else:
        embedded = EmbeddedHost().start()  # the real host simulator behind a socket
        ledger = embedded.ledger
        host, port = embedded.address
        sim = PtyModemSim(remote=f"{host}:{port}", guard_time=0.02)
    runner = build_runner(config.replace({"devices": {"link": sim.url("95516", idle_hangup=0.3)}}))
    try:
        runner.boot()
        pad, reader = runner.devices.pinpad, runner.devices.reader
        pad.press("1250#")
        reader.swipe_card("unionpay_debit")
        pad.press("1234#", hold_for_pin=True)
        assert runner.run_until(lambda: runner.core.state is State.IDLE and runner.store.journal(), 10)
        (record,) = runner.store.journal()
        assert record.state.value == "approved" and record.amount == 1250
        (posting,) = ledger.postings()
        assert posting["status"] == "approved"
        assert sim.dialled == ["95516"] and sim.connects == 1
        assert any(line.startswith("ATDT95516") for line in sim.commands)
        # the line stays up for the exchange, then an idle terminal hangs up (idle_hangup)
        assert runner.run_until(lambda: not runner.devices.link.connected, 5)
        sim.assert_hung_up()
        pad.press("800#")  # the next sale dials again
        reader.swipe_card("unionpay_debit")
        pad.press("1234#", hold_for_pin=True)
        assert runner.run_until(lambda: runner.core.state is State.IDLE and len(runner.store.journal()) == 2, 10)
        assert sim.connects == 2 and runner.store.journal()[-1].state.value == "approved"
        runner.close()
        runner = None
        sim.assert_hung_up()  # closing the terminal put the modem on hook
    finally:
        if runner is not None:
            runner.close()
        sim.close()
        if embedded is not None:
            embedded.stop()
