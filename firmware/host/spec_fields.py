"""Field layouts: what one ISO 8583 data element is, as validated data.

A ``FieldSpec`` is one entry of a profile's layout, written in the spirit of
pyiso8583's spec dicts but typed, and checked when it is built so a wrong
layout fails at start-up naming the field. It also says how it reads as a
pyiso8583 spec entry (``to_pyiso8583``). Card-data fields must be marked
sensitive here, whatever the profile. The profile that gathers the fields is
in ``spec``, which re-exports these names: import them from there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from firmware.errors import ConfigError

__all__ = ["CARD_DATA_FIELDS", "FieldKind", "LengthType", "Encoding", "Pad", "FieldSpec"]

# Fields that carry card data or PIN material in every ISO 8583 flavour: PAN,
# expiry, extended PAN, tracks 2/3/1, PIN block, ICC data. A profile must mark
# them sensitive (and may mark more, e.g. key blocks).
CARD_DATA_FIELDS = frozenset({2, 14, 34, 35, 36, 45, 52, 55})


class FieldKind(enum.Enum):
    N = "n"  # digits
    AN = "an"  # letters, digits and space
    ANS = "ans"  # printable ASCII
    B = "b"  # binary, held as upper-case hex text
    Z = "z"  # track data: digits and '=' (the nibble D in BCD)


class LengthType(enum.Enum):
    FIXED = 0
    LLVAR = 2  # the number of length digits
    LLLVAR = 3


class Encoding(enum.Enum):
    BCD = "bcd"
    ASCII = "ascii"
    BINARY = "binary"


class Pad(enum.Enum):
    """Where the pad nibble of an odd-length BCD value goes."""

    LEFT = "left"  # right-aligned: 123 -> 01 23
    RIGHT = "right"  # left-aligned: 021 -> 02 10


def _bad(text: str, code: str = "config.bad_spec") -> ConfigError:
    return ConfigError(text, code=code)


@dataclass(frozen=True)
class FieldSpec:
    """One data element. ``max_len`` is characters/digits, or bytes for ``B``.

    For ``B`` in ASCII the value travels as hex text and, as in pyiso8583's
    ``default_ascii``, a variable length counts those hex characters.
    """

    number: int
    name: str
    kind: FieldKind
    length: LengthType
    max_len: int
    encoding: Encoding
    length_encoding: Encoding | None = None  # None for FIXED
    pad: Pad = Pad.LEFT
    sensitive: bool = False
    desc: str = ""

    def __post_init__(self) -> None:
        where = f"field {self.number}"
        if not isinstance(self.number, int) or not 2 <= self.number <= 128:
            raise _bad(f"{where}: field numbers run from 2 to 128", "config.bad_field_number")
        if not self.name:
            raise _bad(f"{where} has no name")
        if not isinstance(self.max_len, int) or self.max_len < 1:
            raise _bad(f"{where}: max_len must be a positive whole number", "config.bad_field_length")
        allowed = {
            FieldKind.N: (Encoding.BCD, Encoding.ASCII),
            FieldKind.Z: (Encoding.BCD, Encoding.ASCII),
            FieldKind.AN: (Encoding.ASCII,),
            FieldKind.ANS: (Encoding.ASCII,),
            FieldKind.B: (Encoding.BINARY, Encoding.ASCII),
        }[self.kind]
        if self.encoding not in allowed:
            raise _bad(
                f"{where} ({self.name}): {self.kind.value} data cannot be encoded as {self.encoding.value}",
                "config.bad_field_encoding",
            )
        if self.length is LengthType.FIXED:
            if self.length_encoding is not None:
                raise _bad(f"{where} ({self.name}) is fixed and takes no length encoding", "config.bad_field_encoding")
            limit = 999
        else:
            if self.length_encoding is None:
                raise _bad(f"{where} ({self.name}) is variable and needs a length encoding", "config.bad_field_encoding")
            limit = 10 ** self.length.value - 1
        if self.wire_units > limit:
            raise _bad(
                f"{where} ({self.name}): max_len {self.max_len} does not fit a {self.length.name} length",
                "config.bad_field_length",
            )
        if self.number in CARD_DATA_FIELDS and not self.sensitive:
            raise _bad(f"{where} ({self.name}) carries card data and must be marked sensitive", "config.not_sensitive")

    @property
    def is_bcd(self) -> bool:
        return self.encoding is Encoding.BCD

    @property
    def wire_units(self) -> int:
        """The maximum the length prefix can state: nibbles, characters or bytes."""
        if self.kind is FieldKind.B and self.encoding is Encoding.ASCII:
            return 2 * self.max_len
        return self.max_len

    @property
    def fixed_wire_size(self) -> int | None:
        """Bytes on the wire of a fixed field (None when variable)."""
        if self.length is not LengthType.FIXED:
            return None
        if self.is_bcd:
            return (self.max_len + 1) // 2
        return self.wire_units

    def carries(self, size: int) -> bool:
        """Whether a value of ``size`` units (bytes for ``B``, else characters or digits) fits: exactly a
        fixed field's length, or up to a variable field's maximum (a PIN block of 8 or 16 bytes)."""
        if self.length is LengthType.FIXED:
            return size == self.max_len
        return 1 <= size <= self.max_len

    def to_pyiso8583(self) -> dict[str, Any]:
        out: dict[str, Any] = {"desc": self.desc or self.name, "max_len": self.wire_units}
        if self.length is LengthType.FIXED:
            out.update(len_type=0, len_enc="ascii")
        elif self.length_encoding is Encoding.ASCII:
            out.update(len_type=self.length.value, len_enc="ascii")
        else:  # BCD or binary prefix: one byte for LL, two for LLL
            out.update(len_type=1 if self.length is LengthType.LLVAR else 2,
                       len_enc="bcd" if self.length_encoding is Encoding.BCD else "b")
        if self.is_bcd:
            out.update(data_enc="b", len_count="nibbles")
            out["left_pad" if self.pad is Pad.LEFT else "right_pad"] = "0"
        elif self.encoding is Encoding.BINARY:
            out.update(data_enc="b")
        else:
            out.update(data_enc="ascii")
        return out
