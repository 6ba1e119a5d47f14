"""``storage.db.transaction``: one atomic commit, or nothing. Every durable step of a sale goes through it, so
each way out of its ``with`` is pinned here on a real database: committed, rolled back and named, or rolled
back and passed on as it was raised."""

from __future__ import annotations

import sqlite3

import pytest

from firmware.errors import StorageError
from storage.db import open_database, transaction


class PowerGone(BaseException):
    """Not an Exception (as the runner's PowerCut): nothing may swallow it."""


@pytest.fixture
def conn(tmp_path):
    c = open_database(tmp_path / "t.db")
    c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    yield c
    c.close()


def rows(conn) -> list[tuple]:
    return conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()


def test_a_body_that_ends_well_is_committed(conn):
    with transaction(conn, "writing a row") as c:
        assert c is conn and conn.in_transaction
        c.execute("INSERT INTO t (id, v) VALUES (1, 'a')")
    assert rows(conn) == [(1, "a")] and not conn.in_transaction


def test_an_sqlite_error_in_the_body_rolls_everything_back_and_is_named(conn):
    with pytest.raises(StorageError) as err:
        with transaction(conn, "writing two rows") as c:
            c.execute("INSERT INTO t (id, v) VALUES (1, 'a')")
            c.execute("INSERT INTO t (id, v) VALUES (2, NULL)")  # NOT NULL
    assert err.value.code == "storage.failed" and "writing two rows" in err.value.text
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert rows(conn) == [] and not conn.in_transaction


@pytest.mark.parametrize("raised", [ValueError("a bug"), PowerGone()])
def test_anything_else_rolls_back_and_goes_on_as_it_was_raised(conn, raised):
    with pytest.raises(type(raised)) as err:
        with transaction(conn, "writing a row") as c:
            c.execute("INSERT INTO t (id, v) VALUES (1, 'a')")
            raise raised
    assert err.value is raised
    assert rows(conn) == [] and not conn.in_transaction


def test_a_commit_that_fails_rolls_back_and_is_named(conn):
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    conn.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(StorageError) as err:
        with transaction(conn, "linking a row") as c:
            c.execute("INSERT INTO t (id, v) VALUES (1, 'a')")
            c.execute("INSERT INTO child (p) VALUES (99)")  # checked only at COMMIT
    assert "linking a row" in err.value.text
    assert rows(conn) == [] and not conn.in_transaction


def test_a_begin_that_fails_is_named_and_runs_no_body(tmp_path, conn):
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    ran = []
    try:
        with pytest.raises(StorageError) as err:
            conn.execute("PRAGMA busy_timeout = 0")
            with transaction(conn, "writing a row"):
                ran.append(True)
        assert err.value.code == "storage.locked" and not ran
    finally:
        other.execute("ROLLBACK")
        other.close()
