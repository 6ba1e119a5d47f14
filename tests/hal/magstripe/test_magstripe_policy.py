"""The service code against the fallback policy (hal.magstripe.policy), and what the display says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TODAY, make_swipe

from firmware.core.model import EntryMode
from firmware.errors import CardError
from hal.magstripe.policy import PROMPTS, EntryDecision, FallbackPolicy, entry_decision, prompt, reason
from hal.magstripe.tracks import CardSummary, parse_swipe, summary

VISA = "4761739001010010"


def card_with(svc: str) -> CardSummary:
    return summary(parse_swipe(make_swipe(t2=f"{VISA}=4912{svc}"), TODAY))


@pytest.mark.parametrize(
    ("svc", "policy", "mode", "online", "pin", "prompt_pin"),
    [
        ("101", "allow", EntryMode.SWIPE, False, False, False),
        ("101", "deny", EntryMode.SWIPE, False, False, False),
        ("120", "deny", EntryMode.SWIPE, True, True, True),  # UnionPay debit: online, PIN
        ("140", "deny", EntryMode.SWIPE, True, True, True),
        ("106", "deny", EntryMode.SWIPE, False, False, True),
        ("107", "deny", EntryMode.SWIPE, False, False, True),
        ("105", "deny", EntryMode.SWIPE, False, True, True),
        ("201", "allow", EntryMode.FALLBACK, True, False, False),  # a fallback is always online
        ("601", "allow", EntryMode.FALLBACK, True, False, False),
        ("220", "allow", EntryMode.FALLBACK, True, True, True),
        ("501", "deny", EntryMode.SWIPE, False, False, False),
    ],
)
def test_accepted_swipes(svc, policy, mode, online, pin, prompt_pin):
    d = entry_decision(card_with(svc), FallbackPolicy(policy))
    assert d.accepted and d.error is None and d.prompt == ""
    assert (d.entry_mode, d.online_required, d.pin_required, d.pin_prompt) == (mode, online, pin, prompt_pin)


@pytest.mark.parametrize(
    ("svc", "policy", "code", "shown"),
    [
        ("201", "deny", "card.chip_required", "Use another card"),  # a stripe-only terminal: no chip slot
        ("621", "deny", "card.chip_required", "Use another card"),
        ("103", "allow", "card.service_restricted", "Use another card"),  # ATM only
        ("104", "allow", "card.service_restricted", "Use another card"),  # cash only
        ("203", "allow", "card.service_restricted", "Use another card"),
    ],
)
def test_refused_swipes_say_what_to_do(svc, policy, code, shown):
    d = entry_decision(card_with(svc), policy)
    assert not d.accepted and d.entry_mode is None
    assert isinstance(d.error, CardError) and d.error.code == code
    assert d.prompt == shown and d.error.text.startswith(shown)
    assert VISA not in d.error.text


def test_a_card_without_a_service_code_is_a_plain_swipe():
    s = summary(parse_swipe(make_swipe(t2=f"{VISA}=4912=1"), TODAY))
    assert entry_decision(s, FallbackPolicy.DENY) == EntryDecision(EntryMode.SWIPE)


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError):
        entry_decision(card_with("101"), "sometimes")


@pytest.mark.parametrize(
    ("code", "shown"),
    [("card.expired", "Use another card"), ("card.chip_required", "Use another card"), ("card.parity", "Swipe again"),
     ("card.lrc", "Swipe again"), ("card.end_sentinel", "Swipe again"), ("card.tracks_disagree", "Swipe again"),
     ("card.luhn", "Swipe again"), ("card.something_new", "Swipe again")],
)
def test_prompts(code, shown):
    assert prompt(code) == shown


@pytest.mark.parametrize(("code", "said"), [("card.expired", "Card expired"), ("card.chip_required", "Chip card"),
                                             ("card.service_restricted", "Card restricted"), ("card.lrc", "Card not read")])
def test_reasons_say_what_was_wrong_above_the_prompt(code, said):
    """UX25: the display said CARD EXPIRED then SWIPE AGAIN: what was wrong is ``reason``, what to do ``prompt``."""
    assert reason(code) == said and len(said) <= 16


def test_every_card_code_the_magstripe_layer_raises_has_a_prompt():
    source = "".join(p.read_text() for p in Path(__file__).resolve().parents[3].joinpath("hal", "magstripe").glob("*.py"))
    raised = set(re.findall(r'"(card\.[a-z_]+)"', source))
    assert raised - set(PROMPTS) == set()
    assert {"card.expired", "card.parity", "card.lrc", "card.chip_required", "card.tracks_disagree"} <= raised
