"""Building the terminal's requests and reading the host's replies.

Inputs come in two types: ``TxnData`` (amount, STAN, terminal ... safe to log)
and ``CardData`` (PAN, tracks, PIN block, all in secret types). What comes
back is a ``Reply`` holding only non-sensitive facts, so the transaction core
never sees card data. The host side (``build_response``) lives here too, so
the simulator and the terminal agree on the layout by construction.

This module is where callers import from; the code is in five modules by
responsibility:

* ``txndata``: ``TxnData``, ``CardData``, ``Original`` (the inputs, checked);
* ``requests``: the online requests and the fields all messages share;
* ``stored``: reversals, resends, advices and their repeats (store-and-forward);
* ``signon``: sign-on, its working-key layouts, sign-off;
* ``replies``: reading replies and requests, matching a reply to its request,
  and the host's answer.
"""

from __future__ import annotations

from firmware.host.replies import (
    Expectation,
    Reply,
    build_response,
    expectation_for,
    kind_of,
    mac_problem,
    mismatch,
    other_amount,
    parse_reply,
    read_original,
    response_text,
)
from firmware.host.requests import REQUEST_KINDS, build_request, transmission_time
from firmware.host.signon import (
    SIGN_OFF_MTI,
    SIGNON_KEY_LAYOUTS,
    KeySlot,
    SignonKeyLayout,
    build_signoff,
    build_signon,
    read_signon_keys,
    signon_key_layout,
    signon_network_code,
    with_signon_keys,
)
from firmware.host.spec import EntryMode, ReversalReason, TxnKind
from firmware.host.stored import as_repeat, build_advice, build_resend, build_reversal, with_reason
from firmware.host.txndata import CardData, Original, TxnData

__all__ = [
    "TxnKind", "EntryMode", "ReversalReason", "Original", "TxnData", "CardData",
    "build_request", "build_reversal", "build_advice", "build_signon", "with_reason", "as_repeat", "build_resend",
    "Reply", "parse_reply", "Expectation", "expectation_for", "mismatch", "other_amount", "mac_problem", "response_text",
    "build_response", "kind_of", "read_original", "REQUEST_KINDS", "transmission_time",
    "SIGN_OFF_MTI", "KeySlot", "SignonKeyLayout", "SIGNON_KEY_LAYOUTS", "signon_key_layout", "signon_network_code",
    "build_signoff", "read_signon_keys", "with_signon_keys",
]
