"""Engineers' tools: ``posterm tools <name> ...``.

Each module listed in ``MODULES`` provides ``register(subparsers)``, adding
its own sub-commands with ``set_defaults(func=...)``. A tool's ``func(args)``
returns an exit code and prints plain text, or JSON with ``--json``. Tools
import what they need inside ``func`` so that ``posterm run`` never pays for
them. Keys and card data given on a tool's command line are for the lab: the
tools say so, and reveal clear values only where asked to.
"""

from __future__ import annotations

import importlib

__all__ = ["MODULES", "register_all"]

MODULES = (
    "firmware.tools.system",  # states, cards, drivers
    "firmware.tools.track",  # issue #3: track parse, decode-bits
    "firmware.tools.crypto",  # issue #4: kcv, pinblock, dukpt, mac, iso8583, tr31
)


def register_all(subparsers) -> None:
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # a tool module not written yet
                continue
            raise
        module.register(subparsers)
