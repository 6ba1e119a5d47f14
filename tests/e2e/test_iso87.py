"""The generic ISO 8583:1987 profile end to end (``host.profile = "iso87"``): the real TCP link, the host
simulator on the same profile, its ledger. A sale; a timeout and its reversal naming the sale in field 90;
a balanced settlement (the 1987 reconciliation fields); an unbalanced one, recorded and reported, with no
batch upload (1987 has none), before and after a restart."""

from __future__ import annotations

from firmware.host.profiles import get_profile
from firmware.reportcli import batch_report
from storage.store import Store

from .consistency import mtis
from .wiretap import run_tapped

ISO87 = get_profile("iso87")
CONFIG = {"host": {"profile": "iso87", "response_timeout": 0.4, "connect_timeout": 0.4}}
SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
VOID_1 = [{"void": {"trace": 1}}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]


def run(steps, tmp_path):
    return run_tapped("iso87", CONFIG, steps, tmp_path, ISO87)


def codes(result) -> list[str]:
    return [a[0] for a in result["alerts"]]


def test_a_sale_then_a_timeout_reversed_with_field_90(tmp_path):
    steps = SALE + [{"host": {"behaviour": "drop", "mti": "0200", "times": 1}}] + SALE + SALE
    r, _paper, tap = run(steps, tmp_path)
    assert [t["outcome"] for t in r["transactions"]] == ["approved", "reversed", "approved"]
    assert r["transactions"][1]["reason"] == "98"  # the journal keeps the terminal's reason (UnionPay's code)

    first, unanswered, _third = tap.messages("0200")
    assert 64 in first.fields and not any(n > 64 for n in first.fields)  # no secondary bitmap, MAC in 64
    (reversal,) = tap.messages("0400")
    assert reversal.fields[11] == unanswered.fields[11] == "000002"
    assert reversal.fields[39] == "68"  # ISO 8583:1987's "response received too late", never UnionPay's 98
    assert reversal.fields[90] == "0200" "000002" + unanswered.fields[7] + "0" * 22
    assert 128 in reversal.fields and 64 not in reversal.fields  # the secondary bitmap's MAC

    postings = r["host_ledger"]["postings"]
    assert [(p["stan"], p["status"], p["reversals"]) for p in postings] == [
        ("000001", "approved", 0), ("000002", "reversed", 1), ("000003", "approved", 0)]
    (answer,) = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0400"]
    assert answer["response_code"] == "00" and answer["action"] == "reversed"  # its MAC in 128 verified
    assert r["owed"]["reversals"] == 0


def test_an_acquirer_id_goes_in_field_32_of_every_message_and_in_the_reversals_field_90(tmp_path):
    config = {"host": {**CONFIG["host"], "acquirer_id": "4123"}}
    steps = SALE + [{"host": {"behaviour": "drop", "mti": "0200", "times": 1}}] + SALE + [{"settle": True}]
    r, _paper, tap = run_tapped("iso87", config, steps, tmp_path, ISO87)
    assert [t["outcome"] for t in r["transactions"]] == ["approved", "reversed"]
    first, unanswered = tap.messages("0200")
    (reversal,) = tap.messages("0400")
    assert first.fields[32] == unanswered.fields[32] == reversal.fields[32] == "4123"
    assert reversal.fields[90] == "0200" "000002" + unanswered.fields[7] + "00000004123" + "0" * 11
    # the network messages name it too (HostBridge.network: the sign-on, before the tap, goes the same way)
    assert [m.fields[32] for m in tap.messages("0500")] == ["4123"]
    assert [s["result"] for s in r["settlements"]] == ["balanced"]
    assert r["owed"]["reversals"] == 0


