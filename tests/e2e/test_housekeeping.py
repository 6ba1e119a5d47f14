"""Idle housekeeping: the write-ahead log is checkpointed at rest, or at its hard limit."""

from __future__ import annotations

import pytest

from firmware import runner as runner_module
from firmware.bench_worker import _sell, _terminal


@pytest.mark.parametrize("limit, expected", [(10**9, 0), (40, 3)])
def test_a_terminal_that_never_rests_still_checkpoints_at_the_hard_limit(tmp_path, monkeypatch, limit, expected):
    monkeypatch.setattr(runner_module, "CHECKPOINT_IDLE", 3600.0)  # it never rests long enough
    monkeypatch.setattr(runner_module, "WAL_HARD_LIMIT", limit)
    runner, _ = _terminal(tmp_path, copies=[])
    try:
        before = runner.store.checkpoints
        _sell(runner, 60)  # 120 commits
        assert runner.store.checkpoints - before == expected
        assert runner.store.commits_since_checkpoint == 120 - 40 * expected
    finally:
        runner.close()


def test_the_log_file_is_reused_after_a_checkpoint_not_truncated(tmp_path):
    """Commits that overwrite the log's blocks need no file-system journal commit to sync."""
    runner, _ = _terminal(tmp_path, copies=[])
    try:
        from storage.db import WAL_KEPT_BYTES

        _sell(runner, 30)
        assert runner.store.wal_bytes() < WAL_KEPT_BYTES
        runner.store.checkpoint()  # restarts the log and reserves its kept size
        assert runner.store.wal_bytes() == WAL_KEPT_BYTES and runner.store.commits_since_checkpoint == 0
        _sell(runner, 10)  # fits in what the file already has
        assert runner.store.wal_bytes() == WAL_KEPT_BYTES
    finally:
        runner.close()
