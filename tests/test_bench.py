"""The benchmark command's own plumbing: its sales worker runs and its table says what it measured.

No figure is asserted (speed is never a test here); only that the command works
and that its verdicts follow from its numbers.
"""

from __future__ import annotations

from firmware.bench import TARGETS, table
from firmware.bench_worker import worker


def test_the_sales_worker_runs_rounds_and_counts_two_commits_per_sale(tmp_path):
    figures = worker(tmp_path, 6, "sales")  # one sale per round: a smoke run
    assert figures["rounds"] == 6 and figures["sales"] == 6
    assert figures["commits_per_sale"] == 2.0
    low, high = figures["ratio_range"]
    assert low <= figures["ratio"] <= high
    for key in ("per_sale", "floor", "floor_reused", "storage_per_sale", "other_per_sale", "host_per_sale", "essentials"):
        assert figures[key] > 0, key


def _figures(ratio: float) -> dict:
    floor = 0.0006
    return {
        "per_sale": ratio * floor, "floor": floor, "ratio": ratio, "ratio_range": (ratio * 0.9, ratio * 1.1),
        "rounds": 6, "sales": 300, "floor_reused": floor / 2, "storage_per_sale": floor,
        "other_per_sale": ratio * floor - floor, "host_per_sale": 0.0004, "commits_per_sale": 2.0,
        "checkpoint_s": 0.001, "fsyncs_per_sale": 2.0, "checkpoint_fsyncs": 4, "ready_s": 0.3,
        "bare_python_s": 0.03, "rss_mb": 50.0, "bare_rss_mb": 14.0, "micro": [],
        "upload_window": 4, "upload_stored": 50, "upload_delay": 0.02, "upload_s": 0.3, "upload_floor_s": 1.2,
        "upload_ratio": 0.25, "upload_rounds": 3, "essentials": floor / 2,
    }


def _row(figures: dict, start: str) -> str:
    """The table's row for ``figures`` that starts with ``start``."""
    return next(line for line in table(figures).splitlines() if line.startswith(start))


def _with(**extra) -> dict:
    """Figures whose sale ratio meets the target, with ``extra``'s rows."""
    return {**_figures(TARGETS["sale_ratio"]), **extra}


def test_the_table_gives_each_verdict_from_its_own_numbers():
    met = table(_figures(TARGETS["sale_ratio"]))
    missed = _figures(TARGETS["sale_ratio"] + 0.01)
    sale = "| terminal time per online sale"
    assert _row(_with(), sale).endswith("| yes |") and _row(missed, sale).endswith("| NO |")
    assert "| fsyncs per online sale (strace) | 2.000 |" in met
    assert "against the floor's commits in a reused log" in met  # the stricter floor is always shown
    essentials = _row(_with(), "| - the least any online sale must do")
    assert essentials.endswith("| 0.900 ms | 0.600 ms | 1.50x | - | - |")  # the floor plus half of it
    assert ("| forward 50 stored sales, host 20 ms per message, window 4 (TCP) | 0.300 s | "
            "1.200 s (window 1: one at a time) | 0.25x | - | - |") in met


def test_the_ready_verdict_is_the_installed_start_s_and_the_start_without_bytecode_is_shown_beside_it():
    ready, cold = (_row(_with(ready_s=0.3, ready_cold_s=0.6), start) for start in (
        "| posterm run ready (from spawn; its bytecode compiled, as installed)",
        "| - the same with none of posterm's bytecode"))
    assert ready.endswith("| 0.300 s | 0.030 s (python -c pass) | 10.00x | <= 0.5 s | yes |")
    assert cold.endswith("| 0.600 s | 0.030 s (python -c pass) | 20.00x | - | - |")  # shown, judging nothing


def test_the_upload_worker_forwards_stored_sales_with_the_default_window_and_one_at_a_time(tmp_path):
    figures = worker(tmp_path, 3, "upload")  # a smoke run: 3 stored sales per round
    assert figures["upload_window"] == 4 and figures["upload_stored"] == 3
    assert figures["upload_s"] > 0 and figures["upload_floor_s"] > 0
    assert figures["upload_ratio"] == figures["upload_s"] / figures["upload_floor_s"]


def test_the_password_row_shows_the_configured_cost_against_its_floor_and_judges_nothing():
    password = {"kdf_cost": 14, "seconds": 0.048, "floor": 0.003, "floor_log2_n": 10}
    row = _row(_with(password=password), "| one operator password check")
    assert row == ("| one operator password check (scrypt, operators.kdf_cost 14: N = 2^14) | 48.000 ms | "
                   "3.000 ms (the same at N = 2^10) | 16.00x | <= 0.5 s on the device (a note: not judged here) | - |")


def test_the_password_worker_times_a_check_at_the_given_cost_and_the_floor(tmp_path):
    figures = worker(tmp_path, 0, "password", kdf_cost=11)["password"]  # a smoke run at a cheap cost
    assert figures["kdf_cost"] == 11 and figures["floor_log2_n"] == 10
    assert figures["seconds"] > 0 and figures["floor"] > 0


def test_the_lookup_worker_finds_the_refund_s_original_in_a_journal_of_n_records_and_of_one_batch(tmp_path):
    from storage.store import Store

    figures = worker(tmp_path, 1000, "lookup")["lookup"]  # a smoke run: 1000 records (the command's are 300,000)
    assert figures["records"] == 1000 and figures["floor_records"] == 300
    assert figures["seconds"] > 0 and figures["floor"] > 0
    for name, records, settled in (("seconds", 1000, 4), ("floor", 300, 1)):  # (the worker checked what it found)
        store = Store.open_read_only(tmp_path / name)
        try:
            assert store.conn.execute("SELECT COUNT(*), MAX(txn_no) FROM journal").fetchone() == (records, records)
            assert len(store.settled_batches()) == settled and store.counters().batch == settled + 1
            assert store.batch_records(2 if settled > 1 else 1)[0].rrn is not None  # a settled batch, by its span
        finally:
            store.close()


def test_the_lookup_row_shows_the_look_up_against_its_one_batch_floor_and_judges_nothing():
    lookup = {"records": 300000, "floor_records": 300, "seconds": 0.00012, "floor": 0.0001}
    row = _row(_with(lookup=lookup), "| refund look-up")
    assert row == ("| refund look-up (its original by RRN and date) with 300,000 records in the journal | 0.120 ms | "
                   "0.100 ms (the same with 300 records) | 1.20x | - | - |")
