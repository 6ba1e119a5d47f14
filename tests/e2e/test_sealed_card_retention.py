"""The sealed PAN and expiry (``journal.card``) go once nothing can read them (AU17 M1).

Their only reader is the batch upload (``Store.card_blob`` for the 0320s). So they are cleared in the commit
that closes a batch that owes no upload (balanced, or a profile without one), or in the commit that records
its upload done; a batch whose upload is still owed keeps them. A database settled by firmware from before
is swept once by the idle housekeeping, a slice at a time. ``secure_delete`` overwrites the freed bytes: the
tests look for the sealed bytes themselves in the database file, not only for NULL in SQL. What a refund, a
void or a reprint reads (``pan_hash``, ``masked_pan``) stays.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.housekeeping import SWEPT
from storage.store import Store
from tests.e2e.aged import SALE, copy_terminal, grow_journal, play


def cards(data: Path) -> dict[int, bytes | None]:
    c = sqlite3.connect(data / "posterm.db")
    try:
        return dict(c.execute("SELECT txn_no, card FROM journal ORDER BY txn_no"))
    finally:
        c.close()


def on_disk(data: Path) -> bytes:
    """The database as its files hold it, after a checkpoint has copied the log back (as the idle runner does)."""
    c = sqlite3.connect(data / "posterm.db")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    return b"".join(p.read_bytes() for p in sorted(data.glob("posterm.db*")))


def kept_for_look_ups(data: Path) -> list[tuple]:
    c = sqlite3.connect(data / "posterm.db")
    try:
        return c.execute("SELECT txn_no, length(pan_hash), masked_pan FROM journal ORDER BY txn_no").fetchall()
    finally:
        c.close()


def test_a_balanced_settlement_clears_its_batch_sealed_cards_from_the_file(tmp_path):
    data = tmp_path / "data"
    sealed: dict[int, bytes] = {}

    def watch(step):  # each sale's sealed card as it was written, before the settlement
        sealed.update((n, card) for n, card in cards(data).items() if card is not None)

    r = play(SALE + SALE + [{"settle": True}] + SALE, data, after_step=watch)
    assert r["ok"], r["failures"]
    assert any(code == "settle.ok" for code, _ in r["alerts"]), r["alerts"]
    assert sorted(sealed) == [1, 2, 3]
    after = cards(data)
    assert after[1] is None and after[2] is None  # batch 1, settled balanced
    assert after[3] == sealed[3]  # the open batch's sale: its upload may yet be owed
    kept = kept_for_look_ups(data)  # refund, void and reprint still find the sales
    assert len(kept) == 3 and all(hashed and "*" in masked for _, hashed, masked in kept), kept
    image = on_disk(data)
    assert sealed[1] not in image and sealed[2] not in image, "sealed card bytes are still in the database files"
    assert sealed[3] in image  # (the search finds a sealed card where one is kept)


def test_an_acknowledged_batch_upload_clears_its_sealed_cards_from_the_file(tmp_path):
    """Unbalanced: the upload read the cards (its 0320s went), then its commit cleared them."""
    data = tmp_path / "data"
    assert play(SALE, data)["ok"]
    sealed = cards(data)[1]
    r = play([{"host": {"behaviour": "unbalanced", "times": 1}}, {"settle": True}], data)
    assert r["ok"], r["failures"]
    assert any(code == "settle.uploaded" for code, _ in r["alerts"]), r["alerts"]
    c = sqlite3.connect(data / "posterm.db")
    ((uploaded,),) = c.execute("SELECT uploaded FROM settlements").fetchall()
    c.close()
    assert uploaded == 1 and cards(data)[1] is None
    assert sealed not in on_disk(data)


def test_the_housekeeping_sweeps_what_older_firmware_settled_a_slice_at_a_time(tmp_path):
    one = tmp_path / "one"
    assert play(SALE, one)["ok"]
    data = copy_terminal(one, tmp_path / "data")
    grow_journal(data, 2_500, per_batch=1000)  # 3 settled batches (balanced), as older firmware left them
    c = sqlite3.connect(data / "posterm.db", isolation_level=None)
    c.execute("UPDATE settlements SET result = '2', uploaded = 0 WHERE batch = 102")  # its upload still owed
    c.close()
    store = Store.open(data)
    try:
        assert store.forget_settled_cards(rows=1000) is False
        assert store.forget_settled_cards(rows=1000) is False
        assert store.forget_settled_cards(rows=1000) is True  # reached the newest row
        assert store.forget_settled_cards(rows=1000) is True  # done: nothing more to do
        assert store.conn.execute("SELECT value FROM settings WHERE key = ?", (SWEPT,)).fetchone() == ("done",)
    finally:
        store.close()
    held = {n for n, card in cards(data).items() if card is not None}
    c = sqlite3.connect(data / "posterm.db")
    owed = {n for (n,) in c.execute("SELECT txn_no FROM journal WHERE batch = 102")}
    c.close()
    assert held == owed | {1}  # the owed upload's rows, and the open batch's sale
    assert len(owed) == 500


def test_the_idle_checkpoint_runs_the_sweep(tmp_path):
    one = tmp_path / "one"
    assert play(SALE, one)["ok"]
    data = copy_terminal(one, tmp_path / "data")
    grow_journal(data, 50)  # 50 settled copies of the open batch's sale, its sealed card and all
    blob = cards(data)[1]
    assert on_disk(data).count(blob) == 51
    store = Store.open(data)
    try:
        store.checkpoint()
    finally:
        store.close()
    assert {n for n, card in cards(data).items() if card is not None} == {1}
    assert on_disk(data).count(blob) == 1  # the open batch's own: the settled copies' bytes are overwritten
