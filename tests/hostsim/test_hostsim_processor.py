"""The sans-IO host: decisions, faults, duplicates, reversals, advices, MAC and PIN checks."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from crypto.des import TdesEcb
from crypto.keys import KeyUsage
from crypto.provision import lab_key
from crypto.secrets import PinBlock, SecretKey
from firmware.errors import ConfigError, ProtocolError
from firmware.host.codec import Message, decode
from firmware.host.messages import build_request, build_signon, expectation_for, mismatch
from firmware.hostsim.lab import LAB_PAN, lab_card, lab_txn
from firmware.hostsim.ledger import _SCHEMA, Ledger
from firmware.hostsim.processor import Answer, HostProcessor
from firmware.hostsim.rules import Behaviour, Rule


def test_default_is_approve_and_post(host, term, ledger):
    answer = host.respond(term.sale(amount=2500, stan=10))
    assert answer.delay == 0.0 and answer.close is False
    reply = term.read(answer.payload)
    assert reply.approved and reply.response_code == "00" and reply.mac_ok is True
    assert reply.rrn == "000000000001" and reply.auth_code == "000001"
    assert mismatch(expectation_for(term.decode(term.sale(amount=2500, stan=10))), reply) is None
    [posting] = ledger.postings()
    assert (posting["kind"], posting["stan"], posting["amount"], posting["status"]) == ("sale", "000010", 2500, "approved")
    assert posting["pan_masked"] == "621234*********4569"
    assert ledger.messages()[0]["action"] == "approved"


def test_the_answer_tpdu_is_swapped(cup_host, cup_term):
    message = cup_term.decode(cup_host.respond(cup_term.sale()).payload)
    assert str(message.tpdu) == "6000000003" and message.header == "603100000000"


@pytest.mark.parametrize("code", ["51", "05", "61"])
def test_decline_with_code(host, term, rules, ledger, code):
    rules.push(Rule(Behaviour.DECLINE, code=code))
    reply = term.read(host.respond(term.sale()).payload)
    assert reply.response_code == code and not reply.approved and reply.auth_code is None
    assert ledger.postings()[0]["status"] == "declined"


def test_rules_match_on_amount_and_run_out(host, term, rules):
    rules.push(Rule(Behaviour.DECLINE, code="51", amount=999, times=1))
    assert term.read(host.respond(term.sale(amount=100, stan=1)).payload).response_code == "00"
    assert term.read(host.respond(term.sale(amount=999, stan=2)).payload).response_code == "51"
    assert term.read(host.respond(term.sale(amount=999, stan=3)).payload).response_code == "00"


@pytest.mark.parametrize(
    "rule, check",
    [
        (Rule(Behaviour.DELAY, seconds=2.5), "delay"),
        (Rule(Behaviour.DROP), "drop"),
        (Rule(Behaviour.CLOSE), "close"),
        (Rule(Behaviour.BAD_MAC), "bad_mac"),
        (Rule(Behaviour.GARBAGE), "garbage"),
        (Rule(Behaviour.WRONG_STAN), "STAN 000043, expected 000042"),
        (Rule(Behaviour.WRONG_AMOUNT), "amount 701, expected 700"),
        (Rule(Behaviour.WRONG_MTI), "expected 0210"),
    ],
)
def test_each_fault_behaviour(host, term, rules, ledger, rule, check):
    rules.push(rule)
    payload = term.sale(amount=700, stan=42)
    answer = host.respond(payload)
    assert isinstance(answer, Answer)
    if check == "delay":
        assert answer.delay == 2.5 and term.read(answer.payload).approved
    elif check == "drop":
        assert answer == Answer(None)
    elif check == "close":
        assert answer == Answer(None, close=True)
    elif check == "bad_mac":
        message = term.decode(answer.payload)
        assert message.mac_ok is False and message.fields[39] == "00"
    elif check == "garbage":
        with pytest.raises(ProtocolError) as err:
            term.decode(answer.payload)
        assert err.value.code == "host.malformed"
        assert answer.payload[: term.profile.prefix_size] == host.respond(term.sale(stan=43)).payload[: term.profile.prefix_size]
    else:
        reply = term.read(answer.payload)
        assert reply.mac_ok is True
        reason = mismatch(expectation_for(term.decode(payload)), reply)
        assert reason is not None and check in reason
    # The host did its work either way: the sale is posted, which is what reversals are for.
    assert ledger.postings()[0]["status"] == "approved"
    assert ledger.messages()[0]["action"] == f"approved; {rule.behaviour.value}"


def test_duplicate_answers_94_and_posts_once(host, term, ledger):
    first = term.read(host.respond(term.sale(stan=7)).payload)
    again = term.read(host.respond(term.sale(stan=7)).payload)
    assert first.response_code == "00" and again.response_code == "94"
    [posting] = ledger.postings()
    assert posting["duplicates"] == 1 and posting["status"] == "approved"
    assert term.read(host.respond(term.sale(stan=8)).payload).response_code == "00"
    assert len(ledger.postings()) == 2


def test_duplicates_use_field_13_when_present(iso87_host, iso87_term, ledger):
    host, term = iso87_host, iso87_term
    assert term.read(host.respond(term.sale(stan=7, when=datetime(2024, 5, 6, 9))).payload).response_code == "00"
    assert term.read(host.respond(term.sale(stan=7, when=datetime(2024, 5, 7, 9))).payload).response_code == "00"
    assert term.read(host.respond(term.sale(stan=7, when=datetime(2024, 5, 7, 9))).payload).response_code == "94"
    assert [p["txn_date"] for p in ledger.postings()] == ["0506", "0507"]


def test_a_stan_used_again_on_the_same_date_a_year_later_is_a_new_request(make_host, iso87, iso87_term, ledger):
    """The duplicate key is terminal + STAN + day, the request's MMDD in the year nearest the host's clock:
    a terminal whose STAN wrapped within a year is answered 00, not 94 (it was keyed on MMDD alone)."""
    now = [datetime(2026, 3, 2, 10)]
    host = HostProcessor(iso87, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), ledger=ledger,
                         clock=lambda: now[0])
    assert iso87_term.read(host.respond(iso87_term.sale(stan=1, when=now[0])).payload).response_code == "00"
    now[0] = datetime(2027, 3, 2, 10)
    assert iso87_term.read(host.respond(iso87_term.sale(stan=1, when=now[0])).payload).response_code == "00"
    assert [(p["txn_date"], p["txn_day"]) for p in ledger.postings()] == [("0302", "2026-03-02"),
                                                                          ("0302", "2027-03-02")]


def test_a_repeat_across_new_years_night_is_still_a_duplicate(make_host, iso87, iso87_term, ledger):
    """A request of 31 December sent again after midnight is placed in the old year: still the same request."""
    now = [datetime(2026, 12, 31, 23, 59)]
    host = HostProcessor(iso87, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), ledger=ledger,
                         clock=lambda: now[0])
    sent = iso87_term.sale(stan=9, when=now[0])
    assert iso87_term.read(host.respond(sent).payload).response_code == "00"
    now[0] = datetime(2027, 1, 1, 0, 2)
    assert iso87_term.read(host.respond(sent).payload).response_code == "94"
    assert len(ledger.postings()) == 1


def test_a_ledger_keyed_on_mmdd_alone_is_rebuilt_with_its_postings(tmp_path):
    """A ledger file from before the year was in the key keeps its postings, each given the day it was
    posted in, and takes the new key (the old UNIQUE on MMDD would refuse next year's STAN 1)."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA.replace("    txn_day TEXT NOT NULL,\n", "").replace(
            "UNIQUE (terminal_id, stan, txn_day)", "UNIQUE (terminal_id, stan, txn_date)"))
        db.execute("INSERT INTO postings (kind, terminal_id, stan, txn_date, amount, response_code, status, "
                   "created_at, updated_at) VALUES ('sale', 'T1', '000001', '0302', 100, '00', 'approved', "
                   "'2026-03-02T10:00:00', '2026-03-02T10:00:00')")
    db.close()
    with Ledger(path) as book:
        [old] = book.postings()
        assert (old["stan"], old["txn_date"], old["txn_day"], old["amount"]) == ("000001", "0302", "2026-03-02", 100)
        assert book.posting("T1", "000001", "2026-03-02")["id"] == old["id"]
        book.add_posting(kind="sale", terminal_id="T1", stan="000001", txn_date="0302", txn_day="2027-03-02",
                         amount=200, currency=None, pan_masked=None, rrn=None, auth_code=None, response_code="00",
                         status="approved", when="2027-03-02T10:00:00")
        assert len(book.postings()) == 2
    with Ledger(path) as book:  # opened again: already keyed by day, nothing rebuilt
        assert len(book.postings()) == 2


