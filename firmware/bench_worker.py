"""``posterm bench``'s measurements, as run inside a worker process.

``bench`` runs each figure in a fresh ``python -m firmware.bench --worker MODE``
process, so that imports and memory are a fresh process's and strace sees
only the worker; ``worker`` is what that process runs, and returns the figures
as a dict for the parent to print. Here: the floor (two fsync'd commits), a
terminal with simulated devices and a timed in-process host, the sales timed
in rounds between floors, the fsync and memory runs, and the per-operation
figures (card decoding, crypto, a password check). The upload figure, which
needs its own host over TCP, is in ``bench_upload``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from firmware.bench_upload import _timed_upload

__all__ = ["worker", "floor_commit_pair", "peak_rss_mb", "micro_figures", "password_figures"]

PASSWORD_FLOOR_LOG2_N = 10


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM is reset by exec; ru_maxrss would
    also count the pages of the process that forked us."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor_commit_pair(directory: Path, rounds: int = 200, *, reused_log: bool = False) -> float:
    """Median seconds for two fsync'd commits of a small row, in a new database opened
    exactly as the terminal opens its own (WAL, synchronous=FULL, secure_delete; see
    storage.db). Each commit appends to a growing log, as in any new SQLite database:
    the issue's floor.

    ``reused_log``: the same commits into a log that was grown and then restarted, as
    the terminal's are after its idle checkpoints (see ``Store.checkpoint``). On ext4
    these cost about half as much, since the file's size does not change.
    """
    from storage.db import open_database

    path = directory / "floor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = open_database(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a BLOB, b INTEGER)")
    row = os.urandom(160)

    def commit() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (row, 1))
        conn.execute("COMMIT")

    if reused_log:
        for _ in range(2 * rounds + 2):
            commit()
        conn.execute("PRAGMA wal_checkpoint(RESTART)")
        commit()  # restarts the log (and syncs its header) before the measured commits
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        commit()
        commit()
        samples.append(time.perf_counter() - t0)
    conn.close()
    return statistics.median(samples)


class _HostClock:
    """The in-process host's time (not the terminal's), and the last request and answer it saw."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.last: tuple[bytes, bytes | None] | None = None


def _terminal(directory: Path, *, copies: list[str]) -> tuple:
    """A provisioned terminal on simulated devices, booted, with an in-process host: (runner, _HostClock)."""
    from crypto.provision import provision
    from firmware.app import Overrides, build_runner
    from firmware.config import Config
    from firmware.hostsim.ledger import Ledger
    from firmware.hostsim.processor import HostProcessor

    data = directory / "data"
    provision(data, lab=True)
    config = Config().replace(
        {
            "storage": {"data_dir": str(data)},
            "devices": {"link": "sim://"},
            "receipts": {"copies": copies},
        }
    )
    from crypto.keys import KeyUsage
    from crypto.provision import lab_key

    processor = HostProcessor(
        config.host.profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN), ledger=Ledger(":memory:")
    )
    host = _HostClock()
    respond = processor.respond

    def timed(payload: bytes):
        t0 = time.perf_counter()
        answer = None
        try:
            answer = respond(payload)
            return answer
        finally:
            host.seconds += time.perf_counter() - t0
            host.last = (bytes(payload), answer.payload if answer is not None else None)

    processor.respond = timed  # the host's own work is not the terminal's
    runner = build_runner(config, overrides=Overrides(host=processor))
    runner.boot()
    return runner, host


def _sell(runner, n: int) -> None:
    from firmware.core.model import State

    pad, reader = runner.devices.pinpad, runner.devices.reader
    for i in range(n):
        before = len(runner.printed), runner.store.commits
        pad.press("1250#")
        reader.swipe_card("unionpay_debit")
        pad.press("1234#", hold_for_pin=True)
        runner.run_until(lambda: runner.core.state is State.IDLE and runner.store.commits > before[1], 10)
        if runner.core.state is not State.IDLE:
            raise RuntimeError(f"sale {i} did not complete: {runner.core.state}")


class _StorageClock:
    """Time spent inside the store's two durable steps of a sale (their SQL, commits and fsyncs).

    It wraps the two methods for the measured run; the wrappers cost about a
    microsecond a sale, well inside the run-to-run noise.
    """

    def __init__(self, store) -> None:
        self.store, self.seconds = store, 0.0
        store.open_request, store.record_outcome = self._timed(store.open_request), self._timed(store.record_outcome)

    def _timed(self, step):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return run

    def stop(self) -> float:
        del self.store.open_request, self.store.record_outcome  # the class's methods again
        return self.seconds


ROUNDS = 6