def test_sale_void_sale_then_balanced_settlements_batch_after_batch(tmp_path):
    r, paper, tap = run(SALE + VOID_1 + SALE + [{"settle": True}] + SALE + [{"settle": True}], tmp_path)
    assert [m["action"] for m in r["host_ledger"]["messages"] if m["mti"] == "0200"][1] == "approved, voids STAN 000001"
    (void,) = [m for m in tap.messages("0200") if m.fields[3] == "020000"]
    assert void.fields[90].startswith("0200000001") and void.fields[37] == r["transactions"][0]["rrn"]

    first, second = tap.messages("0500")
    f = first.fields
    assert (f[60], f[74], f[76], f[86], f[88], f[97]) == (
        "000001", "0000000001", "0000000002", "0000000000001250", "0000000000002500", "D0000000000001250")
    assert (f[75], f[77], f[87], f[89]) == ("0" * 10, "0" * 10, "0" * 16, "0" * 16) and 128 in f
    assert second.fields[60] == "000002" and second.fields[76] == "0000000001"

    assert [(s["batch"], s["result"], s["uploaded"]) for s in r["settlements"]] == [
        ("000001", "balanced", False), ("000002", "balanced", False)]
    assert [(b["batch"], b["result"]) for b in r["host_ledger"]["batches"]] == [("000001", "1"), ("000002", "1")]
    assert [p["batch"] for p in r["host_ledger"]["postings"]] == ["000001"] * 3 + ["000002"]
    assert paper.count("TOTALS BALANCED") == 2 and "0320" not in mtis(r)
    assert codes(r).count("settle.ok") == 2


def test_an_unbalanced_settlement_is_recorded_and_reported_and_nothing_is_uploaded(tmp_path):
    steps = SALE + SALE + [
        {"host": {"behaviour": "unbalanced", "times": 1}},
        {"settle": True},
        {"expect": {"alerts": "reconcile it by hand", "printed": "TOTALS UNBALANCED"}},
        {"expect": {"display": "CALL ACQUIRER", "printed": "CALL THE ACQUIRER"}},  # not SETTLED (AU21 M1)
        {"restart": True},  # recovery would send an owed upload first
        {"key": "F09"},  # reprint the report (menu page 2): it is not "pending" an upload that cannot exist
        {"expect": {"printed": "*** REPRINT ***"}},
    ] + SALE + [{"settle": True}]
    r, paper, _tap = run(steps, tmp_path)
    assert "0320" not in mtis(r)  # no upload, before or after the restart
    assert [(s["batch"], s["result"], s["uploaded"]) for s in r["settlements"]] == [
        ("000001", "unbalanced", False), ("000002", "balanced", False)]
    (alert,) = [t for c, t in r["alerts"] if c == "settle.unbalanced"]
    assert alert == ("batch 000001 settled, totals unbalanced: this host takes no batch upload; "
                     "reconcile it by hand (posterm report --batch 1)")
    assert not {"recovery.upload", "settle.upload_owed", "settle.uploaded"} & set(codes(r))
    first = paper[paper.index("SETTLEMENT REPORT"):]
    assert "TOTALS UNBALANCED" in first and "BATCH UPLOADED" not in paper and paper.count("SETTLEMENT REPORT") == 3
    assert not any("UPLOAD" in line for line in r["display"])
    assert [t["batch"] for t in r["transactions"]] == ["000001", "000001", "000002"]

    store = Store.open_read_only(tmp_path / "data")  # what `posterm report --batch 1` lists for reconciliation
    try:
        report = batch_report(store, 1)
    finally:
        store.close()
    assert report.settlement.result.name == "UNBALANCED" and report.totals.debit_count == 2
    assert report.settlement.no_upload and not report.settlement.upload_owed and "RECONCILE BY HAND" in paper
    assert [(rec.stan, rec.amount) for rec in report.records] == [(1, 1250), (2, 1250)]


def test_a_settlement_the_host_cannot_reconcile_names_1987s_reason_and_leaves_the_batch_open(tmp_path):
    """95 ("reconcile error") is how a 1987 host refuses a 0500 whose totals it cannot reconcile: the operator
    reads that reason, not "Declined (code 95)", and the batch stays open (1987 has no batch upload)."""
    steps = SALE + [{"host": {"behaviour": "decline", "code": "95", "mti": "0500", "times": 1}}, {"settle": True},
                    {"expect": {"alerts": "95 Reconcile error"}}] + SALE
    r, _paper, _tap = run(steps, tmp_path)
    assert r["failures"] == [], r["failures"]
    assert "settle.refused" in codes(r)
    assert [t["batch"] for t in r["transactions"]] == ["000001", "000001"]
    assert r["host_ledger"]["batches"] == []
