"""Inputs a scenario or a note cannot take are refused without quoting card data, a PIN or a password
(audit AU15 L5, L6): error texts reach stderr, ``--json`` on stdout, a CI log or the systemd journal."""

from __future__ import annotations

import pytest

from firmware.errors import ConfigError, ScenarioError
from firmware.journalcli import check_note
from firmware.scenario.steps import parse_scenario
from hal.magstripe.sim import TEST_CARDS, find_card

VISA = TEST_CARDS["visa"]
TRACK2 = VISA.track2
PAN = VISA.pan
ACCOUNT = "6228480402564890018"  # card-shaped, not a test card


# -- a test card's name ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", [TRACK2, PAN, "4761 7390 0101 0010", VISA.track1, "Visa Card!"],
                         ids=["track 2", "pan", "grouped pan", "track 1", "not a plain name"])
def test_a_name_that_is_not_a_plain_card_name_is_not_echoed(name):
    """``swipe = "4761...=4912..."``: the track where a test card's name belongs."""
    with pytest.raises(ScenarioError) as e:
        find_card(name)
    assert e.value.code == "scenario.unknown_card"
    assert name not in e.value.text and PAN[6:-4] not in e.value.text, e.value.text
    assert "visa" in e.value.text  # the names it takes are still listed


def test_a_plain_unknown_name_is_still_named():
    with pytest.raises(ScenarioError) as e:
        find_card("amex")
    assert e.value.code == "scenario.unknown_card" and "'amex'" in e.value.text


# -- a scenario step's value ----------------------------------------------------------------------
@pytest.mark.parametrize("step, secret", [
    ({"pin": 1234}, "1234"),  # a PIN written without quotes: "got 1234"
    ({"pin": ["1234"]}, "1234"),
    ({"transfer": {"amount": 5000, "account": "6228 4804 0256 4890 018"}}, "6228 4804 0256 4890 018"),
    ({"transfer": {"amount": 5000, "account": ACCOUNT, "again": "6228-4804-0256-4890-018"}}, "6228-4804-0256-4890-018"),
    ({"sign_in": {"operator": "01", "password": 4321}}, "4321"),  # an operator's password, unquoted
    ({"supervisor": "43x1"}, "43x1"),
    ({"swipe": {"track2": TRACK2 + "\u00e9"}}, PAN),
    ({"tamper": 4761_7390_0101_0010}, str(4761_7390_0101_0010)),  # not secret, but a card number
    ({"link": "4761/7390/0101/0010"}, "4761/7390/0101/0010"),  # not secret, a card number in groups
    ({"link": "4761 7390 0101 0010"}, "4761 7390 0101 0010"),
], ids=["pin unquoted", "pin in an array", "account in groups", "account again, dashed", "password unquoted",
        "supervisor password", "track text", "card number as a number", "card number with slashes",
        "card number with spaces"])
def test_a_scenario_error_never_shows_a_pin_a_password_or_an_account(step, secret):
    with pytest.raises(ScenarioError) as e:
        parse_scenario({"step": [step]})
    assert e.value.code == "scenario.bad_value"
    assert secret not in e.value.text, e.value.text
    assert " must be " in e.value.text and ", got " in e.value.text  # the key and the form are still named


def test_a_short_harmless_value_is_still_shown():
    with pytest.raises(ScenarioError) as e:
        parse_scenario({"step": [{"key": 1250}]})
    assert e.value.text.endswith("got 1250")


# -- journal resolve --note -----------------------------------------------------------------------
def _grouped(sep: str) -> str:
    return sep.join(PAN[i:i + 4] for i in range(0, 16, 4))


@pytest.mark.parametrize("sep", ["  ", "/", "_", " - ", " ", "-", "."],
                         ids=["two spaces", "slash", "underscore", "spaced dash", "space", "dash", "dot"])
def test_a_note_holding_a_grouped_card_number_is_refused(sep):
    note = f"T-88: {_grouped(sep)} reversed by bank"
    assert len(note) <= 80
    with pytest.raises(ConfigError) as e:
        check_note(note)
    assert e.value.code == "journal.note_digits"


@pytest.mark.parametrize("note", [f"swiped {TRACK2} twice", "RRN 000000000001 not applied, ticket 4471 on 2026-11-22"])
def test_a_note_with_track_text_is_refused_and_a_reference_number_is_not(note):
    if "=" in note:
        with pytest.raises(ConfigError) as e:
            check_note(note)
        assert e.value.code == "journal.note_digits"
    else:
        assert check_note(note) == note