def _timed_sales(directory: Path, sales: int) -> dict:
    """Sales in rounds, each between two floor measurements, so that a sale and its floor
    see the same machine: a shared virtual machine's CPU and disk speeds drift by tens
    of per cent within a minute. The figures are the medians over the rounds."""
    runner, host = _terminal(directory, copies=[])
    _sell(runner, 20)  # warm up: caches, first-use imports
    runner.store.checkpoint()
    per_round = max(1, sales // ROUNDS)
    commits0 = runner.store.commits
    rounds, checkpoint = [], 0.0
    floor_before = floor_commit_pair(directory, rounds=60)
    for _ in range(ROUNDS):
        host0 = host.seconds
        storage = _StorageClock(runner.store)
        t0 = time.perf_counter()
        _sell(runner, per_round)
        elapsed = time.perf_counter() - t0
        storage_seconds = storage.stop()
        host_seconds = host.seconds - host0
        t1 = time.perf_counter()
        runner.store.checkpoint()  # what the runner does once idle, off the sale path
        checkpoint += time.perf_counter() - t1
        floor_after = floor_commit_pair(directory, rounds=60)
        floor = (floor_before + floor_after) / 2
        per_sale = (elapsed - host_seconds) / per_round
        rounds.append({"per_sale": per_sale, "floor": floor, "ratio": per_sale / floor,
                       "storage_per_sale": storage_seconds / per_round, "host_per_sale": host_seconds / per_round,
                       "other_per_sale": per_sale - storage_seconds / per_round})
        floor_before = floor_after
    reused = floor_commit_pair(directory, rounds=60, reused_log=True)
    from firmware.bench_essentials import essentials_seconds  # (it imports _best from here)

    essentials = essentials_seconds(runner, host)  # host.last: the last sale's request and answer
    out = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    out["ratio_range"] = (min(r["ratio"] for r in rounds), max(r["ratio"] for r in rounds))
    out["floor_reused"] = reused
    out["essentials"] = essentials
    out.update(sales=per_round * ROUNDS, rounds=ROUNDS,
               commits_per_sale=(runner.store.commits - commits0) / (per_round * ROUNDS),  # checkpoints net zero
               checkpoint_s=checkpoint / ROUNDS)
    runner.close()
    return out


def password_figures(kdf_cost: int, rounds: int = 3) -> dict:
    """One operator password check (``verify_password``) at ``kdf_cost``, and the floor: the same
    check at N = 2**10. The best of ``rounds`` each (scrypt's time hardly varies)."""
    from crypto.passwords import KdfCost, Password, hash_password, verify_password

    def best(cost: KdfCost) -> float:
        with Password(b"24681357") as password:
            stored = hash_password(password, cost, salt=bytes(16))
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                verify_password(password, stored)
                times.append(time.perf_counter() - t0)
        return min(times)

    seconds = best(KdfCost(kdf_cost))
    floor = best(KdfCost(PASSWORD_FLOOR_LOG2_N))
    return {"password": {"kdf_cost": kdf_cost, "seconds": seconds, "floor": floor,
                         "floor_log2_n": PASSWORD_FLOOR_LOG2_N}}


def worker(directory: Path, sales: int, mode: str, *, kdf_cost: int = 14) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    if mode == "sales":
        return _timed_sales(directory, sales)
    if mode == "upload":  # stored offline sales forwarded, a window against one at a time
        return _timed_upload(directory, stored=sales)
    if mode == "fsyncs":  # run under strace: the sales, then the idle checkpoint, between markers
        runner, _ = _terminal(directory, copies=[])
        _sell(runner, 20)
        runner.store.checkpoint()
        commits0 = runner.store.commits
        os.uname()  # marker for strace: the measured sales start
        _sell(runner, sales)
        os.uname()  # marker: sales end, the idle checkpoint starts
        runner.store.checkpoint()
        os.uname()  # marker: checkpoint done
        out = {"commits_per_sale": (runner.store.commits - commits0) / sales}
        runner.close()
        return out
    if mode == "setup":  # what strace must subtract: provisioning, migrations, boot
        runner, _ = _terminal(directory, copies=[])
        runner.close()
        return {}
    if mode == "micro":  # issues #3 and #4: per-operation figures with their own floors
        return micro_figures(directory)
    if mode == "password":  # one operator password check at the configured cost
        return password_figures(kdf_cost)
    if mode == "lookup":  # a refund's original in a journal of ``sales`` records, and of one batch
        from firmware.bench_lookup import lookup_figures

        return lookup_figures(directory, sales)
    if mode == "printing":  # a terminal that sold and printed: its peak memory
        runner, _ = _terminal(directory, copies=["merchant", "cardholder"])
        _sell(runner, 20)
        runner.close()
        return {"rss_mb": peak_rss_mb()}
    raise ValueError(mode)


def _best(fn, rounds: int = 2000, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - t0) / rounds)
    return best


def micro_figures(directory: Path) -> dict:
    """Card decoding and crypto per operation, each beside a floor measured here and now."""
    from crypto.bench import figures as crypto_figures
    from crypto.des import TdesEcb
    from hal.magstripe.bench import time_raw_swipe
    from hal.magstripe.sim import find_card

    card = find_card("unionpay_full")
    text = "".join(t for t in (card.track1, card.track2, card.track3) if t).encode()
    key = bytes(range(16))
    rows = [
        {"name": "decode + parse a raw three-track swipe", "seconds": time_raw_swipe(), "target": 0.001,
         "floor": _best(lambda: text.decode("ascii")), "floor_name": "bytes.decode of the three tracks' text"},
    ]
    tdes_floor = _best(lambda: TdesEcb(key).encrypt(bytes(8)))
    for f in crypto_figures(directory):
        rows.append({"name": f.name, "seconds": f.seconds, "target": f.target, "floor": tdes_floor,
                     "floor_name": "one TDES block, new context"})
    return {"micro": rows}
