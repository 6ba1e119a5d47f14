"""Keyboard layouts for keyboard-wedge readers, as data: Linux key code -> characters.

A USB keyboard-wedge reader "types" each swipe. It sends key positions (HID
usages, which Linux reports as key codes from ``input-event-codes.h``), chosen
so that a host set to the reader's configured layout shows the right
characters. To read it we need the same layout: a reader set to German sends
the key in the Y position for a ``Z``. ``LAYOUTS`` holds the layouts readers
are commonly set to: ``us``, ``uk``, ``de`` (QWERTZ) and ``fr`` (AZERTY).

Each key maps to its characters at three levels: plain, with Shift, with
AltGr. Some keys are *dead* (``^`` on German and French keyboards): a reader
set to such a layout types the dead key and then a space to get the bare
character, so ``KeyDecoder`` swallows the one space after a dead key. Letters
are read as capitals whatever the Shift and Caps Lock state: a track holds no
lower case, and readers differ in how they handle Caps Lock. The keypad keys
give digits and operators (Num Lock on, as readers assume); Enter (either)
gives CR, which ends a swipe; Tab gives a tab (some readers type one between
tracks).

``keystrokes(text, layout)`` is the inverse, for the keyboard simulators.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Layout", "LAYOUTS", "KeyDecoder", "keystrokes", "KEY_ENTER", "KEY_LEFTSHIFT", "KEY_RIGHTALT"]

KEY_TAB, KEY_ENTER, KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_SPACE = 15, 28, 42, 54, 57
KEY_CAPSLOCK, KEY_RIGHTALT, KEY_KPENTER = 58, 100, 96
_SHIFTS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})

# Keypad: the same on every layout (Num Lock on).
_KEYPAD = {71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+", 79: "1", 80: "2", 81: "3", 82: "0", 83: ".", 55: "*", 98: "/"}


def _letters(codes: range | tuple[int, ...], letters: str) -> dict[int, tuple[str, str, str]]:
    return {code: (c, c.upper(), "") for code, c in zip(codes, letters, strict=True)}


_US: dict[int, tuple[str, str, str]] = {
    41: ("`", "~", ""), 2: ("1", "!", ""), 3: ("2", "@", ""), 4: ("3", "#", ""), 5: ("4", "$", ""), 6: ("5", "%", ""),
    7: ("6", "^", ""), 8: ("7", "&", ""), 9: ("8", "*", ""), 10: ("9", "(", ""), 11: ("0", ")", ""), 12: ("-", "_", ""),
    13: ("=", "+", ""), 26: ("[", "{", ""), 27: ("]", "}", ""), 39: (";", ":", ""), 40: ("'", '"', ""),
    43: ("\\", "|", ""), 51: (",", "<", ""), 52: (".", ">", ""), 53: ("/", "?", ""), 57: (" ", " ", ""),
    86: ("<", ">", ""),
    **_letters(range(16, 26), "qwertyuiop"), **_letters(range(30, 39), "asdfghjkl"), **_letters(range(44, 51), "zxcvbnm"),
}  # fmt: skip

_UK = {**_US, 3: ("2", '"', ""), 4: ("3", "£", ""), 5: ("4", "$", "€"), 40: ("'", "@", ""), 43: ("#", "~", ""),
       41: ("`", "¬", "¦"), 86: ("\\", "|", "")}  # fmt: skip

_DE = {
    **_US, 41: ("^", "°", ""), 2: ("1", "!", ""), 3: ("2", '"', "²"), 4: ("3", "§", "³"), 5: ("4", "$", ""),
    6: ("5", "%", ""), 7: ("6", "&", ""), 8: ("7", "/", "{"), 9: ("8", "(", "["), 10: ("9", ")", "]"),
    11: ("0", "=", "}"), 12: ("ß", "?", "\\"), 13: ("´", "`", ""), 16: ("q", "Q", "@"), 18: ("e", "E", "€"),
    21: ("z", "Z", ""), 44: ("y", "Y", ""), 26: ("ü", "Ü", ""), 27: ("+", "*", "~"), 39: ("ö", "Ö", ""),
    40: ("ä", "Ä", ""), 43: ("#", "'", ""), 51: (",", ";", ""), 52: (".", ":", ""), 53: ("-", "_", ""),
    86: ("<", ">", "|"), 50: ("m", "M", "µ"),
}  # fmt: skip

_FR = {
    **_US, 41: ("²", "", ""), 2: ("&", "1", ""), 3: ("é", "2", "~"), 4: ('"', "3", "#"), 5: ("'", "4", "{"),
    6: ("(", "5", "["), 7: ("-", "6", "|"), 8: ("è", "7", "`"), 9: ("_", "8", "\\"), 10: ("ç", "9", "^"),
    11: ("à", "0", "@"), 12: (")", "°", "]"), 13: ("=", "+", "}"), 16: ("a", "A", ""), 17: ("z", "Z", ""),
    18: ("e", "E", "€"), 30: ("q", "Q", ""), 44: ("w", "W", ""), 39: ("m", "M", ""), 50: (",", "?", ""),
    51: (";", ".", ""), 52: (":", "/", ""), 53: ("!", "§", ""), 40: ("ù", "%", ""), 43: ("*", "µ", ""),
    26: ("^", "¨", ""), 27: ("$", "£", "¤"), 86: ("<", ">", ""),
}  # fmt: skip


@dataclass(frozen=True)
class Layout:
    name: str
    keys: dict[int, tuple[str, str, str]]  # key code -> (plain, Shift, AltGr); "" where nothing
    dead: frozenset[tuple[int, int]] = frozenset()  # (key code, level) pairs that are dead keys

    def char(self, code: int, level: int) -> str:
        if code in _KEYPAD:
            return _KEYPAD[code]
        chars = self.keys.get(code)
        return chars[level] if chars is not None else ""


LAYOUTS: dict[str, Layout] = {
    "us": Layout("us", _US),
    "uk": Layout("uk", _UK),
    "de": Layout("de", _DE, frozenset({(41, 0), (13, 0), (13, 1)})),
    "fr": Layout("fr", _FR, frozenset({(26, 0), (26, 1), (3, 2), (8, 2)})),
}


class KeyDecoder:
    """Key events in, characters out, for one layout. Feed every ``EV_KEY`` event in order."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._shift: set[int] = set()
        self._altgr = False
        self._after_dead = False

    def feed(self, code: int, value: int) -> str:
        """The characters a key event types: ``value`` 1 press, 0 release, 2 auto-repeat (ignored)."""
        if code in _SHIFTS:
            (self._shift.add if value else self._shift.discard)(code)
            return ""
        if code == KEY_RIGHTALT:
            self._altgr = value != 0
            return ""
        if value != 1:
            return ""
        if code in (KEY_ENTER, KEY_KPENTER):
            self._after_dead = False
            return "\r"
        if code == KEY_TAB:
            return "\t"
        level = 2 if self._altgr else (1 if self._shift else 0)
        char = self.layout.char(code, level)
        if not char:
            return ""
        if code == KEY_SPACE and self._after_dead:
            self._after_dead = False
            return ""  # the space that made the dead key type its bare character
        self._after_dead = (code, level) in self.layout.dead
        return char.upper() if "a" <= char <= "z" else char

    def reset(self) -> None:
        self._shift.clear()
        self._altgr = False
        self._after_dead = False


def keystrokes(text: str, layout: Layout) -> list[tuple[int, int]]:
    """The (key code, value) events a reader set to ``layout`` sends to type ``text`` (CR is Enter)."""
    where: dict[str, tuple[int, int]] = {}
    for level in (0, 1, 2):
        for code, chars in sorted(layout.keys.items()):
            c = chars[level]
            if c and c not in where:
                where[c] = (code, level)
    events: list[tuple[int, int]] = []
    for c in text:
        if c == "\r":
            events += [(KEY_ENTER, 1), (KEY_ENTER, 0)]
            continue
        if c not in where:
            raise ValueError(f"layout {layout.name} cannot type character {ord(c):#x}")
        code, level = where[c]
        modifier = {0: None, 1: KEY_LEFTSHIFT, 2: KEY_RIGHTALT}[level]
        if modifier is not None:
            events.append((modifier, 1))
        events += [(code, 1), (code, 0)]
        if modifier is not None:
            events.append((modifier, 0))
        if (code, level) in layout.dead:
            events += [(KEY_SPACE, 1), (KEY_SPACE, 0)]
    return events
