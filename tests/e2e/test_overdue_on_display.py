"""The overdue reminders on the terminal's own display, through the runner and a restart (audit AU19 M2):
before, ``settle.overdue`` and ``offline.overdue`` reached only the alert list and the log."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.e2e.clocked import MOVE, codes, run, sale

T0 = datetime(2026, 3, 2, 10, 0, 0)
DAY = timedelta(days=1)


def test_a_batch_unsettled_40_days_is_on_the_idle_screen_after_a_restart():
    r = run(sale(1000) + [MOVE, {"restart": True}], [T0, T0 + 40 * DAY])
    assert r["ok"], r["failures"]
    assert "settle.overdue" in codes(r)
    assert r["display"][3].rstrip() == "SETTLE DUE 40D", r["display"]


def test_stored_sales_30_days_old_are_on_the_idle_screen_while_the_link_is_down():
    steps = [{"link": "down"}] + sale(1000) + [MOVE, {"restart": True}, {"upload": True}]
    r = run(steps, [T0, T0 + 30 * DAY])
    assert r["ok"], r["failures"]
    assert "offline.overdue" in codes(r)
    assert r["display"][3].rstrip() == "OFFLINE 30D OLD", r["display"]
