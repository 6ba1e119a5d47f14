"""Idle housekeeping: the write-ahead log is checkpointed at rest, or at its hard limit."""

from __future__ import annotations

import pytest

from firmware import runner as runner_module
from firmware.bench import _sell, _terminal


@pytest.mark.parametrize("limit, checkpoints", [(2**40, 0), (64 * 1024, "some")])
def test_a_terminal_that_never_rests_still_checkpoints_at_the_hard_limit(tmp_path, monkeypatch, limit, checkpoints):
    monkeypatch.setattr(runner_module, "CHECKPOINT_IDLE", 3600.0)  # it never rests long enough
    monkeypatch.setattr(runner_module, "WAL_HARD_LIMIT", limit)
    runner, _ = _terminal(tmp_path, copies=[])
    try:
        before = runner.store.checkpoints
        _sell(runner, 60)  # ~2 pages a sale: ~500 kB of log
        done = runner.store.checkpoints - before
        if checkpoints == 0:
            assert done == 0
            assert runner.store.wal_bytes() > 64 * 1024
        else:
            assert done >= 2
            assert runner.store.wal_bytes() < 64 * 1024 + runner_module.WAL_LOOK_EVERY * 2 * 4200
    finally:
        runner.close()
