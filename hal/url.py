"""Device URLs: how the configuration names a driver and its options.

    sim://                                  a simulator
    tcp://10.0.0.5:5000?connect_timeout=5   a TCP host link
    serial:///dev/ttyUSB0?baud=9600         a device on a serial port
    console://                              the developer's terminal

The scheme picks the driver (see ``hal.registry``). Query options are checked
against the options the driver declares: an unknown option, or a value of
the wrong form, is an error that names the option and the expected form.
Nothing is guessed and nothing falls back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from firmware.errors import ConfigError

__all__ = ["DeviceUrl", "Option", "bind_options"]

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
# The largest number a float option (a timeout, a rate, a gap) may take: a day. Larger ones, inf
# and nan overflow the socket and serial calls they reach instead of failing at configuration.
MAX_FLOAT_OPTION = 86400.0


@dataclass(frozen=True)
class DeviceUrl:
    text: str
    scheme: str
    host: str = ""
    port: int | None = None
    path: str = ""
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, *, what: str = "device") -> DeviceUrl:
        if not isinstance(text, str) or "://" not in text:
            raise ConfigError(
                f"{what} URL {text!r} is not of the form scheme://[host[:port]][/path][?option=value]",
                code="config.bad_url",
            )
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if not _SCHEME.match(scheme):
            raise ConfigError(f"{what} URL {text!r} has no valid scheme", code="config.bad_url")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{what} URL {text!r} has a port that is not a number 0-65535", code="config.bad_url") from None
        options: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if key in options:
                raise ConfigError(f"{what} URL {text!r} gives option {key!r} twice", code="config.bad_url")
            options[key] = value
        if parts.query and not options:
            raise ConfigError(f"{what} URL {text!r} has a query that is not option=value pairs", code="config.bad_url")
        return cls(text, scheme, parts.hostname or "", port, parts.path, options)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Option:
    """One option a driver accepts in its URL query."""

    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()

    def form(self) -> str:
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(self.type, "text")

    def convert(self, name: str, raw: str, url: DeviceUrl) -> Any:
        try:
            if self.type is bool:
                lowered = raw.lower()
                if lowered in ("1", "true", "yes", "on"):
                    value: Any = True
                elif lowered in ("0", "false", "no", "off"):
                    value = False
                else:
                    raise ValueError(raw)
            else:
                value = self.type(raw)
                if self.type is float and not (math.isfinite(value) and abs(value) <= MAX_FLOAT_OPTION):
                    raise ValueError(raw)  # inf, nan or 1e300: no timeout or rate is that large
        except (TypeError, ValueError):
            raise ConfigError(
                f"option {name!r} in {url.text!r} expects {self.form()}, got {raw!r}", code="config.bad_option"
            ) from None
        if self.choices and value not in self.choices:
            raise ConfigError(
                f"option {name!r} in {url.text!r} expects {self.form()}, got {raw!r}", code="config.bad_option"
            )
        return value


def bind_options(url: DeviceUrl, declared: Mapping[str, Option]) -> dict[str, Any]:
    """Check ``url``'s options against ``declared``; return every option with its value or default."""
    unknown = sorted(set(url.options) - set(declared))
    if unknown:
        expected = ", ".join(sorted(declared)) or "no options"
        raise ConfigError(
            f"unknown option {unknown[0]!r} in {url.scheme}:// URL {url.text!r}; expected {expected}",
            code="config.unknown_option",
        )
    return {
        name: (opt.convert(name, url.options[name], url) if name in url.options else opt.default)
        for name, opt in declared.items()
    }
