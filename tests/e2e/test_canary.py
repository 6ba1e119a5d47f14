"""After a busy session, no clear card data anywhere: database, keys, cache, debug log, console.

The session includes a refund sent again from its sealed repeat (the host drops its first answer), a
balance inquiry, whose balance must reach neither the disk nor the log either, and two transfers (one
reversed) whose destination account is card data too (``canary.TRANSFER_TO``).
"""

from __future__ import annotations


import pytest

from .canary import find_card_data, run_logged

SESSION = """
name = "canary"
[config]
host = { response_timeout = 0.4, connect_timeout = 0.4 }

[[step]]
key = "1250#"
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
void = { trace = 1 }
[[step]]
swipe = "visa"
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
host = { behaviour = "decline", code = "55", times = 1 }
[[step]]
key = "300#"
[[step]]
swipe = "visa"
[[step]]
pin = "1234"
[[step]]
host = { behaviour = "drop", times = 1 }
[[step]]
key = "990#"
[[step]]
swipe = "mastercard"
[[step]]
pin = "1234"
[[step]]
host = { behaviour = "bad_mac", times = 1 }
[[step]]
key = "440#"
[[step]]
swipe = "unionpay_credit"
[[step]]
pin = "1234"
[[step]]
link = "down"
[[step]]
key = "800#"
[[step]]
swipe = "unionpay_credit"
[[step]]
pin = "1234"
[[step]]
link = "up"
[[step]]
power_cut = "after:send_request"
[[step]]
key = "660#"
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
restart = true
[[step]]
upload = true
[[step]]
host = { behaviour = "drop", mti = "0220", times = 1 }
[[step]]
refund = { rrn = "000000000777", amount = 300 }
[[step]]
swipe = "unionpay_credit"
[[step]]
pin = "1234"
[[step]]
balance = true
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
transfer = { amount = 5000, account = "6228480402564890018" }
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
host = { behaviour = "drop", times = 1 }
[[step]]
transfer = { amount = 7000, account = "6228480402564890018" }
[[step]]
swipe = "visa"
[[step]]
pin = "1234"
[[step]]
swipe = { track2 = "6205500000000000005=49121200000000000" }
[[step]]
expect = { journal_count = 11 }
"""


def test_no_clear_card_data_reaches_disk_logs_or_console(posterm_cmd, clean_env, tmp_path):
    run = run_logged(posterm_cmd, clean_env, tmp_path, SESSION)
    result, out, data, log = run.result, run.out, run.data, run.log
    outcomes = sorted(t["outcome"] for t in result["transactions"])
    assert outcomes == ["approved", "approved", "approved", "approved", "declined", "declined", "offline_approved",
                        "reversed", "reversed", "reversed", "reversed"], outcomes
    kinds = [t["kind"] for t in result["transactions"]]
    assert kinds.count("void") == 1 and kinds.count("refund") == 1 and kinds.count("balance") == 1
    assert kinds.count("transfer") == 2  # one approved, one reversed: its destination sealed in the 0400
    refund = result["transactions"][kinds.index("refund")]
    assert (refund["outcome"], refund["response_code"]) == ("declined", "25")
    assert [m["mti"] for m in result["host_ledger"]["messages"]].count("0221") == 1  # sent again from its seal
    files = sorted(p for p in data.rglob("*") if p.is_file())
    assert {"posterm.db", "keyring.json", "kek.key"} <= {p.name for p in files}
    assert log.stat().st_size > 1000  # debug logging really ran
    # (-wal and -shm exist only while the terminal runs or after a crash: the crash test scans those)
    leaks = find_card_data([*files, log], {"stdout": out.stdout, "stderr": out.stderr})
    assert not leaks, "\n".join(leaks)
    from hal.magstripe.sim import TEST_CARDS
    from firmware.hostsim.txnset import lab_balance

    balance = lab_balance(TEST_CARDS["unionpay_debit"].pan)
    forms = [f"{balance // 100}.{balance % 100:02d}", f"{balance:012d}", str(balance)]
    for path in [*files, log]:
        content = path.read_bytes()
        assert not [f for f in forms if f.encode() in content], f"the balance is in {path.name}"
    # and the journal still knows each card by its masked number
    assert all("*" in t["masked_pan"] for t in result["transactions"])


