"""What every answer must carry before the core may judge it (``parse_reply``), for both profiles: 39 always,
37 in an approval of a request that moves money; and which codes are approvals the terminal must undo
(``Profile.reverse_codes``: 10, a partial approval)."""

from __future__ import annotations

from datetime import datetime

import pytest

from firmware.errors import ConfigError, ProtocolError
from firmware.host.codec import Message, Tpdu, decode, encode
from firmware.host.messages import build_response, parse_reply
from firmware.host.profiles import get_profile
from firmware.host.spec import Profile, TxnKind

WHEN = datetime(2024, 5, 6, 12, 34, 56)
PROFILES = ["cup", "iso87"]


def _answer(name: str, mti: str, **fields: str) -> Message:
    """An answer as it comes off the wire (encoded, decoded): ``f39="00"`` style fields."""
    profile = get_profile(name)
    message = Message(mti, {int(k[1:]): v for k, v in fields.items()},
                      tpdu=Tpdu("60", "0000", "0003") if profile.tpdu else None)
    return decode(profile, encode(profile, message))


def _common(name: str) -> dict[str, str]:
    f = {"f11": "000042", "f41": "12345678"}
    return f | ({"f7": "0506123456"} if name.startswith("iso87") else {})


def _money_answers(name: str):
    """(kind, answer MTI, processing code, condition code) of each request of ``name`` that moves money."""
    profile = get_profile(name)
    for kind, spec in profile.transactions.items():
        if kind is not TxnKind.SIGN_ON and spec.amount:
            yield kind, f"{int(spec.mti) + 10:04d}", spec.processing_code, spec.condition_code


@pytest.mark.parametrize("name, mti", [(name, mti) for name in PROFILES
                                       for mti in ("0110", "0210", "0230", "0410", "0510", "0810", "0330")
                                       if mti != "0330" or name == "cup"])  # iso87 has no batch upload
def test_an_answer_without_a_response_code_is_malformed(name, mti):
    """Whatever it answers: without 39 it says nothing of what the host did (was: read as a decline)."""
    profile = get_profile(name)
    message = _answer(name, mti, f3="000000", f4="000000001250", **_common(name))
    with pytest.raises(ProtocolError) as info:
        parse_reply(profile, message)
    assert info.value.code == "host.malformed" and "field 39" in info.value.text


@pytest.mark.parametrize("name", PROFILES)
def test_an_approval_of_each_money_moving_request_needs_a_retrieval_reference(name):
    profile = get_profile(name)
    kinds = []
    for kind, mti, processing, condition in _money_answers(name):
        fields = dict(f3=processing, f4="000000001250", f39="00", **_common(name))
        if condition is not None:
            fields["f25"] = condition
        with pytest.raises(ProtocolError) as info:
            parse_reply(profile, _answer(name, mti, **fields))
        assert info.value.code == "host.malformed" and "field 37" in info.value.text, kind
        reply = parse_reply(profile, _answer(name, mti, f37="000000000001", **fields))  # 38 stays optional
        assert reply.approved and reply.rrn == "000000000001" and reply.auth_code is None
        kinds.append(kind)
    assert {TxnKind.SALE, TxnKind.VOID, TxnKind.REFUND, TxnKind.PREAUTH, TxnKind.PREAUTH_COMPLETE,
            TxnKind.TRANSFER} <= set(kinds)


@pytest.mark.parametrize("name", PROFILES)
def test_an_approval_whose_request_cannot_be_told_needs_a_retrieval_reference_too(name):
    """The answer's 3 stripped: it may answer a sale, so the strict reading."""
    with pytest.raises(ProtocolError):
        parse_reply(get_profile(name), _answer(name, "0210", f4="000000001250", f39="00", **_common(name)))


@pytest.mark.parametrize("name", PROFILES)
@pytest.mark.parametrize("mti, fields", [
    ("balance", {"f3": "310000", "f25": "00"}),  # an inquiry moves no money (cup 0210, iso87 0110)
    ("0410", {"f3": "000000", "f4": "000000001250"}),  # a reversal's acknowledgement
    ("0810", {}),  # a sign-on
    ("0510", {}),  # a settlement
    ("0210", {"f3": "000000", "f4": "000000001250", "f39": "51"}),  # a decline
])
def test_other_answers_need_no_retrieval_reference(name, mti, fields):
    fields = {"f39": "00", **fields, **_common(name)}
    if mti == "balance":
        mti = f"{int(get_profile(name).transactions[TxnKind.BALANCE].mti) + 10:04d}"
    reply = parse_reply(get_profile(name), _answer(name, mti, **fields))
    assert reply.rrn is None and reply.response_code == fields["f39"]


@pytest.mark.parametrize("name", PROFILES)
def test_a_partial_approval_is_not_an_approval_but_must_be_reversed(name):
    profile = get_profile(name)
    assert "10" in profile.reverse_codes and "10" not in profile.approved_codes
    reply = parse_reply(profile, _answer(name, "0210", f3="000000", f4="000000001250", f39="10", **_common(name)))
    assert reply.must_reverse and not reply.approved and not reply.advice_accepted
    ok = parse_reply(profile, _answer(name, "0210", f3="000000", f4="000000001250", f37="000000000001", f39="00",
                                      **_common(name)))
    assert ok.approved and not ok.must_reverse


@pytest.mark.parametrize("codes, why", [
    (frozenset({"00"}), "approved too"),
    (frozenset({"Q7"}), "no response text"),
    (frozenset({"1"}), "malformed"),
])
def test_a_profile_refuses_a_code_to_reverse_it_cannot_honour(codes, why):
    cup = get_profile("cup")
    fields = {f: getattr(cup, f) for f in Profile.__dataclass_fields__}
    fields["reverse_codes"] = codes
    with pytest.raises(ConfigError) as info:
        Profile(**fields)
    assert info.value.code == "config.bad_response_code", why


def test_the_host_simulator_s_approvals_carry_a_retrieval_reference():
    """The simulator's answer as ``build_response`` makes it, 37 given: read as an approval."""
    from firmware.host.messages import build_request
    from firmware.hostsim.lab import lab_card, lab_txn

    cup = get_profile("cup")
    request = build_request(cup, lab_txn(), lab_card(), tpdu=Tpdu("60", "0003", "0000"))
    answer = build_response(cup, request, response_code="00", rrn="000000000009", when=WHEN)
    assert parse_reply(cup, decode(cup, encode(cup, answer))).rrn == "000000000009"
