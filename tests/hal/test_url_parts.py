"""A part of a device URL no driver reads is an error naming it, never dropped unread (AU7 finding 4).

Issue #2: "an unknown scheme or option fails loudly". ``sim://junkhost`` and ``tcp://h:1/path`` were
accepted with the host or the path silently ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.config import check_devices, parse_config
from firmware.errors import ConfigError
from hal.registry import DRIVERS, make_device
from hal.url import URL_FORMS, DeviceUrl

ROOT = Path(__file__).resolve().parents[2]


def test_every_scheme_a_driver_serves_has_its_form():
    assert {scheme for schemes in DRIVERS.values() for scheme in schemes} == set(URL_FORMS)


@pytest.mark.parametrize("kind, url, words", [
    ("link", "sim://junkhost", "link URL 'sim://junkhost': sim:// takes no host, got 'junkhost'; the form is sim://"),
    ("reader", "sim://h:5", "sim:// takes no host, got 'h:5'"),
    ("display", "sim:///dev/tty1", "sim:// takes no path, got '/dev/tty1'"),
    ("tamper", "none://x", "none:// takes no host, got 'x'"),
    ("tamper", "gpio://board?pin=4", "gpio:// takes no host, got 'board'"),
    ("pinpad", "console://here", "console:// takes no host"),
    ("link", "tcp://h:1/path", "link URL 'tcp://h:1/path': tcp:// takes no path, got '/path'; the form is "
                               "tcp://HOST:PORT"),
    ("printer", "tcp://10.0.0.9:9100/queue", "tcp:// takes no path, got '/queue'"),
    ("printer", "serial://ttyUSB0", "serial:// takes no host, got 'ttyUSB0'; the form is serial:///dev/ttyUSB0"),
    ("reader", "hid://kbd/dev/input/event3", "hid:// takes no host, got 'kbd'"),
    ("link", "modem://m/dev/ttyUSB0?number=1", "modem:// takes no host, got 'm'"),
    ("link", "sim://#later", "link URL 'sim://#***': sim:// takes no #fragment; the form"),
    ("link", "tcp://h:1?connect_timeout=5#x", "tcp:// takes no #fragment"),
    ("link", "tcp://ops:secret@h:1", "tcp:// takes no user name or password"),
])
def test_an_unread_part_is_refused_naming_it_and_the_form(kind, url, words):
    with pytest.raises(ConfigError) as caught:
        make_device(kind, url)
    assert caught.value.code == "config.bad_url"
    assert words in caught.value.text
    assert "secret" not in caught.value.text  # a password in a URL is never repeated


def test_the_configuration_check_refuses_it_too():  # posterm config check, and the manifest's check
    with pytest.raises(ConfigError) as caught:
        check_devices(parse_config({"devices": {"link": "sim://junkhost"}}))
    assert caught.value.code == "config.bad_url" and "sim:// takes no host" in caught.value.text


@pytest.mark.parametrize("kind, url", [
    ("link", "sim://"), ("link", "sim://?connect_timeout=1"), ("reader", "sim:///"), ("tamper", "none://"),
    ("tamper", "gpio://?pin=4"), ("link", "tcp://127.0.0.1:5000"), ("link", "tcp://h:1/"),
    ("link", "tcp://acquirer.example:5000?connect_timeout=5"), ("printer", "tcp://10.0.0.9"),
    ("printer", "serial:///dev/ttyUSB0?baud=19200&profile=TM-T20II&columns=48"), ("reader", "serial:///dev/ttyUSB0"),
    ("reader", "hid:///dev/input/event3"), ("link", "modem:///dev/ttyUSB0?number=0,95516"),
    ("display", "serial:///dev/ttyUSB1?rows=2&cols=20"), ("pinpad", "serial:///dev/ttyUSB2?slot=0"),
])
def test_the_documented_forms_still_parse(kind, url):
    make_device(kind, url)  # constructed, never opened


def _urls_in(text: str) -> set[str]:
    """Literal device URLs (f-string templates left out)."""
    found = re.findall(r"\b(?:" + "|".join(URL_FORMS) + r")://[^\s\"'`)\],|<>{}]*", text)
    return {u.rstrip(".") for u in found if "{" not in u}


def test_every_url_in_the_readme_scenarios_and_deploy_still_parses():
    files = [ROOT / "README.md"] + sorted((ROOT / "scenarios").rglob("*.toml")) + sorted(
        p for p in (ROOT / "deploy").rglob("*") if p.is_file())
    urls = set()
    for path in files:
        urls |= _urls_in(path.read_text(errors="replace"))
    placeholders = {u for u in urls if re.search(r"[A-Z]{4}|\[", u)}  # tcp://HOST:PORT and the like, in prose
    assert "serial:///dev/ttyUSB0?baud=19200&profile=TM-T20II&columns=48" in urls and "tcp://acquirer.example:5000" in urls
    for url in sorted(urls - placeholders):
        DeviceUrl.parse(url)


@given(st.sampled_from(["sim", "none", "console", "gpio"]), st.from_regex(r"[a-z0-9.\-]{1,20}", fullmatch=True))
def test_no_host_is_ever_taken_by_a_scheme_without_one(scheme, host):
    with pytest.raises(ConfigError) as caught:
        DeviceUrl.parse(f"{scheme}://{host}")
    assert caught.value.code == "config.bad_url" and f"{scheme}:// takes no host" in caught.value.text
