"""The configuration file: one TOML document, validated against documented keys.

The schema *is* the dataclasses below: each field carries its default, its
documentation and (optionally) a check. Loading walks them, so validation,
defaults, the README's key table (``posterm config docs``) and the code that
reads the values cannot disagree. An unknown section or key, or a value of the
wrong form, raises ``ConfigError`` naming the key and the expected form. The
checks themselves (each key's, and the keys' against the host profile and the
device registry) are in ``firmware.config_checks``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.logs import LOG_BACKUPS, LOG_MAX_BYTES  # the handler's defaults, stated once
from firmware.config_checks import (  # each key's own check, and the keys' against the profile (re-exported)
    PIN_KEY_MODES as PIN_KEY_MODES,
    PROFILE_CHOICES as PROFILE_CHOICES,
    SOFT_PINPADS as SOFT_PINPADS,
    _at_least,
    _between,
    _copies,
    _digits,
    _guarded,
    _length,
    _level,
    _profile,
    _url,
    _zone,
    check_against_profile,
    check_devices,
    check_display,
    check_pin_keys,
    check_printable,
)
from firmware.errors import ConfigError

__all__ = ["Config", "load_config", "parse_config", "config_docs", "check_devices", "DEFAULT_PATH", "MAX_AGE_HOURS"]

DEFAULT_PATH = Path("/etc/posterm/posterm.toml")


def setting(default: Any, doc: str, *, check: Callable[[Any], str | None] | None = None, form: str = "") -> Any:
    """A documented configuration key. ``check`` returns an error text or None."""
    factory = (lambda: list(default)) if isinstance(default, list) else None
    meta = {"doc": doc, "check": check, "form": form}
    if factory:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TerminalSection:
    terminal_id: str = setting("12345678", "Card acceptor terminal ID (field 41)", check=_length(8, 8))
    merchant_id: str = setting("123456789012345", "Card acceptor ID code (field 42)", check=_length(15, 15))
    merchant_name: str = setting("POSTERM DEMO SHOP", "Printed at the top of every receipt", check=_length(1, 40))
    operator: str = setting("01", "Operator number printed on receipts", check=_length(1, 3))
    currency: str = setting("156", "ISO 4217 numeric currency code (field 49)", check=_digits(3))
    currency_symbol: str = setting("CNY", "Currency shown on the display and receipts", check=_length(1, 4))
    currency_exponent: int = setting(2, "Digits after the decimal point of the currency", check=_between(0, 3))
    clock_from_host: bool = setting(False, "Set the system clock to the host's time at sign-on when they differ by "
                                    "more than a minute (a Pi has no battery clock; needs CAP_SYS_TIME, which "
                                    "deploy/posterm.service grants); off: an alert says by how much they differ")


@dataclass(frozen=True)
class StorageSection:
    data_dir: str = setting(
        "/var/lib/posterm", "Directory holding the database, key files (mode 0600) and log", check=_length(1, 4096)
    )


@dataclass(frozen=True)
class DevicesSection:
    reader: str = setting("sim://", "Magstripe reader URL", check=_url)
    pinpad: str = setting("sim://", "PIN pad URL", check=_url)
    printer: str = setting("sim://", "Receipt printer URL", check=_url)
    display: str = setting("sim://", "Display URL", check=_url)
    link: str = setting("sim://", "Host link URL (sim:// is the built-in host simulator in-process)", check=_url)
    tamper: str = setting("none://", "Tamper switch URL: none:// (none fitted), sim://, gpio://?pin=4", check=_url)


@dataclass(frozen=True)
class HostSection:
    profile: str = setting(
        "cup",
        "Message profile: cup (UnionPay style), iso87 (ISO 8583:1987 in ASCII) or iso87-aes (iso87 whose field 52 "
        "holds 16 bytes, for AES DUKPT format 4 PIN blocks)",
        check=_profile,
    )
    tpdu_destination: str = setting("0003", "TPDU destination address (NII), 4 digits", check=_digits(4))
    tpdu_source: str = setting("0000", "TPDU source address, 4 digits", check=_digits(4))
    header: str = setting(
        "",
        "Message header digits, as many as the profile's header takes (cup: 12; iso87 has none); empty for the "
        "profile's default",
        check=lambda v: None if re.fullmatch(r"\d*", v) else "digits",
    )
    acquirer_id: str = setting(
        "",
        "Acquiring institution ID, up to 11 digits, sent in field 32 by a profile that carries it (iso87, "
        "iso87-aes); empty: none is sent (cup's host fills 32 itself)",
        check=lambda v: None if re.fullmatch(r"\d{0,11}", v) else "up to 11 digits",
    )
    connect_timeout: float = setting(
        0.0,
        "Seconds to wait for the link to connect; 0 leaves it to the link's own connect_timeout "
        "(10 s for tcp://, 60 s for a modem:// dial)",
        check=lambda v: None if v == 0 or 0.05 <= v <= 120 else "0, or a number from 0.05 to 120",
    )
    response_timeout: float = setting(30.0, "Seconds to wait for the host's answer before reversing", check=_between(0.05, 300))
    reversal_retries: int = setting(3, "Attempts to deliver a reversal per connection before alerting", check=_between(1, 20))
    upload_interval: float = setting(60.0, "Seconds between idle retries of pending reversals and advices", check=_between(0.05, 86400))
    pin_keys: str = setting(
        "session",
        "PIN blocks under: session (the PIN key of the last sign-on) or dukpt (a DUKPT key per PIN, its KSN "
        "sent in the request; needs posterm keys inject-dukpt, a profile that carries the KSN (iso87; iso87-aes for AES "
        "DUKPT, whose format 4 blocks are 16 bytes) and a sim:// or console:// PIN pad)",
        check=lambda v: None if v in PIN_KEY_MODES else "session or dukpt",
    )
    time_zone: str = setting(
        "",
        "The host's time zone (an IANA name such as Asia/Shanghai) when it keeps another civil time than the "
        "terminal: its time at sign-on (fields 12/13) is converted to the terminal's before it is compared or set; "
        "empty: the host keeps the terminal's own",
        check=_zone,
    )
    upload_window: int = setting(
        4,
        "Stored offline sales sent at once when the queue is forwarded, their answers matched by trace in any "
        "order; 1 waits for each answer. Reversals and network messages always go one at a time",
        check=_between(1, 16),
    )


# The ages above are hours in a timedelta (core/settings.py): unbounded, 1e300 passed config check and ended
# posterm run in an OverflowError; a year is past any real limit of a stored sale or an open batch.
MAX_AGE_HOURS = 24 * 366


@dataclass(frozen=True)
class OfflineSection:
    enabled: bool = setting(True, "Approve sales offline when the host cannot be reached")
    floor_limit: int = setting(50000, "Largest amount approved offline, in minor units", check=_at_least(0))
    max_count: int = setting(50, "Most sales stored offline at once", check=_at_least(0))
    max_amount: int = setting(500000, "Largest total of sales stored offline, in minor units", check=_at_least(0))
    max_age_hours: float = setting(72.0, "No new offline approval once the oldest stored sale is older than this",
                                   check=_between(0, MAX_AGE_HOURS))


@dataclass(frozen=True)
class SettleSection:
    max_age_hours: float = setting(
        24.0,
        "Alert (settle.overdue) at start-up and at the first transaction of each day once the open batch's first "
        "transaction is older than this and the batch is not settled; sales go on. 0: never",
        check=_between(0, MAX_AGE_HOURS))


@dataclass(frozen=True)
class CardSection:
    fallback: str = setting(
        "allow",
        "Chip cards swiped: allow (POS entry mode fallback, always online) or deny (\"Use another card\")",
        check=lambda v: None if v in ("allow", "deny") else "allow or deny",
    )


@dataclass(frozen=True)
class SaleSection:
    max_amount: int = setting(99999999, "Largest amount a sale accepts, in minor units", check=_between(1, 999999999999))
    input_timeout: float = setting(60.0, "Seconds to wait for amount, card or PIN before giving up", check=_between(0.05, 600))
    pin_required: bool = setting(True, "Ask for a PIN on every sale (a card's service code may still require one)")
    message_seconds: float = setting(5.0, "Seconds an outcome or an error stays on the display before the ready screen (a key ends it sooner)", check=_between(0.5, 60))


@dataclass(frozen=True)
class ReceiptsSection:
    copies: list = setting(["merchant", "cardholder"], "Copies printed after an approval, in order", check=_copies)


@dataclass(frozen=True)
class LogSection:
    level: str = setting("info", "Log level: debug, info, warning or error", check=_level)
    file: str = setting("", "Log file; empty writes to standard error (journald under systemd)")
    max_bytes: int = setting(LOG_MAX_BYTES, "Bytes log.file grows to before it is rotated (posterm.log becomes "
                             "posterm.log.1, and so on): a run of months never fills the SD card",
                             check=_between(64 * 2**10, 2**30))
    backups: int = setting(LOG_BACKUPS, "Rotated log files kept beside log.file (the oldest is deleted); at most "
                           "(backups + 1) * max_bytes on disk", check=_between(1, 20))


@dataclass(frozen=True)
class OperatorsSection:
    required: bool = setting(False, "Cashiers sign in (operator number and password) before any sale; the signed-in "
                             "number goes on records, receipts and field 63 instead of terminal.operator")
    supervisor_for: list = setting([], "Functions that ask for the supervisor's (00) password first: void, refund, "
                                   "settle, preauth, preauth_void (its cancel), preauth_complete, "
                                   "preauth_complete_void, transfer", check=_guarded)
    max_tries: int = setting(3, "Wrong passwords in a row before that operator is locked out", check=_between(1, 10))
    lockout_seconds: float = setting(60.0, "Seconds a lock-out lasts (after max_tries wrong passwords)",
                                     check=_between(1, 3600))
    kdf_cost: int = setting(14, "scrypt cost of new password hashes, log2 N (14: 16 MiB, about a second on a Pi "
                            "Zero); lower only in tests (selftest warns)", check=_between(4, 20))


@dataclass(frozen=True)
class Config:
    terminal: TerminalSection = field(default_factory=TerminalSection)
    storage: StorageSection = field(default_factory=StorageSection)
    devices: DevicesSection = field(default_factory=DevicesSection)
    host: HostSection = field(default_factory=HostSection)
    offline: OfflineSection = field(default_factory=OfflineSection)
    settle: SettleSection = field(default_factory=SettleSection)
    card: CardSection = field(default_factory=CardSection)
    sale: SaleSection = field(default_factory=SaleSection)
    receipts: ReceiptsSection = field(default_factory=ReceiptsSection)
    log: LogSection = field(default_factory=LogSection)
    operators: OperatorsSection = field(default_factory=OperatorsSection)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

    def replace(self, overrides: Mapping[str, Mapping[str, Any]]) -> Config:
        """A copy with ``{"section": {"key": value}}`` overrides, validated like a file."""
        merged = as_dict(self)
        for section, values in overrides.items():
            if not isinstance(values, Mapping):
                raise ConfigError(f"[{section}] must be a table", code="config.bad_value")
            merged.setdefault(section, {}).update(values)
        return parse_config(merged, source="overrides")


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


ECHO_MAX = 40  # characters of a rejected value (or unknown name) an error shows; the rest is "..."
_SECRET_WORDS = ("secret", "key", "password", "passwd", "token")  # host.pin_keys today


def _echo(where: str, value: Any, meta: Mapping[str, Any] | None = None) -> str:
    """A rejected value as an error may show it, in this one place: never the value of a key whose name says it
    may hold a secret (a key pasted into the wrong place); a device URL as ``hal.url.shown_url`` shows it (no
    password, no option values); anything holding what looks like a key (``crypto.secrets.KEY_LIKE``) by its
    type and length only, whatever the setting is called; at most ``ECHO_MAX`` characters of anything else."""
    name = where.rpartition(".")[2].lower()
    if any(word in name for word in _SECRET_WORDS):
        return "a value not shown here"
    if meta is not None and meta.get("check") is _url:
        from hal.url import shown_url  # light: the standard library and crypto.secrets

        return _capped(repr(shown_url(value)))
    return _capped(repr(value))


def _capped(text: str) -> str:
    """``text`` (a repr, or a name an error echoes) at most ``ECHO_MAX`` characters long; text holding a run of
    16 or more hex digits (a key, or a PAN, pasted as a value or as a key's name) is told by its form alone."""
    from crypto.secrets import looks_like_key

    if looks_like_key(text):
        return _form_of(text)
    return text if len(text) <= ECHO_MAX else text[: ECHO_MAX - 3] + "..."


def _form_of(text: str) -> str:
    """What ``_capped`` shows instead of text that looks like a key: a value's repr as ``a 32-character hex
    string``, a name (not quoted) as ``<a 32-character hex string>`` so the sentence around it still reads."""
    quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    inner = text[1:-1] if quoted else text
    if not quoted and re.fullmatch(r"-?\d+", inner):
        form = f"a {len(inner.lstrip('-'))}-digit number"
    elif re.fullmatch(r"[0-9A-Fa-f]+", inner):
        form = f"a {len(inner)}-character hex string"
    else:
        form = f"a {len(inner)}-character {'string' if quoted else 'value'}"
    return form if quoted else f"<{form}>"


_TYPE_FORMS = {str: "text in quotes", int: "a whole number", float: "a number", bool: "true or false", list: "a list"}


def _convert(where: str, kind: type, value: Any, meta: Mapping[str, Any]) -> Any:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(
            f"{where} must be {_TYPE_FORMS.get(kind, kind.__name__)}, got {type(value).__name__}",
            code="config.bad_value",
        )
    check = meta.get("check")
    problem = check(value) if check else None
    if problem:
        raise ConfigError(f"{where} must be {problem}, got {_echo(where, value, meta)}", code="config.bad_value")
    return value


def parse_config(doc: Mapping[str, Any], *, source: str = "configuration") -> Config:
    sections = _sections()
    unknown = sorted(set(doc) - set(sections))
    if unknown:
        raise ConfigError(
            f"unknown section [{_capped(unknown[0])}] in {source}; expected one of {', '.join(sections)}",
            code="config.unknown_key",
        )
    built: dict[str, Any] = {}
    for name, cls in sections.items():
        values = doc.get(name, {})
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{name}] in {source} must be a table", code="config.bad_value")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        bad = sorted(set(values) - set(fields))
        if bad:
            raise ConfigError(
                f"unknown key {name}.{_capped(bad[0])} in {source}; [{name}] takes {', '.join(fields)}",
                code="config.unknown_key",
            )
        built[name] = cls(
            **{k: _convert(f"{name}.{k}", hints[k], v, fields[k].metadata) for k, v in values.items()}
        )
    config = Config(**built)
    check_against_profile(config, source)
    check_pin_keys(config, source)
    check_display(config, source)
    check_printable(config, source)
    return config


