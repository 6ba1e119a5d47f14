"""A runner that stays up for months keeps a bounded record of what it did (AU17 L1).

``Runner.alerts``, ``notes`` and ``printed`` got an entry per receipt copy (about 200 bytes a sale) and were
never trimmed. Each is now a ``firmware.history.History``: the newest ``HISTORY_KEPT`` entries, a count of the
dropped ones, and positions and ``len`` as if it held every entry, so ``alerts[n:]`` and ``len(...)`` mean what
they did. A scenario keeps everything (``Runner.keep_history``).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.provision import provision
from firmware.app import Overrides, build_runner
from firmware.config import Config
from firmware.history import HISTORY_KEPT, History
from firmware.hostsim.processor import HostProcessor
from firmware.scenario import ScenarioRunner, parse_scenario
from tests.e2e.aged import FAST, SALE


@given(st.integers(0, 40), st.integers(1, 8), st.integers(-50, 50), st.integers(-50, 50))
def test_a_history_reads_like_the_list_of_every_entry_minus_the_dropped(n, keep, start, stop):
    h: History[int] = History(keep)
    every = []
    for i in range(n):
        h.append(i)
        every.append(i)
    assert len(h) == n and h.dropped == max(0, n - keep)
    assert list(h) == every[-keep:] if n else list(h) == []
    assert h[start:stop] == [x for x in every[start:stop] if x >= h.dropped]  # a slice: the kept in its range
    assert h[len(h):] == []  # what comes after now: nothing yet
    if n:
        assert h[-1] == every[-1]


def test_a_dropped_entry_is_an_index_error_that_says_so():
    h: History[str] = History(2)
    for x in "abc":
        h.append(x)
    assert (h[1], h[2], h[-1], h[-2]) == ("b", "c", "c", "b")
    with pytest.raises(IndexError, match="not kept"):
        h[0]
    h.keep_all()
    for x in "defg":
        h.append(x)
    assert list(h) == list("bcdefg") and len(h) == 7 and h.dropped == 1


def _sales(n: int, keep_all: bool, tmp_path):
    """Play ``n`` sales (``keep_all``: as scenarios do; otherwise with the histories ``posterm run``'s runner
    has, ``History()``); the runner's printed history after them, and its length after each step."""
    sr = ScenarioRunner(data_dir=tmp_path / "data")
    seen, runner = [], []

    def after(step):
        if not runner:  # after the first step: the runner is built
            runner.append(sr.runner)
            if not keep_all:
                sr.runner.printed, sr.runner.alerts, sr.runner.notes = History(), History(), History()
        seen.append(len(sr.runner.printed))

    r = sr.run(parse_scenario({"name": "months", "config": FAST, "step": SALE * n}), after_step=after)
    assert r["ok"], r["failures"]
    return runner[0].printed, seen


def test_a_long_running_terminal_keeps_a_bounded_record_of_receipts(tmp_path):
    printed, seen = _sales(60, keep_all=False, tmp_path=tmp_path)  # two copies a sale: 120 printed
    assert len(list(printed)) == HISTORY_KEPT < 120
    assert len(printed) == 120 and printed.dropped == 20  # still counts every copy (bench, tests: len before/after)
    assert seen == sorted(seen)


def test_a_scenario_sees_every_receipt(tmp_path):
    printed, _ = _sales(60, keep_all=True, tmp_path=tmp_path)
    assert len(list(printed)) == len(printed) == 120 and printed.dropped == 0


def test_the_runner_posterm_run_builds_bounds_its_histories(tmp_path):
    data = tmp_path / "data"
    provision(data, lab=True)
    config = Config().replace({"storage": {"data_dir": str(data)}})
    runner = build_runner(config, overrides=Overrides(host=HostProcessor(config.host.profile)))
    try:
        runner.boot()
        for history in (runner.alerts, runner.notes, runner.printed):
            before = len(history)
            for i in range(HISTORY_KEPT + 5):
                history.append(("x", str(i)))
            assert len(list(history)) == HISTORY_KEPT and len(history) == before + HISTORY_KEPT + 5
            assert history[-1] == ("x", str(HISTORY_KEPT + 4))
    finally:
        runner.close()
