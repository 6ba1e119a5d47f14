"""The completion advice (预授权完成通知) on both profiles, and the iso87 completion family: built from
the transaction tables, round-tripped byte by byte with their MACs, read back by the host's side."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.keys import KeyUsage
from crypto.provision import lab_key
from firmware.bridge import HostBridge
from firmware.core.model import Kind, OriginalFacts, OriginalRef, SaleRecord
from firmware.host.codec import decode, encode
from firmware.host.mac import mac_key_for
from firmware.host.messages import (
    Original,
    as_repeat,
    build_advice,
    build_request,
    build_reversal,
    kind_of,
    read_original,
    transmission_time,
)
from firmware.host.spec import TxnKind
from firmware.hostsim.lab import lab_card, lab_txn

WHEN = datetime(2026, 11, 22, 10, 15, 3)
PREAUTH_WHEN = datetime(2026, 11, 21, 9, 0, 0)
ZEROS = "0" * 22  # 90's acquirer and forwarder IDs
HELD = Original(stan=3, batch=1, date="1121", auth_code="654321", mti="0100", transmitted="1121090000")
ELSEWHERE = Original(stan=0, batch=0, date="1121", auth_code="654321", mti="0100", transmitted="1121000000")


def wire(profile, message, mac):
    return decode(profile, encode(profile, message, mac_key=mac), mac_key=mac)


def mac_for(profile):
    return mac_key_for(profile, lab_key(KeyUsage.MAC))


# -- cup: 0220, 60.1 = 24 --------------------------------------------------------------------
def test_cup_completion_advice_is_0220_type_24_naming_the_preauth_without_track_or_pin(cup, tpdu):
    txn = lab_txn(kind=TxnKind.PREAUTH_COMPLETE, amount=11500, stan=12, when=WHEN, original=HELD)
    message = build_advice(cup, txn, lab_card(), tpdu=tpdu)
    f = message.fields
    assert (message.mti, f[3], f[25], f[60][:2]) == ("0220", "000000", "06", "24")
    assert f[38] == "654321" and f[61] == "000001" "000003" "1121" and f[4] == "000000011500"
    assert not {35, 36, 52, 53} & set(f) and 2 in f and 14 in f  # the PAN and expiry, no track, no PIN
    back = wire(cup, message, mac_for(cup))
    assert back.mac_ok is True and back.fields == {**f, 64: back.fields[64]}
    assert kind_of(cup, back) is TxnKind.PREAUTH_COMPLETE_ADVICE
    assert read_original(cup, back) == Original(stan=3, batch=1, date="1121", auth_code="654321")
    repeat = as_repeat(cup, message)
    assert repeat.mti == "0221" and kind_of(cup, wire(cup, repeat, mac_for(cup))) is TxnKind.PREAUTH_COMPLETE_ADVICE


def test_cup_offline_sale_advice_is_unchanged(cup, tpdu):
    message = build_advice(cup, lab_txn(kind=TxnKind.SALE, amount=500), lab_card(), tpdu=tpdu)
    assert (message.mti, message.fields[3], message.fields[25], message.fields[60][:2]) == ("0220", "000000", "00", "30")
    assert 38 not in message.fields and 61 not in message.fields


@pytest.mark.parametrize("kind", [TxnKind.PREAUTH, TxnKind.PREAUTH_VOID, TxnKind.PREAUTH_COMPLETE_VOID,
                                  TxnKind.REFUND, TxnKind.BALANCE])
def test_only_sales_and_completions_travel_as_stored_advices(profile, tpdu_of, kind):
    with pytest.raises(Exception) as e:
        build_advice(profile, lab_txn(kind=kind, original=HELD), lab_card(), tpdu=tpdu_of(profile))
    assert e.value.code == "host.unsupported"


def test_the_completion_advice_is_never_reversed(profile, tpdu_of):
    txn = lab_txn(kind=TxnKind.PREAUTH_COMPLETE_ADVICE, original=HELD)
    with pytest.raises(Exception) as e:
        build_reversal(profile, txn, lab_card(), tpdu=tpdu_of(profile))
    assert e.value.code == "host.not_reversible"


# -- iso87: the completion request, its void, its advice ----------------------------------------
@pytest.mark.parametrize("kind, mti, pc", [
    (TxnKind.PREAUTH_COMPLETE, "0200", "000000"),
    (TxnKind.PREAUTH_VOID, "0100", "020000"),
])
def test_iso87_completion_and_cancel_name_the_preauth_in_38_and_90(iso87, kind, mti, pc):
    txn = lab_txn(kind=kind, amount=10000, stan=12, when=WHEN, original=HELD)
    back = wire(iso87, build_request(iso87, txn, lab_card(), tpdu=None), mac_for(iso87))
    f = back.fields
    assert back.mac_ok is True and (back.mti, f[3], f[25]) == (mti, pc, "06")
    assert f[38] == "654321" and f[90] == "0100" "000003" "1121090000" + ZEROS and 128 in f
    assert kind_of(iso87, back) is kind
    named = read_original(iso87, back)
    assert (named.auth_code, named.date, named.stan, named.mti) == ("654321", "1121", 3, "0100")
    reversal = wire(iso87, build_reversal(iso87, txn, lab_card(), tpdu=None), mac_for(iso87))
    assert reversal.mti == "0400" and reversal.fields[90] == mti + "000012" + "1122101503" + ZEROS
    assert 38 not in reversal.fields


def test_iso87_completion_void_names_the_completion_as_a_void_does(iso87):
    completion = Original(stan=9, batch=1, date="1122", rrn="000000000009", auth_code="222222", mti="0200",
                          transmitted="1122100000")
    txn = lab_txn(kind=TxnKind.PREAUTH_COMPLETE_VOID, amount=11500, stan=13, when=WHEN, original=completion)
    back = wire(iso87, build_request(iso87, txn, lab_card(), tpdu=None), mac_for(iso87))
    f = back.fields
    assert (back.mti, f[3], f[25], f[37], f[38]) == ("0200", "020000", "06", "000000000009", "222222")
    assert f[90] == "0200" "000009" "1122100000" + ZEROS and kind_of(iso87, back) is TxnKind.PREAUTH_COMPLETE_VOID
    assert build_reversal(iso87, txn, lab_card(), tpdu=None).fields[90][:10] == "0200000013"


def test_iso87_completion_advice_is_a_0220_naming_the_preauth(iso87):
    txn = lab_txn(kind=TxnKind.PREAUTH_COMPLETE, amount=11500, stan=14, when=WHEN, original=ELSEWHERE)
    message = build_advice(iso87, txn, lab_card(), tpdu=None)
    back = wire(iso87, message, mac_for(iso87))
    f = back.fields
    assert (back.mti, f[3], f[25], f[38]) == ("0220", "000000", "06", "654321")
    assert f[90] == "0100" "000000" "1121000000" + ZEROS and not {35, 52} & set(f)
    assert kind_of(iso87, back) is TxnKind.PREAUTH_COMPLETE_ADVICE
    assert kind_of(iso87, wire(iso87, as_repeat(iso87, message), mac_for(iso87))) is TxnKind.PREAUTH_COMPLETE_ADVICE
    assert read_original(iso87, back).date == "1121"  # 90's transmission date stands for the keyed date


def _record(original: OriginalFacts | None) -> SaleRecord:
    return SaleRecord(2, 11500, 12, 1, WHEN, "620550*********0004", kind=Kind.PREAUTH_COMPLETE,
                      terminal_id="12345678", merchant_id="123456789012345", original=original,
                      reference=OriginalRef("", "1121", "654321"))


def test_the_bridge_names_the_preauth_in_90_from_the_journal_or_by_the_keyed_date(iso87):
    facts = OriginalFacts(txn_no=1, kind=Kind.PREAUTH, amount=10000, currency="156", stan=3, batch=1,
                          when=PREAUTH_WHEN, masked_pan="620550*********0004", rrn="000000000003",
                          auth_code="654321")
    held = HostBridge(iso87, None).txn_data(_record(facts)).original
    assert (held.mti, held.transmitted, held.stan, held.auth_code) == ("0100", transmission_time(PREAUTH_WHEN), 3,
                                                                       "654321")
    elsewhere = HostBridge(iso87, None).txn_data(_record(None)).original
    assert (elsewhere.mti, elsewhere.transmitted, elsewhere.stan) == ("0100", "1121000000", 0)


@settings(max_examples=40, deadline=None)
@given(auth=st.from_regex(r"[0-9A-Z]{6}", fullmatch=True), month=st.integers(1, 12), day=st.integers(1, 28),
       amount=st.integers(1, 10**9), stan=st.integers(0, 999999), name=st.sampled_from(["cup", "iso87"]))
def test_any_completion_advice_round_trips(auth, month, day, amount, stan, name):
    from firmware.host.profiles import get_profile

    profile = get_profile(name)
    date = f"{month:02d}{day:02d}"
    original = Original(stan=stan, batch=1, date=date, auth_code=auth, mti="0100", transmitted=date + "101010")
    txn = lab_txn(kind=TxnKind.PREAUTH_COMPLETE, amount=amount, stan=5, original=original)
    tpdu = None
    if profile.tpdu:
        from firmware.host.codec import Tpdu

        tpdu = Tpdu("60", "0003", "0000")
    back = wire(profile, build_advice(profile, txn, lab_card(), tpdu=tpdu), mac_for(profile))
    named = read_original(profile, back)
    assert back.mac_ok is True and int(back.fields[4]) == amount
    assert (named.auth_code, named.date, named.stan) == (auth, date, stan)
