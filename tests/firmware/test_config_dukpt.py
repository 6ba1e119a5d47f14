"""host.pin_keys: session (default) or dukpt, refused where a DUKPT block could not be made or carried."""

from __future__ import annotations

import pytest

from firmware.config import Config, config_docs, parse_config
from firmware.errors import ConfigError


def test_session_is_the_default_and_dukpt_is_accepted_with_iso87_and_a_soft_pad():
    assert Config().host.pin_keys == "session"
    c = parse_config({"host": {"profile": "iso87", "pin_keys": "dukpt"}, "devices": {"pinpad": "console://"}})
    assert c.host.pin_keys == "dukpt"
    assert "| `host.pin_keys` | `\"session\"` |" in config_docs()


@pytest.mark.parametrize(("doc", "code", "words"), [
    ({"host": {"pin_keys": "tdes"}}, "config.bad_value", ["host.pin_keys", "session or dukpt"]),
    ({"host": {"pin_keys": "dukpt"}}, "config.dukpt_profile", ["host.pin_keys", "cup", "iso87"]),
    ({"host": {"profile": "iso87", "pin_keys": "dukpt"}, "devices": {"pinpad": "serial:///dev/ttyUSB0"}},
     "config.dukpt_pinpad", ["host.pin_keys", "serial://", "sim://"]),
])
def test_dukpt_where_it_cannot_work_is_refused_naming_the_key(doc, code, words):
    with pytest.raises(ConfigError) as err:
        parse_config(doc, source="test.toml")
    assert err.value.code == code
    for word in words:
        assert word in err.value.text


def test_overrides_are_checked_the_same_way():
    with pytest.raises(ConfigError) as err:
        Config().replace({"host": {"pin_keys": "dukpt"}})
    assert err.value.code == "config.dukpt_profile"
