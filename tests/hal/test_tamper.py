"""The tamper switch port and its drivers, against a simulated pin source."""

from __future__ import annotations

import pytest

from firmware.errors import ConfigError
from hal.gpio.sim import SimPins
from hal.registry import make_device
from hal.tamper import GpioTamperSwitch, Trip


def test_gpio_line_trips_on_its_active_edge():
    pins = SimPins()
    switch = GpioTamperSwitch("gpio://?pin=4&active=low&pins=sim", pins=pins)
    with switch:
        assert switch.poll() == []
        pins.drive_low(4)
        assert switch.poll() == [Trip("gpio", "case opened")]
        assert switch.poll() == []


def test_a_line_already_active_at_start_trips_at_once():
    pins = SimPins()
    pins.drive_high(17)
    with GpioTamperSwitch("gpio://?pin=17&active=high&pins=sim&reason=mesh%20cut", pins=pins) as switch:
        assert switch.poll() == [Trip("gpio", "mesh cut")]


def test_no_switch_is_an_explicit_choice_and_unknown_options_are_refused():
    assert make_device("tamper", "none://").poll() == []
    with pytest.raises(ConfigError) as e:
        make_device("tamper", "gpio://?pin=4&activ=low")
    assert e.value.code == "config.unknown_option"


def test_sim_switch_is_an_instrument():
    switch = make_device("tamper", "sim://")
    switch.trip("drill")
    assert switch.poll() == [Trip("sim", "drill")]
