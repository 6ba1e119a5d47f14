"""The host simulator on the iso87 profile: 1987 reconciliation against its ledger (74-89, 97, answered
in 66), and reversals that name what they reverse in field 90 (their MAC in 128)."""

from __future__ import annotations

from datetime import datetime

import pytest

from firmware.host.codec import Message
from firmware.host.messages import Original, TxnKind, build_reversal
from firmware.host.settlement import TotalsBlock, build_settlement
from firmware.hostsim.lab import lab_card, lab_txn
from firmware.hostsim.rules import Behaviour, Rule

HOST_NOW = datetime(2024, 5, 6, 12, 0, 0)
TID, MID = "12345678", "123456789012345"


def settle(term, block: TotalsBlock, *, stan: int = 50, batch: int = 1) -> bytes:
    return term.encode(build_settlement(term.profile, stan=stan, batch=batch, terminal_id=TID, merchant_id=MID,
                                        currency="156", domestic=block, when=HOST_NOW, tpdu=None))


def verdict(term, host, payload) -> tuple[str, str | None]:
    """(response code, settlement code) of the host's 0510; its MAC checked: in 128 beside the
    totals, in 64 when a refusal carries none."""
    message = term.decode(host.respond(payload).payload)
    assert message.mti == "0510" and message.mac_ok is True
    assert (128 if 66 in message.fields else 64) in message.fields
    return message.fields[39], message.fields.get(66)


def sell(host, term, *stans_amounts):
    for stan, amount in stans_amounts:
        assert term.read(host.respond(term.sale(amount=amount, stan=stan)).payload).approved


def void(term, *, of_stan, rrn, auth, stan, amount):
    original = Original(stan=of_stan, batch=1, date="0506", rrn=rrn, auth_code=auth, mti="0200",
                        transmitted="0506123456")
    return term.sale(kind=TxnKind.VOID, amount=amount, stan=stan, original=original)


# -- reconciliation --------------------------------------------------------------------------
def test_a_balanced_batch_books_the_open_postings_into_it(iso87_host, iso87_term, ledger):
    sell(iso87_host, iso87_term, (1, 100), (2, 200))
    first = ledger.postings()[0]
    reply = iso87_term.read(iso87_host.respond(void(iso87_term, of_stan=1, rrn=first["rrn"], auth=first["auth_code"],
                                                    stan=3, amount=100)).payload)
    assert reply.approved
    assert verdict(iso87_term, iso87_host, settle(iso87_term, TotalsBlock(300, 2, 100, 1))) == ("00", "1")
    assert [p["batch"] for p in ledger.postings()] == ["000001"] * 3
    assert [(b["batch"], b["result"]) for b in ledger.batches()] == [("000001", "1")]
    assert "settlement batch 000001: balanced" in ledger.messages()[-1]["action"]


def test_the_next_batch_counts_only_what_came_after(iso87_host, iso87_term, ledger):
    sell(iso87_host, iso87_term, (1, 100))
    assert verdict(iso87_term, iso87_host, settle(iso87_term, TotalsBlock(100, 1), batch=1)) == ("00", "1")
    sell(iso87_host, iso87_term, (3, 700))
    assert verdict(iso87_term, iso87_host, settle(iso87_term, TotalsBlock(700, 1), stan=51, batch=2)) == ("00", "1")
    assert [p["batch"] for p in ledger.postings()] == ["000001", "000002"]


def test_a_repeated_0500_of_a_batch_takes_the_sales_made_since(iso87_host, iso87_term, ledger):
    """The 0510 was lost: the terminal's batch stays open, sells on, and settles it again."""
    sell(iso87_host, iso87_term, (1, 100))
    iso87_host.respond(settle(iso87_term, TotalsBlock(100, 1)))
    sell(iso87_host, iso87_term, (3, 50))
    assert verdict(iso87_term, iso87_host, settle(iso87_term, TotalsBlock(150, 2), stan=51)) == ("00", "1")
    assert [b["result"] for b in ledger.batches()] == ["1"]


@pytest.mark.parametrize("block", [TotalsBlock(100, 1), TotalsBlock(300, 2, 100, 1), TotalsBlock(300, 3)])
def test_totals_the_ledger_does_not_have_are_out_of_balance(iso87_host, iso87_term, ledger, block):
    sell(iso87_host, iso87_term, (1, 100), (2, 200))
    assert verdict(iso87_term, iso87_host, settle(iso87_term, block)) == ("00", "2")
    assert [b["result"] for b in ledger.batches()] == ["2"]


