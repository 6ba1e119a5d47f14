"""What a configuration's values must be, beyond their TOML type (``firmware.config`` reads the file).

Two kinds of check live here, so ``firmware.config`` keeps the schema and the
loading: each key's own check (``setting(..., check=)``: a function of the value
returning what it must be, or None), and the checks of keys against each other
and against the host profile and the device registry, which ``parse_config``
runs once every key has passed its own (``check_against_profile``,
``check_pin_keys``, ``check_display``, ``check_printable``) and ``posterm config
check`` adds (``check_devices``).
Every name here stays importable from ``firmware.config``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from firmware.errors import ConfigError

if TYPE_CHECKING:
    from firmware.config import Config

__all__ = ["PIN_KEY_MODES", "SOFT_PINPADS", "PROFILE_CHOICES", "PRINTED_KEYS", "check_against_profile",
           "check_pin_keys", "check_devices", "check_display", "check_printable"]


# -- each key's own check --------------------------------------------------------------------
def _digits(n: int) -> Callable[[Any], str | None]:
    return lambda v: None if re.fullmatch(rf"\d{{{n}}}", v) else f"{n} digits"


def _length(lo: int, hi: int) -> Callable[[Any], str | None]:
    return lambda v: None if lo <= len(v) <= hi and v.isprintable() else f"{lo} to {hi} printable characters"


def _at_least(lo: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= lo else f"a number no less than {lo}"


def _between(lo: float, hi: float) -> Callable[[Any], str | None]:
    return lambda v: None if lo <= v <= hi else f"a number from {lo} to {hi}"


def _url(v: str) -> str | None:
    return None if "://" in v else "a device URL such as sim:// or tcp://host:port"


def _copies(v: list) -> str | None:
    allowed = ("merchant", "cardholder")
    bad = [c for c in v if c not in allowed]
    return f"a list drawn from {allowed}" if bad or len(set(v)) != len(v) else None


PIN_KEY_MODES = ("session", "dukpt")
SOFT_PINPADS = ("sim", "console")  # PIN pads whose PIN block the terminal makes (hal.pinpad.entry)


PROFILE_CHOICES = "cup or iso87, or iso87-aes for AES DUKPT PIN blocks"  # every name in firmware.host.profiles


def _profile(v: str) -> str | None:
    from firmware.host.profiles import PROFILES  # lazy: the table is read only when a profile is named

    return None if v in PROFILES else PROFILE_CHOICES


def _zone(v: str) -> str | None:
    if not v:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # lazy: only a configured zone reads the zone files

    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone name such as Asia/Shanghai (one in /usr/share/zoneinfo), or empty"
    return None


def _level(v: str) -> str | None:
    return None if v in ("debug", "info", "warning", "error") else "debug, info, warning or error"


def _guarded(v: list) -> str | None:
    allowed = ("void", "refund", "settle", "preauth", "preauth_void", "preauth_complete", "preauth_complete_void",
               "transfer")
    bad = [f for f in v if f not in allowed]
    return f"a list drawn from {allowed}" if bad or len(set(v)) != len(v) else None


# -- keys against each other, the profile and the device registry ----------------------------
def check_against_profile(config: Config, source: str) -> None:
    """A header given must be the profile's length: cup's 6 bytes are 12 digits, and a profile without
    a header (iso87) takes none. A wrong one was accepted and every message went out misframed. An
    acquirer ID needs a profile that sends one: set for cup, it would silently go nowhere."""
    if not config.host.header and not config.host.acquirer_id:
        return
    from firmware.host.profiles import get_profile  # lazy: only a configuration naming either pays for it

    profile = get_profile(config.host.profile)
    if config.host.acquirer_id and profile.acquirer_field is None:
        raise ConfigError(f"host.acquirer_id in {source} is set, but profile {profile.name} sends no acquirer ID "
                          "(leave it empty)", code="config.bad_value")
    if not config.host.header:
        return
    want = 2 * profile.header_length
    if len(config.host.header) != want:
        expected = f"{want} digits" if want else "none (leave it empty)"
        raise ConfigError(
            f"host.header in {source} has {len(config.host.header)} digits; profile {profile.name} takes {expected}",
            code="config.bad_header",
        )


def check_pin_keys(config: Config, source: str) -> None:
    """DUKPT needs a profile with a KSN field and a PIN pad whose blocks the terminal makes."""
    if config.host.pin_keys != "dukpt":
        return
    from firmware.host.profiles import get_profile  # lazy: only a DUKPT configuration pays for it

    profile = get_profile(config.host.profile)
    if profile.ksn_field is None:
        raise ConfigError(
            f'host.pin_keys = "dukpt" in {source} needs a profile that carries the KSN; {profile.name} does not '
            "(UnionPay terminals use the PIN key of sign-on): use session, or profile iso87 (iso87-aes for AES DUKPT)",
            code="config.dukpt_profile",
        )
    scheme = config.devices.pinpad.partition("://")[0]
    if scheme not in SOFT_PINPADS:
        raise ConfigError(
            f'host.pin_keys = "dukpt" in {source} needs a PIN pad whose blocks the terminal makes '
            f"({', '.join(s + '://' for s in SOFT_PINPADS)}); a {scheme}:// pad encrypts under its own keys",
            code="config.dukpt_pinpad",
        )


def check_display(config: Config, source: str) -> None:
    """A display narrower than the screens are written for (``hal.display.MIN_COLS``) would cut amounts and
    outcome words: refused here, naming the key, rather than shown cut."""
    from firmware.money import format_amount
    from hal.cells import cell_width
    from hal.display import MIN_COLS, Display  # light: the standard library and hal.base
    from hal.url import DeviceUrl, shown_url

    try:
        raw = DeviceUrl.parse(config.devices.display, what="display").options.get("cols")
    except ConfigError:  # a malformed URL: the port says what is wrong with it, when it is made
        return
    if raw is not None and not raw.strip().isdigit():  # not a number: the port says so
        return
    cols = Display.OPTIONS["cols"].default if raw is None else int(raw)  # every display port's default
    if cols < MIN_COLS:
        raise ConfigError(
            f"devices.display in {source} has cols={cols} ({shown_url(config.devices.display)!r}); the screens "
            f"need a display of at least {MIN_COLS} columns",
            code="config.bad_option",
        )
    # the largest amount a sale accepts, shown as a refund, on a line of its own: the screens give way by the
    # title, never by the digits, and can do no more than that
    t = config.terminal
    widest = f"-{t.currency_symbol} {format_amount(config.sale.max_amount, t.currency_exponent)}"
    if cell_width(widest) > cols:  # a Chinese currency symbol takes two columns
        raise ConfigError(
            f"sale.max_amount in {source} is shown as {widest!r}, {cell_width(widest)} columns: more than the "
            f"{cols} columns of devices.display; lower it or fit a wider display",
            code="config.bad_value",
        )


PRINTED_KEYS = ("merchant_name", "merchant_id", "terminal_id", "operator", "currency_symbol")  # [terminal], on receipts


def check_printable(config: Config, source: str) -> None:
    """Text of the configuration's own that goes on every receipt and the printer cannot print is refused,
    naming the key, rather than learnt from the paper: a Chinese (wide, ``hal.cells.is_wide``)
    character needs the printer's Chinese mode, which only ``cjk=gb18030`` on devices.printer says it has.
    A forced code page (``encoding=``) is single-byte and holds none either."""
    texts = [(key, getattr(config.terminal, key)) for key in PRINTED_KEYS]
    if all(text.isascii() for _key, text in texts):
        return
    from hal.cells import is_wide  # light: the standard library
    from hal.url import DeviceUrl, shown_url

    try:
        options = DeviceUrl.parse(config.devices.printer, what="printer").options
    except ConfigError:  # a malformed URL: the port says what is wrong with it, when it is made
        return
    if options.get("cjk", "none") != "none":  # gb18030 prints it; anything else the port refuses by name
        return
    for key, text in texts:
        if any(map(is_wide, text)):
            forced = "; its encoding option forces one single-byte code page" if options.get("encoding") else ""
            raise ConfigError(
                f"terminal.{key} in {source} has characters printer {shown_url(config.devices.printer)!r} cannot "
                f"print (CJK{forced}): set cjk=gb18030 on devices.printer if it has a Chinese font, or use Latin "
                "letters",
                code="config.bad_value",
            )


def check_devices(config: Config) -> None:
    """What ``posterm config check`` adds to loading: each device URL's scheme and options, and the
    host profile. Opens nothing (``ConfigError`` naming the problem)."""
    from firmware.host.profiles import get_profile
    from hal.registry import make_device

    for kind in ("reader", "pinpad", "printer", "display", "link"):
        make_device(kind, getattr(config.devices, kind))  # checks scheme and options, opens nothing
    get_profile(config.host.profile)
