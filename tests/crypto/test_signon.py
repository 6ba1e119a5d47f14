"""Sign-on (0800/0810) working keys under the TMK, checked before use; sign-off (0820) drops them."""

from __future__ import annotations

from datetime import datetime

import pytest

from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import TerminalKeys, lab_key, provision
from crypto.signon import check_value, install_working_keys, issue_working_keys, remove_working_keys
from firmware.errors import CryptoError, ProtocolError
from firmware.host.codec import Tpdu, decode, encode
from firmware.host.mac import mac_key_for
from firmware.host.messages import (
    SIGN_OFF_MTI,
    build_request,
    build_response,
    build_signoff,
    build_signon,
    parse_reply,
    read_signon_keys,
    signon_key_layout,
    with_signon_keys,
)
from firmware.host.profiles import get_profile
from firmware.hostsim.lab import lab_card, lab_txn
from firmware.hostsim.processor import HostProcessor

WHEN = datetime(2024, 5, 6, 12, 0, 0)
TID, MID = "12345678", "123456789012345"


@pytest.fixture
def ring(tmp_path):
    return provision(tmp_path / "data", lab=True)


def test_check_value_is_e_of_zeros():
    # The X9.24 BDK's KCV 08D7B4 (the first 3 bytes): hosts send 4.
    assert check_value(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")).hex().upper().startswith("08D7B4")


def test_install_checks_every_key_then_replaces_the_working_keys(ring):
    tmk = lab_key(KeyUsage.TMK)
    issued = issue_working_keys(tmk, {KeyUsage.PIN: 16, KeyUsage.MAC: 8, KeyUsage.TDK: 16})
    entries = install_working_keys(ring, None, issued.encrypted, issued.check_values)
    assert {e.usage for e in entries} == {"pin", "mac", "tdk"}
    again = Keyring.load(ring.path.parent)
    for usage in (KeyUsage.PIN, KeyUsage.MAC, KeyUsage.TDK):
        assert again.get(usage) == issued.clear[usage]
        assert len(again.versions(usage)) == 1
    assert again.get(KeyUsage.PIN) != lab_key(KeyUsage.PIN)


@pytest.mark.parametrize("spoil", [KeyUsage.PIN, KeyUsage.MAC])
def test_a_wrong_check_value_fails_sign_on_and_installs_nothing(ring, spoil):
    before = ring.path.read_bytes()
    issued = issue_working_keys(lab_key(KeyUsage.TMK), {KeyUsage.PIN: 16, KeyUsage.MAC: 8})
    checks = dict(issued.check_values)
    checks[spoil] = bytes(b ^ 0x01 for b in checks[spoil])
    with pytest.raises(CryptoError) as e:
        install_working_keys(ring, None, issued.encrypted, checks)
    assert e.value.code == "signon.check_value"
    assert ("PIN key" if spoil is KeyUsage.PIN else "MAC key") in e.value.text
    assert ring.path.read_bytes() == before
    assert ring.get(KeyUsage.PIN) == lab_key(KeyUsage.PIN) and ring.get(KeyUsage.MAC) == lab_key(KeyUsage.MAC)


@pytest.mark.parametrize(
    "encrypted, checks, code",
    [
        ({}, {}, "signon.no_keys"),
        ({KeyUsage.PIN: bytes(7)}, {KeyUsage.PIN: bytes(4)}, "signon.key_length"),
        ({KeyUsage.TMK: bytes(16)}, {KeyUsage.TMK: bytes(4)}, "signon.usage"),
        ({KeyUsage.PIN: bytes(16)}, {}, "signon.check_value"),
    ],
)
def test_bad_key_material_is_refused(ring, encrypted, checks, code):
    with pytest.raises(CryptoError) as e:
        install_working_keys(ring, None, encrypted, checks)
    assert e.value.code == code


def test_a_key_under_another_tmk_fails_its_check(ring):
    issued = issue_working_keys(lab_key(KeyUsage.PIN), {KeyUsage.PIN: 16})  # not the TMK
    with pytest.raises(CryptoError) as e:
        install_working_keys(ring, None, issued.encrypted, issued.check_values)
    assert e.value.code == "signon.check_value"


def test_no_tmk_names_the_fix(tmp_path):
    bare = provision(tmp_path / "bare", lab=False)
    with pytest.raises(CryptoError) as e:
        install_working_keys(bare, None, {KeyUsage.PIN: bytes(16)}, {KeyUsage.PIN: bytes(4)})
    assert e.value.code == "keys.no_tmk"


def test_sign_off_removes_the_working_keys(ring):
    assert remove_working_keys(ring) == ["pin", "mac"]
    keys = TerminalKeys.load(Keyring.load(ring.path.parent))
    with pytest.raises(CryptoError) as e:
        keys.require_working_keys()
    assert e.value.code == "keys.no_working_keys"
    assert Keyring.load(ring.path.parent).has(KeyUsage.TMK)


# -- messages ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "profile_name, code, length, usages",
    [("cup", "001", 24, {"pin", "mac"}), ("cup", "003", 40, {"pin", "mac"}), ("cup", "004", 60, {"pin", "mac", "tdk"}),
     ("iso87", None, 60, {"pin", "mac", "tdk"})],
)
def test_key_layouts_round_trip(profile_name, code, length, usages):
    profile = get_profile(profile_name)
    tpdu = Tpdu("60", "0003", "0000") if profile.tpdu else None
    request = build_signon(profile, stan=1, batch=1, terminal_id=TID, merchant_id=MID, when=WHEN, tpdu=tpdu,
                           network_code=code)
    layout = signon_key_layout(profile, code)
    assert layout.length == length and {s.usage.value for s in layout.slots} == usages
    issued = issue_working_keys(lab_key(KeyUsage.TMK), layout.sizes())
    response = with_signon_keys(profile, build_response(profile, request, response_code="00", when=WHEN),
                                dict(issued.encrypted), dict(issued.check_values))
    wire = encode(profile, response)
    encrypted, checks = read_signon_keys(profile, decode(profile, wire))
    assert encrypted == dict(issued.encrypted) and checks == dict(issued.check_values)
    assert issued.encrypted[KeyUsage.PIN].hex().upper() not in repr(decode(profile, wire)) or profile_name == "iso87"


