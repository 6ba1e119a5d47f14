"""Argparse types for numbers on a command line: refused at parsing, with the range in the message.

``int`` as an argparse type takes any whole number, so ``--port 99999`` passed
parsing and ended as an ``OverflowError`` deep in the socket module (``posterm:
internal error``). Every option that takes a port, a count or a size uses
``whole`` (or ``PORT``) instead: argparse then prints ``argument --port: a TCP
port is a whole number from 0 to 65535 (0: any free port), not '99999'`` and
exits 2, as for any other usage error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["whole", "PORT"]


def whole(lo: int, hi: int, what: str, note: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``lo`` to ``hi`` (plain digits), else a usage error
    naming ``what`` and the range (``note`` adds a word on a special value)."""

    def parse(text: str) -> int:
        value = int(text) if text.isascii() and text.isdigit() else None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(
                f"{what} is a whole number from {lo} to {hi}{f' ({note})' if note else ''}, not {text[:24]!r}"
            )
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


PORT = whole(0, 65535, "a TCP port", "0: any free port")
