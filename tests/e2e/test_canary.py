"""After a busy session, no clear card data anywhere: database, keys, cache, debug log, console.

The session includes a refund sent again from its sealed repeat (the host drops its first answer), a
balance inquiry, whose balance must reach neither the disk nor the log either, and two transfers (one
reversed) whose destination account is card data too (``canary.TRANSFER_TO``).
"""

from __future__ import annotations


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
