"""A terminal on a 2 x 16 or 2 x 20 display, end to end (audit AU20 M4, L4; brief FX19): the runner hands the
display's width to the core (``CoreSettings.display_cols``), and the configuration refuses a display narrower
than the screens support (``hal.display.MIN_COLS``) or one the largest amount would not fit."""

from __future__ import annotations

import pytest

from firmware.config import parse_config
from firmware.errors import ConfigError
from firmware.hostsim.txnset import lab_balance
from firmware.money import format_amount
from firmware.scenario import ScenarioRunner, parse_scenario
from hal.base import DeviceContext
from hal.display import MIN_COLS
from hal.magstripe.sim import find_card
from hal.registry import make_device

FAST = {"host": {"response_timeout": 0.5, "connect_timeout": 0.5}}
CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]


class SizedRunner(ScenarioRunner):
    """The scenario runner with a simulated display of the size a test chooses (the runner's own is 4 x 20)."""

    def __init__(self, display: str, **kw) -> None:
        super().__init__(**kw)
        self._display = display

    def _start(self, config):
        config = super()._start(config)
        self.devices["display"] = make_device("display", self._display, DeviceContext(data_dir=self.data_dir))
        return config


def run(display: str, steps: list) -> tuple[dict, list[str]]:
    runner = SizedRunner(display)
    result = runner.run(parse_scenario({"name": "display width", "config": FAST, "step": steps}))
    assert not result["failures"], result["failures"]
    return result, ["\n".join(line.rstrip() for line in s) for s in runner.devices["display"].history]


def test_a_balance_on_2x16_is_whole():
    """It read "BALANCE CNY 5433 / CARD **** 0004" for CNY 54338.88, and the balance is never printed."""
    _, shown = run("sim://?rows=2&cols=16", [{"balance": True}, *CARD, {"expect": {"outcome": "approved"}}])
    balance = format_amount(lab_balance(find_card("unionpay_debit").pan), 2)
    assert f"BALANCE ****0004\nCNY {balance}" in shown, shown[-3:]


def test_a_completion_of_123456_78_on_2x20_keys_its_pin_under_its_title_and_whole_amount():
    steps = [{"preauth": 12345678}, *CARD, {"preauth_complete": {"auth": "000001", "amount": 12345678}}, *CARD,
             {"expect": {"outcome": "approved"}}]
    _, shown = run("sim://?rows=2&cols=20", steps)
    assert any(s.startswith("CMPL CNY 123456.78\nENTER PIN:") for s in shown), shown


def test_a_decline_on_2x20_says_the_amount_and_the_whole_reason():
    steps = [{"host": {"behaviour": "decline", "code": "51", "times": 1}}, {"key": "3000#"}, *CARD,
             {"expect": {"outcome": "declined"}}]
    _, shown = run("sim://?rows=2&cols=20", steps)
    assert "DECLINED CNY 30.00\n51 NO FUNDS" in shown, shown[-3:]


def test_a_transfer_approved_on_2x16_says_so_whole():
    steps = [{"transfer": {"amount": 7000, "account": "6228480000000000018"}}, *CARD,
             {"expect": {"outcome": "approved"}}]
    _, shown = run("sim://?rows=2&cols=16", steps)  # read "TRANSFER APPROVE"
    assert any(s.startswith("XFER APPROVED\nCNY 70.00") for s in shown), shown


@pytest.mark.parametrize("cols", [1, 12, MIN_COLS - 1])
def test_a_display_narrower_than_the_screens_support_is_refused(cols):
    with pytest.raises(ConfigError) as caught:
        parse_config({"devices": {"display": f"sim://?rows=2&cols={cols}"}})
    assert caught.value.code == "config.bad_option"
    assert "devices.display" in caught.value.text and f"at least {MIN_COLS} columns" in caught.value.text


@pytest.mark.parametrize("display", [f"sim://?rows=2&cols={MIN_COLS}", "sim://?rows=2", "sim://"])
def test_the_narrowest_supported_display_and_the_default_are_taken(display):
    assert parse_config({"devices": {"display": display}}).devices.display == display


def test_a_largest_amount_too_wide_for_the_display_is_refused():
    """-CNY 9999999999.99 (sale.max_amount 999999999999 as a refund) is 18 characters: a 16-column line
    could show it only cut."""
    doc = {"devices": {"display": "sim://?rows=2&cols=16"}, "sale": {"max_amount": 999999999999}}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    assert caught.value.code == "config.bad_value" and "sale.max_amount" in caught.value.text
    assert parse_config({**doc, "devices": {"display": "sim://?rows=2&cols=20"}}).sale.max_amount == 999999999999
