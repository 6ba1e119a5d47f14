"""``wrong_terminal``: the host approves, but answers with another terminal ID (field 41)."""

from __future__ import annotations

from firmware.host.replies import expectation_for, mismatch
from firmware.hostsim.rules import Behaviour, Rule, RuleBook


def test_a_rule_file_names_it():
    (rule,) = RuleBook.from_dicts([{"behaviour": "wrong_terminal", "mti": "0200", "times": 1}]).rules
    assert rule.behaviour is Behaviour.WRONG_TERMINAL


def test_the_answer_carries_another_terminal_id_of_the_same_width_and_a_good_mac(host, term, rules, ledger):
    rules.push(Rule(Behaviour.WRONG_TERMINAL))
    payload = term.sale(amount=700, stan=42)
    request = term.decode(payload)
    reply = term.read(host.respond(payload).payload)
    assert reply.mac_ok is True and reply.response_code == "00" and reply.stan == 42 and reply.amount == 700
    sent = request.fields[41]
    assert reply.terminal_id != sent and len(reply.terminal_id) == len(sent)
    assert mismatch(expectation_for(request), reply) == f"terminal {reply.terminal_id}, expected {sent}"
    # the host did its work: the sale is posted (under the requesting terminal), as for the other wrong_ answers
    (posting,) = ledger.postings()
    assert (posting["status"], posting["terminal_id"]) == ("approved", sent)
    assert ledger.messages()[0]["action"] == "approved; wrong_terminal"
