"""A sign-on naming a batch whose batch upload or report is still owed keeps the open batch: storage
would archive that batch's history (``storage.archive``), which the owed work reads by its number."""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.batch import OwedUpload, Settlement, SettleResult, Totals, UploadPlan
from firmware.core.events import ActionFailed, CardRead, HostAnswered, PinEntered, SignOnRequested
from firmware.core.model import BatchHeld, BootState, Counters, KeyState

from .helpers import CARD, NOW, Driver, reply

SETTLED_7 = Settlement(7, Totals(1, 1250), SettleResult.UNBALANCED, NOW, 40, "01")


def signed_on(batch: int, *, upload: OwedUpload | None = None, report: Settlement | None = None) -> Driver:
    d = Driver(boot=BootState(counters=Counters(stan=50, batch=8, txn_no=50)))
    d.t.upload, d.t.report = upload, report  # owed (the host was silent, the paper ran out): they wait
    d.feed(SignOnRequested())
    job = d.last(A.SendNetwork).job
    d.feed(HostAnswered(reply(mti="0810", stan=job.stan, amount=None, mac_ok=None, batch=batch)))
    return d


@pytest.mark.parametrize("owed", ["upload", "report"])
def test_a_sign_on_naming_a_batch_with_work_owed_keeps_the_open_batch(owed):
    if owed == "upload":
        d = signed_on(7, upload=OwedUpload(SETTLED_7, UploadPlan((None,), count=1)))
    else:
        d = signed_on(7, report=SETTLED_7)
    assert d.last(A.InstallWorkingKeys).counters.batch == 8  # before: 7, and storage archived batch 7
    (kept,) = [a for a in d.all(A.Alert) if a.code == "signon.batch_kept"]
    assert "batch 000007" in kept.text and "still owed" in kept.text


def test_a_sign_on_naming_another_batch_than_the_owed_one_is_adopted():
    d = signed_on(3, report=SETTLED_7)
    assert d.last(A.InstallWorkingKeys).counters.batch == 3


def test_a_failed_key_install_does_not_leave_the_adopted_batch_number_behind():
    """AU10: the sign-on adopted the host's batch number, then InstallWorkingKeys failed; the core stayed on
    that number, which storage never saved (nor archived what it held): the next sale went into it."""
    d = Driver(boot=BootState(counters=Counters(stan=50, batch=8, txn_no=50), keys=KeyState.READY))
    d.feed(SignOnRequested())
    job = d.last(A.SendNetwork).job
    d.feed(HostAnswered(reply(mti="0810", stan=job.stan, amount=None, mac_ok=None, batch=7)))
    install = d.last(A.InstallWorkingKeys)
    assert install.counters.batch == 7  # adopted: storage would archive batch 7's history as it saves it
    # the ring refused the keys (a check value did not match): storage saved no counters, archived nothing
    d.feed(ActionFailed(install, "signon.bad_kcv", "a working key's check value did not match"))
    d.keys("1250#")
    d.feed(CardRead(CARD))
    d.feed(PinEntered())
    record = d.last(A.OpenRequest).record
    assert record.batch == 8, "the sale went into batch 7, which storage still holds settled history under"


@pytest.mark.parametrize("earlier, held_after", [
    (True, BatchHeld(credit_count=1, credit_amount=300)),  # before: BatchHeld(0, 0, 0, 0), the new batch's refund
    (False, BatchHeld()),  # a record of the open batch gives its place back, as before
], ids=["archived batch", "open batch"])
def test_a_late_refund_decline_of_an_archived_batch_leaves_the_open_batch_room_alone(earlier, held_after):
    """A refund sent again, read back from a batch archived since (storage.archive): its record carries the
    number the host knew (1), which the open batch carries again. Declined, it gave back the open batch's
    room, which never held it (count and amount wrong until a restart)."""
    from firmware.core.model import Kind, PendingAdvice, SaleRecord

    refund = SaleRecord(5, 500, 5, 1, NOW, "620550*********0004", kind=Kind.REFUND, earlier=earlier)
    d = Driver(boot=BootState(counters=Counters(stan=50, batch=1, txn_no=50), keys=KeyState.READY,
                              batch_held=BatchHeld(credit_count=1, credit_amount=300),
                              advices=(PendingAdvice(5, 5, 500, NOW, sent_before=True, kind=Kind.REFUND,
                                                     record=refund),)))
    assert d.last(A.SendAdvice).advice.txn_no == 5
    d.feed(HostAnswered(reply(mti="0230", stan=5, amount=500, response_code="25", approved=False)))
    assert d.last(A.AdviceOutcome).state.value == "declined"
    assert d.t.batch_held == held_after
