"""GPIO pin sources: how a driver sees its input pins, in the manner of gpiozero's pin factories.

A driver that watches pins (the TTL card reader, ``hal.magstripe.ttl``) talks
to a ``PinSource``: set a pin up as an input, read its level, and have a
callback run on an edge. Two backends implement it:

``rpigpio``  ``RpiGpioPins``: RPi.GPIO on a Raspberry Pi (BCM numbering). RPi.GPIO
             is imported when the source is made, never at import time: it
             refuses to import anywhere but on a Pi, and a missing or refusing
             RPi.GPIO is an error (``gpio.unavailable``), never a fallback.
``sim``      ``SimPins``: an instrument. Tests drive levels (``drive_low``,
             ``drive_high``, ``pulse_low``) and callbacks run at once, in the
             caller's thread; it records how each pin was set up.

There is no global default source: a driver is handed one, or names one by
its URL (``gpio://?pins=sim``).
"""

from __future__ import annotations

import abc
import enum
import importlib
from collections.abc import Callable
from typing import ClassVar

from firmware.errors import ConfigError

__all__ = ["Edge", "EdgeCallback", "PinSource", "PIN_SOURCES", "make_pin_source"]

EdgeCallback = Callable[[int, int], None]  # (pin, its level just after the edge)


class Edge(str, enum.Enum):
    FALLING = "falling"
    RISING = "rising"
    BOTH = "both"

    def matches(self, level: int) -> bool:
        """Whether a change to ``level`` is an edge of this kind."""
        return self is Edge.BOTH or (level == 0) == (self is Edge.FALLING)


class PinSource(abc.ABC):
    """Input pins by number. Backends override these few hooks."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def setup_input(self, pin: int, *, pull_up: bool = True) -> None:
        """Make ``pin`` an input with its pull-up (or pull-down) resistor."""

    @abc.abstractmethod
    def read(self, pin: int) -> int:
        """The pin's level, 0 or 1."""

    @abc.abstractmethod
    def watch(self, pin: int, edge: Edge, callback: EdgeCallback) -> None:
        """Call ``callback(pin, level)`` on every ``edge`` of ``pin`` (possibly from another thread)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop every callback and release the pins."""


PIN_SOURCES: dict[str, str] = {
    "rpigpio": "hal.gpio.rpigpio:RpiGpioPins",
    "sim": "hal.gpio.sim:SimPins",
}


def make_pin_source(name: str) -> PinSource:
    """The pin source called ``name``; an unknown name is a ``ConfigError`` listing the known ones."""
    try:
        target = PIN_SOURCES[name]
    except KeyError:
        raise ConfigError(f"no pin source {name!r}; known: {', '.join(PIN_SOURCES)}", code="config.bad_option") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()
