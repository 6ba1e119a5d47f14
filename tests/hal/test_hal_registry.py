"""Every scheme of the reader, PIN pad, display and link is reachable by URL, and bad URLs are refused."""

from __future__ import annotations

import pytest

from firmware.errors import ConfigError
from hal.base import DeviceContext
from hal.display import Display
from hal.link import Link
from hal.magstripe import MagstripeReader
from hal.pinpad import PinPad
from hal.registry import DRIVERS, make_device

OWNED = ("reader", "pinpad", "display", "link")
URLS = {
    ("reader", "sim"): "sim://",
    ("reader", "serial"): "serial:///dev/ttyUSB0?baud=19200&terminator=crlf",
    ("reader", "hid"): "hid:///dev/input/event3?layout=de",
    ("reader", "gpio"): "gpio://?pins=sim&present=4&strobe2=5&data2=6",
    ("pinpad", "sim"): "sim://",
    ("pinpad", "console"): "console://?tty=/dev/null",
    ("pinpad", "serial"): "serial:///dev/ttyUSB2?baud=9600&slot=1&pin_timeout=90",
    ("display", "sim"): "sim://?rows=2&cols=16",
    ("display", "console"): "console://",
    ("display", "serial"): "serial:///dev/ttyUSB1?baud=9600&rows=2&cols=20",
    ("link", "sim"): "sim://?connect_timeout=2",
    ("link", "tcp"): "tcp://127.0.0.1:5000?connect_timeout=2.5",
    ("link", "modem"): "modem:///dev/ttyUSB0?number=95516",
}
PORTS = {"reader": MagstripeReader, "pinpad": PinPad, "display": Display, "link": Link}


def test_every_owned_scheme_has_a_url_here():
    assert {(k, s) for k in OWNED for s in DRIVERS[k]} == set(URLS)


@pytest.mark.parametrize(("kind", "scheme"), sorted(URLS))
def test_each_scheme_constructs_its_driver(kind, scheme):
    device = make_device(kind, URLS[kind, scheme], DeviceContext())
    assert isinstance(device, PORTS[kind])
    assert device.kind == kind and device.scheme == scheme
    assert not device.is_open


def test_options_are_bound_with_types_and_defaults():
    assert make_device("link", "tcp://127.0.0.1:5000?connect_timeout=2.5").options == {
        "connect_timeout": 2.5, "idle_hangup": 0.0}
    assert make_device("link", "sim://").options == {"connect_timeout": 10.0, "idle_hangup": 0.0}
    d = make_device("display", "sim://?rows=2&cols=16")
    assert (d.rows, d.cols) == (2, 16)
    assert make_device("reader", "sim://?type_ahead=no").options["type_ahead"] is False


@pytest.mark.parametrize(
    ("kind", "url", "code", "expected_in_text"),
    [
        ("reader", "usb:///dev/ttyUSB0", "config.unknown_scheme", "sim://, serial://, hid://, gpio://"),
        ("pinpad", "tcp://10.0.0.1:1", "config.unknown_scheme", "console://"),
        ("display", "lcd://", "config.unknown_scheme", "sim://, console://"),
        ("link", "x25:///dev/ttyACM0", "config.unknown_scheme", "sim://, tcp://, modem://"),
        ("reader", "sim://?speed=1", "config.unknown_option", "track3, type_ahead"),
        ("pinpad", "sim://?tty=/dev/tty", "config.unknown_option", "no options"),
        ("pinpad", "console://?device=/dev/tty", "config.unknown_option", "expected tty"),
        ("display", "sim://?lines=4", "config.unknown_option", "cols, rows"),
        ("display", "console://?colour=1", "config.unknown_option", "clear, cols, rows, tty"),
        ("link", "tcp://h:1?timeout=3", "config.unknown_option", "expected connect_timeout"),
        ("link", "tcp://h:1?connect_timeout=soon", "config.bad_option", "expects a number"),
        ("link", "tcp://h:1?connect_timeout=0", "config.bad_option", "above 0"),
        # no socket takes these: they failed at the first connect, after the sale's request was committed
        ("link", "tcp://h:1?connect_timeout=inf", "config.bad_option", "expects a number"),
        ("link", "tcp://h:1?connect_timeout=1e300", "config.bad_option", "expects a number"),
        ("link", "tcp://h:1?connect_timeout=nan", "config.bad_option", "expects a number"),
        ("link", "sim://?connect_timeout=-1", "config.bad_option", "above 0"),
        ("link", "tcp://h:1?idle_hangup=-2", "config.bad_option", "0 or a number of seconds"),
        ("display", "sim://?rows=four", "config.bad_option", "expects a whole number"),
        ("display", "sim://?cols=0", "config.bad_option", "at least 1"),
        ("display", "console://?clear=maybe", "config.bad_option", "true or false"),
        ("reader", "sim://?type_ahead=2", "config.bad_option", "true or false"),
        ("reader", "sim://?track3=colon", "config.bad_option", "one of semicolon, plus"),
        ("link", "tcp://127.0.0.1", "config.bad_url", "tcp://host:port"),
        ("link", "tcp://:5000", "config.bad_url", "tcp://host:port"),
    ],
)
def test_bad_urls_are_refused_with_the_expected_form(kind, url, code, expected_in_text):
    with pytest.raises(ConfigError) as info:
        make_device(kind, url)
    assert info.value.code == code
    assert expected_in_text in info.value.text
