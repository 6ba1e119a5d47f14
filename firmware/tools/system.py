"""``posterm tools states|cards|drivers``: the state diagram, the test cards, the device URL schemes."""

from __future__ import annotations

__all__ = ["register", "drivers_table"]


def drivers_table() -> str:
    """Every device kind, URL scheme and option with its default, as the README shows it."""
    from hal.registry import DRIVERS, driver_class

    rows = ["| device | scheme | options (default) |", "|---|---|---|"]
    for kind, schemes in DRIVERS.items():
        for scheme in schemes:
            options = driver_class(kind, scheme).OPTIONS
            shown = ", ".join(f"`{name}={opt.default}`" for name, opt in options.items()) or "none"
            rows.append(f"| {kind} | `{scheme}://` | {shown} |")
    return "\n".join(rows) + "\n"


def _states(args) -> int:
    from firmware.core.table import mermaid

    print(mermaid(), end="")
    return 0


def _cards(args) -> int:
    from hal.magstripe.sim import TEST_CARDS

    for name, card in TEST_CARDS.items():
        print(f"{name:<16} {card.description}")
    return 0


def _drivers(args) -> int:
    print(drivers_table(), end="")
    return 0


def register(subparsers) -> None:
    subparsers.add_parser("states", help="the transaction state diagram (Mermaid)").set_defaults(func=_states)
    subparsers.add_parser("cards", help="the simulator's test cards").set_defaults(func=_cards)
    subparsers.add_parser("drivers", help="device URL schemes and their options").set_defaults(func=_drivers)