# -- the canary itself: it must find card data in every form it may take ------------------------------------

def _cup_request(pan: str, track2: str) -> bytes:
    """A cup request carrying ``pan`` in field 2 and ``track2`` in field 35, packed as the terminal sends
    them (BCD, '=' as the nibble D), by the real codec."""
    from firmware.host.codec import Message, Tpdu, encode
    from firmware.host.profiles import get_profile

    fields = {2: pan, 3: "000000", 4: "000000001250", 11: "000001", 35: track2, 41: "12345678",
              42: "123456789012345", 49: "156"}
    return encode(get_profile("cup"), Message("0200", fields, tpdu=Tpdu("60", "0003", "0000")))


@pytest.mark.parametrize("card", ["unionpay_debit", "visa"])  # a 19-digit PAN (odd: padded) and a 16-digit one
def test_the_canary_finds_the_pan_and_track_2_packed_in_bcd_as_cup_sends_them(tmp_path, card):
    from hal.magstripe.sim import TEST_CARDS

    track2 = TEST_CARDS[card].track2
    pan = track2.split("=")[0]
    packed = _cup_request(pan, track2)
    assert pan.encode() not in packed and track2.encode() not in packed  # only the packed forms are there
    leak = tmp_path / "leak.bin"
    leak.write_bytes(b"\x00" * 37 + packed + b"\xff" * 11)
    found = find_card_data([leak])
    assert f"{card} PAN as BCD, {'left-aligned' if len(pan) % 2 else 'packed'} in {leak}" in found
    assert any(f.startswith(f"{card} track 2 as BCD") for f in found), found


@pytest.mark.parametrize("pad", ["0", "F"])
@pytest.mark.parametrize("side", ["before", "after"])
def test_the_canary_finds_an_odd_length_value_padded_on_either_side(tmp_path, side, pad):
    from hal.magstripe.sim import TEST_CARDS

    track2 = TEST_CARDS["unionpay_debit"].track2.replace("=", "D")  # 35 nibbles: odd
    assert len(track2) % 2 == 1
    leak = tmp_path / "leak.bin"
    leak.write_bytes(b"\x01\x02" + bytes.fromhex(pad + track2 if side == "before" else track2 + pad) + b"\x03")
    alignment = "right-aligned" if side == "before" else "left-aligned"
    assert f"unionpay_debit track 2 as BCD, {alignment} in {leak}" in find_card_data([leak])


@pytest.mark.parametrize("pad", ["0", "F"])
@pytest.mark.parametrize("side", ["before", "after"])
def test_the_canary_finds_a_field_2_pan_padded_on_either_side(tmp_path, side, pad):
    from hal.magstripe.sim import TEST_CARDS

    pan = TEST_CARDS["unionpay_debit"].track2.split("=")[0]  # 19 digits: odd
    leak = tmp_path / "leak.bin"
    leak.write_bytes(b"\x01\x19" + bytes.fromhex(pad + pan if side == "before" else pan + pad) + b"\x03")
    alignment = f"right-aligned, pad {pad}" if side == "before" else "left-aligned"
    assert f"unionpay_debit PAN as BCD, {alignment} in {leak}" in find_card_data([leak])


def test_a_page_of_cell_pointers_and_zeroed_free_space_is_not_a_pan(tmp_path):
    """What a crash run's log held (session 9): the cell pointers 0x0762 and 0x0550, then free space
    zeroed by secure_delete; unionpay_debit's PAN (6205500000000000004) packed without its length."""
    page = tmp_path / "page.bin"
    page.write_bytes(bytes.fromhex("0d0000000a0550000eff0dfe0d060c1c0b1a0a2c093e083c07620550") + bytes(64))
    assert find_card_data([page]) == []


def test_the_canary_finds_nothing_in_a_file_without_card_data(tmp_path):
    clean = tmp_path / "clean.bin"
    clean.write_bytes(bytes(4096) + b" " + bytes(64) + bytes(range(256)) * 4)
    assert find_card_data([clean]) == []
