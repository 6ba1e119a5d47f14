"""How many columns a printer profile's Font A has, checked when a printer is made.

A printer URL asking for more ``columns`` than its profile's Font A holds
makes every full row wrap on paper, the amount line among them, so it is
refused (``config.bad_option``). ``hal.printer.render.check_profile`` does it
with python-escpos's own capability data once python-escpos is imported; but
that import costs 0.1-0.3 s (seconds on a Pi Zero) and is kept off the
start-up path, so a terminal would start, charge a card and only then refuse
its receipt. ``check_columns`` reads the same database, python-escpos's
``capabilities.json``, as plain JSON (a few milliseconds, once a process),
without importing python-escpos, so ``posterm run``, ``config check`` and
``selftest`` refuse the URL when they make the printer, before any sale. When
that file cannot be read so (an operator's own ``ESCPOS_CAPABILITIES_FILE`` in
YAML) the check waits for the import. A profile the file does not hold is refused
here too (it was found only at the import, after a sale).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

from firmware.errors import ConfigError

__all__ = ["check_columns", "columns_error", "font_a_columns", "unknown_profile_error"]

SUGGESTED = 5  # profiles an error names at most


def font_a_columns(data: Mapping[str, Any]) -> int | None:
    """Columns of Font A in one profile's capability data; None when it has no font data."""
    try:
        columns = data["fonts"]["0"]["columns"]
    except (KeyError, TypeError):
        return None
    return columns if isinstance(columns, int) else None


def columns_error(profiles: Mapping[str, Any], profile: str, columns: int, url: str = "") -> ConfigError | None:
    """The refusal of ``columns`` for ``profile`` (in ``profiles``, the capability database's), or None.

    It names the URL (as an error may show it), the profile and its Font A columns, and the profiles
    that have enough."""
    font_a = font_a_columns(profiles.get(profile) or {})
    if font_a is None or columns <= font_a:
        return None
    wide = sorted(name for name, data in profiles.items() if (font_a_columns(data) or 0) >= columns)
    named = ", ".join(wide[:SUGGESTED]) + (f" and {len(wide) - SUGGESTED} more" if len(wide) > SUGGESTED else "")
    choose = f"a profile with {columns} columns or more ({named})" if wide else "another profile"
    where = f" in {url!r}" if url else ""
    return ConfigError(
        f"printer columns={columns}{where} is wider than the {font_a} columns of Font A in profile {profile!r}: "
        f"rows would wrap on paper; choose {choose}, or columns={font_a} or fewer",
        code="config.bad_option",
    )


def unknown_profile_error(profiles: Mapping[str, Any], profile: str) -> ConfigError | None:
    """The refusal of a ``profile`` the capability database does not hold, naming the ones it does; or None."""
    if profile in profiles:
        return None
    return ConfigError(f"printer profile {profile!r} is not in python-escpos's capability database; "
                       f"known: {', '.join(sorted(profiles))}", code="config.bad_option")


def check_columns(profile: str, columns: int, url: str = "") -> None:
    """Refuse a profile the capability file does not hold, and ``columns`` wider than ``profile``'s Font A,
    from the capability file read as JSON: when the printer is made, before any sale."""
    profiles = _profiles()
    if profiles is None:
        return
    error = unknown_profile_error(profiles, profile) or columns_error(profiles, profile, columns, url)
    if error is not None:
        raise error


@functools.lru_cache(maxsize=1)
def _profiles() -> Mapping[str, Any] | None:
    path = os.environ.get("ESCPOS_CAPABILITIES_FILE")  # python-escpos reads the same variable
    if not path:
        import importlib.util

        spec = importlib.util.find_spec("escpos")  # finds the package, runs none of it
        if spec is None or spec.origin is None:
            return None
        path = os.path.join(os.path.dirname(spec.origin), "capabilities.json")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    profiles = data.get("profiles") if isinstance(data, dict) else None
    return profiles if isinstance(profiles, dict) else None