def test_reversal_applied_once_even_when_repeated(host, term, ledger):
    assert term.read(host.respond(term.sale(amount=300, stan=20)).payload).approved
    replies = [term.read(host.respond(term.reversal(amount=300, stan=20, repeat=i > 0)).payload) for i in range(3)]
    assert [r.response_code for r in replies] == ["00", "00", "00"]
    assert [r.mti for r in replies] == ["0410"] * 3
    [posting] = ledger.postings()
    assert posting["status"] == "reversed" and posting["reversals"] == 3
    actions = [m["action"] for m in ledger.messages()]
    assert actions == ["approved", "reversed", "reversal repeat, already applied", "reversal repeat, already applied"]
    assert ledger.summary()["approved_amount"] == 0


def test_reversal_of_an_unknown_original_is_acknowledged(host, term, ledger):
    reply = term.read(host.respond(term.reversal(amount=300, stan=99)).payload)
    assert reply.response_code == "00" and ledger.postings() == []
    assert ledger.messages()[0]["action"] == "reversal of an unknown original, acknowledged"


def test_a_reversal_that_overtakes_its_original_reverses_it_when_it_comes(host, term, ledger):
    """A terminal that lost its power just after sending reverses the request on a new connection, which
    the host may read before the old one: the reversal is kept and applied once the original arrives."""
    assert term.read(host.respond(term.reversal(amount=300, stan=30)).payload).response_code == "00"
    assert ledger.postings() == [] and [(r["stan"], r["amount"]) for r in ledger.early_reversals()] == [("000030", 300)]
    assert term.read(host.respond(term.sale(amount=300, stan=30)).payload).response_code == "00"  # nobody waits
    [posting] = ledger.postings()
    assert (posting["status"], posting["reversals"]) == ("reversed", 1) and ledger.early_reversals() == []
    assert ledger.messages()[-1]["action"] == "approved; reversed by the reversal that came first"
    assert ledger.summary()["approved_amount"] == 0
    assert term.read(host.respond(term.sale(amount=300, stan=31)).payload).approved  # others are untouched
    assert [p["status"] for p in ledger.postings()] == ["reversed", "approved"]


