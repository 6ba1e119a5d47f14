"""Checking scenario steps when the file is read: every step kind's value against its declared form
(``steps.STEP_FORMS``), so a malformed file is one ``ScenarioError`` naming the step, the key and the form,
never a ``TypeError`` from the runner. The steps that name an original by a keyed number and date (refund,
the pre-auth's cancel and completion) share one form, each with its own number."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.errors import ScenarioError
from firmware.scenario import STEP_KINDS, parse_scenario
from firmware.scenario.steps import MAX_WAIT, STEP_FORMS


def step(kind: str, value) -> dict:
    (parsed,) = parse_scenario({"name": "t", "step": [{kind: value}]}).steps
    return parsed.value


def test_a_refund_names_its_sale_by_rrn_and_may_carry_the_supervisor_password():
    value = step("refund", {"rrn": "000000000001", "amount": 500, "supervisor": "123456"})
    assert value == {"rrn": "000000000001", "date": None, "amount": 500, "confirm": True, "supervisor": "123456"}


def test_a_completion_names_its_preauth_by_authorisation_code_and_may_carry_the_supervisor_password():
    value = step("preauth_complete", {"auth": "654321", "date": "1122", "amount": 11000, "supervisor": "123456"})
    assert value == {"auth": "654321", "date": "1122", "amount": 11000, "confirm": True, "supervisor": "123456"}


@pytest.mark.parametrize("kind, value, code, says", [
    ("refund", {"rrn": "1234"}, "scenario.bad_value",
     "step 1: refund.rrn must be the original's 12-digit reference number in quotes, got '1234'"),
    ("refund", {"auth": "654321"}, "scenario.unknown_key",
     "step 1: refund takes amount, confirm, date, rrn, supervisor, not 'auth'"),
    ("preauth_cancel", {"rrn": "000000000001"}, "scenario.unknown_key",
     "preauth_cancel takes amount, auth, confirm, date, supervisor, not 'rrn'"),
    ("preauth_cancel", {"auth": "654321", "supervisor": "12a4"}, "scenario.bad_value",
     "step 1: preauth_cancel.supervisor must be a string of digits in quotes (a password), got text"),  # secret
    ("preauth_complete", {"amount": 5}, "scenario.bad_value",
     "preauth_complete needs auth = the pre-auth's 6-digit authorisation code in quotes"),
    ("preauth_complete", {"auth": "654321", "date": "22"}, "scenario.bad_value",
     "preauth_complete.date must be the original's date, MMDD, in quotes, got '22'"),
    ("refund", {"rrn": "000000000001", "amount": 0}, "scenario.bad_value",
     "refund.amount must be a whole number of minor units from 1 to 999999999999, got 0"),
    ("refund", "000000000001", "scenario.bad_value", "refund must be a table { rrn, date, amount, confirm, supervisor }"),
])
def test_bad_steps_name_what_is_wrong(kind, value, code, says):
    with pytest.raises(ScenarioError) as e:
        step(kind, value)
    assert (e.value.code, says in e.value.text) == (code, True), e.value.text


# -- malformed files: every one a ScenarioError naming the step, the key and the form -----------------------

@pytest.mark.parametrize("text, code, says", [
    ("step = 3\n", "scenario.bad_value", "step in s.toml must be an array of tables ([[step]]), got a whole number"),
    ('step = "key"\n', "scenario.bad_value", "must be an array of tables ([[step]]), got text"),
    ("step = [1, 2]\n", "scenario.bad_value", "must be an array of tables ([[step]]), got an array"),
    ("[[step]]\nexpect = { printed = [1,2] }\n", "scenario.bad_value",
     "step 1: expect.printed must be text in quotes, got an array"),
    ("[[step]]\nexpect = { state = 3 }\n", "scenario.bad_value", "step 1: expect.state must be one of"),
    ("[[step]]\nexpect = { state = \"sleeping\" }\n", "scenario.bad_value", "expect.state must be one of booting, idle"),
    ("[[step]]\nexpect = { display = true }\n", "scenario.bad_value", "step 1: expect.display must be text"),
    ("[[step]]\nexpect = { alerts = { a = 1 } }\n", "scenario.bad_value", "step 1: expect.alerts must be text"),
    ("[[step]]\nexpect = { journal_count = \"2\" }\n", "scenario.bad_value",
     "step 1: expect.journal_count must be a whole number of 0 or more, got '2'"),
    ("[[step]]\nexpect = { ledger_postings = -1 }\n", "scenario.bad_value", "expect.ledger_postings must be"),
    ("[[step]]\nexpect = { reason = 1.5 }\n", "scenario.bad_value", "step 1: expect.reason must be text"),
    ("[[step]]\nexpect = { colour = 1 }\n", "scenario.unknown_key", "step 1: expect takes alerts, display,"),
    ('[[step]]\nwait = "abc"\n', "scenario.bad_value", "step 1: wait must be a number of seconds from 0 to 3600, got 'abc'"),
    ("[[step]]\nwait = 1e308\n", "scenario.bad_value", "step 1: wait must be a number of seconds from 0 to 3600, got 1e+308"),
    ("[[step]]\nwait = inf\n", "scenario.bad_value", "step 1: wait must be a number of seconds from 0 to 3600, got inf"),
    ("[[step]]\nwait = -1\n", "scenario.bad_value", "step 1: wait must be a number of seconds from 0 to 3600, got -1"),
    ("[[step]]\nwait = nan\n", "scenario.bad_value", "step 1: wait must be a number of seconds from 0 to 3600, got nan"),
    ("[[step]]\nwait = 3600.5\n", "scenario.bad_value", "got 3600.5"),
    ("[[step]]\nwait = true\n", "scenario.bad_value", "got true/false"),
    ('[[step]]\nswipe = { 2 = "x" }\n', "scenario.unknown_key", "step 1: swipe takes track1, track2, track3, not '2'"),
    ("[[step]]\nswipe = { track2 = 5 }\n", "scenario.bad_value",
     "step 1: swipe.track2 must be printable ASCII text in quotes, got a whole number"),  # track text: secret
    ('[[step]]\nswipe = { track2 = "\\u00e9" }\n', "scenario.bad_value", "swipe.track2 must be printable ASCII"),
    ("[[step]]\nswipe = 7\n", "scenario.bad_value", "step 1: swipe must be a test card name in quotes, or a table"),
    ('[[step]]\nswipe_raw = "\\u4e2d"\n', "scenario.bad_value", "step 1: swipe_raw must be"),
    ("[[step]]\nkey = 1250\n", "scenario.bad_value", 'step 1: key must be keys in quotes, e.g. "1250#", got 1250'),
    ("[[step]]\nhost = 3\n", "scenario.bad_value", "step 1: host must be a behaviour name"),
    ('[[step]]\nhost = "explode"\n', "scenario.bad_value", "step 1: host: "),
    ("[[step]]\nhost = { behaviour = \"decline\", colour = 1 }\n", "scenario.unknown_key", "step 1: host: "),
    ('[[step]]\npower_cut = "sometime"\n', "scenario.bad_value", "step 1: power_cut must be a crash point"),
    ("[[step]]\nrestart = false\n", "scenario.bad_value", "step 1: restart must be true, got true/false"),
    ("[[step]]\nvoid = [1]\n", "scenario.bad_value", "step 1: void.trace must be a trace number from 1 to 999999"),
    ("[[step]]\nsettle = 1\n", "scenario.bad_value", "step 1: settle.confirm must be true or false, got 1"),
    ("[[step]]\ntransfer = { amount = 5, account = 12 }\n", "scenario.bad_value", "step 1: transfer.account must be"),
    ("[[step]]\nsign_in = { operator = 1, password = \"1\" }\n", "scenario.bad_value",
     "step 1: sign_in.operator must be two digits in quotes, got 1"),
    ('[[step]]\nkey = "1"\npin = "2"\n', "scenario.bad_value", "step 1 in s.toml must have exactly one of"),
    ("[[step]]\nbogus = 1\n", "scenario.unknown_key", "step 1 in s.toml: unknown step 'bogus'"),
    ('colour = "red"\n', "scenario.unknown_key", "unknown key 'colour' in s.toml"),
    ("name = 3\n", "scenario.bad_value", "name in s.toml must be text in quotes, got 3"),
    ("config = { host = 3 }\n", "scenario.bad_value", "[config] in s.toml must be a table of tables"),
])
def test_a_malformed_scenario_file_names_the_step_the_key_and_the_form(text, code, says):
    with pytest.raises(ScenarioError) as e:
        parse_scenario(tomllib.loads(text), source="s.toml")
    assert e.value.code == code and says in e.value.text, e.value


@pytest.mark.parametrize("seconds", [0, 0.25, 2, MAX_WAIT])
def test_a_wait_is_a_finite_number_of_seconds_up_to_an_hour(seconds):
    assert step("wait", seconds) == float(seconds)


def test_every_step_kind_has_a_declared_form_and_its_documentation():
    assert list(STEP_FORMS) == list(STEP_KINDS)


def test_checked_values_are_what_the_runner_reads():
    assert step("void", 7) == {"trace": 7, "confirm": True, "supervisor": None}
    assert step("settle", False) == {"confirm": False, "supervisor": None}
    assert step("transfer", {"amount": 5, "account": "123"}) == {"amount": 5, "account": "123", "again": "123"}
    assert step("swipe", {"track2": "4111=49"}) == {"track1": None, "track2": "4111=49", "track3": None}
    assert step("expect", {"printed": "APPROVED"}) == {"printed": "APPROVED"}
    assert step("host", "drop") == {"behaviour": "drop"} and step("host", "clear") == "clear"


# -- any TOML value, any step: a ScenarioError or a checked value, never another exception -----------------

_KEYS = sorted({"trace", "confirm", "supervisor", "rrn", "auth", "date", "amount", "account", "again", "operator",
                "password", "behaviour", "code", "seconds", "times", "mti", "track1", "track2", "track3", "state",
                "outcome", "response_code", "reason", "display", "printed", "alerts", "notes", "journal_count",
                "ledger_postings"})
_WORDS = ["clear", "full", "ok", "down", "up", "resume", "stop_answering", "paper_out", "decline", "delay", "drop",
          "after:send_request", "unionpay_debit", "1234", "000000000001", "654321", "01", "1122", "idle", "51", "0200",
          "truncated", "", "\u00e9", "\u4e2d", "4111=49"]
_SCALARS = st.one_of(
    st.text(max_size=12), st.sampled_from(_WORDS), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.integers(min_value=-2, max_value=1000000),
    st.floats(allow_nan=True, allow_infinity=True), st.datetimes(), st.dates(), st.times(),
)
TOML_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(STEP_KINDS)), value=TOML_VALUES)
def test_any_toml_value_for_any_step_is_accepted_or_a_scenario_error(kind, value):
    try:
        checked = step(kind, value)
    except ScenarioError as e:
        assert e.code in ("scenario.bad_value", "scenario.unknown_key") and e.text.startswith(f"step 1: {kind}")
    else:
        assert step(kind, checked) == checked  # a checked value is of its own form (tests re-parse steps)


@settings(max_examples=40, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["name", "description", "config", "step"]), TOML_VALUES, max_size=4))
def test_any_toml_document_is_a_scenario_or_a_scenario_error(doc):
    try:
        parse_scenario(doc, source="s.toml")
    except ScenarioError:
        pass
