"""Rotating the at-rest data key while sealed records are queued, crash-safe.

Every sealed blob names the data-key version that sealed it (``crypto.atrest``),
and the key ring may hold several versions. A rotation goes:

1. **add** a new version to the key ring (one atomic save): from here on
   the terminal seals with it, and every old blob still opens;
2. **re-seal** the old blobs in small transactions: open under its old key,
   seal under the new one with the same associated data, and write it back
   only if the row still holds the blob that was read (compare and set);
3. **check**, holding the database's write lock, that no blob names an old
   version any more;
4. **drop** the old versions from the key ring (one atomic save), still
   under the lock, so no blob can be written under an old key in between.

A crash anywhere leaves either the old key ring (and old blobs) or the new
key ring with old *and* new versions; an interrupted re-seal transaction
rolls back. No step removes a key a stored blob still needs, so after any
crash every record opens. ``finish_rotation`` (also run by
``rotate_data_key`` when a rotation is pending) completes the job.

The caller must swap its ``Sealer`` for the one returned (or reload
``TerminalKeys``) before sealing anything else: a sealer still holding only
old versions would seal under a key about to be dropped. Run it between
sales, or with the terminal stopped.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from crypto.atrest import Sealer
from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from firmware.errors import CryptoError
from storage.db import storage_error, transaction

__all__ = ["Step", "SealedColumn", "sealed_columns", "RotationReport", "rotation_pending", "rotate_data_key",
           "finish_rotation", "versions_in_use"]


class Step(str, enum.Enum):
    """Points a rotation passes; ``hook`` is called at each (tests kill it there)."""

    KEY_ADDED = "key_added"  # the new version is saved in the key ring
    IN_BATCH = "in_batch"  # blobs re-sealed inside an open transaction, not committed
    BATCH_COMMITTED = "batch_committed"
    CHECKED = "checked"  # no blob names an old version; write lock held
    DROPPED = "dropped"  # old versions removed from the key ring; write lock still held


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    aad: Callable[[int], bytes]  # of the row's txn_no


def sealed_columns() -> tuple[SealedColumn, ...]:
    """Every column of sealed blobs, with the associated data that binds them to their row."""
    from firmware.bridge import advice_aad, reversal_aad
    from firmware.sealed import card_aad

    return (
        SealedColumn("journal", "card", lambda n: card_aad(n, "journal")),
        SealedColumn("journal", "reversal", reversal_aad),  # armed, waiting in its request's row
        SealedColumn("reversals", "message", reversal_aad),
        SealedColumn("offline_queue", "message", advice_aad),
    )


@dataclass(frozen=True, repr=False)
class RotationReport:
    from_versions: tuple[int, ...]
    to_version: int
    resealed: int
    dropped: tuple[int, ...]
    sealer: Sealer  # seals with the new version only: the caller's new sealer

    def __repr__(self) -> str:
        return (f"RotationReport(from={self.from_versions}, to={self.to_version}, "
                f"resealed={self.resealed}, dropped={self.dropped})")


def _noop(step: Step) -> None:
    pass


def rotation_pending(ring: Keyring) -> bool:
    return len(ring.versions(KeyUsage.DATA)) > 1


def _version_bytes(version: int) -> bytes:
    return version.to_bytes(2, "big")


def versions_in_use(conn: sqlite3.Connection, columns: tuple[SealedColumn, ...] | None = None) -> dict[int, int]:
    """How many stored blobs each data-key version seals."""
    out: dict[int, int] = {}
    for col in columns or sealed_columns():
        sql = (f"SELECT substr({col.column}, 3, 2), COUNT(*) FROM {col.table} "
               f"WHERE {col.column} IS NOT NULL GROUP BY 1")
        try:
            rows = conn.execute(sql).fetchall()
        except sqlite3.Error as e:
            raise storage_error(e, "counting sealed blobs") from None
        for raw, n in rows:
            version = int.from_bytes(raw, "big") if isinstance(raw, bytes) else -1
            out[version] = out.get(version, 0) + n
    return out


def rotate_data_key(ring: Keyring, conn: sqlite3.Connection, *, batch: int = 64,
                    hook: Callable[[Step], None] = _noop) -> RotationReport:
    """Add a new data-key version (unless a rotation is pending) and complete the rotation."""
    if not rotation_pending(ring):
        ring.generate(KeyUsage.DATA, 32, note="at-rest card data")
        hook(Step.KEY_ADDED)
    return finish_rotation(ring, conn, batch=batch, hook=hook)


def finish_rotation(ring: Keyring, conn: sqlite3.Connection, *, batch: int = 64,
                    hook: Callable[[Step], None] = _noop) -> RotationReport:
    """Re-seal every blob under the newest data-key version, then drop the older versions."""
    versions = ring.versions(KeyUsage.DATA)
    if not versions:
        raise CryptoError("no at-rest data key: provision the terminal", code="keys.not_provisioned")
    target = versions[-1]
    keys = {v: ring.get(KeyUsage.DATA, v) for v in versions}
    try:
        sealer = Sealer(keys, target)
        resealed = sum(_reseal(conn, col, sealer, batch, hook) for col in sealed_columns())
        old = tuple(v for v in versions if v != target)
        with transaction(conn, "checking the data-key rotation"):
            left = {v: n for v, n in versions_in_use(conn).items() if v != target}
            if left:
                raise CryptoError(f"{sum(left.values())} stored records are still sealed under an older data key",
                                  code="rotate.incomplete")
            hook(Step.CHECKED)
            if old:
                with ring.batch():
                    for v in old:
                        ring.drop(KeyUsage.DATA, v, save=False)
            hook(Step.DROPPED)
        return RotationReport(tuple(versions), target, resealed, old, Sealer({target: keys[target]}, target))
    finally:
        for key in keys.values():
            key.wipe()


def _reseal(conn: sqlite3.Connection, col: SealedColumn, sealer: Sealer, batch: int,
            hook: Callable[[Step], None]) -> int:
    target = _version_bytes(sealer.current)
    select = (f"SELECT txn_no, {col.column} FROM {col.table} WHERE {col.column} IS NOT NULL "
              f"AND substr({col.column}, 3, 2) != ? AND txn_no > ? ORDER BY txn_no LIMIT ?")
    update = f"UPDATE {col.table} SET {col.column}=? WHERE txn_no=? AND {col.column}=?"
    done, last = 0, -1
    while True:
        try:
            rows = conn.execute(select, (target, last, batch)).fetchall()
        except sqlite3.Error as e:
            raise storage_error(e, "reading sealed blobs") from None
        if not rows:
            return done
        last = rows[-1][0]
        with transaction(conn, "re-sealing stored card data under the new data key") as c:
            for txn_no, blob in rows:
                aad = col.aad(txn_no)
                clear = sealer.open(blob, aad)
                try:
                    fresh = sealer.seal(clear, aad)
                finally:
                    clear[:] = bytes(len(clear))
                done += c.execute(update, (fresh, txn_no, blob)).rowcount
            hook(Step.IN_BATCH)
        hook(Step.BATCH_COMMITTED)
