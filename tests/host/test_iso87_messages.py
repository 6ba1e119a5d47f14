"""iso87 messages: field 90 in reversals and voids, and the 1987 reconciliation (0500/0510) through the codec."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.bridge import HostBridge
from firmware.core.batch import UploadEntry
from firmware.core.model import Kind, OriginalFacts, SaleRecord
from firmware.errors import ProtocolError
from firmware.host.codec import decode, encode
from firmware.host.messages import (
    Original,
    TxnKind,
    as_repeat,
    build_request,
    build_response,
    build_reversal,
    parse_reply,
    read_original,
    transmission_time,
    with_reason,
)
from firmware.host.settlement import (
    ReconciliationLayout,
    SettlementLayout,
    TotalsBlock,
    build_settlement,
    has_upload,
    read_result,
    read_totals,
    settlement_layout,
    with_result,
)
from firmware.hostsim.lab import lab_card, lab_txn

WHEN = datetime(2026, 11, 22, 10, 15, 3)
TID, MID = "12345678", "123456789012345"
ZEROS = "0" * 22  # field 90's acquirer and forwarder IDs, with no host.acquirer_id (and posterm sends no 33)


def _wire(profile, message, mac_key):
    return decode(profile, encode(profile, message, mac_key=mac_key), mac_key=mac_key)


# -- field 90 --------------------------------------------------------------------------------
def test_a_reversal_names_the_request_it_reverses_in_90(iso87, mac_key):
    reversal = build_reversal(iso87, lab_txn(stan=42, when=WHEN), lab_card(), tpdu=None)
    back = _wire(iso87, reversal, mac_key)
    assert back.mti == "0400" and back.mac_ok is True
    assert back.fields[90] == "0200" "000042" "1122101503" + ZEROS
    assert back.fields[90][10:20] == back.fields[7]  # its transmission date and time is the request's field 7
    repeat = _wire(iso87, as_repeat(iso87, with_reason(back, "98")), mac_key)
    assert repeat.mti == "0401" and repeat.fields[90] == back.fields[90] and repeat.mac_ok is True


def test_an_acquirer_id_goes_in_32_of_requests_and_reversals_and_the_host_echoes_it(iso87, cup, mac_key):
    txn = dataclasses.replace(lab_txn(stan=42, when=WHEN), acquirer_id="4123")
    request = _wire(iso87, build_request(iso87, txn, lab_card(), tpdu=None), mac_key)
    reversal = _wire(iso87, build_reversal(iso87, txn, lab_card(), tpdu=None), mac_key)
    assert request.fields[32] == reversal.fields[32] == "4123"
    assert reversal.fields[90] == "0200" "000042" "1122101503" "00000004123" + "0" * 11
    answer = build_response(iso87, request, response_code="00", rrn="000000000001", auth_code="123456", when=WHEN)
    assert answer.fields[32] == "4123"
    assert 32 not in build_request(cup, txn, lab_card(), tpdu=None).fields  # cup's host fills 32 itself


def test_an_acquirer_id_goes_in_32_of_sign_on_sign_off_and_reconciliation_and_the_host_echoes_it(iso87, cup,
                                                                                                 mac_key):
    from firmware.host.signon import build_signoff, build_signon

    common = dict(stan=5, batch=1, terminal_id=TID, merchant_id=MID, tpdu=None, acquirer_id="4123")
    totals = TotalsBlock(1250, 1, 0, 0)
    for profile, sent in ((iso87, "4123"), (cup, None)):  # cup's host fills 32 itself (config refuses the key)
        messages = (build_signon(profile, when=WHEN, **common), build_signoff(profile, **common),
                    build_settlement(profile, when=WHEN, currency="156", domestic=totals, **common))
        assert [m.fields.get(32) for m in messages] == [sent] * 3
    signon = _wire(iso87, build_signon(iso87, when=WHEN, **common), mac_key)
    answer = build_response(iso87, signon, response_code="00", when=WHEN)
    assert answer.fields[32] == "4123"
    unset = build_signon(iso87, when=WHEN, **{**common, "acquirer_id": ""})
    assert 32 not in unset.fields


def test_an_aware_time_travels_in_utc_in_7_and_in_90(iso87):
    when = datetime(2026, 11, 22, 10, 15, 3, tzinfo=timezone(timedelta(hours=8)))
    assert transmission_time(when) == "1122021503"
    reversal = build_reversal(iso87, lab_txn(stan=7, when=when), lab_card(), tpdu=None)
    assert reversal.fields[7] == "1122021503" and reversal.fields[90][10:20] == "1122021503"


def test_a_void_names_its_sale_in_37_38_and_90_and_its_reversal_names_the_void(iso87, mac_key):
    sale = Original(stan=1, batch=1, date="1122", rrn="000000000007", auth_code="000042", mti="0200",
                    transmitted="1122101000")
    txn = lab_txn(kind=TxnKind.VOID, stan=2, when=WHEN, original=sale)
    void = _wire(iso87, build_request(iso87, txn, lab_card(), tpdu=None), mac_key)
    assert void.fields[3] == "020000" and void.fields[37] == "000000000007" and void.fields[38] == "000042"
    assert void.fields[90] == "0200" "000001" "1122101000" + ZEROS and 61 not in void.fields
    assert 128 in void.fields and 64 not in void.fields
    named = read_original(iso87, void)
    assert (named.stan, named.rrn, named.auth_code, named.mti, named.transmitted) == (
        1, "000000000007", "000042", "0200", "1122101000")

    reversal = _wire(iso87, build_reversal(iso87, txn, lab_card(), tpdu=None), mac_key)
    assert reversal.fields[90] == "0200" "000002" "1122101503" + ZEROS  # the void itself, not its sale
    assert not {37, 38, 61} & set(reversal.fields)
    assert read_original(iso87, reversal) is None  # its 90 is not the void's original


def test_a_void_whose_original_is_not_fully_known_leaves_90_out(iso87):
    sale = Original(stan=1, batch=1, date="1122", rrn="000000000007", auth_code="000042")
    void = build_request(iso87, lab_txn(kind=TxnKind.VOID, stan=2, original=sale), lab_card(), tpdu=None)
    assert 90 not in void.fields and void.fields[37] == "000000000007"


def test_cup_keeps_its_own_void_fields(cup, tpdu, mac_key):
    sale = Original(stan=1, batch=1, date="1122", rrn="000000000007", auth_code="000042", mti="0200",
                    transmitted="1122101000")
    txn = lab_txn(kind=TxnKind.VOID, stan=2, when=WHEN, original=sale)
    void = build_request(cup, txn, lab_card(), tpdu=tpdu)
    reversal = build_reversal(cup, txn, lab_card(), tpdu=tpdu)
    assert void.fields[61] == "000001000001" and 90 not in void.fields
    assert reversal.fields[61] == "000001000001" and 90 not in reversal.fields


def test_the_bridge_names_a_voids_original_from_the_journal(iso87):
    when = datetime(2026, 11, 22, 10, 10, 0)
    facts = OriginalFacts(txn_no=1, kind=Kind.SALE, amount=1250, currency="156", stan=1, batch=1, when=when,
                          masked_pan="620550*********0004", rrn="000000000007", auth_code="000042")
    record = SaleRecord(2, 1250, 2, 1, WHEN, "620550*********0004", kind=Kind.VOID, terminal_id=TID,
                        merchant_id=MID, original=facts)
    original = HostBridge(iso87, None).txn_data(record).original
    assert (original.mti, original.transmitted, original.stan) == ("0200", transmission_time(when), 1)


# -- reconciliation --------------------------------------------------------------------------
def _settle(iso87, block, **kw):
    args = dict(stan=42, batch=7, terminal_id=TID, merchant_id=MID, currency="156", when=WHEN, tpdu=None)
    return build_settlement(iso87, domestic=block, **{**args, **kw})


def test_the_0500_carries_the_1987_reconciliation_fields(iso87, mac_key):
    block = TotalsBlock(debit_amount=3750, debit_count=3, credit_amount=1250, credit_count=1)
    payload = encode(iso87, _settle(iso87, block), mac_key=mac_key)
    back = decode(iso87, payload, mac_key=mac_key)
    assert back.mti == "0500" and back.mac_ok is True and payload[4:5] in b"89ABCDEF"  # bit 1: secondary bitmap
    f = back.fields
    assert set(f) == {7, 11, 41, 42, 50, 60, 74, 75, 76, 77, 86, 87, 88, 89, 97, 128}
    assert (f[74], f[75], f[76], f[77]) == ("0000000001", "0000000000", "0000000003", "0000000000")
    assert (f[86], f[87], f[88], f[89]) == ("0000000000001250", "0" * 16, "0000000000003750", "0" * 16)
    assert f[97] == "D0000000000002500"  # net = credits - debits, below zero: D
    assert (f[7], f[11], f[50], f[60]) == ("1122101503", "000042", "156", "000007")
    assert read_totals(iso87, back) == (block, None)


@pytest.mark.parametrize(
    "block, net",
    [(TotalsBlock(), "C" + "0" * 16), (TotalsBlock(100, 1, 100, 1), "C" + "0" * 16),
     (TotalsBlock(0, 0, 500, 2), "C0000000000000500"), (TotalsBlock(10**16 - 1, 10**10 - 1), "D" + "9" * 16)],
)
def test_the_net_amount_is_signed_c_at_or_above_zero_and_d_below(iso87, block, net):
    assert _settle(iso87, block).fields[97] == net


@pytest.mark.parametrize("result", ["1", "2", "3"])
def test_the_answer_echoes_the_totals_with_the_settlement_code_in_66(iso87, mac_key, result):
    request = _settle(iso87, TotalsBlock(2500, 2, 1250, 1))
    answer = with_result(iso87, build_response(iso87, request, response_code="00", when=WHEN), request, result)
    back = _wire(iso87, answer, mac_key)
    assert back.mti == "0510" and back.fields[66] == result and back.fields[60] == "000007"
    assert all(back.fields[n] == request.fields[n] for n in (50, 74, 75, 76, 77, 86, 87, 88, 89, 97))
    reply = parse_reply(iso87, back)
    assert (reply.settle_result, reply.stan, reply.approved, reply.batch) == (result, 42, True, None)
    assert read_totals(iso87, back)[0] == TotalsBlock(2500, 2, 1250, 1, result)


def test_an_answer_with_only_its_settlement_code_is_read(iso87, mac_key):
    """A host need not echo the totals: 66 alone says the verdict."""
    request = _settle(iso87, TotalsBlock(2500, 2))
    answer = build_response(iso87, request, response_code="00", when=WHEN)
    answer.fields[66] = "1"
    assert parse_reply(iso87, _wire(iso87, answer, mac_key)).settle_result == "1"
    del answer.fields[66]
    assert parse_reply(iso87, _wire(iso87, answer, mac_key)).settle_result is None


def _with(message, **fields):
    out = message.copy()
    out.fields.update({int(k[1:]): v for k, v in fields.items()})
    return out


def test_a_0500_with_reversal_figures_is_read_net_of_them(iso87):
    request = _with(_settle(iso87, TotalsBlock(3750, 3, 1250, 1)), f77="0000000001", f89="0000000000001250",
                    f97="D0000000000001250")
    assert read_totals(iso87, request)[0] == TotalsBlock(2500, 2, 1250, 1)


@pytest.mark.parametrize(
    "change, text",
    [
        (dict(f97="C0000000000002500"), "field 97 (net settlement) does not agree with the totals"),
        (dict(f97=None), "field 97 (net settlement) does not agree with the totals"),
        (dict(f76=None), "the reconciliation totals (fields 74-77, 86-89) are missing or unreadable"),
        (dict(f75="0000000002"), "the reconciliation totals reverse more than they count"),
    ],
)
def test_unreadable_reconciliation_totals_are_refused(iso87, change, text):
    request = _settle(iso87, TotalsBlock(3750, 3, 1250, 1))
    for key, value in change.items():
        if value is None:
            del request.fields[int(key[1:])]
        else:
            request.fields[int(key[1:])] = value
    with pytest.raises(ProtocolError) as err:
        read_totals(iso87, request)
    assert err.value.code == "host.bad_field" and err.value.text == text


@pytest.mark.parametrize("block", [TotalsBlock(debit_count=10**10), TotalsBlock(credit_amount=10**16),
                                   TotalsBlock(debit_amount=-1)])
def test_totals_that_do_not_fit_are_refused(iso87, block):
    with pytest.raises(ProtocolError) as err:
        _settle(iso87, block)
    assert err.value.code == "host.bad_txn"


def test_a_settlement_code_is_one_digit_of_three(iso87):
    request = _settle(iso87, TotalsBlock())
    with pytest.raises(ProtocolError) as err:
        with_result(iso87, build_response(iso87, request, response_code="00", when=WHEN), request, "4")
    assert err.value.code == "host.bad_txn"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.tuples(*[st.integers(0, 10**10 - 1)] * 2), amounts=st.tuples(*[st.integers(0, 10**16 - 1)] * 2),
       result=st.sampled_from("123"), batch=st.integers(0, 999999))
def test_reconciliation_round_trips(iso87, mac_key, counts, amounts, result, batch):
    block = TotalsBlock(amounts[0], counts[0], amounts[1], counts[1])
    request = _wire(iso87, _settle(iso87, block, batch=batch), mac_key)
    assert read_totals(iso87, request) == (block, None)
    assert settlement_layout(iso87).batch_of(request) == batch
    answer = _wire(iso87, with_result(iso87, build_response(iso87, request, response_code="00", when=WHEN),
                                      request, result), mac_key)
    assert read_result(iso87, answer) == result and read_totals(iso87, answer)[0] == TotalsBlock(
        *amounts[:1], counts[0], amounts[1], counts[1], result)


# -- the layouts side by side --------------------------------------------------------------
def test_each_profile_has_its_layout_and_only_cup_uploads(iso87, cup):
    assert isinstance(settlement_layout(cup), SettlementLayout) and has_upload(cup)
    assert isinstance(settlement_layout(iso87), ReconciliationLayout) and not has_upload(iso87)
    assert settlement_layout(iso87).totals_fields == (74, 86, 75, 87, 76, 88, 77, 89, 97)
    entries = [UploadEntry(1, Kind.SALE, 1, 1250)]
    assert HostBridge(iso87, None).upload_plan(entries) is None  # the core settles without an upload
    assert HostBridge(cup, None).upload_plan(entries).count == 1


def test_read_result_is_none_for_what_cannot_be_read(cup, iso87, tpdu):
    request = build_settlement(cup, stan=1, batch=1, terminal_id=TID, merchant_id=MID, currency="156",
                               domestic=TotalsBlock(), when=WHEN, tpdu=tpdu)
    answer = build_response(cup, request, response_code="00", when=WHEN)
    assert read_result(cup, answer) is None  # no field 48
    assert read_result(cup, with_result(cup, answer, request, "2")) == "2"
    answer87 = build_response(iso87, _settle(iso87, TotalsBlock()), response_code="00", when=WHEN)
    answer87.fields[66] = "9"
    assert read_result(iso87, answer87) is None
