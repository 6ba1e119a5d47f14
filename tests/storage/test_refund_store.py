"""Storage for refunds and balance inquiries: schema v5 (the refund's reference in its journal row, the refunds
of a closed batch in its settlement row); the refund's repeat waits in the offline queue."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime


from firmware.core.batch import Settlement, SettleResult, Totals
from firmware.core.model import (
    Copy,
    Counters,
    JournalState,
    Kind,
    OriginalFacts,
    OriginalRef,
    SaleRecord,
)
from storage.store import Store

WHEN = datetime(2026, 11, 22, 9, 30, 0)
HASH = b"h" * 32


def rec(txn_no, stan, amount=1250, **kw) -> SaleRecord:
    return SaleRecord(txn_no, amount, stan, 1, WHEN, "620550*********0004", terminal_id="12345678",
                      merchant_id="123456789012345", operator="01", **kw)


def facts(r: SaleRecord, **kw) -> OriginalFacts:
    return OriginalFacts(r.txn_no, r.kind, r.amount, r.currency, r.stan, r.batch, r.when, r.masked_pan, r.rrn,
                         r.auth_code, **kw)


def counters(r: SaleRecord) -> Counters:
    return Counters(stan=r.stan + 1, txn_no=r.txn_no + 1)


def sale(store, txn_no=1, stan=1, amount=1250) -> SaleRecord:
    r = rec(txn_no, stan, amount)
    store.open_request(r, pan_hash=HASH, card=b"S1card", reversal=b"S1rev", counters=counters(r))
    done = replace(r, state=JournalState.APPROVED, response_code="00", rrn=f"{stan:012d}", auth_code="123456")
    store.record_outcome(done, copies=(Copy.MERCHANT,))
    return done


def open_refund(store, original: SaleRecord | None, txn_no, stan, amount) -> SaleRecord:
    r = rec(txn_no, stan, amount, kind=Kind.REFUND, original=facts(original) if original else None,
            reference=OriginalRef(original.rrn if original else "000000009999", "1122"))
    store.open_request(r, pan_hash=HASH, card=b"S1card", reversal=None, advice=b"S1resend", counters=counters(r))
    return r


def test_the_refund_s_reference_is_in_its_request_commit_and_survives_a_restart(tmp_path):
    """``migrations._v5``: the reference (RRN and date) a refund was keyed with is written by the request
    commit, so the receipt a power cut left owed still shows it."""
    store = Store.open(tmp_path)
    s = sale(store)
    r = open_refund(store, s, 2, 2, 500)
    assert store.conn.execute("SELECT orig_rrn, orig_date FROM journal WHERE txn_no=2").fetchone() == (s.rrn, "1122")
    # the outcome does not name the reference (its update leaves those columns alone)
    store.record_outcome(replace(r, reference=None, state=JournalState.APPROVED, response_code="00",
                                 rrn="000000000002"), copies=(Copy.MERCHANT, Copy.CARDHOLDER), close_advice=True)
    store.close()
    store = Store.open(tmp_path)  # as after a power cut before the receipts printed
    owed = [j for j in store.boot_state().receipts if j.record.txn_no == 2]
    assert [j.copy for j in owed] == [Copy.MERCHANT, Copy.CARDHOLDER]
    assert {j.record.reference for j in owed} == {OriginalRef(s.rrn, "1122")} and owed[0].recovered
    assert store.record(2).reference == OriginalRef(s.rrn, "1122") and store.record(1).reference is None
    store.close()


def test_a_settlement_row_keeps_its_refunds_apart(tmp_path):
    """``migrations._v5``: the refunds' part of the credits is stored with the batch's settlement, so its
    report, printed after a restart or reprinted later, lists them."""
    store = Store.open(tmp_path)
    s = sale(store)
    r = open_refund(store, s, 2, 2, 500)
    store.record_outcome(replace(r, state=JournalState.APPROVED, response_code="00"), close_advice=True)
    totals = store.batch_totals(1)
    assert totals == Totals(1, 1250, 1, 500, refund_count=1, refund_amount=500)
    store.close_batch(Settlement(1, totals, SettleResult.BALANCED, WHEN, 3, "01"), Counters(stan=4, batch=2, txn_no=3))
    store.close()
    store = Store.open(tmp_path)
    assert store.conn.execute("SELECT credit_count, credit_amount, refund_count, refund_amount FROM settlements "
                              "WHERE batch = 1").fetchone() == (1, 500, 1, 500)
    assert store.settlement(1).totals == totals
    boot = store.boot_state()
    assert boot.report.totals == totals and boot.last_report.totals == totals  # the report owed, and its reprint
    store.close()


def test_a_refund_opens_with_its_repeat_queued_as_sent_and_no_reversal(store):
    r = open_refund(store, sale(store), 2, 2, 500)
    boot = store.boot_state()
    assert boot.reversals == () and boot.interrupted == (2,)
    (advice,) = boot.advices
    assert (advice.txn_no, advice.stan, advice.amount, advice.kind, advice.sent_before) == (2, 2, 500, Kind.REFUND, True)
    assert advice.record == store.record(2)  # its receipt can be printed when the answer comes
    assert store.advice_message(2) == b"S1resend"
    assert store.conn.execute("SELECT reversal FROM journal WHERE txn_no=2").fetchone() == (None,)
    assert store.counters() == counters(r)


def test_the_refund_s_outcome_closes_its_repeat_in_the_same_commit(store):
    r = open_refund(store, sale(store), 2, 2, 500)
    before = store.commits
    store.record_outcome(replace(r, state=JournalState.APPROVED, response_code="00", rrn="000000000002"),
                         copies=(Copy.MERCHANT, Copy.CARDHOLDER), close_advice=True)
    assert store.commits == before + 1
    boot = store.boot_state()
    assert boot.advices == () and [j.record.txn_no for j in boot.receipts if j.record.txn_no == 2] == [2, 2]
    assert store.conn.execute("SELECT state, message FROM offline_queue WHERE txn_no=2").fetchone() == ("done", None)


def test_an_answer_to_the_repeat_is_the_refund_s_outcome(store):
    open_refund(store, sale(store), 2, 2, 500)
    before = store.commits
    store.advice_outcome(2, JournalState.APPROVED, "00", rrn="000000000007", auth_code="000003", settle_date="1122",
                         copies=(Copy.MERCHANT,))
    assert store.commits == before + 1
    r = store.record(2)
    assert (r.state, r.response_code, r.rrn, r.auth_code, r.reason) == (
        JournalState.APPROVED, "00", "000000000007", "000003", None)
    boot = store.boot_state()  # the receipts it owes were committed with it: a power cut now still prints them
    assert boot.advices == () and [j.copy for j in boot.receipts if j.record.txn_no == 2] == [Copy.MERCHANT]
    store.advice_outcome(2, JournalState.DECLINED, "25")  # a record already resolved keeps its outcome
    assert store.record(2).state is JournalState.APPROVED


def test_declined_repeat_keeps_the_code_as_the_reason(store):
    open_refund(store, None, 1, 1, 500)
    store.advice_outcome(1, JournalState.DECLINED, "25")
    r = store.record(1)
    assert (r.state, r.reason, r.original) == (JournalState.DECLINED, "25", None)
    assert store.boot_state().receipts == ()


def test_find_by_reference_needs_the_rrn_and_the_date_and_counts_what_was_refunded(store):
    s = sale(store)
    assert store.find_by_reference("000000000001", "1123") is None  # another day
    assert store.find_by_reference("000000000002", "1122") is None
    assert store.find_by_reference("000000000001", "11-2") is None
    match = store.find_by_reference("000000000001", "1122")
    assert match.facts == facts(s) and match.pan_hash == HASH and match.refunds == () and match.claims == ()
    r2 = open_refund(store, s, 2, 2, 300)  # in flight: counted
    store.record_outcome(replace(r2, state=JournalState.APPROVED, response_code="00"), close_advice=True)
    r3 = open_refund(store, s, 3, 3, 200)
    store.record_outcome(replace(r3, state=JournalState.DECLINED, response_code="51"), close_advice=True)
    open_refund(store, s, 4, 4, 100)
    match = store.find_by_reference("000000000001", "1122")
    assert match.refunds == ((JournalState.APPROVED, 300), (JournalState.DECLINED, 200), (JournalState.REQUESTED, 100))
    assert match.facts.refunded == 400 and match.facts.refundable == 850
    assert store.find_original(1, 1).claims == ()  # refunds are not voids
    assert store.voided() == {} and store.refunded() == {1: 300}


def test_batch_totals_count_approved_refunds_as_credits(store):
    s = sale(store)
    sale(store, 2, 2, 3000)
    r = open_refund(store, s, 3, 3, 500)
    store.record_outcome(replace(r, state=JournalState.APPROVED, response_code="00"), close_advice=True)
    open_refund(store, s, 4, 4, 100)  # still waiting for its answer: unsent, not a credit yet
    t = store.batch_totals(1)
    assert (t.debit_count, t.debit_amount, t.credit_count, t.credit_amount) == (2, 4250, 1, 500)
    assert (t.refund_count, t.refund_amount, t.unsent, t.net) == (1, 500, 1, 3750)


def test_inquiries_left_open_by_a_power_cut_are_closed_at_start_up(store):
    sale(store)
    b = rec(2, 2, 0, kind=Kind.BALANCE)
    store.open_request(b, pan_hash=HASH, card=None, reversal=None, counters=counters(b))
    assert store.conn.execute("SELECT card, reversal FROM journal WHERE txn_no=2").fetchone() == (None, None)
    assert store.boot_state().interrupted == (2,)
    before = store.commits
    assert store.end_unanswered(["balance"]) == [2]
    assert store.commits == before + 1
    assert (store.record(2).state, store.record(2).reason) == (JournalState.DECLINED, "interrupted")
    assert store.boot_state().interrupted == () and store.boot_state().reversals == ()
    assert store.end_unanswered(["balance"]) == [] and store.commits == before + 1  # nothing to do: no commit
    t = store.batch_totals(1)
    assert (t.debit_count, t.credit_count) == (1, 0)


def test_a_refund_resolved_by_hand_counts_against_the_sale_but_is_not_shown_as_still_to_go(tmp_path):
    """LOST (``posterm journal resolve``, or keys destroyed): it never goes, so the confirm screen must not say
    UNSENT for it (AU4); it still counts against what is left, until reconciled by hand."""
    store = Store.open(tmp_path)
    try:
        s = sale(store)
        open_refund(store, s, 2, 2, 500)
        assert store.find_by_reference(s.rrn, f"{s.when:%m%d}").facts.refund_pending == 500
        assert store.queued_for(2) == "advice"
        store.mark_lost(2, "advice", note="resolved by hand: ticket 4471")
        found = store.find_by_reference(s.rrn, f"{s.when:%m%d}")
        assert (found.facts.refund_pending, found.facts.refunded) == (0, 500)
    finally:
        store.close()
