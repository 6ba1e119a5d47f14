"""The host simulator's ``renumber`` rule: a sign-on answer naming a batch (a host that renumbered)."""

from __future__ import annotations

import pytest

from firmware.errors import ScenarioError
from firmware.hostsim.rules import Behaviour, RuleBook


def test_a_renumber_rule_is_for_sign_ons_and_carries_its_batch():
    (rule,) = RuleBook.from_dicts([{"behaviour": "renumber", "batch": 1}]).rules
    assert rule.behaviour is Behaviour.RENUMBER and rule.mti == "0800" and rule.batch == 1


@pytest.mark.parametrize("rule, says", [
    ({"behaviour": "renumber"}, "batch must be a whole number"),
    ({"behaviour": "renumber", "batch": 1000000}, "batch must be a whole number"),
    ({"behaviour": "renumber", "batch": "1"}, "batch must be a whole number"),
    ({"behaviour": "renumber", "batch": 1, "mti": "0200"}, "applies to sign-ons"),
    ({"behaviour": "approve", "batch": 1}, "batch goes with behaviour"),
])
def test_a_bad_renumber_rule_is_refused(rule, says):
    with pytest.raises(ScenarioError) as info:
        RuleBook.from_dicts([rule])
    assert info.value.code == "scenario.bad_value" and says in info.value.text
