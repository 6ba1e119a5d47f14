"""More columns than the profile's Font A is refused when the printer is made (AU21 L1): rows would wrap."""

from __future__ import annotations

import pytest

from firmware.errors import ConfigError
from hal.printer.capabilities import columns_error
from hal.registry import make_device


@pytest.mark.parametrize("url", ["sim://?columns=48", "serial:///dev/ttyUSB0?baud=19200&columns=48",
                                 "tcp://10.0.0.9?columns=48&profile=default"])
def test_columns_wider_than_font_a_are_refused_when_the_printer_is_made(url):
    with pytest.raises(ConfigError) as err:
        make_device("printer", url)  # made, not opened: posterm run's start, config check, selftest
    assert err.value.code == "config.bad_option"
    text = err.value.text
    assert url.split("?")[0] in text and "columns=48" in text
    assert "the 42 columns of Font A in profile 'default'" in text
    assert "CT-S651, KR-306, RP-F10-80mm, TM-L90, TM-T20II" in text and "columns=42 or fewer" in text


@pytest.mark.parametrize("url", ["sim://?columns=42", "sim://?profile=TM-T20II&columns=48",
                                 "sim://?profile=ZJ-5870&columns=32", "tcp://10.0.0.9?profile=TM-L90&columns=48"])
def test_columns_within_font_a_are_taken(url):
    make_device("printer", url)


def test_a_58mm_profile_refuses_an_80mm_width():
    with pytest.raises(ConfigError, match="the 32 columns of Font A in profile 'ZJ-5870'"):
        make_device("printer", "sim://?profile=ZJ-5870&columns=42")


def test_a_profile_without_font_data_takes_any_width():
    profiles = {"bare": {"name": "no fonts"}, "odd": {"fonts": {"0": {"columns": "many"}}},
                "wide": {"fonts": {"0": {"columns": 48}}}}
    assert columns_error(profiles, "bare", 255) is None and columns_error(profiles, "odd", 255) is None
    assert columns_error(profiles, "wide", 48) is None
    error = columns_error(profiles, "wide", 64, "sim://?columns=***")
    assert error is not None and "choose another profile, or columns=48 or fewer" in error.text


MADE_WITHOUT_ESCPOS = """
import sys
from firmware.errors import ConfigError
from hal.registry import make_device
make_device("printer", "sim://?profile=TM-T20II&columns=48")
try:
    make_device("printer", "sim://?columns=48")
except ConfigError as e:
    assert e.code == "config.bad_option", e
else:
    raise AssertionError("columns=48 on the default profile was taken")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("escpos", "yaml", "PIL"))
assert not heavy, heavy
"""


def test_the_check_imports_no_escpos(run_python):
    run_python(MADE_WITHOUT_ESCPOS)


def test_a_capability_file_that_is_not_json_leaves_the_check_to_the_import(run_python, tmp_path):
    yaml_file = tmp_path / "caps.yaml"
    yaml_file.write_text("profiles:\n  default:\n    fonts: {'0': {columns: 42}}\n")
    run_python('from hal.registry import make_device\nmake_device("printer", "sim://?columns=48")',
               env={"ESCPOS_CAPABILITIES_FILE": str(yaml_file)})


@pytest.mark.parametrize("url", ["sim://?profile=NoSuchModel", "serial:///dev/ttyUSB0?profile=TM-T88", "tcp://10.0.0.9?profile=tm-t20ii"])
def test_an_unknown_profile_is_refused_when_the_printer_is_made(url):
    """It was found only when python-escpos was imported (the warm-up or the first receipt), after a sale."""
    with pytest.raises(ConfigError) as err:
        make_device("printer", url)
    assert err.value.code == "config.bad_option"
    assert "is not in python-escpos's capability database; known: " in err.value.text and "TM-T20II" in err.value.text
