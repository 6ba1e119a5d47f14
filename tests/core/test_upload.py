"""Batch upload in the core: after a settlement the host did not find balanced, and the reprints.

The settlement row is committed first (the next batch is open); the upload goes out
on the uplink like a queued message, goes on from its first unacknowledged message whenever
it is interrupted (each acknowledgement noted: ``UploadProgress``), and only the end's answer
commits ``UploadDone``; then the report prints.
"""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.batch import OwedUpload, Settlement, SettleResult, UploadPlan
from firmware.core.events import (
    ActionFailed,
    BatchCounted,
    CardRead,
    HostAnswered,
    PinEntered,
    Printed,
    ReportPrinted,
    Tampered,
    TimerExpired,
)
from firmware.core.model import (
    BootState,
    KeyState,
    NetworkKind,
    SaleRecord,
    State,
    Timer,
)
from hal.printer.document import plain_text

from .helpers import (
    CARD,
    NOW,
    SETTINGS,
    TOTALS,
    Driver,
    printed_all,
    reply,
    request_stan,
    to_authorising,
    to_counting,
    to_idle,
)

# An offline sale in its own message (it keeps its own trace, 41), then two packed messages, then the end.
PLAN = UploadPlan((41, None, None), count=10)


def texts(actions) -> str:
    return " | ".join(" / ".join(a.lines) for a in actions if isinstance(a, A.Show))


def settle_answer(d: Driver, digit: str = "2") -> list[A.Action]:
    job = d.last(A.SendNetwork).job
    return d.feed(HostAnswered(reply(mti="0510", stan=job.stan, amount=None, rrn=None, auth_code=None,
                                     settle_result=digit)))


def to_uploading(plan: UploadPlan = PLAN) -> Driver:
    d = to_counting()
    d.feed(BatchCounted(TOTALS, plan))
    d.keys("#")
    settle_answer(d)
    return d


def upload_answer(d: Driver, **kw) -> list[A.Action]:
    job = d.last(A.SendUpload).job
    kw.setdefault("stan", job.stan)
    return d.feed(HostAnswered(reply(mti="0330", amount=None, rrn=None, auth_code=None, **kw)))


def owed(uploaded: bool = False) -> Settlement:
    return Settlement(4, TOTALS, SettleResult.UNBALANCED, NOW, 77, "01", uploaded)


# -- the walk -----------------------------------------------------------------------------
def test_each_message_then_the_end_then_one_commit_then_the_report():
    d = to_uploading()
    batch = d.last(A.CloseBatch).settlement.batch
    first = d.batches[-1]
    assert [a.name for a in first].index("close_batch") < [a.name for a in first].index("send_upload")
    assert not any(isinstance(a, A.SaveCounters) for a in first)  # the offline sale's message keeps its trace
    job = d.last(A.SendUpload).job
    assert (job.batch, job.part, job.stan, job.end) == (batch, 0, 41, False)
    assert "BATCH UPLOAD" in texts(first) and "1 OF 4" in texts(first)
    stans = []
    for part in (1, 2, 3):
        actions = upload_answer(d)
        names = [a.name for a in actions]
        assert names.index("save_counters") < names.index("send_upload")  # a fresh STAN is durable first
        job = d.last(A.SendUpload).job
        assert job.part == part and job.end is (part == 3) and not d.all(A.UploadDone)
        stans.append(job.stan)
        assert d.last(A.SaveCounters).counters.stan == job.stan + 1
    assert len(set(stans)) == 3 and d.state is State.UPLINK and not d.all(A.PrintReport)
    actions = upload_answer(d)
    names = [a.name for a in actions]
    assert names.index("upload_done") < names.index("print_report")
    assert d.last(A.UploadDone).batch == batch
    report = d.last(A.PrintReport)
    assert report.settlement.uploaded and not report.reprint
    text = plain_text(report.receipt, 32)
    assert "TOTALS UNBALANCED" in text and "BATCH UPLOADED" in text and "REPRINT" not in text
    assert ("settle.uploaded", f"batch {batch:06d} uploaded: 10 transaction(s)") in [
        (a.code, a.text) for a in d.all(A.Alert)]
    d.feed(ReportPrinted(report.settlement))
    assert d.state is State.IDLE and d.last(A.MarkReportPrinted).batch == batch
    assert d.t.upload is None


def test_an_empty_batch_uploads_only_its_end():
    d = to_uploading(UploadPlan((), 0))
    assert d.last(A.SendUpload).job.end
    upload_answer(d)
    assert d.last(A.UploadDone) and d.state is State.PRINTING


