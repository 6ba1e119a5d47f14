"""A provisioning manifest: one TOML file per terminal, written by an estate tool.

A manifest is a ``posterm.toml`` with three more tables. The configuration
sections are exactly those of ``posterm.toml`` and go through the same
``parse_config``, so a bad key is named as ``posterm config check`` names it
(``devices.printr``, ``config.unknown_key``). The terminal's identity is its
``[terminal]`` section, where a manifest must give ``terminal_id``,
``merchant_id`` and ``merchant_name`` (the defaults are the demo's)::

    [manifest]
    format = 1

    [terminal]
    terminal_id = "10000001"
    merchant_id = "898100012340001"
    merchant_name = "MY SHOP"

    [master_key]              # never a clear key
    tr31 = "B0096K0TB00E0000..."  # the TMK in a TR-31 block (usage K0, TDES)
    kcv = "08D7B4"            # the check value the estate expects for it

    [supervisor]              # never a clear password
    password_hash = "scrypt$14$8$1$<salt>$<hash>"

    [devices]                 # ... any other posterm.toml section

Why a hash and not a one-time password: the password never exists on the
terminal or in the file, only its salted scrypt hash, the form the terminal
stores anyway. The price: anyone holding the manifest can guess offline
against the hash, and a keypad password is 4-12 digits, so a 6-digit one
falls to some 13 hours of one desktop core (10^6 guesses at 48 ms). Keep
manifests as secret as the passwords, use 8 digits or more, and let the
estate tool send the password to the merchant by another channel. A one-time clear value would be read by
anyone holding the file, and the firmware has no forced change at first
sign-in to make it one-time.

Parsing reads and checks; it opens no key block (that needs the KBPK: see
``firmware.provisioning``) and changes nothing.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.config import Config, _sections, check_devices, parse_config
from firmware.errors import ConfigError, CryptoError

__all__ = ["FORMAT", "Manifest", "load_manifest", "parse_manifest", "render_config", "TEMPLATE", "IDENTITY"]

FORMAT = 1
IDENTITY = ("terminal_id", "merchant_id", "merchant_name")  # required in a manifest's [terminal]
_TABLES: dict[str, tuple[str, ...]] = {  # the manifest's own tables and their keys
    "manifest": ("format",),
    "master_key": ("tr31", "kcv"),
    "supervisor": ("password_hash",),
}
_NEVER = {  # keys that would put a secret in the file: named in the refusal, so nobody tries a synonym
    "master_key": "a clear key never goes in a manifest: give the TR-31 block",
    "supervisor": "a clear password never goes in a manifest: give its scrypt hash",
}
_KCV = re.compile(r"[0-9A-Fa-f]{4,6}")


def _bad(text: str, code: str) -> ConfigError:
    return ConfigError(text, code=code)


@dataclass(frozen=True, repr=False)
class Manifest:
    """A checked manifest. ``config`` has ``storage.data_dir`` set to the terminal's data directory;
    ``settings`` is what the manifest itself set, section by section (what the written config holds)."""

    source: str
    config: Config
    settings: Mapping[str, Mapping[str, Any]]
    tr31: str  # ciphertext under the KBPK, but still no business in a log line
    kcv: str  # upper case, 4 to 6 hex digits
    supervisor_hash: str

    @property
    def terminal_id(self) -> str:
        return self.config.terminal.terminal_id

    @property
    def merchant_id(self) -> str:
        return self.config.terminal.merchant_id

    def __repr__(self) -> str:  # neither the block nor the hash
        return f"<Manifest {self.source} terminal {self.terminal_id} KCV {self.kcv}>"


def load_manifest(path: Path | str, *, data_dir: Path | str) -> Manifest:
    """Read and check the manifest at ``path`` for a terminal whose data directory is ``data_dir``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _bad(f"the manifest {path} does not exist", "manifest.missing") from None
    except OSError as e:
        raise _bad(f"cannot read the manifest {path}: {e.strerror}", "manifest.unreadable") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        # tomllib's message names the line and column, never the text around it
        raise _bad(f"the manifest {path} is not valid TOML: {e}", "manifest.syntax") from None
    return parse_manifest(doc, source=str(path), data_dir=data_dir)


