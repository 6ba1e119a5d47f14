"""A settlement the host finds unbalanced on a profile with no batch upload (iso87; audit AU21 M1): the batch is
closed and the next one open, so the screen says UNBALANCED and whom to call, before and after the report, and
the report says it on paper; a balanced one still says SETTLED."""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.batch import Settlement, SettleResult
from firmware.core.events import BatchCounted, HostAnswered, ReportPrinted, TimerExpired
from firmware.core.model import State, Timer
from firmware.core.report import build_report
from hal.printer.document import plain_text

from .helpers import NOW, SETTINGS, TOTALS, reply, to_counting


def shown(action) -> list[str]:
    return [line.strip() for line in action.lines]


def _settled(result: str):
    d = to_counting()
    d.feed(BatchCounted(TOTALS, plan=None))  # the profile has no batch upload
    d.keys("#")
    batch = d.t.counters.batch
    job = d.last(A.SendNetwork).job
    d.feed(HostAnswered(reply(mti="0510", stan=job.stan, amount=None, rrn=None, auth_code=None,
                              settle_result=result)))
    return d, batch


def test_an_unbalanced_batch_reconciled_by_hand_says_call_the_acquirer_while_and_after_printing():
    d, batch = _settled("2")
    assert d.state is State.PRINTING and d.last(A.CloseBatch).settlement.no_upload
    assert shown(d.last(A.Show)) == ["UNBALANCED", f"BATCH {batch:06d}", "CALL ACQUIRER", "PRINTING REPORT"]
    assert d.last(A.Show).lines.short == (f"UNBALANCED {batch:06d}", "CALL ACQUIRER")
    out = d.feed(ReportPrinted(d.last(A.PrintReport).settlement))
    assert d.state is State.IDLE
    screens = [shown(a) for a in out if isinstance(a, A.Show)]
    assert screens == [["UNBALANCED", f"BATCH {batch:06d}", "CALL ACQUIRER"]]  # not READY at once
    assert any(isinstance(a, A.StartTimer) and a.timer is Timer.MESSAGE for a in out)
    out = d.feed(TimerExpired(Timer.MESSAGE))
    assert "READY" in shown(d.last(A.Show))


def test_a_balanced_batch_still_says_settled():
    d, batch = _settled("1")
    assert shown(d.last(A.Show))[:3] == ["SETTLED", f"BATCH {batch:06d}", "PRINTING REPORT"]
    out = d.feed(ReportPrinted(d.last(A.PrintReport).settlement))
    assert [s for a in out if isinstance(a, A.Show) for s in shown(a)][1] == "READY"


@pytest.mark.parametrize(("no_upload", "uploaded", "calls"), [(True, False, True), (False, True, False)])
def test_the_report_tells_the_merchant_to_call_the_acquirer_only_when_reconciled_by_hand(no_upload, uploaded, calls):
    s = Settlement(3, TOTALS, SettleResult.UNBALANCED, NOW, 42, uploaded=uploaded, no_upload=no_upload)
    paper = plain_text(build_report(s, SETTINGS), 32)
    assert ("RECONCILE BY HAND" in paper) is calls
    assert ("CALL THE ACQUIRER\n" in paper and "WITH THIS REPORT" in paper) is calls
    if calls:
        assert paper.index("RECONCILE BY HAND") < paper.index("CALL THE ACQUIRER")
