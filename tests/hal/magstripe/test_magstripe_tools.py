"""``posterm tools track parse|decode-bits``: fields as JSON, masked unless --reveal on a test card."""

from __future__ import annotations

import json

import pytest

from firmware.cli import main
from hal.magstripe.f2f import bits_to_text, encode_track
from hal.magstripe.sim import TEST_CARDS

FULL = TEST_CARDS["unionpay_full"]
RAW = f"%{FULL.track1}?;{FULL.track2}?;{FULL.track3}?"
REAL_LOOKING = ";5350290149345177=49122010000056700100?"  # Luhn-valid, not a test card


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["tools", "track", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parse_gives_every_field_masked(capsys):
    code, out, _ = run(capsys, "parse", RAW, "--json", "--date", "2025-06-15")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["error"] is None
    t1, t2, t3 = (report["tracks"][n] for n in "123")
    assert t1 == {"format_code": "B", "pan": "620000******0005", "name": "U*******/T**** T*****", "expiry": "4912",
                  "service_code": "101", "discretionary": "*" * 16}
    assert t2["pan"] == "620000******0005" and t2["discretionary"] == "*" * 10
    assert (t3["format_code"], t3["country"], t3["currency"], t3["currency_exponent"]) == ("99", "156", "156", 2)
    assert (t3["amount_authorised"], t3["retry_count"], t3["expiry"], t3["sequence_number"]) == (5000, 3, "4912", "1")
    assert t3["pin_control"] == "******" and t3["san1"] == "*" * 12 and t3["pan"] == "620000******0005"
    assert report["card"]["tracks"] == "123" and report["card"]["service_code"] == "101"
    assert FULL.pan not in out


def test_reveal_on_a_test_card_shows_clear_values(capsys):
    code, out, _ = run(capsys, "parse", RAW, "--json", "--reveal", "--date", "2025-06-15")
    report = json.loads(out)
    assert code == 0 and report["tracks"]["2"]["pan"] == FULL.pan
    assert report["tracks"]["1"]["name"] == "UNIONPAY/THREE TRACKS" and report["tracks"]["3"]["pin_control"] == "000000"


@pytest.mark.parametrize("command", [["parse", REAL_LOOKING], ["decode-bits", "--track", "2", bits_to_text(encode_track(REAL_LOOKING[1:-1], 2))]])
def test_reveal_is_refused_for_any_other_card(capsys, command):
    code, out, err = run(capsys, *command, "--reveal")
    assert code == 2 and out == ""
    assert err.strip() == "posterm: error [tools.reveal_refused]: --reveal is only for test cards (posterm tools cards); this card is not one"
    assert "5350290149345177" not in err


def test_a_card_that_fails_a_check_still_shows_its_fields(capsys):
    expired = TEST_CARDS["expired"]
    code, out, _ = run(capsys, "parse", f";{expired.track2}?", "--json", "--date", "2025-06-15")
    report = json.loads(out)
    assert code == 1 and not report["ok"] and report["card"] is None
    assert report["error"] == {"code": "card.expired", "text": "Card expired: use another card", "prompt": "Use another card"}  # what to do (UX25)
    assert report["tracks"]["2"]["expiry"] == "1912"


def test_a_track_whose_fields_do_not_parse_says_why(capsys):
    code, out, _ = run(capsys, "parse", f";{FULL.track2}?;99{FULL.pan}=1?", "--json", "--date", "2025-06-15")
    report = json.loads(out)
    assert code == 0 and report["tracks"]["3"]["error"]["code"] == "card.format"  # ignored beside a good track 2
    assert report["card"]["tracks"] == "2"


@pytest.mark.parametrize("reverse", [False, True])
def test_decode_bits_either_way(capsys, reverse):
    bits = " ".join(bits_to_text(encode_track(FULL.track3, 3, reverse=reverse)))
    code, out, _ = run(capsys, "decode-bits", "--track", "3", bits, "--json", "--date", "2025-06-15")
    report = json.loads(out)
    assert report["direction"] == ("reverse" if reverse else "forward") and report["characters"] == len(FULL.track3)
    assert report["tracks"]["3"]["sequence_number"] == "1"
    assert code == 1 and report["error"]["code"] == "card.no_track"  # track 3 alone is not a card for a sale


def test_decode_bits_names_the_character_that_failed(capsys):
    bits = bytearray(encode_track(FULL.track2, 2))
    bits[16 + 5 * 9 + 1] ^= 1
    code, out, err = run(capsys, "decode-bits", "--track", "2", bits_to_text(bits))
    assert code == 2 and out == ""
    assert err.strip() == "posterm: error [card.parity]: Card read failed: swipe again (track 2 character 10 failed its parity check)"


def test_plain_text_output(capsys):
    code, out, _ = run(capsys, "parse", f";{FULL.track2}?", "--date", "2025-06-15")
    assert code == 0 and "track 2:" in out and "  pan: 620000******0005" in out and "card: masked_pan=620000******0005" in out
    code, out, _ = run(capsys, "parse", f";{TEST_CARDS['expired'].track2}?", "--date", "2025-06-15")
    assert code == 1 and "card refused [card.expired]: Card expired: use another card (display: Use another card)" in out


@pytest.mark.parametrize(
    ("args", "code"),
    [(["parse", "garbage"], "card.no_track"), (["parse", ";123"], "card.end_sentinel"),
     (["decode-bits", "--track", "2", "0120"], "card.bad_bits"), (["parse", RAW, "--date", "15/06/2025"], "tools.bad_date")],
)
def test_unreadable_input_is_one_line_with_a_code(capsys, args, code):
    rc, out, err = run(capsys, *args)
    assert rc == 2 and out == "" and err.startswith(f"posterm: error [{code}]") and len(err.strip().splitlines()) == 1


def test_reveal_trusts_the_host_simulators_lab_card_too(capsys):
    """``firmware.hostsim.lab.LAB_PAN`` is a test card: one list (``hal.magstripe.sim.is_test_pan``) holds it."""
    from firmware.hostsim.lab import LAB_PAN

    code, out, err = run(capsys, "parse", f";{LAB_PAN}=30121010000012345?", "--json", "--reveal", "--date", "2025-06-15")
    assert (code, err) == (0, "") and json.loads(out)["tracks"]["2"]["pan"] == LAB_PAN
