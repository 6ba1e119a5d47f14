"""A device URL in an error text shows scheme, host, port, path and option names, never a user name, password,
option value or anything shaped like a key (AU12 F2a: ``hal.url.shown_url``, the one place a URL becomes text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.errors import ConfigError
from hal.registry import make_device
from hal.url import shown_url

KEY_HEX = "0123456789ABCDEFFEDCBA9876543210"
SECRET = "Sup3rSecretPass"


@pytest.mark.parametrize("text, shown", [
    ("tcp://op:Sup3rSecretPass@10.0.0.1:99999", "tcp://***@10.0.0.1:99999"),
    (f"modem:///dev/ttyS0?number=95516&pin={KEY_HEX}", "modem:///dev/ttyS0?number=***&pin=***"),
    ("tcp://h:1?connect_timeout", "tcp://h:1?connect_timeout"),
    ("sim://#later", "sim://#***"),
    (f"serial:///dev/{KEY_HEX}", "serial:///dev/<32 hex digits>"),
    ("op:pw@10.0.0.1", "***@10.0.0.1"),  # no scheme at all: still no password
    ("sim://", "sim://"),
    (42, "int (not text)"),
])
def test_shown_url(text, shown):
    assert shown_url(text) == shown


_word = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@given(scheme=st.sampled_from(["tcp", "modem", "serial", "sim", "bogus"]), host=_word, port=st.integers(0, 99999),
       path=st.lists(_word, max_size=3), names=st.lists(_word, max_size=4, unique=True),
       user=st.booleans())
def test_what_may_be_secret_never_shows_and_the_rest_does(scheme, host, port, path, names, user):
    userinfo = f"op:{SECRET}@" if user else ""
    query = "&".join(f"{n}={SECRET}{i}" for i, n in enumerate(names))
    text = f"{scheme}://{userinfo}{host}:{port}/{'/'.join(path)}" + (f"?{query}" if query else "")
    shown = shown_url(text)
    assert SECRET not in shown
    assert shown.startswith(f"{scheme}://") and f"{host}:{port}/{'/'.join(path)}" in shown
    assert all(f"{n}=***" in shown for n in names)


@pytest.mark.parametrize("kind, url, code", [
    ("link", f"tcp://op:{SECRET}@10.0.0.1:99999", "config.bad_url"),  # a bad port: the URL was echoed whole
    ("link", f"modem:///dev/ttyS0?number=95516&pin={KEY_HEX}", "config.unknown_option"),
    ("link", f"modem:///dev/ttyS0?number=95516&init={SECRET}&connect_timeout=0", "config.bad_option"),
    ("link", f"modem:///dev/ttyS0?number={SECRET}", "config.bad_option"),
    ("link", f"tcp://?connect_timeout={SECRET}", "config.bad_option"),
    ("link", f"tcp:///?idle_hangup=1&x={SECRET}", "config.unknown_option"),
    ("printer", f"tcp://?timeout={SECRET}", "config.bad_option"),
    ("display", f"serial://?write_timeout={SECRET}", "config.bad_option"),
    ("pinpad", f"serial://?key_timeout={SECRET}", "config.bad_option"),
    ("reader", f"serial://?timeout={SECRET}", "config.bad_option"),
    ("link", f"tcp://h:1?connect_timeout=5&connect_timeout={SECRET}", "config.bad_url"),
    ("link", f"{KEY_HEX}://h:1", "config.bad_url"),
    ("link", f"A{KEY_HEX}://h:1", "config.unknown_scheme"),
], ids=["password, bad port", "key as an unknown option", "init beside a bad timeout", "bad number",
        "tcp without host", "unknown option beside", "printer", "display", "pinpad", "reader", "option twice",
        "key as a scheme", "key as a valid scheme"])
def test_no_driver_error_shows_a_password_or_an_option_value(kind, url, code):
    with pytest.raises(ConfigError) as e:
        make_device(kind, url)
    assert e.value.code == code, e.value.text
    assert SECRET not in e.value.text and KEY_HEX.lower() not in e.value.text.lower(), e.value.text
