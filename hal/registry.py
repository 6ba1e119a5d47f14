"""Which driver serves which URL scheme, for each kind of device.

The table is data and names each driver as ``"module:Class"``, so a driver's
heavy imports (pyserial, python-escpos, evdev, RPi.GPIO) happen only when the
configuration asks for it. An unknown scheme is an error listing the known
ones; there is no default driver and no fallback.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from firmware.errors import ConfigError
from hal.url import DeviceUrl, shown_url

if TYPE_CHECKING:
    from hal.base import Device, DeviceContext

__all__ = ["DRIVERS", "KINDS", "driver_class", "open_device", "make_device"]

DRIVERS: dict[str, dict[str, str]] = {
    "reader": {
        "sim": "hal.magstripe.sim:SimReader",
        "serial": "hal.magstripe.serial:SerialReader",
        "hid": "hal.magstripe.hid:HidReader",
        "gpio": "hal.magstripe.ttl:GpioReader",
    },
    "pinpad": {
        "sim": "hal.pinpad.sim:SimPinPad",
        "console": "hal.pinpad.console:ConsolePinPad",
        "serial": "hal.pinpad.zpad:ZPinPad",
    },
    "printer": {
        "sim": "hal.printer.sim:SimPrinter",
        "serial": "hal.printer.serial:SerialPrinter",
        "tcp": "hal.printer.network:NetworkPrinter",
    },
    "display": {
        "sim": "hal.display.sim:SimDisplay",
        "console": "hal.display.console:ConsoleDisplay",
        "serial": "hal.display.serial:SerialDisplay",
    },
    "tamper": {
        "none": "hal.tamper:NoTamperSwitch",
        "sim": "hal.tamper:SimTamperSwitch",
        "gpio": "hal.tamper:GpioTamperSwitch",
    },
    "link": {
        "sim": "hal.link.sim:SimLink",
        "tcp": "hal.link.tcp:TcpLink",
        "modem": "hal.link.modem:ModemLink",
    },
}

KINDS = tuple(DRIVERS)


def driver_class(kind: str, scheme: str) -> type[Device]:
    try:
        schemes = DRIVERS[kind]
    except KeyError:
        raise ConfigError(f"unknown device kind {kind!r}; expected one of {', '.join(KINDS)}", code="config.bad_device") from None
    try:
        target = schemes[scheme]
    except KeyError:
        raise ConfigError(
            f"no {kind} driver for scheme {shown_url(scheme + '://')!r}; known: {', '.join(s + '://' for s in schemes)}",
            code="config.unknown_scheme",
        ) from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def make_device(kind: str, url: str, context: DeviceContext | None = None) -> Device:
    """Construct (but do not open) the driver ``url`` names. Checks scheme and options."""
    parsed = DeviceUrl.parse(url, what=kind)
    cls = driver_class(kind, parsed.scheme)
    return cls(parsed, context)


def open_device(kind: str, url: str, context: DeviceContext | None = None) -> Device:
    device = make_device(kind, url, context)
    device.open()
    return device
