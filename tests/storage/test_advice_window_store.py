"""A window of advices is marked "sent before" in ONE commit, all or nothing, before any of its frames leave."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.core.model import JournalState
from firmware.errors import StorageError
from storage.store import Store

from .test_store import opened


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path)
    for n in range(1, 6):
        rec = opened(s, txn_no=n, stan=n, amount=100 * n)
        s.record_outcome(replace(rec, state=JournalState.OFFLINE_APPROVED), advice=b"S1sealed-advice")
    yield s
    s.close()


def commits_in(store: Store, work) -> list[str]:
    """The COMMIT statements SQLite ran during ``work`` (each is one fsync'd transaction)."""
    seen: list[str] = []
    store.conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper().startswith("COMMIT") else None)
    try:
        work()
    finally:
        store.conn.set_trace_callback(None)
    return seen


def sent_before(store: Store) -> dict[int, bool]:
    return {a.txn_no: a.sent_before for a in store.boot_state().advices}


def test_a_window_is_marked_in_one_commit(store):
    before = store.commits
    assert len(commits_in(store, lambda: store.advices_sending([1, 2, 4]))) == 1
    assert store.commits == before + 1
    assert sent_before(store) == {1: True, 2: True, 3: False, 4: True, 5: False}
    rows = dict(store.conn.execute("SELECT txn_no, attempts FROM offline_queue").fetchall())
    assert rows == {1: 1, 2: 1, 3: 0, 4: 1, 5: 0}


def test_one_advice_alone_is_the_same_one_commit(store):
    assert len(commits_in(store, lambda: store.advice_sending(3))) == 1
    assert sent_before(store)[3] and not sent_before(store)[1]


def test_a_window_that_cannot_be_marked_whole_is_not_marked_at_all(store):
    store.conn.execute("CREATE TEMP TRIGGER refuse BEFORE UPDATE ON offline_queue WHEN NEW.txn_no = 4 "
                       "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(StorageError):
        store.advices_sending([1, 2, 4])
    assert not any(sent_before(store).values())  # 1 and 2 rolled back with 4: none of the frames may leave
    store.conn.execute("DROP TRIGGER refuse")
    store.advices_sending([1, 2, 4])
    assert [t for t, s in sent_before(store).items() if s] == [1, 2, 4]


def test_marks_survive_a_reopen(tmp_path, store):
    store.advices_sending([2, 3])
    store.close()
    again = Store.open(tmp_path)
    try:
        assert sent_before(again) == {1: False, 2: True, 3: True, 4: False, 5: False}
    finally:
        again.close()
