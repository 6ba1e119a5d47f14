"""A rejected configuration value never shows what looks like a secret (AU12 F2): a device URL's password and
option values (``hal.url.shown_url``), and anything holding 16 or more hex digits in a row (a key, or a PAN,
pasted where a value or a key's name was wanted), whatever the setting is called: only its type and length."""

from __future__ import annotations

import pytest

from firmware.config import check_devices, parse_config
from firmware.errors import ConfigError

KEY_HEX = "0123456789ABCDEFFEDCBA9876543210"  # a double-length TDES key, as an engineer might paste one


@pytest.mark.parametrize("doc, code", [
    ({"devices": {"link": "tcp://op:Sup3rSecretPass@10.0.0.1:99999"}}, "config.bad_url"),  # a bad port
    ({"devices": {"link": f"modem:///dev/ttyS0?number=95516&pin={KEY_HEX}"}}, "config.unknown_option"),
    ({"host": {"tpdu_destination": KEY_HEX}}, "config.bad_value"),  # under the cap, in a setting not named "key"
    ({"host": {KEY_HEX: "x"}}, "config.unknown_key"),  # a key pasted as a name (a TOML line without its name)
    ({KEY_HEX: {}}, "config.unknown_key"),  # ... or as a section
    ({"devices": {"printer": "op:Sup3rSecretPass@10.0.0.1"}}, "config.bad_value"),  # a URL without scheme://
], ids=["password in link URL", "key in link option", "key in a plain setting", "key as a name",
        "key as a section", "password in a URL without scheme"])
def test_a_rejected_value_never_shows_what_looks_like_a_secret(doc, code):
    with pytest.raises(ConfigError) as e:
        check_devices(parse_config(doc))
    assert e.value.code == code, e.value.text
    assert "Sup3rSecretPass" not in e.value.text and KEY_HEX not in e.value.text, e.value.text


@pytest.mark.parametrize("doc, said", [
    ({"host": {"tpdu_destination": KEY_HEX}}, "host.tpdu_destination must be 4 digits, got a 32-character hex string"),
    ({"terminal": {"merchant_name": "Shop name " + KEY_HEX + " Ltd"}}, "got a 46-character string"),
    ({"host": {KEY_HEX: "x"}}, "unknown key host.<a 32-character hex string> in configuration"),
    ({"devices": {"link": "op:pw@10.0.0.1"}}, "devices.link must be a device URL such as sim:// or tcp://host:port, "
                                              "got '***@10.0.0.1'"),
    ({"host": {"tpdu_destination": "12345"}}, "got '12345'"),  # short and no key's shape: shown, to fix it by
])
def test_what_a_rejected_value_is_shown_as(doc, said):
    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    assert said in e.value.text, e.value.text
