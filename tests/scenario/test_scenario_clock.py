"""terminal.clock_from_host in a scenario moves the simulated terminal's clock, never the machine's.

``posterm sim`` runs on an engineer's laptop, perhaps as root and against a real host whose clock
differs: a scenario with clock_from_host once handed the move to firmware.sysclock, which sets
CLOCK_REALTIME. The scenario runner now moves its own terminal's clock, and keeps the move across a
restart as a system clock would.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from firmware.scenario import ScenarioRunner, parse_scenario

AHEAD = timedelta(hours=2)


def test_a_scenario_moves_its_terminal_s_clock_and_not_the_machine_s(monkeypatch):
    def never(offset):  # the real clock setter must not be reached
        raise AssertionError(f"the machine's clock was set ({offset})")

    monkeypatch.setattr("firmware.app.set_system_clock", never)
    sim = ScenarioRunner()

    def host_ahead(step):
        if step.index == 1:
            sim.processor.clock = lambda: datetime.now() + AHEAD

    scenario = parse_scenario({"name": "clock", "config": {"terminal": {"clock_from_host": True}}, "step": [
        {"wait": 0},
        {"key": "F2"},  # the menu's sign-on: the host's time comes back two hours ahead
        {"expect": {"state": "idle"}},
    ]})
    result = sim.run(scenario, after_step=host_ahead)
    assert result["ok"], (result["failures"], result["notes"])
    assert any(code == "clock.set" for code, *_ in result["alerts"]), result["alerts"]
    assert abs(sim.clock_moved - AHEAD) < timedelta(seconds=5)
