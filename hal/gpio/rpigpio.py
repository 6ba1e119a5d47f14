"""``RpiGpioPins``: input pins through RPi.GPIO (BCM numbering), imported only when a source is made.

RPi.GPIO runs edge callbacks, in Python, in a thread of its own, and the
data line is sampled in the strobe's callback. A brisk swipe clocks a 210 bpi
track (1 and 3) at several thousand bits a second, which a Pi Zero may not
keep up with; track 2 (75 bpi) is a third of that. This has not been measured
on a Pi here; a lost strobe shifts the characters and shows up as a parity or
LRC error (swipe again). Readers with serial or USB output have no such limit.
"""

from __future__ import annotations

from typing import Any

from firmware.errors import DeviceError
from hal.gpio import Edge, EdgeCallback, PinSource

__all__ = ["RpiGpioPins"]


class RpiGpioPins(PinSource):
    name = "rpigpio"

    def __init__(self) -> None:
        try:
            import RPi.GPIO as GPIO  # noqa: N814  # refuses to import anywhere but on a Raspberry Pi
        except (ImportError, RuntimeError):
            raise DeviceError(
                "RPi.GPIO is not available: install posterm[pi] on a Raspberry Pi", code="gpio.unavailable"
            ) from None
        self._gpio: Any = GPIO
        self._pins: set[int] = set()
        self._watched: set[int] = set()
        GPIO.setmode(GPIO.BCM)

    def setup_input(self, pin: int, *, pull_up: bool = True) -> None:
        gpio = self._gpio
        try:
            gpio.setup(pin, gpio.IN, pull_up_down=gpio.PUD_UP if pull_up else gpio.PUD_DOWN)
        except (RuntimeError, ValueError):
            raise DeviceError(f"GPIO {pin} could not be set up as an input", code="gpio.failed") from None
        self._pins.add(pin)

    def read(self, pin: int) -> int:
        return 1 if self._gpio.input(pin) else 0

    def watch(self, pin: int, edge: Edge, callback: EdgeCallback) -> None:
        gpio = self._gpio
        kind = {Edge.FALLING: gpio.FALLING, Edge.RISING: gpio.RISING, Edge.BOTH: gpio.BOTH}[edge]
        try:
            gpio.add_event_detect(pin, kind, callback=lambda channel: callback(channel, self.read(channel)))
        except (RuntimeError, ValueError):
            raise DeviceError(f"GPIO {pin} could not be watched for edges", code="gpio.failed") from None
        self._watched.add(pin)

    def close(self) -> None:
        gpio = self._gpio
        for pin in self._watched:
            try:
                gpio.remove_event_detect(pin)
            except (RuntimeError, ValueError):
                pass
        self._watched.clear()
        if self._pins:
            gpio.cleanup(sorted(self._pins))
            self._pins.clear()
