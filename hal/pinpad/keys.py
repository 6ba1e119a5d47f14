"""PIN pad keys and the events a PIN pad reports (re-exported by ``hal.pinpad``).

No event carries a PIN digit typed inside a PIN prompt: those become a
``PinProgress`` count, and at the end a ``PinEntered`` holding only the
encrypted block.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from crypto.secrets import PinBlock

__all__ = [
    "Key",
    "KeyPress",
    "PinEntered",
    "PinCancelled",
    "PinBypassed",
    "PinProgress",
    "PinEvent",
    "PinPadEvent",
    "STOP_KEYS",
    "BY_CODE",
]


class Key(str, enum.Enum):
    """A PIN pad key, valued by the character a soft driver receives for it."""

    D0 = "0"
    D1 = "1"
    D2 = "2"
    D3 = "3"
    D4 = "4"
    D5 = "5"
    D6 = "6"
    D7 = "7"
    D8 = "8"
    D9 = "9"
    ENTER = "#"
    CLEAR = "*"  # backspace
    CANCEL = "X"
    FUNCTION = "F"  # the menu key

    @property
    def is_digit(self) -> bool:
        return self.isdigit()  # a Key is a str, its own character (``.value`` is slower to reach)

    @classmethod
    def from_char(cls, char: str) -> Key | None:
        """The key for one character, or ``None`` for a character that is no key."""
        return _BY_CHAR.get(char)  # a dict look-up: ``cls(char)`` costs ten times as much

    def __str__(self) -> str:
        return self.value


_BY_CHAR: dict[str, Key] = {key.value: key for key in Key}
BY_CODE: dict[int, Key] = {ord(key.value): key for key in Key}  # by the byte a driver read: ``PinPad.poll``'s look-up


# After one of these the application usually changes state (a prompt ends, a
# menu opens), so a poll stops there and leaves later keys for the next poll.
STOP_KEYS = frozenset({Key.ENTER, Key.CANCEL, Key.FUNCTION})


@dataclass(frozen=True)
class KeyPress:
    """A key pressed outside a PIN prompt (amount entry, menus)."""

    key: Key


@dataclass(frozen=True)
class PinEntered:
    """The PIN prompt ended with a PIN: only its encrypted block leaves the pad."""

    block: PinBlock


@dataclass(frozen=True)
class PinCancelled:
    """The customer pressed CANCEL during the PIN prompt."""


@dataclass(frozen=True)
class PinBypassed:
    """The customer pressed ENTER on an empty PIN where bypass was allowed."""


@dataclass(frozen=True)
class PinProgress:
    """How many digits are in the PIN so far (for showing ``****``)."""

    digits: int


PinEvent = PinEntered | PinCancelled | PinBypassed | PinProgress
PinPadEvent = KeyPress | PinEvent
