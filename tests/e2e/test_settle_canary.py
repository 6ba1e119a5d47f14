"""No clear card data from a batch upload reaches the disk, a debug log, the console or ``posterm report``.

The upload opens every transaction's sealed card number from the journal: this runs one
(online sales, a void, an offline sale in its own message) with the log at debug level,
then reports on the batch, and searches everything for every form of the test cards' data.
"""

from __future__ import annotations

import subprocess

from .canary import find_card_data, run_logged

SESSION = """
name = "settlement canary"
[config]
host = { response_timeout = 0.5, connect_timeout = 0.5 }
[[step]]
key = "1250#"
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
void = 1
[[step]]
swipe = "unionpay_debit"
[[step]]
pin = "1234"
[[step]]
link = "down"
[[step]]
key = "700#"
[[step]]
swipe = "unionpay_credit"
[[step]]
pin = "1234"
[[step]]
link = "up"
[[step]]
host = { behaviour = "unbalanced" }
[[step]]
settle = true
[[step]]
expect = { alerts = "settle.uploaded", printed = "BATCH UPLOADED" }
"""


def test_no_clear_card_data_from_an_upload_or_a_report(posterm_cmd, clean_env, tmp_path):
    run = run_logged(posterm_cmd, clean_env, tmp_path, SESSION)
    result, sim, data, log, config = run.result, run.out, run.data, run.log, run.config
    assert result["settlements"][0]["uploaded"] and len(result["host_ledger"]["uploads"]) == 3
    assert [m["mti"] for m in result["host_ledger"]["messages"]].count("0320") == 3  # offline alone, packed, end
    texts = {"sim stdout": sim.stdout, "sim stderr": sim.stderr}
    for args in (["--batch", "1"], ["--batch", "1", "--json"], []):
        out = subprocess.run(posterm_cmd + ["report", "--config", str(config), "--data-dir", str(data), *args],
                             capture_output=True, text=True, env=clean_env, timeout=60)
        assert out.returncode == 0, out.stderr
        texts[f"report {args} stdout"], texts[f"report {args} stderr"] = out.stdout, out.stderr
    assert "BATCH UPLOADED" in texts["report ['--batch', '1'] stdout"]
    assert log.stat().st_size > 1000  # debug logging really ran
    files = sorted(p for p in data.rglob("*") if p.is_file())
    leaks = find_card_data([*files, log], texts)
    assert not leaks, "\n".join(leaks)
