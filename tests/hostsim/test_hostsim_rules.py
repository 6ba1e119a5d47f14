"""The rule book: ordered, first match wins, counted, validated scenario files."""

from __future__ import annotations

import pytest

from firmware.errors import ScenarioError
from firmware.hostsim.rules import RULE_KEYS, Behaviour, RequestFacts, Rule, RuleBook
from firmware.host.spec import TxnKind

SALE = RequestFacts("0200", amount=100, stan=1, kind=TxnKind.SALE)


def test_empty_book_matches_nothing():
    assert RuleBook().match(SALE) is None


def test_first_match_wins_and_times_count_down():
    book = RuleBook([Rule(Behaviour.DROP, times=2, amount=100), Rule(Behaviour.DECLINE, code="51")])
    assert [book.match(SALE).behaviour for _ in range(3)] == [Behaviour.DROP, Behaviour.DROP, Behaviour.DECLINE]
    assert book.remaining == (0, None) and book.rules[0].behaviour is Behaviour.DROP


def test_push_front_and_clear():
    book = RuleBook([Rule(Behaviour.DECLINE)])
    book.push(Rule(Behaviour.CLOSE))
    assert book.match(SALE).behaviour is Behaviour.DECLINE
    book.push(Rule(Behaviour.CLOSE), front=True)
    assert book.match(SALE).behaviour is Behaviour.CLOSE
    book.clear()
    assert len(book) == 0 and book.match(SALE) is None


@pytest.mark.parametrize(
    "rule, facts, hit",
    [
        (Rule(mti="0400"), SALE, False),
        (Rule(mti="0200"), SALE, True),
        (Rule(stan=2), SALE, False),
        (Rule(kind="sale", amount=100), SALE, True),
        (Rule(kind=TxnKind.OFFLINE_SALE), SALE, False),
        (Rule(amount=100), RequestFacts("0800"), False),
    ],
)
def test_matching(rule, facts, hit):
    assert rule.matches(facts) is hit


def test_decline_defaults_to_05():
    assert Rule(Behaviour.DECLINE).code == "05" and Rule("decline", code="51").code == "51"


def test_from_dicts():
    book = RuleBook.from_dicts([{"behaviour": "delay", "seconds": 1.5, "mti": "0200"},
                                {"behaviour": "decline", "code": "51", "times": 1}])
    assert [r.behaviour for r in book.rules] == [Behaviour.DELAY, Behaviour.DECLINE]
    assert book.remaining == (None, 1)


def test_unknown_key_names_it_and_the_expected_ones():
    with pytest.raises(ScenarioError) as err:
        RuleBook.from_dicts([{"behaviour": "approve"}, {"behavior": "drop"}])
    assert err.value.code == "scenario.unknown_key"
    assert "rule 2" in err.value.text and "'behavior'" in err.value.text
    assert all(key in err.value.text for key in RULE_KEYS)


@pytest.mark.parametrize(
    "item, named",
    [
        ({"behaviour": "explode"}, "behaviour must be one of approve, decline"),
        ({"behaviour": "decline", "code": "5"}, "code must be"),
        ({"behaviour": "approve", "code": "51"}, "code goes with behaviour \"decline\" only"),
        ({"behaviour": "delay"}, "seconds must be"),
        ({"behaviour": "delay", "seconds": 0}, "seconds must be"),
        ({"behaviour": "drop", "seconds": 1}, "seconds goes with"),
        ({"times": 0}, "times must be"),
        ({"times": True}, "times must be"),
        ({"mti": 200}, "mti must be 4 digits"),
        ({"amount": 1.5}, "amount must be whole minor units"),
        ({"stan": 0}, "stan must be"),
        ({"kind": "layaway"}, "kind must be one of"),
        ({"pin": 1234}, "pin must be 4 to 12 digits"),
        ("drop", "rule 1 is not a table"),
    ],
)
def test_bad_values_are_named(item, named):
    with pytest.raises(ScenarioError) as err:
        RuleBook.from_dicts([item])
    assert err.value.code == "scenario.bad_value" and named in err.value.text


def test_from_toml(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nbehaviour = "decline"\ncode = "51"\namount = 100\n\n[[rule]]\nbehaviour = "drop"\ntimes = 1\n')
    book = RuleBook.from_toml(path)
    assert [(r.behaviour, r.code, r.amount, left) for r, left in zip(book.rules, book.remaining)] == [
        (Behaviour.DECLINE, "51", 100, None), (Behaviour.DROP, None, None, 1)]


@pytest.mark.parametrize(
    "text, code",
    [
        ("[[rule]\n", "scenario.bad_toml"),
        ("[[rules]]\nbehaviour = \"drop\"\n", "scenario.unknown_key"),
        ("rule = 3\n", "scenario.bad_value"),
        ("[[rule]]\nbehavior = \"drop\"\n", "scenario.unknown_key"),
    ],
)
def test_bad_rule_files(tmp_path, text, code):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        RuleBook.from_toml(path)
    assert err.value.code == code


def test_missing_rule_file(tmp_path):
    with pytest.raises(ScenarioError) as err:
        RuleBook.from_toml(tmp_path / "nope.toml")
    assert err.value.code == "scenario.unreadable"


def test_a_rule_read_from_a_dict_can_be_pushed_into_a_live_book():
    live = RuleBook()
    (rule,) = RuleBook.from_dicts([{"behaviour": "drop", "times": 1}]).rules
    live.push(rule)
    assert live.match(SALE) is rule and live.match(SALE) is None


def test_rule_repr_hides_the_pin():
    text = repr(Rule(pin="9876", amount=5))
    assert "9876" not in text and "amount=5" in text and "pin='<set>'" in text
