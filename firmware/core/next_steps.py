"""What the cashier does next after a refusal, by its code: one table, as data (UX25).

A decline's screen says its code and the host's reason, and under them the next step where one is right
for every card and every host that sends the code (ISO 8583's meaning, which cup and iso87 share): 55 asks
for the sale again with the PIN keyed again, a card the issuer will not pay from asks for another card, an
issuer that cannot be reached asks for a later try. A code not listed says no step rather than a wrong
one (a void or a refund, which must be made with the original's card, is never sent to another; a pick-up code, 04, 33, 41, 43: the card is kept and the acquirer called, which the merchant's
procedures say, not the terminal). A refusal made here, before anything was sent (over the offline limits,
a kind that must go online), asks for a later try: no other card would be taken offline either.
"""

from __future__ import annotations

from firmware.core.flows import FLOWS
from firmware.core.model import Kind

__all__ = ["NEXT_STEPS", "next_step"]

ANOTHER_CARD = "USE ANOTHER CARD"
TRY_LATER = "TRY LATER"

# each step at most 16 columns (hal.display.MIN_COLS): it has a line to itself
NEXT_STEPS: dict[str, str] = {
    "55": "TRY PIN AGAIN",  # incorrect PIN: the sale again, the PIN keyed again
    "05": ANOTHER_CARD,  # do not honour
    "14": ANOTHER_CARD,  # invalid card number
    "51": ANOTHER_CARD,  # insufficient funds
    "54": ANOTHER_CARD,  # expired card
    "57": ANOTHER_CARD,  # not permitted to cardholder
    "61": ANOTHER_CARD,  # exceeds amount limit
    "62": ANOTHER_CARD,  # restricted card
    "75": ANOTHER_CARD,  # PIN tries exceeded
    "91": TRY_LATER,  # issuer unavailable
    "96": TRY_LATER,  # system malfunction
    # the offline refusals (SaleMixin.offline_refusal): the host could not be reached, so nothing will do now
    **dict.fromkeys(("offline.disabled", "offline.card_online_only", "offline.floor_limit", "offline.max_count",
                     "offline.max_amount", "offline.too_old"), TRY_LATER),
    **{f"{flow.prefix}.online_only": TRY_LATER for flow in FLOWS.values() if not flow.offline},
}


def next_step(code: str | None, kind: Kind = Kind.SALE) -> str:
    """The step after a refusal of ``code`` in a transaction of ``kind``; empty where none is right for every
    card. Another card cannot do what must be done with the original's (a void, a refund: ``Flow.same_card``),
    nor answer an inquiry about this one's balance."""
    step, flow = NEXT_STEPS.get(code or "", ""), FLOWS[kind]
    return "" if step == ANOTHER_CARD and (flow.same_card or not flow.moves_money) else step