def test_reading_keys_from_a_bad_answer(cup):
    tpdu = Tpdu("60", "0003", "0000")
    request = build_signon(cup, stan=1, batch=1, terminal_id=TID, merchant_id=MID, when=WHEN, tpdu=tpdu)
    response = build_response(cup, request, response_code="00", when=WHEN)
    with pytest.raises(ProtocolError) as e:
        read_signon_keys(cup, response)
    assert e.value.code == "host.signon_keys"
    response.fields[62] = "00" * 39
    with pytest.raises(ProtocolError) as e:
        read_signon_keys(cup, response)
    assert e.value.code == "host.signon_keys"
    with pytest.raises(ProtocolError) as e:
        build_signon(cup, stan=1, batch=1, terminal_id=TID, merchant_id=MID, when=WHEN, tpdu=tpdu, network_code="009")
    assert e.value.code == "host.unsupported"


@pytest.fixture
def cup():
    return get_profile("cup")


# -- against the host simulator ---------------------------------------------------------------------
class Session:
    """A terminal data directory talking to a ``HostProcessor`` that issues keys under the lab TMK."""

    def __init__(self, profile, ring):
        self.profile, self.ring = profile, ring
        self.tpdu = Tpdu("60", "0003", "0000") if profile.tpdu else None
        self.host = HostProcessor(profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                                  tmk=lab_key(KeyUsage.TMK), clock=lambda: WHEN)

    def keys(self) -> TerminalKeys:
        return TerminalKeys.load(Keyring.load(self.ring.path.parent), lambda k: mac_key_for(self.profile, k))

    def exchange(self, message, mac_key=None):
        answer = self.host.respond(encode(self.profile, message, mac_key=mac_key))
        return decode(self.profile, answer.payload, mac_key=mac_key)

    def sign_on(self):
        reply = self.exchange(build_signon(self.profile, stan=1, batch=1, terminal_id=TID, merchant_id=MID,
                                           when=WHEN, tpdu=self.tpdu))
        assert parse_reply(self.profile, reply).response_code == "00"
        return reply

    def sale(self, keys: TerminalKeys, stan: int):
        card = lab_card(pin_key=keys.pin_key)
        request = build_request(self.profile, lab_txn(stan=stan), card, tpdu=self.tpdu)
        return parse_reply(self.profile, self.exchange(request, keys.mac))


@pytest.mark.parametrize("profile_name", ["cup", "iso87"])
def test_sign_on_then_sell_with_the_fresh_keys(ring, profile_name):
    session = Session(get_profile(profile_name), ring)
    old = session.keys()
    reply = session.sign_on()
    encrypted, checks = read_signon_keys(session.profile, reply)
    install_working_keys(ring, None, encrypted, checks)
    new = session.keys()
    assert new.pin_key != old.pin_key
    approved = session.sale(new, stan=2)
    assert approved.approved and approved.mac_ok is True
    stale = session.sale(old, stan=3)  # the lab keys are no longer this terminal's
    assert stale.response_code == "A0" and stale.mac_ok is False


def test_a_host_check_value_that_does_not_match_fails_sign_on(ring):
    session = Session(get_profile("cup"), ring)
    reply = session.sign_on()
    reply.fields[62] = reply.fields[62][:-2] + ("00" if reply.fields[62][-2:] != "00" else "01")
    encrypted, checks = read_signon_keys(session.profile, reply)
    with pytest.raises(CryptoError) as e:
        install_working_keys(ring, None, encrypted, checks)
    assert e.value.code == "signon.check_value" and "MAC key" in e.value.text
    assert session.keys().pin_key == lab_key(KeyUsage.PIN)


def test_sign_off_drops_the_keys_on_both_sides(ring):
    session = Session(get_profile("cup"), ring)
    install_working_keys(ring, None, *read_signon_keys(session.profile, session.sign_on()))
    signed_on = session.keys()
    reply = session.exchange(build_signoff(session.profile, stan=9, batch=1, terminal_id=TID, merchant_id=MID,
                                           tpdu=session.tpdu))
    assert reply.mti == "0830" and reply.fields[39] == "00" and reply.fields[60].endswith("002")
    assert SIGN_OFF_MTI == "0820"
    remove_working_keys(ring)
    with pytest.raises(CryptoError):
        session.keys().require_working_keys()
    assert session.sale(signed_on, stan=10).response_code == "A0"  # the host forgot them too
    ledger_actions = [m["action"] for m in session.host.ledger.messages()]
    assert "sign-on, working keys issued" in ledger_actions and "sign-off, working keys dropped" in ledger_actions


def test_without_a_tmk_the_simulator_answers_sign_on_without_keys(ring):
    profile = get_profile("cup")
    host = HostProcessor(profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), clock=lambda: WHEN)
    request = build_signon(profile, stan=1, batch=1, terminal_id=TID, merchant_id=MID, when=WHEN,
                           tpdu=Tpdu("60", "0003", "0000"))
    reply = decode(profile, host.respond(encode(profile, request)).payload)
    assert reply.fields[39] == "00" and 62 not in reply.fields
