"""The tamper switch: a case switch or mesh that, when it trips, has every key destroyed.

Port ``TamperSwitch`` (``kind = "tamper"``): ``poll() -> list[Trip]``, never
blocking. The runner turns a trip into the core's ``Tampered`` event, which
zeroizes the keys and locks the terminal. Drivers:

``none://``  no switch is fitted (a deliberate configuration, not a fallback);
``sim://``   an instrument: ``trip(reason)``;
``gpio://?pin=4&active=low&pins=rpigpio``  a line on a GPIO pin (``hal.gpio``);
             a line already active when the terminal starts trips at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from firmware.errors import DeviceError
from hal.base import Device, DeviceContext
from hal.url import DeviceUrl, Option

__all__ = ["Trip", "TamperSwitch", "NoTamperSwitch", "SimTamperSwitch", "GpioTamperSwitch"]


@dataclass(frozen=True)
class Trip:
    source: str  # "gpio", "sim", ...
    reason: str


class TamperSwitch(Device):
    kind = "tamper"

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        self._trips: list[Trip] = []
        self._lock = threading.Lock()  # edges may arrive on a GPIO callback thread

    def _tripped(self, trip: Trip) -> None:
        with self._lock:
            self._trips.append(trip)

    def poll(self) -> list[Trip]:
        with self._lock:
            trips, self._trips = self._trips, []
        return trips


class NoTamperSwitch(TamperSwitch):
    scheme = "none"


class SimTamperSwitch(TamperSwitch):
    scheme = "sim"

    def trip(self, reason: str = "case opened") -> None:
        self._tripped(Trip("sim", reason))


class GpioTamperSwitch(TamperSwitch):
    scheme = "gpio"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "pin": Option(int, 4, "BCM pin of the tamper line"),
        "active": Option(str, "low", "level that means tampered", choices=("low", "high")),
        "pins": Option(str, "rpigpio", "pin source (hal.gpio)", choices=("rpigpio", "sim")),
        "reason": Option(str, "case opened", "what the tamper record says"),
    }

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None, *, pins=None) -> None:
        super().__init__(url, context)
        self._given_pins = pins
        self.pins = None

    def _do_open(self) -> None:
        from hal.gpio import Edge, make_pin_source

        o = self.options
        pins = self._given_pins or make_pin_source(o["pins"])
        active = 0 if o["active"] == "low" else 1
        try:
            pins.setup_input(o["pin"], pull_up=active == 0)
            pins.watch(o["pin"], Edge.FALLING if active == 0 else Edge.RISING, lambda _p, _l: self._trip_now())
            if pins.read(o["pin"]) == active:  # opened while the power was off, or held open now
                self._trip_now()
        except DeviceError:
            pins.close()
            raise
        self.pins = pins

    def _trip_now(self) -> None:
        self._tripped(Trip("gpio", self.options["reason"]))

    def _do_close(self) -> None:
        pins, self.pins = self.pins, None
        if pins is not None and self._given_pins is None:
            pins.close()