def test_an_early_reversal_for_another_amount_or_trace_reverses_nothing(host, term, ledger):
    host.respond(term.reversal(amount=300, stan=32))
    host.respond(term.sale(amount=301, stan=32))
    host.respond(term.sale(amount=300, stan=33))
    assert [p["status"] for p in ledger.postings()] == ["approved", "approved"] and len(ledger.early_reversals()) == 1


def test_reversal_after_a_dropped_answer(host, term, rules, ledger):
    rules.push(Rule(Behaviour.DROP, times=1))
    assert host.respond(term.sale(amount=300, stan=21)).payload is None
    assert term.read(host.respond(term.reversal(amount=300, stan=21)).payload).response_code == "00"
    assert ledger.postings()[0]["status"] == "reversed"


def test_advice_posted_once_even_with_repeats(host, term, ledger):
    first = term.read(host.respond(term.advice(amount=800, stan=30)).payload)
    repeats = [term.read(host.respond(term.advice(amount=800, stan=30, repeat=True)).payload) for _ in range(2)]
    assert first.mti == "0230" and first.response_code == "00" and first.auth_code is None
    assert [r.response_code for r in repeats] == ["00", "00"] and [r.mti for r in repeats] == ["0230", "0230"]
    [posting] = ledger.postings()
    assert (posting["kind"], posting["amount"], posting["duplicates"]) == ("offline_sale", 800, 2)
    assert repeats[0].rrn == first.rrn


def test_bad_request_mac_answers_a0_and_posts_nothing(host, term, ledger):
    wrong = SecretKey(bytes.fromhex("0123456789ABCDEF"), "mac")
    reply = term.read(host.respond(term.sale(mac_key=wrong)).payload)
    assert reply.response_code == "A0" and reply.mac_ok is True
    assert ledger.postings() == [] and ledger.messages()[0]["action"] == "bad MAC, not posted"


def test_missing_request_mac_answers_a0(host, term, ledger):
    message = build_request(term.profile, lab_txn(), lab_card(), tpdu=term.tpdu)
    from firmware.host.codec import encode

    assert term.read(host.respond(encode(term.profile, message)).payload).response_code == "A0"
    assert ledger.postings() == []


def test_pin_block_that_is_not_iso0_answers_99(host, term, ledger):
    pin_key = lab_key(KeyUsage.PIN)
    card = lab_card()
    card.pin_block = PinBlock(TdesEcb(pin_key.reveal()).encrypt(bytes.fromhex("1F1F1F1F1F1F1F1F")))
    reply = term.read(host.respond(term.sale(card=card)).payload)
    assert reply.response_code == "99" and ledger.postings()[0]["status"] == "declined"


def test_pin_under_another_key_answers_99(host, term):
    other = SecretKey(bytes.fromhex("00112233445566778899AABBCCDDEEFF"), "pin")
    card = lab_card(pin_key=other)
    assert term.read(host.respond(term.sale(card=card)).payload).response_code == "99"


