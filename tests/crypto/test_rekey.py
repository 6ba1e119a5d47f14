"""Rotating the at-rest data key while records are queued: killed at every step, nothing is ever lost.

The invariant checked after every kill: every sealed blob in the database
opens under some key version the key ring on disk still holds, with its own
row's associated data, to exactly the bytes that were sealed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import time

import pytest

from crypto.atrest import Sealer
from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import TerminalKeys, provision
from firmware.bridge import advice_aad, reversal_aad
from firmware.errors import CryptoError
from firmware.sealed import card_aad
from storage.rekey import Step, finish_rotation, rotate_data_key, rotation_pending, sealed_columns, versions_in_use
from storage.store import DB_FILE, Store
from tests.forking import CUT, run_in_child

ROWS = 7  # journal rows; odd ones have a due reversal, even ones an armed one, every third an advice
TOTAL = ROWS + ROWS + ROWS // 3


def _payload(table: str, n: int, column: str = "") -> bytes:
    return f"{table}{'.' + column if column else ''}:{n}:lab-test-payload-{n * 7919}".encode()


def _columns():
    return (("journal", "card", lambda n: card_aad(n, "journal")), ("journal", "reversal", reversal_aad),
            ("reversals", "message", reversal_aad), ("offline_queue", "message", advice_aad))


def _expected(table: str, column: str, n: int) -> bytes:
    return _payload(table, n, "reversal") if column == "reversal" else _payload(table, n)


def test_rotation_covers_every_sealed_column_of_the_schema(tmp_path):
    """A blob column the rotation forgot would stay sealed under a key the rotation destroys."""
    store = Store.open(tmp_path)
    blobs = {
        (table, column)
        for (table,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        for _, column, kind, *_ in store.conn.execute(f"PRAGMA table_info({table})")
        if kind == "BLOB"
    }
    store.close()
    not_sealed = {("journal", "pan_hash")}  # a keyed hash: nothing to open
    assert blobs - not_sealed == {(c.table, c.column) for c in sealed_columns()}
    assert {(t, c) for t, c, _ in _columns()} == {(c.table, c.column) for c in sealed_columns()}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A provisioned data directory with sealed card data, reversals and advices queued."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    ring = provision(data_dir, lab=True)
    sealer = TerminalKeys.load(ring).sealer
    store = Store.open(data_dir)
    with store.conn:
        for n in range(1, ROWS + 1):
            store.conn.execute(
                "INSERT INTO journal (txn_no, kind, state, amount, currency, stan, batch, created_at, masked_pan, card, "
                "entry_mode) VALUES (?, 'sale', 'approved', 100, '156', ?, 1, '2024-05-06T12:00:00', '621234****4569', "
                "?, 'swipe')", (n, n, sealer.seal(_payload("journal", n), card_aad(n, "journal"))))
            if n % 2:
                store.conn.execute(
                    "INSERT INTO reversals (txn_no, state, message, created_at) VALUES (?, 'due', ?, 'now')",
                    (n, sealer.seal(_payload("reversals", n), reversal_aad(n))))
            else:  # armed: a request a power cut interrupted, its reversal still in its row
                store.conn.execute(
                    "UPDATE journal SET state='requested', reversal=? WHERE txn_no=?",
                    (sealer.seal(_payload("journal", n, "reversal"), reversal_aad(n)), n))
            if n % 3 == 0:
                store.conn.execute(
                    "INSERT INTO offline_queue (txn_no, state, message, stan, amount, created_at) "
                    "VALUES (?, 'queued', ?, ?, 100, 'now')",
                    (n, sealer.seal(_payload("offline_queue", n), advice_aad(n)), n))
    store.close()
    return data_dir


@pytest.fixture
def data_dir(template, tmp_path):
    return shutil.copytree(template, tmp_path / "data")


def check_every_record_opens(data_dir) -> dict[int, int]:
    """Open every blob with what the key ring on disk holds; returns blobs per key version."""
    ring = Keyring.load(data_dir)
    versions = ring.versions(KeyUsage.DATA)
    sealer = Sealer({v: ring.get(KeyUsage.DATA, v) for v in versions}, versions[-1])
    conn = sqlite3.connect(data_dir / DB_FILE)
    try:
        count = 0
        for table, column, aad in _columns():
            for n, blob in conn.execute(f"SELECT txn_no, {column} FROM {table} WHERE {column} IS NOT NULL"):
                assert bytes(sealer.open(blob, aad(n))) == _expected(table, column, n), (table, column, n)
                count += 1
        assert count == TOTAL
        return versions_in_use(conn)
    finally:
        conn.close()


def rotate_in_child(data_dir, die_at: int | None = None, *, batch: int = 2) -> int:
    """Rotate in a forked child that dies at the ``die_at``-th step; returns its exit code."""

    def work(hook) -> None:
        store = Store.open(data_dir)
        rotate_data_key(Keyring.load(data_dir), store.conn, batch=batch, hook=hook)
        store.close()

    return run_in_child(work, die_at)


def count_steps(data_dir) -> list[Step]:
    steps: list[Step] = []
    store = Store.open(data_dir)
    rotate_data_key(Keyring.load(data_dir), store.conn, batch=2, hook=steps.append)
    store.close()
    return steps


def test_a_rotation_reseals_everything_and_drops_the_old_key(data_dir):
    assert check_every_record_opens(data_dir) == {1: TOTAL}
    store = Store.open(data_dir)
    ring = Keyring.load(data_dir)
    old_blob = TerminalKeys.load(ring).sealer.seal(b"x", b"a")
    report = rotate_data_key(ring, store.conn, batch=3)
    store.close()
    assert (report.from_versions, report.to_version, report.dropped, report.resealed) == ((1, 2), 2, (1,), TOTAL)
    assert check_every_record_opens(data_dir) == {2: TOTAL}
    assert Keyring.load(data_dir).versions(KeyUsage.DATA) == [2] and not rotation_pending(ring)
    assert Sealer.key_version(report.sealer.seal(b"x", b"a")) == 2
    with pytest.raises(CryptoError) as e:
        report.sealer.open(old_blob, b"a")  # the old key is gone from the new sealer too
    assert e.value.code == "keys.missing"


def test_killed_at_every_step_no_record_is_ever_lost(template, tmp_path):
    steps = count_steps(shutil.copytree(template, tmp_path / "dry"))
    assert steps[0] is Step.KEY_ADDED and steps[-2:] == [Step.CHECKED, Step.DROPPED]
    assert steps.count(Step.IN_BATCH) >= 7
    for k in range(1, len(steps) + 1):
        data_dir = shutil.copytree(template, tmp_path / f"kill{k}")
        assert rotate_in_child(data_dir, die_at=k) == CUT, (k, steps[k - 1])
        in_use = check_every_record_opens(data_dir)
        ring = Keyring.load(data_dir)
        # A dead rotation may leave two versions, never a record without its key.
        assert set(in_use) <= set(ring.versions(KeyUsage.DATA)), (k, steps[k - 1])
        pending = rotation_pending(ring)
        assert pending == (steps[k - 1] is not Step.DROPPED), (k, steps[k - 1])
        store = Store.open(data_dir)
        # A pending rotation is finished, not restarted (start-up may call finish_rotation alone).
        report = (rotate_data_key if pending else finish_rotation)(ring, store.conn)
        store.close()
        assert report.to_version == 2, (k, steps[k - 1])
        assert check_every_record_opens(data_dir) == {2: TOTAL}
        assert Keyring.load(data_dir).versions(KeyUsage.DATA) == [2]


def test_killed_at_random_moments_no_record_is_ever_lost(data_dir):
    rng = random.Random(7)
    for _ in range(15):
        pid_status = None
        pid = os.fork()
        if pid == 0:
            try:
                while True:
                    store = Store.open(data_dir)
                    rotate_data_key(Keyring.load(data_dir), store.conn, batch=2)
                    store.close()
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGKILL)
        pid_status = os.waitpid(pid, 0)[1]
        assert os.WIFSIGNALED(pid_status)
        in_use = check_every_record_opens(data_dir)
        assert set(in_use) <= set(Keyring.load(data_dir).versions(KeyUsage.DATA))
    ring = Keyring.load(data_dir)
    store = Store.open(data_dir)
    finish_rotation(ring, store.conn)
    store.close()
    assert len(Keyring.load(data_dir).versions(KeyUsage.DATA)) == 1
    assert len(check_every_record_opens(data_dir)) == 1


def test_a_blob_sealed_by_a_stale_sealer_stops_the_drop(data_dir):
    """A writer still sealing under the old key makes the rotation refuse to drop it."""
    stale = TerminalKeys.load(Keyring.load(data_dir)).sealer  # holds version 1 only

    def late_writer(step: Step) -> None:
        if step is Step.BATCH_COMMITTED:
            other = sqlite3.connect(data_dir / DB_FILE)
            with other:
                other.execute("UPDATE journal SET card=? WHERE txn_no=1",
                              (stale.seal(_payload("journal", 1), card_aad(1, "journal")),))
            other.close()

    store = Store.open(data_dir)
    ring = Keyring.load(data_dir)
    with pytest.raises(CryptoError) as e:
        rotate_data_key(ring, store.conn, batch=50, hook=late_writer)
    assert e.value.code == "rotate.incomplete"
    assert Keyring.load(data_dir).versions(KeyUsage.DATA) == [1, 2]
    check_every_record_opens(data_dir)
    finish_rotation(Keyring.load(data_dir), store.conn)
    store.close()
    assert check_every_record_opens(data_dir) == {2: TOTAL}