def load_config(path: Path | str | None) -> Config:
    """Read and validate a TOML file. ``None`` gives the documented defaults."""
    if path is None:
        return Config()
    return parse_config(_read_toml(Path(path)), source=str(path))


def load_config_keys(path: Path | str | None, keys: tuple[str, ...]) -> Config:
    """Only ``keys`` ("section.key") of a TOML file, checked; every other key is left at its default,
    unread and unchecked. For a command that must work with a file ``posterm run`` refuses
    (``posterm out-of-service``: a bad configuration is a likely reason systemd gave up)."""
    if path is None:
        return Config()
    doc = _read_toml(Path(path))
    picked: dict[str, dict[str, Any]] = {}
    for dotted in keys:
        section, _, key = dotted.partition(".")
        table = doc.get(section)
        if isinstance(table, dict) and key in table:
            picked.setdefault(section, {})[key] = table[key]
    return parse_config(picked, source=str(path))


def _read_toml(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist", code="config.missing") from None
    except OSError as e:
        raise ConfigError(f"cannot read configuration file {path}: {e.strerror}", code="config.unreadable") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid TOML: {e}", code="config.syntax") from None
    return doc


def as_dict(config: Config) -> dict[str, dict[str, Any]]:
    return {name: dataclasses.asdict(getattr(config, name)) for name in _sections()}


def config_docs() -> str:
    """The Markdown table of every key, as the README shows it."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, cls in _sections().items():
        default = cls()
        for f in dataclasses.fields(cls):
            value = getattr(default, f.name)
            shown = repr(value).replace("'", '"') if not isinstance(value, bool) else str(value).lower()
            rows.append(f"| `{name}.{f.name}` | `{shown}` | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"
