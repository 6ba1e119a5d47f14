"""Host profiles by name, built on first request (never at import time).

Each profile lives in its own module with a ``build() -> Profile`` function;
the table below names it as ``"module:function"`` so that asking for ``cup``
does not build ``iso87``.
"""

from __future__ import annotations

import importlib
from functools import cache

from firmware.errors import ConfigError
from firmware.host.spec import Profile

__all__ = ["PROFILES", "get_profile"]

_BUILDERS: dict[str, str] = {
    "cup": "firmware.host.profiles.cup:build",
    "iso87": "firmware.host.profiles.iso87:build",
    "iso87-aes": "firmware.host.profiles.iso87_aes:build",  # iso87, field 52 wide enough for AES PIN blocks
}

PROFILES: tuple[str, ...] = tuple(_BUILDERS)


@cache
def _build(name: str) -> Profile:
    module, _, func = _BUILDERS[name].partition(":")
    return getattr(importlib.import_module(module), func)()


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name`` (a ``Profile`` is passed through), built once."""
    if isinstance(name, Profile):
        return name
    if name not in _BUILDERS:
        raise ConfigError(
            f"unknown host profile {name!r}; known: {', '.join(PROFILES)}", code="config.unknown_profile"
        )
    return _build(name)
