"""Checking the scenario steps that name an original by a keyed number and date (refund, the pre-auth's
cancel and completion): one checker serves them all, each with its own number and keys."""

from __future__ import annotations

import pytest

from firmware.errors import ScenarioError
from firmware.scenario import parse_scenario


def step(kind: str, value) -> dict:
    (parsed,) = parse_scenario({"name": "t", "step": [{kind: value}]}).steps
    return parsed.value


def test_a_refund_names_its_sale_by_rrn_and_may_carry_the_supervisor_password():
    value = step("refund", {"rrn": "000000000001", "amount": 500, "supervisor": "123456"})
    assert value == {"rrn": "000000000001", "date": None, "amount": 500, "confirm": True, "supervisor": "123456"}


def test_a_completion_names_its_preauth_by_authorisation_code_and_may_carry_the_supervisor_password():
    value = step("preauth_complete", {"auth": "654321", "date": "1122", "amount": 11000, "supervisor": "123456"})
    assert value == {"auth": "654321", "date": "1122", "amount": 11000, "confirm": True, "supervisor": "123456"}


@pytest.mark.parametrize("kind, value, says", [
    ("refund", {"rrn": "1234"}, "refund needs rrn = the original's 12-digit reference number"),
    ("refund", {"auth": "654321"}, "refund takes amount, confirm, date, rrn, supervisor, not 'auth'"),
    ("preauth_cancel", {"rrn": "000000000001"}, "preauth_cancel takes amount, auth, confirm, date, supervisor, not 'rrn'"),
    ("preauth_cancel", {"auth": "654321", "supervisor": "12a4"}, "supervisor is a string of digits"),
    ("preauth_complete", {"auth": "65432"}, "needs auth = the pre-auth's 6-digit authorisation code"),
    ("preauth_complete", {"auth": "654321", "date": "22"}, "date is the original's MMDD"),
    ("refund", {"rrn": "000000000001", "amount": 0}, "amount is a whole number of minor units"),
    ("refund", "000000000001", "refund takes a table"),
])
def test_bad_steps_name_what_is_wrong(kind, value, says):
    with pytest.raises(ScenarioError) as e:
        step(kind, value)
    assert says in e.value.text
