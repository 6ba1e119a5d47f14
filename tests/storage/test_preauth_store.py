"""Storage for the pre-auth family: schema v6 (the keyed auth code in the journal row), the look-up
by auth code and date with what already names the pre-auth, and the settlement's totals and upload
(completions are debits, their voids credits, pre-auths and cancels nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from firmware.core.batch import UploadEntry
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
AUTH = "654321"
DATE = "1122"


def rec(txn_no, stan, amount, kind, **kw) -> SaleRecord:
    return SaleRecord(txn_no, amount, stan, 1, WHEN, "620550*********0004", kind=kind, terminal_id="12345678",
                      merchant_id="123456789012345", operator="01", **kw)


def facts(r: SaleRecord) -> OriginalFacts:
    return OriginalFacts(r.txn_no, r.kind, r.amount, r.currency, r.stan, r.batch, r.when, r.masked_pan, r.rrn,
                         r.auth_code)


def run(store, r: SaleRecord, state=JournalState.APPROVED, auth=None) -> SaleRecord:
    store.open_request(r, pan_hash=HASH, card=b"S1card", reversal=b"S1rev",
                       counters=Counters(stan=r.stan + 1, txn_no=r.txn_no + 1))
    if state is JournalState.REQUESTED:
        return r
    done = replace(r, state=state, response_code="00" if state is JournalState.APPROVED else "51",
                   rrn=f"{r.stan:012d}", auth_code=auth or f"{r.stan:06d}")
    store.record_outcome(done, copies=(Copy.MERCHANT,) if state is JournalState.APPROVED else ())
    return done


def preauth(store, txn_no=1, amount=10000):
    return run(store, rec(txn_no, txn_no, amount, Kind.PREAUTH), auth=AUTH)


def naming(store, pa, kind, txn_no, amount, state=JournalState.APPROVED):
    r = rec(txn_no, txn_no, amount, kind, original=facts(pa) if pa else None,
            reference=OriginalRef("", DATE, AUTH))
    return run(store, r, state)


def test_the_keyed_auth_code_is_in_the_request_commit_and_reads_back(tmp_path):
    store = Store.open(tmp_path)
    naming(store, None, Kind.PREAUTH_COMPLETE, 1, 500, JournalState.REQUESTED)
    assert store.conn.execute("SELECT orig_rrn, orig_date, orig_auth FROM journal WHERE txn_no=1").fetchone() == (
        None, DATE, AUTH)
    store.close()
    again = Store.open(tmp_path)
    assert again.record(1).reference == OriginalRef("", DATE, AUTH)
    assert again.boot_state().interrupted == (1,)
    again.close()


def test_find_by_auth_names_only_a_preauth_and_says_what_names_it(store):
    assert store.find_by_auth(AUTH, DATE) is None
    run(store, rec(1, 1, 10000, Kind.SALE), auth=AUTH)  # a sale with the same auth code is not a pre-auth
    assert store.find_by_auth(AUTH, DATE) is None
    pa = preauth(store, 2)
    match = store.find_by_auth(AUTH, DATE)
    assert match.facts.kind is Kind.PREAUTH and match.facts.txn_no == 2 and match.pan_hash == HASH
    assert (match.claims, match.completions) == ((), ())
    assert store.find_by_auth(AUTH, "1123") is None and store.find_by_auth("654320", DATE) is None
    done = naming(store, pa, Kind.PREAUTH_COMPLETE, 3, 11000)
    assert store.find_by_auth(AUTH, DATE).completions == (JournalState.APPROVED,)
    # its void (approved) gives the hold back: the completion no longer counts
    naming(store, done, Kind.PREAUTH_COMPLETE_VOID, 4, 11000)
    assert store.find_by_auth(AUTH, DATE).completions == ()
    assert store.find_original(3, 1).claims == (JournalState.APPROVED,)
    naming(store, pa, Kind.PREAUTH_VOID, 5, 10000, JournalState.REQUESTED)
    assert store.find_by_auth(AUTH, DATE).claims == (JournalState.REQUESTED,)
    assert store.voided() == {3: 4}  # the cancel is not approved yet


def test_totals_count_completions_as_debits_and_their_voids_as_credits(store):
    run(store, rec(1, 1, 1250, Kind.SALE))
    pa = preauth(store, 2, 10000)
    done = naming(store, pa, Kind.PREAUTH_COMPLETE, 3, 11500)
    naming(store, done, Kind.PREAUTH_COMPLETE_VOID, 4, 11500)
    other = preauth(store, 5, 700)
    naming(store, other, Kind.PREAUTH_VOID, 6, 700)  # a cancel releases a hold: not a credit
    naming(store, None, Kind.PREAUTH_COMPLETE, 7, 300, JournalState.DECLINED)
    totals = store.batch_totals(1)
    assert (totals.debit_count, totals.debit_amount, totals.credit_count, totals.credit_amount) == (2, 12750, 1, 11500)
    assert totals.refund_count == 0 and totals.unsent == 0
    assert [(e.txn_no, e.kind) for e in store.upload_entries(1)] == [
        (1, Kind.SALE), (3, Kind.PREAUTH_COMPLETE), (4, Kind.PREAUTH_COMPLETE_VOID)]
    assert store.upload_entries(1)[1] == UploadEntry(3, Kind.PREAUTH_COMPLETE, 3, 11500)


def advice_completion(store, pa, txn_no, amount) -> SaleRecord:
    """A completion made without the host (预授权完成通知): approved offline, its advice queued."""
    r = rec(txn_no, txn_no, amount, Kind.PREAUTH_COMPLETE, original=facts(pa), reference=OriginalRef("", DATE, AUTH))
    store.open_request(r, pan_hash=HASH, card=b"S1card", reversal=b"S1rev",
                       counters=Counters(stan=r.stan + 1, txn_no=r.txn_no + 1))
    done = replace(r, state=JournalState.OFFLINE_APPROVED, reason="offline")
    store.record_outcome(done, copies=(Copy.MERCHANT,), advice=b"S1adv")
    return done


# 11 (approved, VIP) is an approval of cup's, which the core accepts: the verdict it records, not the code, counts
def completed(store) -> dict[int, int]:
    """The listing's view (``posterm journal``): pre-auth's journal number -> its approved completion's."""
    return {x.record.txn_no: x.completed_by for x in store.listing() if x.completed_by is not None}


@pytest.mark.parametrize("code, completes", [("00", True), ("94", True), ("11", True), ("25", False), ("12", False)])
def test_a_completion_advice_completes_its_preauth_unless_the_host_refused_it(store, code, completes):
    pa = preauth(store, 1)
    advice_completion(store, pa, 2, 9000)
    assert store.find_by_auth(AUTH, DATE).completions == (JournalState.OFFLINE_APPROVED,)  # queued: it may yet
    assert completed(store) == {}  # not yet accepted
    store.advice_done(2, code, accepted=completes)
    assert store.find_by_auth(AUTH, DATE).completions == ((JournalState.OFFLINE_APPROVED,) if completes else ())
    assert completed(store) == ({1: 2} if completes else {})
    assert store.batch_totals(1).debit_count == (1 if completes else 0)  # the totals read the same fate
