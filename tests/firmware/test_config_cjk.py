"""Receipt text of the configuration's own that the printer cannot print is refused at load (AU21 M4)."""

from __future__ import annotations

import pytest

from firmware.config import parse_config
from firmware.config_checks import PRINTED_KEYS
from firmware.errors import ConfigError

NAME = "上海浦东测试商户"


def _load(printer: str, **terminal: str):
    return parse_config({"terminal": terminal, "devices": {"printer": printer}}, source="posterm.toml")


def test_a_chinese_name_on_a_printer_without_chinese_mode_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as err:
        _load("sim://", merchant_name=NAME)
    assert err.value.code == "config.bad_value"
    assert err.value.text == (
        "terminal.merchant_name in posterm.toml has characters printer 'sim://' cannot print (CJK): "
        "set cjk=gb18030 on devices.printer if it has a Chinese font, or use Latin letters")


def test_a_forced_single_byte_code_page_cannot_print_it_either():
    with pytest.raises(ConfigError) as err:
        _load("serial:///dev/ttyUSB0?encoding=CP437", merchant_name=NAME)
    assert err.value.code == "config.bad_value"
    assert "terminal.merchant_name" in err.value.text and "'serial:///dev/ttyUSB0?encoding=***'" in err.value.text
    assert "forces one single-byte code page" in err.value.text


@pytest.mark.parametrize("printer", ["sim://?cjk=gb18030", "serial:///dev/ttyUSB0?cjk=gb18030&encoding=CP437",
                                     "tcp://10.0.0.9:9100?profile=TM-T20II&columns=48&cjk=gb18030"])
def test_a_printer_with_chinese_mode_takes_it(printer):
    assert _load(printer, merchant_name=NAME).terminal.merchant_name == NAME


def test_every_receipt_key_is_checked():
    assert PRINTED_KEYS == ("merchant_name", "merchant_id", "terminal_id", "operator", "currency_symbol")
    with pytest.raises(ConfigError, match="terminal.currency_symbol .* cannot print"):
        _load("sim://", currency_symbol="元")
    with pytest.raises(ConfigError, match="terminal.operator .* cannot print"):
        _load("sim://", operator="张")


def test_latin_letters_a_code_page_holds_are_not_chinese():
    assert _load("sim://?encoding=CP858", merchant_name="Café Müller").terminal.merchant_name == "Café Müller"


def test_fullwidth_latin_is_wide_too():
    with pytest.raises(ConfigError, match="terminal.merchant_name"):
        _load("sim://", merchant_name="ＡＢＣ SHOP")  # fullwidth forms: two columns, only in Chinese mode


def test_an_unknown_chinese_mode_is_left_to_the_port_to_name():
    from hal.registry import make_device

    config = _load("sim://?cjk=gbk", merchant_name=NAME)  # not "none": the port says what is wrong with it
    with pytest.raises(ConfigError) as err:
        make_device("printer", config.devices.printer)  # as posterm config check and run do
    assert err.value.code == "config.bad_option" and "'cjk'" in err.value.text and "none, gb18030" in err.value.text


def test_a_scenario_prints_the_chinese_name_centred_on_its_simulated_printer():
    from pathlib import Path

    from firmware.scenario import ScenarioRunner, load_scenario

    path = Path(__file__).resolve().parents[2] / "scenarios" / "chinese_merchant_name.toml"
    result = ScenarioRunner().run(load_scenario(path))
    assert result["ok"], result["failures"]
    merchant, cardholder = result["transactions"][0]["receipts"]  # the scenario JSON's receipt text
    for text in (merchant, cardholder):
        assert text.splitlines()[0] == " " * 8 + NAME  # 16 columns of 32, centred
