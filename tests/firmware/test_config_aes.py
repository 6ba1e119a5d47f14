"""host.profile = "iso87-aes": accepted (with DUKPT), named wherever the profiles are listed, and the DUKPT
refusal on cup points to it."""

from __future__ import annotations

import pytest

from firmware.config import PROFILE_CHOICES, config_docs, parse_config
from firmware.errors import ConfigError
from firmware.host.profiles import PROFILES


def test_iso87_aes_is_accepted_with_dukpt_and_a_soft_pad():
    c = parse_config({"host": {"profile": "iso87-aes", "pin_keys": "dukpt"}, "devices": {"pinpad": "console://"}})
    assert (c.host.profile, c.host.pin_keys) == ("iso87-aes", "dukpt")


def test_every_profile_is_named_in_the_error_and_the_docs():
    with pytest.raises(ConfigError) as err:
        parse_config({"host": {"profile": "iso93"}}, source="test.toml")
    assert err.value.code == "config.bad_value" and PROFILE_CHOICES in err.value.text
    row = next(line for line in config_docs().splitlines() if line.startswith("| `host.profile`"))
    pin_keys = next(line for line in config_docs().splitlines() if line.startswith("| `host.pin_keys`"))
    for name in PROFILES:
        assert name in PROFILE_CHOICES and name in row
    assert "iso87-aes" in pin_keys


@pytest.mark.parametrize(("doc", "code"), [
    ({"host": {"profile": "cup", "pin_keys": "dukpt"}}, "config.dukpt_profile"),
    ({"host": {"profile": "iso87-aes", "pin_keys": "dukpt"}, "devices": {"pinpad": "serial:///dev/ttyUSB0"}},
     "config.dukpt_pinpad"),
])
def test_dukpt_where_it_cannot_work_is_refused(doc, code):
    with pytest.raises(ConfigError) as err:
        parse_config(doc, source="test.toml")
    assert err.value.code == code
    if code == "config.dukpt_profile":
        assert "iso87-aes" in err.value.text