def _table(doc: Mapping[str, Any], name: str, source: str, *, required: str) -> Mapping[str, Any]:
    table = doc.get(name)
    if table is None:
        raise _bad(f"the manifest {source} has no [{name}] table", required)
    if not isinstance(table, Mapping):
        raise _bad(f"[{name}] in the manifest {source} must be a table", "manifest.bad_value")
    bad = sorted(set(table) - set(_TABLES[name]))
    if bad:
        hint = f" ({_NEVER[name]})" if name in _NEVER else ""
        raise _bad(f"unknown key {name}.{bad[0]} in the manifest {source}; [{name}] takes "
                   f"{', '.join(_TABLES[name])}{hint}", "manifest.unknown_key")
    return table


def _text(table: Mapping[str, Any], name: str, key: str, source: str, *, missing: str) -> str:
    value = table.get(key)
    if value is None or value == "":
        raise _bad(f"{name}.{key} is missing from the manifest {source}", missing)
    if not isinstance(value, str):
        raise _bad(f"{name}.{key} in the manifest {source} must be text in quotes", "manifest.bad_value")
    return value.strip()


def parse_manifest(doc: Mapping[str, Any], *, source: str = "manifest", data_dir: Path | str) -> Manifest:
    """Check a parsed manifest; ``ConfigError`` (or ``CryptoError``) naming the first problem."""
    head = _table(doc, "manifest", source, required="manifest.format")
    if head.get("format") != FORMAT or isinstance(head.get("format"), bool):
        raise _bad(f"manifest.format in {source} must be {FORMAT}, got {head.get('format')!r}", "manifest.format")
    sections = _sections()
    unknown = sorted(set(doc) - set(sections) - set(_TABLES))
    if unknown:
        raise _bad(f"unknown section [{unknown[0]}] in the manifest {source}; expected "
                   f"{', '.join(_TABLES)} or a posterm.toml section ({', '.join(sections)})", "config.unknown_key")

    master = _table(doc, "master_key", source, required="manifest.missing_tr31")
    block = _text(master, "master_key", "tr31", source, missing="manifest.missing_tr31")
    from crypto.tr31 import parse_header

    parse_header(block)  # its form only (CryptoError tr31.*); opening it needs the KBPK
    kcv = _text(master, "master_key", "kcv", source, missing="manifest.missing_kcv")
    if not _KCV.fullmatch(kcv):
        raise _bad(f"master_key.kcv in the manifest {source} must be 4 to 6 hex digits", "manifest.bad_kcv")

    supervisor = _table(doc, "supervisor", source, required="manifest.missing_supervisor")
    digest = _text(supervisor, "supervisor", "password_hash", source, missing="manifest.missing_supervisor")
    _check_hash(digest, source)

    settings = {}
    for name in (n for n in sections if n in doc):
        if not isinstance(doc[name], Mapping):  # as parse_config says it
            raise _bad(f"[{name}] in manifest {source} must be a table", "config.bad_value")
        settings[name] = dict(doc[name])
    terminal = doc.get("terminal")
    for key in IDENTITY:
        if not isinstance(terminal, Mapping) or key not in terminal:
            raise _bad(f"terminal.{key} is missing from the manifest {source}: each terminal's own value is "
                       "required (the default is the demo's)", "manifest.missing_identity")
    data_dir = os.path.abspath(data_dir)
    given = settings.get("storage", {}).get("data_dir")
    if given is not None and (not isinstance(given, str) or os.path.abspath(given) != data_dir):
        raise _bad(f"storage.data_dir in the manifest {source} is {given!r} but --data-dir is {data_dir!r}",
                   "manifest.data_dir_mismatch")
    settings.setdefault("storage", {})["data_dir"] = data_dir
    config = parse_config(settings, source=f"manifest {source}")  # config.unknown_key, config.bad_value
    check_devices(config)  # as posterm config check: each URL's scheme and options, the host profile
    return Manifest(source, config, settings, block, kcv.upper(), digest)


