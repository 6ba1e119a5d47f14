"""``SimPins``: simulated input pins, an instrument in the manner of gpiozero's mock pins.

A test drives levels as the wiring would (``drive_low``, ``drive_high``,
``pulse_low`` for a strobe) and the source runs the watching callbacks at
once, in the test's thread, for every edge that matches. It records how each
pin was set up (``pull_up``) and watched, and refuses to be read or driven
once closed, so a test can check that a driver released its pins.
"""

from __future__ import annotations

from firmware.errors import DeviceError
from hal.gpio import Edge, EdgeCallback, PinSource

__all__ = ["SimPins"]


class SimPins(PinSource):
    name = "sim"

    def __init__(self) -> None:
        self._levels: dict[int, int] = {}
        self.pull_up: dict[int, bool] = {}
        self._watchers: dict[int, list[tuple[Edge, EdgeCallback]]] = {}
        self.closed = False
        self.edges_delivered = 0

    # -- the source -----------------------------------------------------------
    def setup_input(self, pin: int, *, pull_up: bool = True) -> None:
        self._check_open()
        self.pull_up[pin] = pull_up
        self._levels.setdefault(pin, 1 if pull_up else 0)

    def read(self, pin: int) -> int:
        self._check_open()
        if pin not in self._levels:
            raise DeviceError(f"GPIO {pin} was not set up as an input", code="gpio.failed")
        return self._levels[pin]

    def watch(self, pin: int, edge: Edge, callback: EdgeCallback) -> None:
        self._check_open()
        self._watchers.setdefault(pin, []).append((edge, callback))

    def close(self) -> None:
        self._watchers.clear()
        self.closed = True

    # -- the instrument -------------------------------------------------------
    def drive(self, pin: int, level: int) -> None:
        """Set ``pin`` to ``level``; watchers of a matching edge run now."""
        self._check_open()
        level = 1 if level else 0
        if self._levels.get(pin, 1 - level) == level:
            return
        self._levels[pin] = level
        for edge, callback in list(self._watchers.get(pin, ())):
            if edge.matches(level):
                self.edges_delivered += 1
                callback(pin, level)

    def drive_low(self, pin: int) -> None:
        self.drive(pin, 0)

    def drive_high(self, pin: int) -> None:
        self.drive(pin, 1)

    def pulse_low(self, pin: int) -> None:
        """A strobe: high to low (the falling edge) and back."""
        self.drive(pin, 0)
        self.drive(pin, 1)

    def level(self, pin: int) -> int:
        return self._levels[pin]

    def watched(self, pin: int) -> list[Edge]:
        return [edge for edge, _ in self._watchers.get(pin, ())]

    def _check_open(self) -> None:
        if self.closed:
            raise DeviceError("the pin source is closed", code="gpio.closed")