# -- interruptions --------------------------------------------------------------------------
def test_host_silent_retries_then_the_upload_is_owed_and_goes_on_from_the_unacknowledged_message():
    d = to_uploading()
    upload_answer(d)  # part 0 done
    progress = d.last(A.UploadProgress)
    assert (progress.batch, progress.part) == (d.last(A.SendUpload).job.batch, 1)
    assert A.UploadProgress in A.ADVISORY  # a note: losing it costs repeats, never a record
    part1 = d.last(A.SendUpload).job
    for _ in range(3):
        d.feed(TimerExpired(Timer.RESPONSE))
    sent = d.all(A.SendUpload)
    assert [s.job for s in sent[-3:]] == [part1] * 3  # the same message again, under its STAN
    assert d.state is State.IDLE and d.t.upload is not None and not d.all(A.UploadDone)
    assert d.last(A.Alert).code == "settle.upload_owed"
    assert d.last(A.StartTimer).timer is Timer.UPLOAD
    assert "BATCH UPLOAD OWED" in texts(d.batches[-1])
    d.feed(TimerExpired(Timer.UPLOAD))  # the next upload: on from part 1 (the host has part 0)
    assert d.state is State.UPLINK and d.last(A.SendUpload).job.part == 1


@pytest.mark.parametrize("how", ["refused", "link_failed"])
def test_a_refusal_or_a_dead_link_leaves_it_owed_for_the_next_upload(how):
    d = to_uploading()
    upload_answer(d)
    if how == "refused":
        upload_answer(d, response_code="30", approved=False)
    else:
        for _ in range(3):
            d.feed(ActionFailed(d.last(A.SendUpload), "link.down", "cannot connect", sent=False))
    assert d.state is State.IDLE and d.last(A.Alert).code == "settle.upload_owed"
    d.keys("F1")  # upload now, from the menu: a refusal sends it whole again, silence goes on where it stopped
    assert d.state is State.UPLINK and d.last(A.SendUpload).job.part == (0 if how == "refused" else 1)


def test_a_refused_end_sends_the_whole_upload_again_not_the_end_alone():
    """The end carries the whole upload's count; a host refusing it would refuse an end sent alone for ever (AU4)."""
    d = to_uploading()
    for _ in range(PLAN.messages):
        upload_answer(d)
    assert d.last(A.SendUpload).job.end
    upload_answer(d, response_code="30", approved=False)
    assert d.state is State.IDLE and d.last(A.Alert).code == "settle.upload_owed"
    assert d.last(A.UploadProgress).part == 0  # storage forgets the progress too
    d.keys("F1")
    assert d.last(A.SendUpload).job.part == 0


def test_a_bad_mac_on_an_answer_sends_the_message_again():
    d = to_uploading()
    job = d.last(A.SendUpload).job
    upload_answer(d, mac_ok=False)
    assert d.state is State.UPLINK and d.last(A.SendUpload).job == job and d.last(A.Note).code == "uplink.retry"


def test_an_answer_to_another_message_is_not_taken():
    d = to_uploading()
    upload_answer(d, stan=999)
    assert d.state is State.UPLINK and d.last(A.Note).code == "host.unmatched"
    assert len(d.all(A.SendUpload)) == 1


def test_a_failed_close_leaves_no_upload_and_the_old_batch_open():
    d = to_counting()
    d.feed(BatchCounted(TOTALS, PLAN))
    d.keys("#")
    batch = d.t.counters.batch
    settle_answer(d)
    d.feed(ActionFailed(d.last(A.CloseBatch), "storage.full", "storage is full"))
    assert d.state is State.SUSPENDED and d.t.upload is None and d.t.counters.batch == batch


def test_a_failed_upload_commit_suspends_and_prints_no_report():
    d = to_uploading(UploadPlan((), 0))
    upload_answer(d)
    d.feed(ActionFailed(d.last(A.UploadDone), "storage.full", "storage is full"))
    assert d.state is State.SUSPENDED and d.t.report is None


# -- at boot, and beside sales and other work ---------------------------------------------------
def test_an_owed_upload_goes_on_at_boot_from_where_storage_says():
    d = to_idle(boot=BootState(upload=OwedUpload(owed(), PLAN, next_part=2)))
    assert d.state is State.UPLINK and d.last(A.SendUpload).job.part == 2
    for _ in range(2):
        upload_answer(d)
    assert d.last(A.UploadDone).batch == 4 and d.last(A.PrintReport).settlement.uploaded


def test_an_owed_upload_goes_again_at_boot_from_its_first_message_and_its_report_waits():
    d = to_idle(boot=BootState(upload=OwedUpload(owed(), PLAN)))
    assert d.state is State.UPLINK and d.last(A.SendUpload).job.part == 0 and d.last(A.SendUpload).job.batch == 4
    assert d.all(A.Alert)[0].code == "recovery.upload" and not d.all(A.PrintReport)
    for _ in range(4):
        upload_answer(d)
    assert d.last(A.UploadDone).batch == 4 and d.last(A.PrintReport).settlement.uploaded


def test_at_boot_without_working_keys_the_sign_on_goes_first():
    d = to_idle(boot=BootState(upload=OwedUpload(owed(), PLAN), keys=KeyState.NEED_SIGN_ON))
    assert d.last(A.SendNetwork).job.kind is NetworkKind.SIGN_ON and not d.all(A.SendUpload)


