"""What differs between the kinds of transaction the cashier can start, as data.

The states and handlers are shared: a sale and a void both go CARD, PIN,
AUTHORISING and PRINTING with the same durability order. What a kind changes
is written here, once: where it starts (a keyed amount or an original looked
up by its trace), whether it may be approved offline, whether the card must
be the original's, and what the screens and receipts call it. A refund will
be one more row (and one more menu key), not a copy of the handlers.

``judge`` decides, from what the journal says about a would-be original,
whether a transaction of this kind may refer to it. It is pure so the core's
tests and the runner share it; the runner calls it because only the runner
can read the journal.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.core.model import JournalState, Kind, OriginalFacts

__all__ = ["Flow", "FLOWS", "MENU_FLOWS", "Candidate", "Refusal", "judge", "flow_of"]


@dataclass(frozen=True)
class Flow:
    kind: Kind
    title: str  # on the display: "SALE CNY 12.50", "VOID CNY 12.50"
    original: bool = False  # starts from an earlier transaction, keyed by its trace
    of: frozenset[Kind] = frozenset()  # the kinds of original it may refer to
    offline: bool = True  # may be approved offline when the host cannot be reached
    same_card: bool = False  # the card swiped must be the original's (the runner checks its hash)
    refund: bool = False  # money goes back to the card: shown negative on screens and receipts
    undone: str = "NOT APPROVED"  # the last line when it is refused or declined


FLOWS: dict[Kind, Flow] = {
    Kind.SALE: Flow(Kind.SALE, "SALE"),
    Kind.VOID: Flow(
        Kind.VOID,
        "VOID",
        original=True,
        of=frozenset({Kind.SALE}),
        offline=False,
        same_card=True,
        refund=True,
        undone="NOT VOIDED",
    ),
}

# Function menu keys that start a transaction (1-3 are upload, sign on, sign off).
MENU_FLOWS: dict[str, Kind] = {"4": Kind.VOID}


def flow_of(kind: Kind) -> Flow:
    return FLOWS[kind]


@dataclass(frozen=True)
class Refusal:
    code: str  # stable, e.g. void.not_found
    text: str  # one display line


@dataclass(frozen=True)
class Candidate:
    """What the journal holds about the record a trace number names.

    ``claims`` are the states of the transactions (voids) that already refer
    to it; ``forwarded`` says an offline approval has been accepted by the host.
    """

    facts: OriginalFacts
    state: JournalState
    claims: tuple[JournalState, ...] = ()
    forwarded: bool = False


# A claim in one of these states still counts: approved, or perhaps approved at the
# host (in flight, its reversal owed, or lost with its reversal). Declined and
# reversed claims left the original as it was.
_DONE = frozenset({JournalState.APPROVED, JournalState.OFFLINE_APPROVED})
_UNRESOLVED = frozenset({JournalState.REQUESTED, JournalState.REVERSING, JournalState.LOST})


def judge(flow: Flow, found: Candidate | None) -> OriginalFacts | Refusal:
    """The original's facts if ``flow`` may refer to it, else why not (before anything is built or sent)."""
    k = flow.kind.value
    if found is None:
        return Refusal(f"{k}.not_found", "TRACE NOT FOUND")
    kind = found.facts.kind
    if kind is flow.kind:
        return Refusal(f"{k}.is_{k}", f"CANNOT {flow.title} A {flow.title}")
    if kind not in flow.of:
        return Refusal(f"{k}.wrong_kind", f"NOT A {' OR '.join(sorted(x.value.upper() for x in flow.of))}")
    if found.state is JournalState.OFFLINE_APPROVED and not found.forwarded:
        return Refusal(f"{k}.not_uploaded", "NOT YET UPLOADED")
    if found.state not in _DONE:
        return Refusal(f"{k}.not_approved", f"ORIGINAL {found.state.value.upper().replace('_', ' ')}")
    if any(c in _DONE for c in found.claims):
        return Refusal(f"{k}.already_{k}ed", f"ALREADY {k.upper()}ED")
    if any(c in _UNRESOLVED for c in found.claims):
        return Refusal(f"{k}.unresolved", f"{flow.title} UNRESOLVED")
    return found.facts
