"""posterm's argument parser: usage errors that name the problem without repeating what was typed.

argparse quotes the arguments it cannot take: ``unrecognized arguments: %B4761...`` for reader text
the shell split at its spaces, ``invalid choice: '4761...'``, ``invalid int value: '...'``. A lab
pastes track text, hex dumps and PINs into these commands, so the echo put card data on stderr, in a
shell's scrollback, a CI log or the systemd journal. ``PostermParser`` says how many arguments were
unexpected, and which argument had a bad value, but never the value. Subparsers made by
``add_subparsers`` are of the same class (``parser_class``), so the rule covers every command.
"""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

__all__ = ["PostermParser"]

# argparse's own texts (Python 3.11) that quote a value, and what is said instead. The value is a repr (of a
# str, or of an int once a type ran) and may hold anything, so each pattern takes all of it: up to the last
# "(choose from" (the choices are ours), or to the end of the message.
_VALUE_ECHOES = (
    (re.compile(r"invalid choice: .* \(choose from", re.DOTALL), "invalid choice (choose from"),
    (re.compile(r"invalid (\S+) value: .*", re.DOTALL), r"invalid \1 value"),
    (re.compile(r"ignored explicit argument .*", re.DOTALL), "takes no value"),
    (re.compile(r"unrecognized arguments: .*", re.DOTALL), "unexpected arguments: quote a value that holds spaces"),
)


def without_values(message: str) -> str:
    """``message`` with every argument value argparse would quote taken out, and card data masked."""
    from firmware.logs import redact

    for pattern, instead in _VALUE_ECHOES:
        message = pattern.sub(instead, message)
    return redact(message)  # a type's own message (ours) may quote what it refused: no card data in it


class PostermParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors never repeat an argument's value."""

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("parser_class", PostermParser)
        return super().add_subparsers(**kwargs)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            n = len(extras)
            self.error(f"{n} unexpected argument{'s' if n > 1 else ''}: quote a value that holds spaces "
                       "(reader text, a hex dump)")
        return parsed

    def error(self, message: str) -> NoReturn:
        super().error(without_values(message))
