"""Device URLs: how the configuration names a driver and its options.

    sim://                                  a simulator
    tcp://10.0.0.5:5000?connect_timeout=5   a TCP host link
    serial:///dev/ttyUSB0?baud=9600         a device on a serial port
    console://                              the developer's terminal

The scheme picks the driver (see ``hal.registry``). Query options are checked
against the options the driver declares: an unknown option, or a value of
the wrong form, is an error that names the option and the expected form.
A part of the URL no driver of its scheme reads (a host after ``sim://``, a
path after ``tcp://HOST:PORT``, a user name, a ``#fragment``) is an error
naming the part and the form (``URL_FORMS``), never dropped unread.
Nothing is guessed and nothing falls back.

A URL in an error text, a repr or a log line is ``shown_url``'s form of it: scheme,
host, port, path and option names, never a user name, password or option value
(a modem's ``init`` or a mistyped ``pin=`` may hold what must not be echoed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from crypto.secrets import mask_keys
from firmware.errors import ConfigError

__all__ = ["DeviceUrl", "Option", "UrlForm", "URL_FORMS", "bind_options", "shown_url"]

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
# The largest number a float option (a timeout, a rate, a gap) may take: a day. Larger ones, inf
# and nan overflow the socket and serial calls they reach instead of failing at configuration.
MAX_FLOAT_OPTION = 86400.0


HIDDEN = "***"  # what stands for a user name and password, an option's value or a #fragment


def shown_url(text: Any) -> str:
    """``text`` (a device URL, valid or not) as an error may show it: ``tcp://***@10.0.0.1:99999?pin=***``.
    Scheme, host, port, path and option names stay, to find the mistake by; what may be a secret (the part
    before ``@``, each option's value, a fragment) is ``***``, and a run of 16 or more hex digits left (a key
    pasted as a path or a name) is told only by its length. The one place a URL becomes text for a person."""
    if not isinstance(text, str):
        return f"{type(text).__name__} (not text)"
    head, query_sep, query = text.partition("?")
    head, fragment_sep, _ = head.partition("#")
    scheme, scheme_sep, rest = head.partition("://") if "://" in head else ("", "", head)
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = HIDDEN + "@" + netloc.rpartition("@")[2]
    shown = f"{scheme}{scheme_sep}{netloc}{slash}{path}"
    if query_sep:
        names = [pair.partition("=") for pair in query.split("&")]
        shown += "?" + "&".join(name + (f"={HIDDEN}" if eq else "") for name, eq, _ in names)
    if fragment_sep:
        shown += "#" + HIDDEN
    return mask_keys(shown)


@dataclass(frozen=True)
class UrlForm:
    """The parts of a URL the drivers of one scheme read besides the query: ``host`` (HOST[:PORT]) or
    ``path`` (a device file). Each driver checks what it needs of them; any part given that no driver
    of the scheme reads would be silently dropped, so ``DeviceUrl.parse`` refuses it."""

    form: str  # the URL as the operator writes it, for the error text
    host: bool = False
    path: bool = False


# One entry per scheme in hal.registry.DRIVERS (tests/hal/test_url_parts.py holds the two together).
# A scheme is the same form whatever the kind: tcp:// is HOST:PORT for the link and the printer alike.
URL_FORMS: Mapping[str, UrlForm] = {
    "sim": UrlForm("sim://[?option=value]"),
    "console": UrlForm("console://[?option=value]"),
    "none": UrlForm("none://"),
    "gpio": UrlForm("gpio://[?option=value]"),
    "tcp": UrlForm("tcp://HOST:PORT[?option=value]", host=True),
    "serial": UrlForm("serial:///dev/ttyUSB0[?option=value]", path=True),
    "hid": UrlForm("hid:///dev/input/event3[?option=value]", path=True),
    "modem": UrlForm("modem:///dev/ttyUSB0?number=95516", path=True),
}


def _check_parts(text: str, what: str, scheme: str, netloc: str, path: str, fragment: str) -> None:
    """Refuse a part of the URL that no driver of ``scheme`` reads (``URL_FORMS``)."""
    form = URL_FORMS.get(scheme)
    if form is None:  # not a scheme posterm has: hal.registry names the known ones
        return
    unused = None
    if "@" in netloc:
        unused = "takes no user name or password (before @)"  # not repeated: it may be a password
    elif netloc and not form.host:
        unused = f"takes no host, got {mask_keys(netloc)!r}"
    elif path not in ("", "/") and not form.path:
        unused = f"takes no path, got {mask_keys(path)!r}"
    elif fragment or "#" in text:
        unused = "takes no #fragment"  # not repeated, as an option's value is not
    if unused is not None:
        raise ConfigError(f"{what} URL {shown_url(text)!r}: {scheme}:// {unused}; the form is {form.form}",
                          code="config.bad_url")


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
                f"{what} URL {shown_url(text)!r} is not of the form scheme://[host[:port]][/path][?option=value]",
                code="config.bad_url",
            )
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if not _SCHEME.match(scheme):
            raise ConfigError(f"{what} URL {shown_url(text)!r} has no valid scheme", code="config.bad_url")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{what} URL {shown_url(text)!r} has a port that is not a number 0-65535", code="config.bad_url") from None
        _check_parts(text, what, scheme, parts.netloc, parts.path, parts.fragment)
        options: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if key in options:
                raise ConfigError(f"{what} URL {shown_url(text)!r} gives option {mask_keys(key)!r} twice", code="config.bad_url")
            options[key] = value
        if parts.query and not options:
            raise ConfigError(f"{what} URL {shown_url(text)!r} has a query that is not option=value pairs", code="config.bad_url")
        return cls(text, scheme, parts.hostname or "", port, parts.path, options)

    def __str__(self) -> str:
        return self.text

    @property
    def shown(self) -> str:
        """The URL as an error text, a repr or a log line may show it (``shown_url``)."""
        return shown_url(self.text)


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
                f"option {name!r} in {url.shown!r} expects {self.form()}, got {_shown_value(raw)}",
                code="config.bad_option",
            ) from None
        if self.choices and value not in self.choices:
            raise ConfigError(
                f"option {name!r} in {url.shown!r} expects {self.form()}, got {_shown_value(raw)}",
                code="config.bad_option",
            )
        return value


def _shown_value(raw: str) -> str:
    """A rejected option value: shown when it is one a form names (a number, true or false, a choice: 12
    characters at most, shorter than any key, and no secret's shape), else only its length."""
    if len(raw) <= 12 and re.fullmatch(r"[\w.+-]*", raw):
        return repr(raw)
    return f"a {len(raw)}-character value"


def bind_options(url: DeviceUrl, declared: Mapping[str, Option]) -> dict[str, Any]:
    """Check ``url``'s options against ``declared``; return every option with its value or default."""
    unknown = sorted(set(url.options) - set(declared))
    if unknown:
        expected = ", ".join(sorted(declared)) or "no options"
        raise ConfigError(
            f"unknown option {mask_keys(unknown[0])!r} in {url.scheme}:// URL {url.shown!r}; "
            f"expected {expected}",
            code="config.unknown_option",
        )
    return {
        name: (opt.convert(name, url.options[name], url) if name in url.options else opt.default)
        for name, opt in declared.items()
    }