def _check_hash(digest: str, source: str) -> None:
    """A well-formed scrypt hash at production cost, and not of the default password."""
    from crypto.passwords import DEFAULT_SUPERVISOR_PASSWORD_HINT, PRODUCTION, Password, cost_of, verify_password

    try:
        cost = cost_of(digest)
    except CryptoError:
        raise _bad(f"supervisor.password_hash in the manifest {source} is not a scrypt hash "
                   "(scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>)", "manifest.bad_hash") from None
    if cost.below(PRODUCTION):
        raise _bad(f"supervisor.password_hash in the manifest {source} is cheaper than the production cost "
                   f"(log2 N {cost.log2_n} < {PRODUCTION.log2_n})", "manifest.weak_hash")
    with Password(DEFAULT_SUPERVISOR_PASSWORD_HINT.encode()) as default:  # one scrypt: cheap, and worth it
        if verify_password(default, digest):
            raise _bad(f"supervisor.password_hash in the manifest {source} is the hash of the default password",
                       "manifest.default_password")


# -- the configuration file written from a manifest ---------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        out = ['"']
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04X}")
            else:
                out.append(ch)
        return "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise _bad(f"cannot write a {type(value).__name__} to the configuration", "manifest.bad_value")


def render_config(manifest: Manifest) -> str:
    """The ``posterm.toml`` text for ``manifest``: the sections it set, in the schema's order, and
    nothing of its own tables (no key block, no hash). Checked to load back to the same ``Config``."""
    import dataclasses

    lines = [f"# Written by posterm provision from the manifest for terminal {manifest.terminal_id}.",
             "# Change the manifest and provision again rather than editing this file."]
    for name, cls in _sections().items():
        values = manifest.settings.get(name)
        if not values:
            continue
        lines.append(f"\n[{name}]")
        for f in dataclasses.fields(cls):
            if f.name in values:
                lines.append(f"{f.name} = {_toml_value(values[f.name])}")
    text = "\n".join(lines) + "\n"
    if parse_config(tomllib.loads(text), source="the written configuration") != manifest.config:
        raise _bad("the configuration written would not read back as the manifest's", "manifest.render")
    return text


TEMPLATE = """\
# posterm provisioning manifest: one file per terminal, written by the estate tool.
# Check it, changing nothing: posterm provision --manifest FILE --data-dir D --config-out PATH --check
# Provision the terminal:      posterm provision --manifest FILE --data-dir D --config-out PATH [--json]
# (--kbpk HEX in the lab, when the terminal holds no key block protection key)
# Nothing here is a clear key or a clear password.

[manifest]
format = 1

[terminal]                       # the identity: each terminal's own values, all three required
terminal_id = "TERMINAL_ID"      # field 41, 8 characters
merchant_id = "MERCHANT_ID"      # field 42, 15 characters
merchant_name = "MERCHANT NAME"  # printed on every receipt, up to 40 characters
# operator = "01"
# currency = "156"

[master_key]
# The terminal master key in a TR-31 block (usage K0, algorithm T, mode B, D or N) under the
# key block protection key the terminal holds (or --kbpk in the lab).
tr31 = "TR31_BLOCK"
kcv = "KCV"                      # its check value as the estate expects it, 4 to 6 hex digits

[supervisor]
# The supervisor's (00) password as a salted scrypt hash at N = 2^14 or more, never the password:
# python3 -c 'import hashlib,os,getpass; s=os.urandom(16); p=getpass.getpass().encode(); print("scrypt$14$8$1$" + s.hex() + "$" + hashlib.scrypt(p, salt=s, n=2**14, r=8, p=1, dklen=32).hex())'
password_hash = "SCRYPT_HASH"

# Any other posterm.toml section, as posterm config docs lists them. storage.data_dir is
# --data-dir and may be left out.
[devices]
# reader = "serial:///dev/ttyUSB1?baud=9600"
# printer = "serial:///dev/ttyUSB0?baud=9600"
# link = "tcp://acquirer.example:5000"

# [host]
# profile = "cup"

# [operators]
# required = true
"""
