"""What the codec checks and converts for each field, worked out once per profile.

Why a module of its own: a profile's fields are data (``spec``); turning each
``FieldSpec`` into a rule the codec can apply fast (its character set, its unit,
fixed or variable, BCD track data) and gathering a profile's rules with the
pyiso8583 spec and the bitmaps it defines (``_Layout``) is one job, done once
per profile and cached. ``codec`` applies the rules to each value of each
message it encodes or decodes (the wire format, the TPDU and header, the MAC,
the errors). A rule's ``problem`` names what is wrong and never quotes the value.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from firmware.host.spec import FieldKind, FieldSpec, LengthType, Profile

__all__ = ["check_value"]

_CLASSES = {  # one character of each kind
    FieldKind.N: r"[0-9]",
    FieldKind.Z: r"[0-9=]",
    FieldKind.AN: r"[0-9A-Za-z ]",
    FieldKind.ANS: r"[\x20-\x7e]",
    FieldKind.B: r"[0-9A-Fa-f]",
}
_CHARSETS = {kind: re.compile(f"{one}*") for kind, one in _CLASSES.items()}
_CHARSET_NAMES = {
    FieldKind.N: "digits",
    FieldKind.Z: "digits and '='",
    FieldKind.AN: "letters, digits and spaces",
    FieldKind.ANS: "printable ASCII",
    FieldKind.B: "hex digits",
}
_BCD_TRACK = re.compile(r"[0-9D]*")


def _sound(spec: FieldSpec) -> re.Pattern[str]:
    """The values of ``spec``'s field that have no ``problem``, as one pattern: its characters and its
    length (in bytes for B: pairs of hex digits), so that a good value is passed in one ``fullmatch``."""
    one = _CLASSES[spec.kind]
    if spec.kind is FieldKind.B:
        one = f"(?:{one}{one})"
    count = f"{{{spec.max_len}}}" if spec.length is LengthType.FIXED else f"{{0,{spec.max_len}}}"
    return re.compile(one + count)


@dataclass(frozen=True)
class _FieldRule:
    """What the codec checks and converts for one field, worked out once from its ``FieldSpec``.

    A sale checks some 40 values each way, so the spec's enums are looked up
    here, once per profile (see ``_layout``), not once per value.
    """

    number: int
    key: str  # pyiso8583's name for the field
    label: str  # "field 4 (Amount, transaction)", for errors
    chars: re.Pattern[str]
    chars_name: str
    hex: bool  # B: upper-case hex text, counted in bytes
    bcd_track: bool  # Z in BCD: '=' travels as the nibble D
    fixed: bool
    max_len: int
    # ``fullmatch`` of the pattern of the values with no problem (``_sound``): the whole check of a good
    # value in one call, in C; ``problem`` then says what is wrong with any other
    sound: Any

    @classmethod
    def of(cls, spec: FieldSpec) -> _FieldRule:
        return cls(
            number=spec.number, key=str(spec.number), label=f"field {spec.number} ({spec.name})",
            chars=_CHARSETS[spec.kind], chars_name=_CHARSET_NAMES[spec.kind], hex=spec.kind is FieldKind.B,
            bcd_track=spec.kind is FieldKind.Z and spec.is_bcd, fixed=spec.length is LengthType.FIXED,
            max_len=spec.max_len, sound=_sound(spec).fullmatch,
        )

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value`` for this field (never quoting it), or ``None``."""
        if isinstance(value, str) and self.sound(value):
            return None
        return self.why(value)

    def why(self, value: object) -> str | None:
        """``problem`` worked out step by step, to name what is wrong (``sound`` passes what this passes)."""
        if not isinstance(value, str):
            return "is not text"
        if not self.chars.fullmatch(value):
            return f"holds something other than {self.chars_name}"
        units = len(value)
        if self.hex:
            if units % 2:
                return "has an odd number of hex digits"
            units //= 2
        if self.fixed and units != self.max_len:
            return f"has {units} {self._unit}, expected {self.max_len}"
        if units > self.max_len:
            return f"has {units} {self._unit}, more than {self.max_len}"
        return None

    @property
    def _unit(self) -> str:
        return "bytes" if self.hex else "characters"

    def to_pyiso(self, value: str) -> str:
        if self.hex:
            return value.upper()
        if self.bcd_track:
            return value.replace("=", "D")
        return value

    def from_pyiso(self, raw: str) -> tuple[str, str | None]:
        """The value for a decoded field, and what is wrong with it."""
        if self.hex:
            value = raw.upper()
        elif self.bcd_track:
            if not _BCD_TRACK.fullmatch(raw):
                return raw, "holds a nibble other than a digit or D"
            value = raw.replace("D", "=")
        else:
            value = raw
        return value, self.problem(value)


def check_value(spec: FieldSpec, value: object) -> str | None:
    """What is wrong with ``value`` for ``spec`` (never quoting it), or ``None``."""
    return _FieldRule.of(spec).problem(value)


@dataclass(frozen=True)
class _Layout:
    """A profile's field rules and pyiso8583 spec, in the form the codec reads fastest."""

    rules: dict[int, _FieldRule]
    by_key: dict[str, _FieldRule]
    # pyiso8583 looks its spec up several times per field: a plain-dict copy of
    # ``Profile.pyiso8583_spec`` decodes a sale answer ~15 us faster than the
    # read-only view. It never leaves the codec (this module and ``codec``), so nothing can change it.
    pyiso8583_spec: dict[str, dict[str, Any]]
    primary: int  # the primary bitmap with a bit set for each field 2..64 the profile defines
    secondary: int  # likewise the secondary bitmap, fields 65..128

    @classmethod
    def of(cls, profile: Profile) -> _Layout:
        rules = {n: _FieldRule.of(spec) for n, spec in sorted(profile.fields.items())}
        primary = secondary = 0
        for number in rules:
            if number <= 64:
                primary |= 1 << (64 - number)
            else:
                secondary |= 1 << (128 - number)
        return cls(
            rules=rules,
            by_key={rule.key: rule for rule in rules.values()},
            pyiso8583_spec={key: dict(spec) for key, spec in profile.pyiso8583_spec.items()},
            primary=primary,
            secondary=secondary,
        )


@functools.lru_cache(maxsize=32)
def _layout(profile: Profile) -> _Layout:
    """Built once per profile (profiles compare by identity and are few)."""
    return _Layout.of(profile)
