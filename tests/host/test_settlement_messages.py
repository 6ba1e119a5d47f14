"""Settlement (0500/0510) and batch upload (0320/0330) through the cup codec, against the layout.

The byte checks read the wire as UnionPay POS code packs it: TPDU (5) + header (6) +
BCD MTI (2) + bitmap (8), then 11 (n6, 3 bytes), 41 (ans8), 42 (ans15), and 48 with
a BCD LLL length counting digits, its digits BCD-packed.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.secrets import Pan, mask_pan
from firmware.core.batch import UploadEntry, UploadJob
from firmware.core.model import Kind
from firmware.errors import ProtocolError
from firmware.host.codec import Message, decode, encode
from firmware.host.messages import build_response, parse_reply
from firmware.host.settlement import (
    TotalsBlock,
    UploadKind,
    build_settlement,
    build_upload,
    build_upload_end,
    plan_upload,
    read_totals,
    read_upload,
    upload_layout,
    upload_parts,
    with_result,
)

WHEN = datetime(2026, 11, 22, 10, 15, 3)
TID, MID = "12345678", "123456789012345"
PAN = "6205500000000000004"
FIELDS_AT = 5 + 6 + 2 + 8  # TPDU, header, MTI, bitmap
F48_AT = FIELDS_AT + 3 + 8 + 15  # after 11, 41 and 42


def _bitmap(payload: bytes) -> set[int]:
    bits = int.from_bytes(payload[13:21], "big")
    return {n for n in range(1, 65) if bits >> (64 - n) & 1}


def _field48(payload: bytes) -> tuple[int, bytes]:
    digits = int(payload[F48_AT : F48_AT + 2].hex())
    return digits, payload[F48_AT + 2 : F48_AT + 2 + (digits + 1) // 2]


# -- 0500 / 0510 ---------------------------------------------------------------------------
def test_settlement_round_trip_and_its_totals_on_the_wire(cup, tpdu, mac_key):
    block = TotalsBlock(debit_amount=3750, debit_count=3, credit_amount=1250, credit_count=1)
    message = build_settlement(cup, stan=42, batch=7, terminal_id=TID, merchant_id=MID, currency="156",
                               domestic=block, operator="01", when=WHEN, tpdu=tpdu)
    payload = encode(cup, message, mac_key=mac_key)
    assert payload[11:13] == b"\x05\x00" and _bitmap(payload) == {11, 41, 42, 48, 49, 60, 63, 64}
    digits, raw = _field48(payload)
    text = "000000003750" "003" "000000001250" "001" "0" + "0" * 12 + "000" + "0" * 12 + "000" + "0"
    assert digits == 62 and raw == bytes.fromhex(text)
    back = decode(cup, payload, mac_key=mac_key)
    assert back.mac_ok is True and back.fields[60] == "00000007201" and back.fields[63] == "01 "
    assert read_totals(cup, back) == (block, TotalsBlock())


@pytest.mark.parametrize("result", ["1", "2", "3"])
def test_the_answer_carries_the_result_digit_in_each_block(cup, tpdu, mac_key, result):
    request = build_settlement(cup, stan=42, batch=7, terminal_id=TID, merchant_id=MID, currency="156",
                               domestic=TotalsBlock(100, 1, 0, 0), when=WHEN, tpdu=tpdu)
    answer = with_result(cup, build_response(cup, request, response_code="00", when=WHEN), request, result)
    back = decode(cup, encode(cup, answer, mac_key=mac_key), mac_key=mac_key)
    reply = parse_reply(cup, back)
    assert (reply.mti, reply.stan, reply.settle_result, reply.approved) == ("0510", 42, result, True)
    domestic, foreign = read_totals(cup, back)
    assert domestic == TotalsBlock(100, 1, 0, 0, result) and foreign.result == result


def test_iso87_has_no_settlement_or_upload(iso87):
    with pytest.raises(ProtocolError) as e:
        upload_layout(iso87)
    assert e.value.code == "host.unsupported"


# -- 0320 / 0330 ---------------------------------------------------------------------------
def _entries(n: int, offline: int = 0) -> list[UploadEntry]:
    return [UploadEntry(i, Kind.SALE, i + 10, 100 * i, offline=i <= offline) for i in range(1, n + 1)]


def test_packed_upload_on_the_wire(cup, tpdu, mac_key):
    entries = [UploadEntry(1, Kind.SALE, 1, 1250), UploadEntry(2, Kind.VOID, 2, 1250)]
    message = build_upload(cup, [(e, Pan(PAN)) for e in entries], stan=5, batch=1, terminal_id=TID,
                           merchant_id=MID, tpdu=tpdu)
    payload = encode(cup, message, mac_key=mac_key)
    assert payload[11:13] == b"\x03\x20" and _bitmap(payload) == {11, 41, 42, 48, 60, 64}
    digits, raw = _field48(payload)
    one = "00" + "{:06d}" + "0" + PAN + "000000001250"  # domestic, trace, PAN right-aligned in 20, amount
    assert digits == 2 + 2 * 40 and raw == bytes.fromhex("02" + one.format(1) + one.format(2))
    back = decode(cup, payload, mac_key=mac_key)
    assert back.mac_ok is True and back.fields[60] == "00000001201" and back.fields[11] == "000005"
    read = read_upload(cup, back)
    assert read.kind is UploadKind.PACKED and read.batch == 1
    assert [(x.stan, x.masked_pan, x.amount) for x in read.lines] == [(1, mask_pan(PAN), 1250), (2, mask_pan(PAN), 1250)]


def test_the_end_carries_the_count_and_202(cup, tpdu, mac_key):
    payload = encode(cup, build_upload_end(cup, count=11, stan=9, batch=1, terminal_id=TID, merchant_id=MID,
                                           tpdu=tpdu), mac_key=mac_key)
    assert _bitmap(payload) == {11, 41, 42, 48, 60, 64}
    digits, raw = _field48(payload)
    assert (digits, raw) == (4, bytes.fromhex("0011"))
    back = decode(cup, payload, mac_key=mac_key)
    assert back.fields[60] == "00000001202"
    assert read_upload(cup, back).kind is UploadKind.END and read_upload(cup, back).count == 11


def test_an_offline_sale_travels_with_its_own_fields_and_trace(cup, tpdu, mac_key):
    from firmware.bridge import HostBridge
    from firmware.core.model import SaleRecord
    from firmware.sealed import ClearCard

    bridge = HostBridge(cup, tpdu)
    entry = UploadEntry(3, Kind.SALE, 17, 800, offline=True)
    plan = plan_upload(cup, [entry])
    record = SaleRecord(3, 800, 17, 1, WHEN, mask_pan(PAN), terminal_id=TID, merchant_id=MID)
    card = ClearCard(Pan(PAN), "4912", None, None)
    payload = bridge.upload(UploadJob(1, 0, 17, plan), (entry,), {3: card}, {3: record}, TID, MID, mac_key)
    back = decode(cup, payload, mac_key=mac_key)
    assert back.mti == "0320" and back.fields[2] == PAN and back.fields[3] == "000000"
    assert back.fields[11] == "000017" and back.fields[4] == "000000000800" and back.fields[60][:2] == "30"
    read = read_upload(cup, back)
    assert read.kind is UploadKind.SINGLE and read.lines[0].stan == 17 and read.lines[0].masked_pan == mask_pan(PAN)


def test_upload_messages_keep_card_numbers_out_of_their_repr(cup, tpdu, mac_key):
    message = build_upload(cup, [(UploadEntry(1, Kind.SALE, 1, 1250), Pan(PAN))], stan=5, batch=1,
                           terminal_id=TID, merchant_id=MID, tpdu=tpdu)
    assert PAN not in repr(message) and PAN[6:15] not in repr(message)


def test_the_answer_echoes_no_card_data(cup, tpdu, mac_key):
    from firmware.hostsim.processor import HostProcessor

    message = build_upload(cup, [(UploadEntry(1, Kind.SALE, 1, 1250), Pan(PAN))], stan=5, batch=1,
                           terminal_id=TID, merchant_id=MID, tpdu=tpdu)
    host = HostProcessor(cup, mac_key=mac_key, clock=lambda: WHEN)
    answer = decode(cup, host.respond(encode(cup, message, mac_key=mac_key)).payload, mac_key=mac_key)
    assert answer.mti == "0330" and answer.mac_ok is True and answer.fields[11] == "000005"
    assert 2 not in answer.fields and 48 not in answer.fields and parse_reply(cup, answer).approved


@pytest.mark.parametrize("n, offline, sizes, stans", [
    (0, 0, [], ()),
    (8, 0, [8], (None,)),
    (9, 0, [8, 1], (None, None)),
    (17, 2, [1, 1, 8, 7], (11, 12, None, None)),
])
def test_offline_sales_go_first_one_to_a_message_then_eight_to_a_message(cup, n, offline, sizes, stans):
    entries = _entries(n, offline)
    assert [len(p) for p in upload_parts(upload_layout(cup), entries)] == sizes
    plan = plan_upload(cup, entries)
    assert (plan.stans, plan.count) == (stans, n)
    # the digest names which transactions each message carries: another order of the same batch differs
    assert plan.digest
    if n > 1:
        assert plan_upload(cup, entries[::-1]).digest != plan.digest


def test_a_packed_message_holds_one_to_eight(cup, tpdu):
    for n in (0, 9):
        with pytest.raises(ProtocolError) as e:
            build_upload(cup, [(x, Pan(PAN)) for x in _entries(n)], stan=1, batch=1, terminal_id=TID,
                         merchant_id=MID, tpdu=tpdu)
        assert e.value.code == "host.bad_txn"


@pytest.mark.parametrize("field48, code", [
    ("", "host.bad_field"),
    ("01" + "0" * 39, "host.bad_field"),  # one short of an entry
    ("02" + "0" * 40, "host.bad_field"),  # says two, carries one
    ("00", "host.bad_field"),
])
def test_an_unreadable_upload_is_named(cup, field48, code):
    message = Message("0320", {11: "000001", 41: TID, 42: MID, 48: field48, 60: "00000001201"})
    with pytest.raises(ProtocolError) as e:
        read_upload(cup, message)
    assert e.value.code == code


PANS = st.integers(13, 19).flatmap(lambda n: st.from_regex(rf"[1-9][0-9]{{{n - 1}}}", fullmatch=True))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 999999), PANS, st.integers(1, 10**12 - 1)), min_size=1, max_size=8),
       st.integers(1, 999999), st.integers(0, 999999))
def test_packed_upload_round_trip(cup_profile_and_keys, rows, stan, batch):
    cup, tpdu, mac_key = cup_profile_and_keys
    entries = [(UploadEntry(i, Kind.SALE, trace, amount), Pan(pan)) for i, (trace, pan, amount) in enumerate(rows)]
    payload = encode(cup, build_upload(cup, entries, stan=stan, batch=batch, terminal_id=TID, merchant_id=MID,
                                       tpdu=tpdu), mac_key=mac_key)
    back = decode(cup, payload, mac_key=mac_key)
    read = read_upload(cup, back)
    assert back.mac_ok is True and int(back.fields[11]) == stan and read.batch == batch
    assert [(x.stan, x.masked_pan, x.amount) for x in read.lines] == [(t, mask_pan(p), a) for t, p, a in rows]


@pytest.fixture(scope="module")
def cup_profile_and_keys():
    from crypto.keys import KeyUsage
    from crypto.provision import lab_key
    from firmware.host.codec import Tpdu
    from firmware.host.profiles import get_profile

    return get_profile("cup"), Tpdu("60", "0003", "0000"), lab_key(KeyUsage.MAC)