def test_sales_go_on_while_the_upload_is_owed_and_do_not_wait_for_it():
    d = to_uploading()
    for _ in range(3):
        d.feed(TimerExpired(Timer.RESPONSE))
    d.keys("1250#")
    assert d.state is State.CARD
    d.feed(CardRead(CARD), PinEntered())
    assert d.state is State.AUTHORISING and len(d.all(A.SendUpload)) == 3
    assert d.last(A.OpenRequest).record.batch == d.last(A.CloseBatch).counters.batch


def test_settling_with_an_upload_owed_uploads_first_then_prints_its_report_then_counts():
    d = to_idle(boot=BootState(upload=OwedUpload(owed(), UploadPlan((), 0))))
    for _ in range(3):
        d.feed(TimerExpired(Timer.RESPONSE))  # not delivered at boot
    d.keys("F5")
    assert d.state is State.UPLINK and d.last(A.SendUpload).job.end
    upload_answer(d)
    assert d.state is State.PRINTING
    d.feed(ReportPrinted(d.last(A.PrintReport).settlement))
    assert d.state is State.COUNTING and d.last(A.MarkReportPrinted).batch == 4


def test_sign_off_waits_for_the_upload():
    d = to_idle(boot=BootState(upload=OwedUpload(owed(), PLAN)))
    for _ in range(3):
        d.feed(TimerExpired(Timer.RESPONSE))
    d.keys("F3")
    assert d.state is State.IDLE and "UPLOAD FIRST" in texts(d.batches[-1]) and not d.all(A.RemoveWorkingKeys)


def test_a_tamper_drops_the_owed_upload():
    d = to_uploading()
    d.feed(Tampered("gpio", "case opened"))
    assert d.state is State.LOCKED and d.t.upload is None


# -- reprints ------------------------------------------------------------------------------
def test_reprint_of_the_report_is_marked_and_changes_nothing_stored():
    d = to_idle(boot=BootState(last_report=owed(uploaded=True)))
    d.keys("F9")
    report = d.last(A.PrintReport)
    assert d.state is State.PRINTING and report.reprint and report.settlement.batch == 4
    text = plain_text(report.receipt, 32)
    assert "*** REPRINT ***" in text and "BATCH UPLOADED" in text
    d.feed(ReportPrinted(report.settlement, reprint=True))
    assert d.state is State.IDLE and not d.all(A.MarkReportPrinted)


@pytest.mark.parametrize("boot, note", [
    (BootState(), "NO SETTLEMENT YET / TOTALS: F THEN 5"),  # UX25: NO REPORT YET said nothing of what to do
    (BootState(last_report=owed(), upload=OwedUpload(owed(), PLAN)), "UPLOAD PENDING"),
])
def test_no_report_to_reprint(boot, note):
    d = to_idle(boot=boot)
    for _ in range(3 if boot.upload else 0):
        d.feed(TimerExpired(Timer.RESPONSE))
    d.keys("F9")
    assert note in texts(d.batches[-1]) and not d.all(A.PrintReport)


def test_f9_before_any_settlement_leads_to_the_open_batch_totals():
    """What F9's screen tells the cashier to press does show the open batch's totals, and X leaves them."""
    d = to_idle()
    d.keys("F9")
    assert texts(d.batches[-1]).startswith("NO SETTLEMENT YET") and d.state is State.IDLE
    d.keys("F5")
    assert d.state is State.COUNTING and d.all(A.CountBatch)


def test_the_settled_report_is_the_one_reprinted_after_a_settlement():
    d = to_counting()
    d.feed(BatchCounted(TOTALS))
    d.keys("#")
    settle_answer(d, "1")
    d.feed(ReportPrinted(d.last(A.PrintReport).settlement))
    d.keys("F9")
    assert d.last(A.PrintReport).reprint and d.last(A.PrintReport).settlement == d.last(A.CloseBatch).settlement


def test_reprint_of_the_last_receipt_is_one_copy_marked_and_never_marks_the_journal():
    d = to_authorising()
    d.feed(HostAnswered(reply(stan=request_stan(d))))
    printed_all(d)
    marks = len(d.all(A.MarkPrinted))
    d.keys("F8#")
    job = d.last(A.Print).job
    assert d.state is State.PRINTING and job.reprint and job.copy is SETTINGS.copies[0]
    assert "*** REPRINT ***" in plain_text(d.last(A.Print).receipt, 32)
    d.feed(Printed(job.record.txn_no, job.copy))
    assert d.state is State.IDLE and len(d.all(A.MarkPrinted)) == marks


def test_a_reprint_skipped_on_a_printer_fault_is_not_marked_skipped():
    d = to_idle(boot=BootState(last_receipt=SaleRecord(9, 500, 9, 1, NOW, "620550*********0004")))
    d.keys("F8#")
    assert d.last(A.Print).job.record.txn_no == 9
    d.feed(ActionFailed(d.last(A.Print), "printer.paper_out", "out of paper"))
    assert d.state is State.RECEIPT_HELD
    d.keys("X")
    assert d.state is State.IDLE and not d.all(A.MarkPrinted)


def test_nothing_to_reprint_yet():
    d = to_idle()
    d.keys("F8#")
    assert "NO RECEIPT YET" in texts(d.batches[-1]) and not d.all(A.Print)
