"""Engineers' tools show card data and PINs in clear for test cards only (audit AU15 L2, L4).

``tools iso8583 decode --clear`` checked the card number in fields 2, 35, 36 and 45 but not a transfer's
destination account (the profile's ``account_field``: cup 48, iso87 103); ``tools pinblock decode``
printed the PIN of any card. Both now refuse with ``tools.reveal_refused`` unless the card is a test card."""

from __future__ import annotations

import json

import pytest

from crypto.pinblock import clear_block_iso0
from firmware.cli import main
from firmware.host.codec import Message, Tpdu, encode
from firmware.host.profiles import get_profile
from hal.magstripe.sim import TEST_CARDS, is_test_pan

TEST_PAN = TEST_CARDS["visa"].pan
OTHER_TEST_PAN = TEST_CARDS["mastercard"].pan
LIVE = "6228480402564890018"  # card-shaped, Luhn-valid, not a test card


def _run(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _transfer(profile: str, field: int, account: str) -> str:
    p = get_profile(profile)
    fields = {2: TEST_PAN, 3: "400000", 4: "000000005000", 11: "000001", 41: "12345678",
              42: "123456789012345", 49: "156", field: account}
    return encode(p, Message("0200", fields, tpdu=Tpdu("60", "0003", "0000") if p.tpdu else None)).hex().upper()


@pytest.mark.parametrize("profile, field", [("cup", 48), ("iso87", 103)])
def test_clear_decoding_refuses_a_live_destination_account_beside_a_test_card(capsys, profile, field):
    assert not is_test_pan(LIVE)
    code, out, err = _run(capsys, ["tools", "iso8583", "decode", _transfer(profile, field, LIVE), "--profile", profile,
                                   "--clear", "--json"])
    assert LIVE not in out + err, out
    assert code == 2 and "tools.reveal_refused" in out + err


@pytest.mark.parametrize("profile, field", [("cup", 48), ("iso87", 103)])
def test_clear_decoding_shows_a_test_cards_transfer(capsys, profile, field):
    code, out, err = _run(capsys, ["tools", "iso8583", "decode", _transfer(profile, field, OTHER_TEST_PAN),
                                   "--profile", profile, "--clear", "--json"])
    assert code == 0, err
    assert json.loads(out)["fields"][str(field)] == OTHER_TEST_PAN


@pytest.mark.parametrize("argv", [
    ["--pan", LIVE, "--block", bytes(clear_block_iso0(b"4826", LIVE)).hex().upper()],
    ["--pan", LIVE, "--block", bytes(clear_block_iso0(b"4826", LIVE)).hex().upper(), "--json"],
    ["--format", "1", "--block", "1448260000000000"],  # format 1 binds no PAN: a test card must be named all the same
], ids=["iso0", "iso0 json", "iso1 no pan"])
def test_pinblock_decode_does_not_reveal_the_pin_of_a_live_card(capsys, argv):
    code, out, err = _run(capsys, ["tools", "pinblock", "decode", *argv])
    assert code == 2 and "4826" not in out + err, out
    assert "tools.reveal_refused" in out + err


def test_pinblock_decode_reveals_a_test_cards_pin(capsys):
    block = bytes(clear_block_iso0(b"4826", TEST_PAN)).hex().upper()
    code, out, err = _run(capsys, ["tools", "pinblock", "decode", "--pan", TEST_PAN, "--block", block, "--json"])
    assert code == 0 and json.loads(out)["pin"] == "4826", err


def test_pinblock_help_says_decode_is_for_test_cards(capsys):
    code, out, _ = _run(capsys, ["tools", "pinblock", "--help"])
    assert code == 0 and "test card" in out
