"""The transaction table's vocabulary: how each kind of transaction is requested.

A ``TxnSpec`` is one row of a profile's transaction table (MTI, processing and
condition codes, what it says about its original); ``Mtis`` are the message
types besides those rows; ``ReversalReason`` is field 39 of a reversal. Plain
frozen data: the profile that holds the table checks it against its fields
(see ``spec``, which re-exports these names: import them from there).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware.core.model import Kind

__all__ = ["TxnKind", "ReversalReason", "OriginalPart", "OriginalField", "TxnSpec", "Mtis"]

# One definition of each, shared with the transaction core and the journal.
TxnKind = Kind


class ReversalReason(str, enum.Enum):
    """Why the terminal reverses, as UnionPay codes it in field 39 of a reversal. The journal keeps
    these values; a profile whose host codes the reasons otherwise maps them (``Profile.reason_codes``)."""

    NO_ANSWER = "98"
    NOT_RECORDED = "96"  # the terminal could not record the answer
    MAC_FAILURE = "A0"
    OTHER = "06"


class OriginalPart(enum.Enum):
    """One fixed-width piece of what a message says about its original transaction.

    The value is (the attribute of ``messages.Original``, its width in characters).
    """

    BATCH = ("batch", 6)
    STAN = ("stan", 6)
    DATE = ("date", 4)  # MMDD
    RRN = ("rrn", 12)
    AUTH_CODE = ("auth_code", 6)
    # ISO 8583:1987 field 90 (original data elements, n42): MTI, STAN, transmission
    # date and time (the original's field 7, MMDDhhmmss), acquiring and forwarding
    # institution IDs (its fields 32 and 33, right-aligned, zeros when it had none).
    MTI = ("mti", 4)
    TRANSMITTED = ("transmitted", 10)
    ACQUIRER = ("acquirer", 11)
    FORWARDER = ("forwarder", 11)

    @property
    def attr(self) -> str:
        return self.value[0]

    @property
    def width(self) -> int:
        return self.value[1]


@dataclass(frozen=True)
class OriginalField:
    """A field that carries facts of the original (a void's field 61: batch then STAN).

    The field is left out when one of its parts is unknown (an original without
    an authorisation code has no field 38). ``in_reversal``: the reversal of this
    transaction carries the field too.
    """

    number: int
    parts: tuple[OriginalPart, ...]
    in_reversal: bool = True

    @property
    def width(self) -> int:
        return sum(p.width for p in self.parts)

    def split(self, text: str) -> dict[str, str] | None:
        """The parts of ``text`` by attribute name; None when it is shorter than the parts."""
        if len(text) < self.width:
            return None
        out, pos = {}, 0
        for part in self.parts:
            out[part.attr] = text[pos : pos + part.width]
            pos += part.width
        return out


@dataclass(frozen=True)
class TxnSpec:
    """One row of the transaction table: how a kind of transaction is requested."""

    mti: str
    processing_code: str | None
    condition_code: str | None
    type_code: str | None = None  # cup field 60.1
    reversible: bool = True
    network_code: str = "000"  # cup field 60.3
    original: tuple[OriginalField, ...] = ()  # a void's reference to its original, field by field
    amount: bool = True  # False: an inquiry, which carries no transaction amount (field 4)
    account_field: int | None = None  # a transfer: the field carrying the destination account (sensitive)


@dataclass(frozen=True)
class Mtis:
    """Message types besides the per-kind requests of the transaction table."""

    reversal: str = "0400"
    reversal_repeat: str = "0401"
    advice: str = "0220"
    advice_repeat: str = "0221"
    network: str = "0800"

    @staticmethod
    def response(mti: str) -> str:
        """The answer's MTI: request + 10; a repeat's answer drops the repeat digit (0221 -> 0230)."""
        base = mti[:3] + ("0" if mti[3] == "1" else mti[3])
        return f"{int(base) + 10:04d}"
