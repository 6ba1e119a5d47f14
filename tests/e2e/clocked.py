"""A scenario runner whose terminal and host simulator share a fake wall clock: long gaps in a test.

From audit AU18's helpers (briefs/au18). ``Clocked(times)`` starts the clock at ``times[0]``; each
``{"wait": 0}`` step (``MOVE``) moves it to the next time in the list. The clock is set on the runner
(``Runner.clock``, the core's ``now``) and on the host simulator (``HostProcessor.clock``) at every boot,
restarts included. The machine's own clock is never touched (the real ``set_system_clock`` is never called).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from firmware.scenario import ScenarioRunner, parse_scenario
from firmware.scenario import runner as scenario_runner

CARD = [{"swipe": "unionpay_debit"}, {"pin": "1234"}]
CREDIT = [{"swipe": "unionpay_credit"}, {"pin": "1234"}]  # service code 101: may be approved offline
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}
MOVE = {"wait": 0}  # the point where the clock moves to the next time


def sale(amount: int = 1250, card=CREDIT) -> list[dict]:
    return [{"key": f"{amount}#"}] + card


class Clocked(ScenarioRunner):
    def __init__(self, times: list[datetime], **kw) -> None:
        super().__init__(**kw)
        self.times = list(times)
        self.t = self.times.pop(0)
        self.ticks = 0

    def now(self) -> datetime:
        self.ticks += 1  # a microsecond a call, so that times are never all the same within a step
        return (self.t + timedelta(microseconds=self.ticks)).replace(fold=self.t.fold)  # (arithmetic drops it)

    def _boot(self, config, crash) -> None:
        self.runner = scenario_runner.build_runner(
            config, overrides=scenario_runner.Overrides(devices=dict(self.devices)), crash=crash)
        self.runner.clock = self.now
        if self.processor is not None:
            self.processor.clock = self.now
        self.runner.boot()


def run(steps, times, config=FAST) -> dict:
    """Play ``steps``; at each ``MOVE`` the clock moves to the next of ``times``. The scenario's result."""
    sr = Clocked(times)

    def after(step) -> None:
        if step.kind == "wait" and sr.times:
            sr.t = sr.times.pop(0)
            sr.ticks = 0

    return sr.run(parse_scenario({"name": "clocked", "config": config, "step": steps}), after_step=after)


def codes(result: dict) -> list[str]:
    """The codes of the result's alerts (those of the run since the last restart), in order."""
    return [code for code, _ in result["alerts"]]


def mtis(result: dict) -> list[str]:
    return [m["mti"] for m in result["host_ledger"]["messages"]]
