"""May this swipe be used, and how: the service code against the terminal's fallback policy.

A pure function for the transaction core (the lead wires it in): it takes the
``CardSummary`` of a parsed card and the configured ``FallbackPolicy`` and
returns an ``EntryDecision``. Nothing here reads a clock, a device or the
configuration.

The rules (ISO/IEC 7813 service code, see ``tracks.CardSummary``):

* first digit 2 or 6, a chip card: with ``FallbackPolicy.DENY`` the swipe is
  refused with ``card.chip_required`` ("Use another card": this terminal reads
  stripes only, so a chip cannot be inserted here); with ``ALLOW`` it goes on
  as a fallback transaction (POS entry mode ``FALLBACK``);
* second digit 2 or 4: online authorisation is required. A fallback is always
  authorised online as well: a chip card read by its stripe is what a skimmed
  copy looks like, so it is never approved offline (scheme rules agree);
* third digit 0, 3 or 5: a PIN is required; 6 or 7: prompt for one;
* third digit 3 (ATM only) or 4 (cash only), or a track 3 service restriction
  that forbids point-of-sale use: refused, ``card.service_restricted``.

``prompt(code)`` gives the short line the display shows for any card error
code: what the customer should do next; ``reason(code)`` what happened, above it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware.core.model import EntryMode
from firmware.errors import CardError
from hal.magstripe.tracks import CardSummary

__all__ = ["FallbackPolicy", "EntryDecision", "entry_decision", "prompt", "PROMPTS", "reason", "REASONS"]


class FallbackPolicy(str, enum.Enum):
    ALLOW = "allow"  # a chip card may be swiped: POS entry mode "fallback", online only
    DENY = "deny"  # a chip card must be inserted: the swipe is refused


@dataclass(frozen=True)
class EntryDecision:
    """Whether the swipe may proceed, and on what terms; or the error to show."""

    entry_mode: EntryMode | None  # None when refused
    online_required: bool = False
    pin_required: bool = False
    pin_prompt: bool = False
    error: CardError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None

    @property
    def prompt(self) -> str:
        """The display line for a refusal ("Use another card"), empty when accepted."""
        return prompt(self.error.code) if self.error is not None else ""


def entry_decision(summary: CardSummary, policy: FallbackPolicy) -> EntryDecision:
    """Decide how (or whether) a swiped card may be used. Never raises for a card: refusals are values."""
    if type(policy) is not FallbackPolicy:  # a member passes as it is (the enum's call costs a microsecond)
        policy = FallbackPolicy(policy)
    if summary.service_restricted:
        error = CardError("Use another card: this one is not for purchases", code="card.service_restricted")
        return EntryDecision(None, error=error)
    if summary.chip and policy is FallbackPolicy.DENY:
        return EntryDecision(None, error=CardError("Use another card: this chip card may not be swiped (card.fallback is deny)",
                                                      code="card.chip_required"))
    mode = EntryMode.FALLBACK if summary.chip else EntryMode.SWIPE
    return EntryDecision(
        entry_mode=mode,
        online_required=summary.online_only or mode is EntryMode.FALLBACK,
        pin_required=summary.pin_required,
        pin_prompt=summary.pin_prompt,
    )


# What the customer should do, by error code. Every card error code the
# magstripe layer raises is listed (a test checks it); anything else reads again.
# Swiping a card refused for what it is (expired, restricted, a chip card this
# stripe-only terminal may not take) again cannot help: another card can.
PROMPTS: dict[str, str] = {
    "card.expired": "Use another card",
    "card.chip_required": "Use another card",
    "card.service_restricted": "Use another card",
    "card.encrypted": "Use another card",
    **{
        code: "Swipe again"
        for code in (
            "card.no_track",
            "card.bad_char",
            "card.bad_bits",
            "card.start_sentinel",
            "card.end_sentinel",
            "card.parity",
            "card.lrc",
            "card.unreadable",
            "card.format",
            "card.track_length",
            "card.pan_digits",
            "card.pan_length",
            "card.luhn",
            "card.tracks_disagree",
            "card.sred_format",
            "card.sred_mismatch",
        )
    },
}


# What happened, shown above the prompt, where it is not a swipe that could not be read.
REASONS: dict[str, str] = {
    "card.expired": "Card expired",
    "card.chip_required": "Chip card",
    "card.service_restricted": "Card restricted",
    "card.encrypted": "Card not usable",
}


def reason(code: str) -> str:
    """The short display line saying what was wrong with the swipe of error ``code`` (16 columns at most)."""
    return REASONS.get(code, "Card not read")


def prompt(code: str) -> str:
    """The short display line telling the customer what to do after the card error ``code``."""
    return PROMPTS.get(code, "Swipe again")
