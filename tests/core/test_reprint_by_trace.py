"""F 8 asks TRACE NO (#=LAST): a trace reprints that record of the open batch, found by the runner (AU20 M6).

The core never reads storage: it asks ``FindRecord`` and prints what ``RecordFound`` brings, once, marked,
marking nothing. A record with no slip says so; one voided since says by which trace.
"""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.events import ActionFailed, Printed, RecordFound, TimerExpired
from firmware.core.model import JournalState, Kind, SaleRecord, State, Timer
from hal.printer.document import plain_text

from .helpers import NOW, SETTINGS, to_idle, to_reprint, to_reprint_lookup, to_signed_off

SALE = SaleRecord(3, 1250, 3, 1, NOW, "620550*********0004", state=JournalState.APPROVED, rrn="000000000003",
                  auth_code="000003")


def texts(actions) -> str:
    return " | ".join(" / ".join(a.lines) for a in actions if isinstance(a, A.Show))


def test_f8_asks_for_a_trace_and_the_runner_looks_it_up_in_the_open_batch():
    d = to_reprint()
    assert d.state is State.REPRINT and "TRACE NO (#=LAST)" in texts(d.batches[-1])
    d.keys("12*3#")  # CLEAR takes the 2 back
    find = d.last(A.FindRecord)
    assert d.state is State.REPRINT_LOOKUP and (find.stan, find.batch) == (13, d.t.counters.batch)
    assert not d.all(A.Print)


def test_the_record_found_prints_once_marked_and_marks_nothing():
    d = to_reprint_lookup("3")
    d.feed(RecordFound(3, SALE))
    p = d.last(A.Print)
    assert d.state is State.PRINTING and p.job.reprint and p.job.copy is SETTINGS.copies[0]
    text = plain_text(p.receipt, 32)
    assert "*** REPRINT ***" in text and "000003" in text and "VOIDED" not in text
    d.feed(Printed(3, p.job.copy))
    assert d.state is State.IDLE and not d.all(A.MarkPrinted) and len(d.all(A.Print)) == 1


def test_a_record_voided_since_prints_voided_by_that_trace():
    d = to_reprint_lookup("3")
    d.feed(RecordFound(3, SALE, voided_by=4))
    assert "VOIDED BY TRACE 000004" in plain_text(d.last(A.Print).receipt, 32)


@pytest.mark.parametrize("record", [
    SaleRecord(3, 1250, 3, 1, NOW, "620550*********0004", state=JournalState.DECLINED, response_code="51"),
    SaleRecord(3, 0, 3, 1, NOW, "620550*********0004", kind=Kind.BALANCE, state=JournalState.APPROVED),
    SaleRecord(3, 1250, 3, 1, NOW, "620550*********0004", state=JournalState.REVERSED),
], ids=["declined", "inquiry", "reversed"])
def test_a_record_with_no_slip_says_so_and_returns_to_idle(record):
    d = to_reprint_lookup("3")
    d.feed(RecordFound(3, record))
    assert d.state is State.IDLE and not d.all(A.Print)
    assert "NO SLIP FOR TRACE / 000003" in texts(d.batches[-1])


def test_a_trace_not_found_says_so_and_returns_to_idle():
    d = to_reprint_lookup("9")
    d.feed(RecordFound(9))
    assert d.state is State.IDLE and not d.all(A.Print)
    assert "TRACE NOT FOUND / TRACE 000009" in texts(d.batches[-1])


def test_a_journal_that_cannot_be_read_prints_nothing_and_returns_to_idle():
    d = to_reprint_lookup("3")
    d.feed(ActionFailed(d.last(A.FindRecord), "storage.io", "storage read failed"))
    assert d.state is State.IDLE and not d.all(A.Print)
    assert d.last(A.Alert).code == "storage.io" and "JOURNAL ERROR" in texts(d.batches[-1])


@pytest.mark.parametrize("keys, event", [("X", None), ("", TimerExpired(Timer.INPUT))], ids=["cancel", "timeout"])
def test_the_prompt_cancelled_or_left_returns_to_idle(keys, event):
    d = to_reprint()
    d.keys(keys)
    if event is not None:
        d.feed(event)
    assert d.state is State.IDLE and not d.all(A.FindRecord) and not d.all(A.Print)


def test_trace_zero_is_not_a_trace():
    d = to_reprint()
    d.keys("00#")
    assert d.state is State.REPRINT and not d.all(A.FindRecord)
    assert "ENTER THE TRACE NO" in texts(d.batches[-1])


def test_signed_off_a_trace_not_found_returns_to_signed_off():
    d = to_signed_off()
    d.keys("F8")
    assert d.state is State.REPRINT
    d.keys("5#")
    d.feed(RecordFound(5))
    assert d.state is State.SIGNED_OFF and "TRACE NOT FOUND" in texts(d.batches[-1])


def test_enter_alone_with_nothing_printed_yet_says_so():
    d = to_idle()
    d.keys("F8#")
    assert d.state is State.IDLE and "NO RECEIPT YET" in texts(d.batches[-1]) and not d.all(A.FindRecord)
