"""``posterm tools kcv|pinblock|dukpt|mac|iso8583|tr31`` and the ``keys`` commands, through the real CLI parser."""

from __future__ import annotations

import argparse
import json

import pytest

from crypto.commands import add_keys_commands
from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import LAB_KEYS, provision
from crypto.tamper import tamper_status
from firmware.cli import main
from firmware.tools.crypto import LAB_NOTICE


def run(capsys, *argv):
    code = main(["tools", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["lab_only"] is True
    return doc


def test_kcv(capsys):
    code, out, _ = run(capsys, "kcv", "--key", "0123456789ABCDEFFEDCBA9876543210")
    assert code == 0 and out.splitlines()[0] == LAB_NOTICE and "08D7B4" in out
    assert run_json(capsys, "kcv", "--key", "3F419E1CB7079442AA37474C2EFBF8B8", "--algorithm", "aes-cmac")["kcv"] == (
        "08793E25AB")


@pytest.mark.parametrize(
    "argv, field, expected",
    [
        (["encode", "--format", "0", "--pin", "1234", "--pan", "5555555551234567"], "clear_block", "041261AAAAEDCBA9"),
        (["decode", "--format", "3", "--pan", "5555555551234567", "--block", "3C1261032D8226A9"], "pin",
         "123456789012"),
        (["decode", "--format", "4", "--pan", "432198765432109870", "--key", "C1D0F8FB4958670DBA40AB1F3752EF0D",
          "--block", "CC17F65586BFD0953010226C4FC5B3CA"], "pin", "1234"),
        (["encode", "--format", "0", "--pin", "1234", "--pan", "4012345678909", "--key",
          "042666B49184CF5C68DE9628D0397B36"], "pin_block", "1B9C1845EB993A7A"),
        (["encode", "--format", "4", "--pin", "1234", "--pan", "1234567890123456789"], "pan_field",
         "71234567890123456789000000000000"),
    ],
)
def test_pinblock(capsys, argv, field, expected):
    assert run_json(capsys, "pinblock", *argv)[field] == expected


def test_pinblock_round_trip_format_1(capsys):
    block = run_json(capsys, "pinblock", "encode", "--format", "1", "--pin", "55667", "--key", "0123456789ABCDEF")
    # format 1 binds no card number, but decoding shows a PIN: a test card is named all the same (AU15 L4)
    assert run_json(capsys, "pinblock", "decode", "--format", "1", "--key", "0123456789ABCDEF", "--block",
                    block["pin_block"], "--pan", "4111111111111111")["pin"] == "55667"


def test_dukpt_tdes(capsys):
    doc = run_json(capsys, "dukpt", "--bdk", "0123456789ABCDEFFEDCBA9876543210", "--ksn", "FFFF9876543210E00001")
    assert doc["ipek"]["key"] == "6AC292FAA1315B4D858AB3A3D7D5933A"
    assert doc["transaction_key"]["key"] == "042666B49184CFA368DE9628D0397BC9"
    assert doc["working_keys"]["pin"]["key"] == "042666B49184CF5C68DE9628D0397B36"
    assert doc["working_keys"]["data_request"]["key"] == "448D3F076D8304036A55A3D7E0055A78"
    code, out, _ = run(capsys, "dukpt", "--bdk", "0123456789ABCDEFFEDCBA9876543210", "--ksn", "FFFF9876543210E00003")
    assert code == 0 and "0DF3D9422ACA56E547676D07AD6BADFA" in out and LAB_NOTICE in out


@pytest.mark.parametrize(
    "flag, bdk, pin_key",
    [("--aes128", "FEDCBA9876543210F1F1F1F1F1F1F1F1", "AF8CB133A78F8DC2D1359F18527593FB"),
     ("--aes256", "FEDCBA9876543210F1F1F1F1F1F1F1F1" * 2,
      "8C1AB7BEE973829E30242E0BBBDD4946D540C98FC1B5BDCF94790001A23FD502")],
)
def test_dukpt_aes(capsys, flag, bdk, pin_key):
    doc = run_json(capsys, "dukpt", flag, "--bdk", bdk, "--ksn", "123456789012345600000001")
    assert doc["working_keys"]["pin_encryption"]["key"] == pin_key
    assert doc["derivation_key"]["key"].startswith(("4F21B565", "54AC2B32"))


@pytest.mark.parametrize(
    "algo, key, data, extra, expected",
    [
        ("x9.19", "0123456789ABCDEFFEDCBA9876543210", b"Now is the time for all ".hex(), [], "A1C72E74EA3FA9B6"),
        ("iso9797-1", "0123456789ABCDEF", b"Now is the time for it".hex(), ["--padding", "2"], "A924C72136149211"),
        ("cmac", "2B7E151628AED2A6ABF7158809CF4F3C", "6BC1BEE22E409F96E93D7E117393172A", [],
         "070A16B46B4D4144F79BDD9DD04A287C"),
        ("cmac", "8AA83BF8CBDA10620BC1BF19FBB6CD58BC313D4A371CA8B5", "", [], "B7A688E122FFAF95"),
    ],
)
def test_mac(capsys, algo, key, data, extra, expected):
    assert run_json(capsys, "mac", "--algo", algo, "--key", key, "--data", data or "", *extra)["mac"] == expected


def test_cup_ecb_mac_matches_the_codec(capsys):
    doc = run_json(capsys, "mac", "--algo", "cup-ecb", "--key", LAB_KEYS[KeyUsage.MAC], "--data", "0102030405")
    assert len(doc["mac"]) == 8 and doc["field_64_hex"] == doc["mac"].encode().hex().upper()


def test_iso8583_encode_then_decode_masks_card_data(capsys):
    message = {"mti": "0200", "tpdu": "6000030000", "header": "603100000000",
               "fields": {"2": "6205500000000000004", "3": "000000", "4": "000000000100", "11": "000007",
                          "41": "12345678"}}
    wire = run_json(capsys, "iso8583", "encode", "--profile", "cup", "--mac-key", LAB_KEYS[KeyUsage.MAC],
                    json.dumps(message))["message"]
    doc = run_json(capsys, "iso8583", "decode", "--profile", "cup", "--mac-key", LAB_KEYS[KeyUsage.MAC], wire)
    assert doc["mti"] == "0200" and doc["mac_ok"] is True and doc["fields"]["2"] == "620550*********0004"
    clear = run_json(capsys, "iso8583", "decode", "--profile", "cup", "--clear", wire)  # a test card's
    assert clear["fields"]["2"] == "6205500000000000004" and clear["mac_ok"] is None
    code, out, _ = run(capsys, "iso8583", "decode", "--profile", "iso87", "30383030")
    assert code != 0


def test_tr31_unwrap_and_wrap(capsys):
    doc = run_json(capsys, "tr31", "unwrap", "--kbpk", "89E88CF7931444F334BD7547FC3F380C",
                   "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701")
    assert doc["key"] == "F039121BEC83D26B169BDCD5B22AAF8F" and doc["kcv"] == "CB9DEA" and doc["key_usage"] == "P0"
    block = run_json(capsys, "tr31", "wrap", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", "B0000K0TB00N0000",
                     "--key", LAB_KEYS[KeyUsage.TMK])["key_block"]
    again = run_json(capsys, "tr31", "unwrap", "--kbpk", "89E88CF7931444F334BD7547FC3F380C", block)
    assert again["key"] == LAB_KEYS[KeyUsage.TMK] and again["version"] == "B"


@pytest.mark.parametrize(
    "argv, code",
    [
        (["kcv", "--key", "XYZ"], "tools.bad_hex"),
        (["kcv", "--key", "0123"], "tools.bad_length"),
        (["pinblock", "encode", "--format", "0", "--pin", "1234"], "tools.missing"),
        (["pinblock", "decode", "--format", "0", "--pan", "5555555551234567", "--block", "241261AAAAEDCBA9"],
         "pin.block_format"),
        (["tr31", "unwrap", "--kbpk", "00" * 16,
          "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701"],
         "tr31.mac"),
        (["iso8583", "encode", "{not json"], "tools.bad_json"),
    ],
)
def test_errors_are_one_line_with_a_code(capsys, argv, code):
    status, out, err = run(capsys, *argv)
    assert status == 2 and f"[{code}]" in err and err.count("\n") == 1


# -- posterm keys (for the CLI to wire) ------------------------------------------------------------
def keys_main(argv):
    parser = argparse.ArgumentParser(prog="posterm")
    add_keys_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_keys_commands(tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    provision(tmp_path / "data")
    tmk = LAB_KEYS[KeyUsage.TMK]
    c1 = "11" * 16
    c2 = bytes(a ^ b for a, b in zip(bytes.fromhex(c1), bytes.fromhex(tmk))).hex().upper()
    assert keys_main(["keys", "inject", "--data-dir", data_dir, "--component", c1, "--component", c2,
                      "--kcv", "08D7B4"]) == 0
    out = capsys.readouterr().out
    assert "tmk v1 loaded, KCV 08D7B4" in out and c1 not in out and tmk not in out
    assert Keyring.load(tmp_path / "data").get(KeyUsage.TMK).reveal().hex().upper() == tmk
    assert keys_main(["keys", "show", "--data-dir", data_dir]) == 0
    assert "tmk" in capsys.readouterr().out
    assert keys_main(["keys", "rotate-data-key", "--data-dir", data_dir]) == 0
    assert "data key v2" in capsys.readouterr().out
    assert keys_main(["keys", "zeroize", "--data-dir", data_dir, "--reason", "drill"]) == 0
    assert tamper_status(tmp_path / "data").reason == "drill"
    assert keys_main(["keys", "show", "--data-dir", data_dir]) == 1
    assert "TAMPERED" in capsys.readouterr().out


def test_iso8583_decode_shows_card_data_in_clear_only_for_a_test_card(capsys):
    """As ``tools track --reveal``: a captured live message pasted in is never printed in clear."""
    live = "6222021234567890128"  # Luhn-valid, not a test card
    from firmware.hostsim.lab import LAB_PAN  # the host simulator's lab card: a test card too

    for pan, shown in ((live, False), ("6205500000000000004", True), (LAB_PAN, True)):  # and unionpay_debit
        message = {"mti": "0200", "tpdu": "6000030000",
                   "fields": {"2": pan, "3": "000000", "4": "000000001000", "11": "000001",
                              "35": pan + "=25121011234567890"}}
        wire = run_json(capsys, "iso8583", "encode", "--profile", "cup", json.dumps(message))["message"]
        code, out, err = run(capsys, "iso8583", "decode", "--profile", "cup", "--clear", "--json", wire)
        assert (pan in out + err) is shown and (code == 0) is shown
        if not shown:
            assert "tools.reveal_refused" in out + err
        masked = run_json(capsys, "iso8583", "decode", "--profile", "cup", wire)  # masked: always allowed
        assert pan not in json.dumps(masked)
