"""Child of ``test_display_sweep.py``: the full-disk flows on one display size, run in a mount namespace of its
own with a small tmpfs at argv[1], so the disk is really full (``storage.full``: sales refused until it has
room), not a mock. The file system fills at a step (``disk = "full"``) or at an action of the runner
(``FillDiskAt``, as ``full_disk_child.py`` does at an outcome's commit). Prints, as JSON, every line each flow
showed wider than the display (the simulator's ``cut``), the failures of its checks, and every screen shown.

Usage: ``display_sweep_child.py DISK DISPLAY_URL``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from firmware.scenario import parse_scenario
from tests.e2e.full_disk_child import MARK, FillDiskAt
from tests.e2e.test_display_width import SizedRunner

CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
SALE = [{"key": "1250#"}, *CARD]
FAST = {"host": {"response_timeout": 0.5, "connect_timeout": 0.5}}
FREED = [{"disk": "ok"}, {"key": "#"}]  # room again, then CHECK AGAIN

# name: (the runner's action the disk fills at, or None: a step fills it; the steps)
FLOWS = {
    "full when idle: refused, checked again, freed": (
        None, [{"disk": "full"}, *SALE, {"key": "5"}, {"key": "#"}, *FREED, *SALE]),
    "full at a start": (None, [{"disk": "full"}, {"restart": True}, *SALE, *FREED]),
    "full at the outcome's commit": ("before:record_outcome", [MARK, *SALE, *FREED]),
    "full at a settlement": (None, [*SALE, {"disk": "full"}, {"settle": True}, *FREED, {"settle": True}]),
}


def sweep(disk: Path, display: str) -> dict:
    out = {}
    for n, (name, (point, steps)) in enumerate(FLOWS.items()):
        data = disk / f"data{n}"
        runner = SizedRunner(display, data_dir=data)

        def after(step, runner=runner, point=point, data=data):
            if step.kind == "host" and step.value.get("amount") == MARK["host"]["amount"]:  # armed with the runner up
                runner.runner.crash = FillDiskAt(point, data)

        result = runner.run(parse_scenario({"name": name, "config": FAST, "step": steps}), after_step=after)
        shown = runner.devices["display"]
        out[name] = {"cut": shown.cut, "failures": result["failures"], "alerts": result["alerts"],
                     "screens": ["\n".join(line.rstrip() for line in s) for s in shown.history]}
        shutil.rmtree(data, ignore_errors=True)  # room on the small disk for the next flow
    return out


if __name__ == "__main__":
    print(json.dumps(sweep(Path(sys.argv[1]), sys.argv[2])))
