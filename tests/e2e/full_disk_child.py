"""Child of ``test_full_disk_at_outcome.py``, run in a mount namespace of its own with a small tmpfs at
argv[1]: one transaction whose outcome's commit meets a full disk (the file system fills at
``before:record_outcome``: a real full disk, not a mock), then the disk is freed and ENTER pressed
(CHECK AGAIN), with no restart. Prints the scenario's JSON result and the journal rows as storage holds them.

Usage: ``full_disk_child.py DISK KIND PROFILE`` (KIND ``sale`` or ``balance``; PROFILE ``cup`` or ``iso87``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from firmware.runner import CrashPlan
from firmware.scenario import ScenarioRunner, parse_scenario
from firmware.scenario.runner import fill_disk
from storage.store import Store

CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
STEPS = {"sale": [{"key": "1250#"}] + CARD, "balance": [{"balance": True}] + CARD}
MARK = {"host": {"behaviour": "approve", "amount": 77777, "times": 1}}  # arms the fill; matches nothing


class FillDiskAt(CrashPlan):
    """At ``point`` the file system holding the data directory fills up (instead of the power going off)."""

    def __init__(self, point: str, data: Path) -> None:
        super().__init__(point)
        self.data = data

    def check(self, point: str) -> None:
        if point == self.point and not self.seen:
            self.seen += 1
            fill_disk(self.data, True)


def main(disk: Path, kind: str, profile: str) -> None:
    data = disk / "data"
    sim = ScenarioRunner(data_dir=data)
    scenario = parse_scenario({
        "name": "full disk at the outcome", "config": {"host": {"response_timeout": 0.4, "profile": profile}},
        "step": [MARK] + STEPS[kind] + [{"disk": "ok"}, {"key": "#"}],
    })

    def after(step):
        if step.kind == "host" and step.value.get("amount") == 77777:
            sim.runner.crash = FillDiskAt("before:record_outcome", data)

    result = sim.run(scenario, after_step=after)
    store = Store.open_read_only(data)
    try:
        rows = [{"txn_no": r.txn_no, "kind": r.kind.value, "state": r.state.value, "reason": r.reason}
                for r in store.journal()]
    finally:
        store.close()
    print(json.dumps({"result": result, "journal": rows}, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
