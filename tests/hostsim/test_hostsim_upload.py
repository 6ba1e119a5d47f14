"""The host simulator settles "not balanced" on request and takes a batch upload: each transaction
checked against its ledger and recorded, the same upload again being the same upload."""

from __future__ import annotations

from datetime import datetime

import pytest

from crypto.secrets import Pan, mask_pan
from firmware.core.batch import UploadEntry
from firmware.core.model import Kind
from firmware.errors import ScenarioError
from firmware.host.codec import Message
from firmware.host.settlement import TotalsBlock, build_settlement, build_upload, build_upload_end, read_totals
from firmware.hostsim.lab import LAB_PAN
from firmware.hostsim.rules import Behaviour, Rule, RuleBook

HOST_NOW = datetime(2024, 5, 6, 12, 0, 0)  # the processor's clock in conftest

TID, MID = "12345678", "123456789012345"


def settle(term, block: TotalsBlock, *, stan: int = 50, batch: int = 1) -> bytes:
    return term.encode(build_settlement(term.profile, stan=stan, batch=batch, terminal_id=TID, merchant_id=MID,
                                        currency="156", domestic=block, when=HOST_NOW, tpdu=term.tpdu))


def upload(term, rows, *, stan: int = 60, batch: int = 1) -> bytes:
    entries = [(UploadEntry(i, Kind.SALE, trace, amount), Pan(pan)) for i, (trace, pan, amount) in enumerate(rows)]
    return term.encode(build_upload(term.profile, entries, stan=stan, batch=batch, terminal_id=TID, merchant_id=MID,
                                    tpdu=term.tpdu))


def end(term, count: int, *, stan: int = 70, batch: int = 1) -> bytes:
    return term.encode(build_upload_end(term.profile, count=count, stan=stan, batch=batch, terminal_id=TID,
                                        merchant_id=MID, tpdu=term.tpdu))


def result_of(term, answer) -> str:
    return read_totals(term.profile, term.decode(answer.payload))[0].result


@pytest.fixture
def sold(cup_host, cup_term):
    """Two approved sales of batch 1 (traces 1 and 2) in the host's ledger."""
    for stan in (1, 2):
        assert cup_term.read(cup_host.respond(cup_term.sale(amount=100 * stan, stan=stan)).payload).approved
    return cup_host


def test_matching_totals_balance_and_a_rule_makes_them_unbalanced_once(sold, cup_term, rules, ledger):
    totals = TotalsBlock(300, 2, 0, 0)
    assert result_of(cup_term, sold.respond(settle(cup_term, totals))) == "1"
    rules.push(Rule(Behaviour.UNBALANCED, times=1))
    assert result_of(cup_term, sold.respond(settle(cup_term, totals, stan=51))) == "2"
    assert result_of(cup_term, sold.respond(settle(cup_term, totals, stan=52))) == "1"
    assert [b["result"] for b in ledger.batches()] == ["1"]  # the latest settlement of the batch wins


def test_an_unbalanced_rule_never_touches_other_messages(sold, cup_term, rules):
    rules.push(Rule(Behaviour.UNBALANCED))
    assert rules.rules[0].mti == "0500"
    assert cup_term.read(sold.respond(cup_term.sale(amount=500, stan=3)).payload).approved


@pytest.mark.parametrize("spec", [{"behaviour": "unbalanced", "mti": "0200"}, {"behaviour": "unbalanced", "code": "05"}])
def test_an_unbalanced_rule_is_for_settlements(spec):
    with pytest.raises(ScenarioError) as e:
        RuleBook.from_dicts([spec])
    assert e.value.code == "scenario.bad_value"


def test_an_upload_is_checked_against_the_ledger_and_recorded(sold, cup_term, ledger):
    answer = cup_term.read(sold.respond(upload(cup_term, [(1, LAB_PAN, 100), (2, LAB_PAN, 999)])).payload)
    assert (answer.mti, answer.stan, answer.approved) == ("0330", 60, True)
    rows = ledger.uploads()
    assert [(r["stan"], r["amount"], r["matched"], r["pan_masked"]) for r in rows] == [
        ("000001", 100, 1, mask_pan(LAB_PAN)), ("000002", 999, 0, mask_pan(LAB_PAN))]  # 2: another amount
    assert cup_term.read(sold.respond(end(cup_term, 2)).payload).approved
    assert [(e["batch"], e["count"], e["uploaded"]) for e in ledger.upload_ends()] == [("000001", 2, 2)]


def test_a_repeated_upload_is_the_same_upload(sold, cup_term, ledger):
    for stan in (60, 61):  # sent again from the start after an interruption: a new STAN, the same content
        assert cup_term.read(sold.respond(upload(cup_term, [(1, LAB_PAN, 100), (2, LAB_PAN, 200)], stan=stan))
                             .payload).approved
        assert cup_term.read(sold.respond(end(cup_term, 2, stan=stan + 10)).payload).approved
    assert len(ledger.uploads()) == 2 and {r["received"] for r in ledger.uploads()} == {2}
    assert [(e["count"], e["uploaded"], e["ends"]) for e in ledger.upload_ends()] == [(2, 2, 2)]
    assert "already held" in ledger.messages()[-2]["action"]


def test_an_unreadable_upload_is_refused_with_30(cup_host, cup_term):
    bad = Message("0320", {11: "000001", 41: TID, 42: MID, 48: "01" + "0" * 30, 60: "00000001201"},
                  tpdu=cup_term.tpdu, header=cup_term.profile.default_header)
    assert cup_term.read(cup_host.respond(cup_term.encode(bad)).payload).response_code == "30"


def test_an_upload_without_a_good_mac_is_refused(cup_host, cup_term, ledger):
    from crypto.des import TdesEcb

    wrong = TdesEcb(bytes(range(16)))
    answer = cup_term.read(cup_host.respond(cup_term.encode(
        build_upload(cup_term.profile, [(UploadEntry(1, Kind.SALE, 1, 100), Pan(LAB_PAN))], stan=60, batch=1,
                     terminal_id=TID, merchant_id=MID, tpdu=cup_term.tpdu), mac_key=wrong)).payload)
    assert answer.response_code == "A0" and ledger.uploads() == []
