"""host.header: as many digits as the profile's header takes, or none for a profile without one.

A wrong length was accepted: cup framed every message with a short header the host could not read, and
iso87 ignored the setting silently. Both are now refused at load, naming the key and the expected form.
"""

from __future__ import annotations

import pytest

from firmware.config import Config, parse_config
from firmware.errors import ConfigError


@pytest.mark.parametrize("doc", [
    {},
    {"host": {"header": "603100311301"}},
    {"host": {"profile": "iso87"}},
    {"host": {"profile": "iso87-aes", "header": ""}},
])
def test_a_header_of_the_profile_s_length_or_none_is_accepted(doc):
    parse_config(doc, source="t.toml")


@pytest.mark.parametrize(("doc", "expected"), [
    ({"host": {"header": "12"}}, "takes 12 digits"),
    ({"host": {"header": "6031003113010"}}, "takes 12 digits"),
    ({"host": {"profile": "iso87", "header": "603100000000"}}, "takes none"),
    ({"host": {"profile": "iso87-aes", "header": "6"}}, "takes none"),
])
def test_a_header_the_profile_cannot_carry_is_refused_naming_the_key(doc, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(doc, source="t.toml")
    assert err.value.code == "config.bad_header"
    assert "host.header" in err.value.text and "t.toml" in err.value.text and expected in err.value.text


def test_overrides_are_checked_the_same_way():
    with pytest.raises(ConfigError) as err:
        Config().replace({"host": {"profile": "iso87", "header": "603100000000"}})
    assert err.value.code == "config.bad_header"


@pytest.mark.parametrize("doc", [
    {"host": {"profile": "iso87", "acquirer_id": "12345678901"}},
    {"host": {"profile": "iso87-aes", "acquirer_id": "7"}},
    {"host": {"acquirer_id": ""}},
])
def test_an_acquirer_id_is_taken_by_a_profile_that_sends_one(doc):
    parse_config(doc, source="t.toml")


@pytest.mark.parametrize(("doc", "expected"), [
    ({"host": {"acquirer_id": "123456"}}, "profile cup sends no acquirer ID"),  # it would go nowhere, silently
    ({"host": {"profile": "iso87", "acquirer_id": "123456789012"}}, "up to 11 digits"),
    ({"host": {"profile": "iso87", "acquirer_id": "12A"}}, "up to 11 digits"),
])
def test_an_acquirer_id_the_profile_cannot_send_is_refused_naming_the_key(doc, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(doc, source="t.toml")
    assert err.value.code == "config.bad_value"
    assert "host.acquirer_id" in err.value.text and expected in err.value.text
