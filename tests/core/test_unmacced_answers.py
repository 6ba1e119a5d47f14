"""An answer the profile MACs is not trusted when it carries no MAC at all, on every path.

A sale's approval without a MAC was already refused (``test_flows.py``,
``test_an_approval_without_any_mac_is_not_trusted``). The uplink's answers
refused only a MAC that was present and wrong, so an answer stripped of field 64
(a man in the middle, a broken switch) could close the batch (0510), disarm a
reversal (0410), drop a stored sale from the queue that the host never posted
(0230) or pass an upload part (0330). Each is now treated as a failed MAC: the
item goes again with its repeat MTI, and nothing it guards is closed.
(Found by the session-6 audit.)
"""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.events import BatchCounted, Booted, HostAnswered
from firmware.core.model import BootState, Counters, PendingAdvice, PendingReversal

from tests.core.helpers import NOW, SETTINGS, TOTALS, Driver, reply, to_counting
from tests.core.test_upload import to_uploading, upload_answer


def retried(out: list[A.Action]) -> str:
    note = next(a for a in out if isinstance(a, A.Note) and a.code == "uplink.retry")
    return note.text


@pytest.mark.parametrize("mac_ok", [None, False])
def test_a_settlement_answer_without_a_good_mac_does_not_close_the_batch(mac_ok):
    d = to_counting()
    d.feed(BatchCounted(TOTALS))
    d.keys("#")
    job = d.last(A.SendNetwork).job
    out = d.feed(HostAnswered(reply(mti="0510", stan=job.stan, amount=None, rrn=None, auth_code=None,
                                    settle_result="1", mac_ok=mac_ok)))
    assert not [a for a in out if isinstance(a, A.CloseBatch)]
    assert retried(out) == "attempt 2: settlement answer " + ("carries no MAC" if mac_ok is None else "failed its MAC")
    assert d.last(A.SendNetwork).job.stan == job.stan  # the same 0500 again


def test_a_stored_sale_acknowledged_without_a_mac_stays_queued_and_goes_again():
    adv = PendingAdvice(3, 3, 800, NOW)
    d = Driver(SETTINGS)
    d.feed(Booted(BootState(counters=Counters(stan=50, txn_no=50), advices=(adv,))))
    assert d.all(A.SendAdvice)
    out = d.feed(HostAnswered(reply(mti="0230", stan=3, amount=800, mac_ok=None)))
    assert not [a for a in out if isinstance(a, A.AdviceDone)]
    assert retried(out) == "attempt 2: acknowledgement carries no MAC"
    assert [(a.advice.txn_no, a.repeat) for a in out if isinstance(a, A.SendAdvice)] == [(3, True)]


def test_a_reversal_acknowledged_without_a_mac_stays_armed_and_goes_again():
    rev = PendingReversal(3, 3, 800, "98")
    d = Driver(SETTINGS)
    d.feed(Booted(BootState(counters=Counters(stan=50, txn_no=50), reversals=(rev,))))
    assert d.all(A.SendReversal)
    out = d.feed(HostAnswered(reply(mti="0410", stan=3, amount=800, mac_ok=None)))
    assert not [a for a in out if isinstance(a, A.ReversalDone)]
    assert retried(out) == "attempt 2: acknowledgement carries no MAC"
    assert [a.repeat for a in out if isinstance(a, A.SendReversal)] == [True]


def test_an_upload_part_answered_without_a_mac_is_sent_again():
    d = to_uploading()
    part = d.last(A.SendUpload).job.part
    out = upload_answer(d, mac_ok=None)
    assert retried(out) == "attempt 2: upload answer carries no MAC"
    assert d.last(A.SendUpload).job.part == part and not d.all(A.UploadDone)


def test_an_answer_with_a_good_mac_still_closes_what_it_answers():
    rev = PendingReversal(3, 3, 800, "98")
    d = Driver(SETTINGS)
    d.feed(Booted(BootState(counters=Counters(stan=50, txn_no=50), reversals=(rev,))))
    out = d.feed(HostAnswered(reply(mti="0410", stan=3, amount=800, mac_ok=True)))
    assert [a.txn_no for a in out if isinstance(a, A.ReversalDone)] == [3]
