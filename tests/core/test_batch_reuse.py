"""A sign-on naming a batch whose batch upload or report is still owed keeps the open batch: storage
would archive that batch's history (``storage.archive``), which the owed work reads by its number."""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.batch import OwedUpload, Settlement, SettleResult, Totals, UploadPlan
from firmware.core.events import HostAnswered, SignOnRequested
from firmware.core.model import BootState, Counters

from .helpers import NOW, Driver, reply

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