@pytest.mark.parametrize("pin, code", [("1234", "00"), ("4321", "55"), (None, "55")])
def test_pin_rule_declines_55_on_a_different_pin(host, term, rules, pin, code):
    rules.push(Rule(pin="1234"))
    assert term.read(host.respond(term.sale(pin=pin)).payload).response_code == code


def test_sign_on(cup_host, cup_term):
    message = build_signon(cup_term.profile, stan=1, batch=1, terminal_id="12345678", merchant_id="123456789012345",
                           when=datetime(2024, 5, 6), tpdu=cup_term.tpdu)
    reply = cup_term.read(cup_host.respond(cup_term.encode(message)).payload)
    assert reply.mti == "0810" and reply.response_code == "00" and reply.mac_ok is None


def test_unknown_message_type_answers_40(cup_host, cup_term):
    message = Message("0500", {11: "000001", 41: "12345678"}, tpdu=cup_term.tpdu)
    reply = cup_term.read(cup_host.respond(cup_term.encode(message)).payload)
    assert reply.mti == "0510" and reply.response_code == "40"


def test_unknown_transaction_answers_12_and_format_error_30(cup_host, cup_term):
    message = cup_term.decode(cup_term.sale())
    message.fields[3] = "990000"
    assert cup_term.read(cup_host.respond(cup_term.encode(message)).payload).response_code == "12"
    del message.fields[4]
    assert cup_term.read(cup_host.respond(cup_term.encode(message)).payload).response_code == "30"


def test_undecodable_request_is_recorded_and_not_answered(host, ledger, caplog):
    assert host.respond(b"\x00\x01garbage") == Answer(None)
    [row] = ledger.messages()
    assert row["mti"] == "????" and row["action"] == "undecodable (host.malformed)"
    assert all("garbage" not in r.getMessage() for r in caplog.records)


def test_the_ledger_file_never_holds_the_clear_pan(tmp_path, term, rules):
    path = tmp_path / "host.db"
    with Ledger(path) as ledger:
        host = HostProcessor(term.profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                             ledger=ledger, rules=rules)
        host.respond(term.sale(stan=1))
        host.respond(term.reversal(stan=1))
        host.respond(term.advice(stan=2))
        host.respond(term.sale(stan=1))
        assert len(ledger.messages()) == 4
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"621234" in raw  # the masked PAN is there ...
    for needle in (LAB_PAN.encode(), LAB_PAN[6:15].encode(), bytes.fromhex(LAB_PAN[:18])):
        assert needle not in raw  # ... the clear one is not, in any form


def test_processor_keys_are_checked(iso87):
    with pytest.raises(ConfigError) as err:
        HostProcessor(iso87, mac_key=TdesEcb(bytes(8)))
    assert err.value.code == "config.bad_key"


def test_processor_takes_a_mac_context(profile, term, ledger):
    from firmware.host.mac import mac_key_for

    host = HostProcessor(profile, mac_key=mac_key_for(profile, lab_key(KeyUsage.MAC)), pin_key=lab_key(KeyUsage.PIN),
                         ledger=ledger)
    assert term.read(host.respond(term.sale()).payload).approved


def test_the_answer_is_what_the_link_expects(host, term):
    from hal.base import HostAnswerLike

    answer = host.respond(term.sale())
    assert isinstance(answer.payload, bytes) and isinstance(answer.delay, float) and isinstance(answer.close, bool)
    assert set(HostAnswerLike.__annotations__) == {"payload", "delay", "close"}


def test_ledger_summary_and_json(host, term, rules, ledger):
    import json

    host.respond(term.sale(amount=100, stan=1))
    rules.push(Rule(Behaviour.DECLINE, code="51", times=1))
    host.respond(term.sale(amount=200, stan=2))
    host.respond(term.sale(amount=300, stan=3))
    host.respond(term.reversal(amount=300, stan=3))
    summary = ledger.summary()
    assert summary == {"messages": 4, "postings": 3, "approved": 1, "declined": 1, "reversed": 1, "voided": 0,
                       "approved_amount": 100, "net_amount": 100, "reversals_seen": 1, "duplicates_seen": 0}
    dump = json.loads(ledger.to_json())
    assert dump["summary"] == summary and len(dump["postings"]) == 3 and len(dump["messages"]) == 4


def test_decoded_requests_keep_sensitive_fields_masked_in_logs(host, term, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        host.respond(term.sale())
    assert caplog.records and all(LAB_PAN not in r.getMessage() for r in caplog.records)
    assert decode(term.profile, term.sale()).fields[2] == LAB_PAN