def test_an_unbalanced_rule_answers_2_whatever_the_totals(iso87_host, iso87_term, rules):
    sell(iso87_host, iso87_term, (1, 100))
    rules.push(Rule(Behaviour.UNBALANCED, times=1))
    assert verdict(iso87_term, iso87_host, settle(iso87_term, TotalsBlock(100, 1))) == ("00", "2")
    assert verdict(iso87_term, iso87_host, settle(iso87_term, TotalsBlock(100, 1), stan=51)) == ("00", "1")


@pytest.mark.parametrize(
    "change, action",
    [({97: "C0000000000000000"}, "settlement: totals unreadable"), ({60: None}, "settlement: no batch number"),
     ({60: "ABC"}, "settlement: no batch number")],
)
def test_a_0500_that_cannot_be_read_answers_30(iso87_host, iso87_term, ledger, change, action):
    sell(iso87_host, iso87_term, (1, 100))
    message = iso87_term.decode(settle(iso87_term, TotalsBlock(100, 1)))
    for number, value in change.items():
        if value is None:
            del message.fields[number]
        else:
            message.fields[number] = value
    assert verdict(iso87_term, iso87_host, iso87_term.encode(message)) == ("30", None)
    assert ledger.messages()[-1]["action"] == action and ledger.batches() == []
    assert ledger.postings()[0]["batch"] is None  # nothing booked into a batch


def test_a_0500_without_totals_is_not_understood(iso87_host, iso87_term):
    message = Message("0500", {11: "000050", 41: TID, 42: MID})
    reply = iso87_term.read(iso87_host.respond(iso87_term.encode(message)).payload)
    assert reply.response_code == "40"


# -- reversals with field 90 -----------------------------------------------------------------
def reversal(term, *, stan, amount=300, own_stan=None, mti=None):
    """A reversal as the terminal builds it, or with its own STAN in 11 (1987 allows one) or another MTI in 90."""
    message = build_reversal(term.profile, lab_txn(amount=amount, stan=stan), lab_card(), tpdu=None)
    if own_stan is not None:
        message.fields[11] = f"{own_stan:06d}"
    if mti is not None:
        message.fields[90] = mti + message.fields[90][4:]
    return term.encode(message)


def test_a_reversal_finds_its_original_by_field_90(iso87_host, iso87_term, ledger):
    sell(iso87_host, iso87_term, (20, 300))
    message = iso87_term.decode(reversal(iso87_term, stan=20))
    assert message.fields[90].startswith("0200000020") and 128 in message.fields and message.mac_ok is True
    reply = iso87_term.read(iso87_host.respond(reversal(iso87_term, stan=20, own_stan=77)).payload)
    assert reply.mti == "0410" and reply.response_code == "00" and reply.stan == 77
    assert ledger.postings()[0]["status"] == "reversed" and ledger.messages()[-1]["action"] == "reversed"


def test_a_reversal_naming_another_message_type_reverses_nothing(iso87_host, iso87_term, ledger):
    sell(iso87_host, iso87_term, (20, 300))
    reply = iso87_term.read(iso87_host.respond(reversal(iso87_term, stan=20, mti="0100")).payload)
    assert reply.response_code == "00" and ledger.postings()[0]["status"] == "approved"
    assert ledger.messages()[-1]["action"] == "reversal of an unknown original, acknowledged"


def test_an_early_reversal_applies_only_to_the_message_its_90_names(iso87_host, iso87_term, ledger):
    iso87_host.respond(reversal(iso87_term, stan=40, own_stan=81, mti="0100"))  # names a 0100 not yet seen
    sell(iso87_host, iso87_term, (40, 300))  # a 0200 under that STAN: not the one named
    assert ledger.postings()[0]["status"] == "approved"
    iso87_host.respond(reversal(iso87_term, stan=41, own_stan=82))  # names the 0200, which comes after it
    sell(iso87_host, iso87_term, (41, 300))
    assert [p["status"] for p in ledger.postings()] == ["approved", "reversed"]


def test_a_reversal_without_90_falls_back_to_its_stan(iso87_host, iso87_term, ledger):
    sell(iso87_host, iso87_term, (20, 300))
    message = iso87_term.decode(reversal(iso87_term, stan=20))
    del message.fields[90], message.fields[128]
    assert iso87_term.read(iso87_host.respond(iso87_term.encode(message)).payload).response_code == "00"
    assert ledger.postings()[0]["status"] == "reversed"


def test_a_bad_mac_in_128_is_answered_a0_and_reverses_nothing(iso87_host, iso87_term, ledger):
    sell(iso87_host, iso87_term, (20, 300))
    payload = bytearray(reversal(iso87_term, stan=20))
    payload[-1] = ord("0") if payload[-1] != ord("0") else ord("1")
    assert iso87_term.read(iso87_host.respond(bytes(payload)).payload).response_code == "A0"
    assert ledger.postings()[0]["status"] == "approved"
