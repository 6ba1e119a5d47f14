"""cup field 60 as UnionPay-style POS terminals send it: financial messages carry 60.1 type, 60.2 batch,
60.3 network code, 60.4 the terminal's read capability (2: a magnetic stripe reader, all posterm has) and
60.5 the IC condition code (2 for a chip card read by its stripe, a fallback, else 0): 13 digits. Management
messages (sign-on, sign-off, settlement, batch upload) stop at 60.3: 11 digits. A fallback's field 22 is a
plain swipe (02x); 60.5 says it is one. iso87 has no field 60."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from crypto.secrets import Pan
from firmware.core.batch import UploadEntry
from firmware.core.model import Kind
from firmware.errors import ConfigError, ProtocolError
from firmware.host.codec import Tpdu, decode, encode
from firmware.host.messages import build_advice, build_request, build_reversal, build_signoff, build_signon
from firmware.host.profiles import get_profile
from firmware.host.requests import read_field60
from firmware.host.settlement import TotalsBlock, build_settlement, build_upload, build_upload_end
from firmware.host.spec import EntryMode, Profile, ReadCapability
from firmware.hostsim.lab import LAB_PAN, lab_card, lab_txn

CUP = get_profile("cup")
TPDU = Tpdu("60", "0003", "0000")
WHEN = datetime(2024, 5, 6, 12, 34, 56)
IDS = dict(terminal_id="12345678", merchant_id="123456789012345", tpdu=TPDU)


def _wire(message):
    """As the host reads it: encoded, decoded."""
    return decode(CUP, encode(CUP, message)).fields[60]


@pytest.mark.parametrize("kind, type_code", [(Kind.SALE, "22"), (Kind.BALANCE, "01"), (Kind.PREAUTH, "10"),
                                             (Kind.TRANSFER, "40")])
@pytest.mark.parametrize("mode, tail", [(EntryMode.SWIPE, "20"), (EntryMode.FALLBACK, "22")])
def test_a_financial_request_carries_60_4_and_60_5(kind, type_code, mode, tail):
    card = lab_card()
    if kind is Kind.TRANSFER:
        card.account = Pan("6222020000000000001")
    message = build_request(CUP, lab_txn(kind=kind, batch=7, entry_mode=mode), card, tpdu=TPDU)
    assert _wire(message) == f"{type_code}000007000{tail}"
    assert message.fields[22][:2] == "02"  # a fallback travels as a swipe


@pytest.mark.parametrize("mode, tail", [(EntryMode.SWIPE, "20"), (EntryMode.FALLBACK, "22")])
def test_a_reversal_and_an_advice_carry_them_too(mode, tail):
    reversal = build_reversal(CUP, lab_txn(batch=7, entry_mode=mode), lab_card(), tpdu=TPDU)
    advice = build_advice(CUP, lab_txn(kind=Kind.OFFLINE_SALE, batch=7, entry_mode=mode, pin_entered=False),
                          lab_card(pin=None), tpdu=TPDU)
    assert _wire(reversal) == "22000007000" + tail and _wire(advice) == "30000007000" + tail


def test_management_messages_stop_at_60_3():
    signon = build_signon(CUP, stan=1, batch=7, when=WHEN, **IDS)
    signoff = build_signoff(CUP, stan=2, batch=7, **IDS)
    settle = build_settlement(CUP, stan=3, batch=7, currency="156", domestic=TotalsBlock(100, 1, 0, 0), when=WHEN,
                              **IDS)
    upload = build_upload(CUP, [(UploadEntry(1, Kind.SALE, 1, 100), Pan(LAB_PAN))], stan=4, batch=7, **IDS)
    end = build_upload_end(CUP, count=1, stan=5, batch=7, **IDS)
    assert [_wire(m) for m in (signon, signoff, settle, upload, end)] == [
        "00000007003", "00000007002", "00000007201", "00000007201", "00000007202"]


@pytest.mark.parametrize("value, parts", [
    ("2200000700020", ("22", "000007", "000", "2", "0")),
    ("22000007000", ("22", "000007", "000")),  # sealed before 60.4/60.5 were sent: replayed as it was
    (None, None),
])
def test_both_forms_read_back(value, parts):
    assert read_field60(CUP, value) == parts


@pytest.mark.parametrize("value", ["220000070", "220000070002", "22000007000200", "22000007000A0"])
def test_any_other_form_is_refused(value):
    with pytest.raises(ProtocolError) as info:
        read_field60(CUP, value)
    assert info.value.code == "host.bad_field"


def test_iso87_is_untouched():
    iso87 = get_profile("iso87")
    message = build_request(iso87, lab_txn(entry_mode=EntryMode.FALLBACK), lab_card(), tpdu=None)
    assert 60 not in message.fields and message.fields[22][:2] == "80" and iso87.read_capability is None
    assert read_field60(iso87, "anything") is None


@pytest.mark.parametrize("capability", [ReadCapability("22"), ReadCapability("2", {EntryMode.FALLBACK: "x"}),
                                        ReadCapability("2", otherwise="")])
def test_a_profile_refuses_a_read_capability_that_is_not_single_digits(capability):
    fields = {f: getattr(CUP, f) for f in Profile.__dataclass_fields__}
    fields["read_capability"] = capability
    with pytest.raises(ConfigError) as info:
        Profile(**fields)
    assert info.value.code == "config.bad_entry_mode"


def test_the_profile_s_data_decides_the_digits():
    other = replace(CUP, read_capability=ReadCapability("5", {EntryMode.FALLBACK: "2"}, otherwise="1"))
    assert build_request(other, lab_txn(), lab_card(), tpdu=TPDU).fields[60] == "2200000100051"
