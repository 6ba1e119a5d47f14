"""``posterm bench``'s upload figure: stored offline sales forwarded with advices in flight.

Two terminals (the default ``host.upload_window`` and a window of 1, the floor)
forward the same number of offline sales to the host simulator over TCP, which
holds every advice's answer back a fixed delay. It runs in the ``upload``
worker (``bench_worker.worker``); it sets up its own host and terminals, which
is why it sits apart from the other measurements.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

__all__ = ["UPLOAD_STORED", "UPLOAD_DELAY", "UPLOAD_ROUNDS"]

UPLOAD_STORED = 50  # offline sales forwarded per round of the upload figure
UPLOAD_DELAY = 0.020  # the host's delay per message, seconds (a slow line or a busy host)
UPLOAD_ROUNDS = 3


def _upload_terminal(data: Path, terminal_id: str, link: str, window: int, stored: int):
    from crypto.provision import provision
    from firmware.app import build_runner
    from firmware.config import Config

    provision(data, lab=True)
    config = Config().replace({
        "terminal": {"terminal_id": terminal_id},
        "storage": {"data_dir": str(data)},
        "devices": {"link": link},
        "receipts": {"copies": []},
        "host": {"upload_window": window, "connect_timeout": 2.0, "response_timeout": 10.0},
        "offline": {"max_count": stored, "max_amount": 10**12},
    })
    runner = build_runner(config)
    runner.boot()
    return runner


def _store_offline(runner, n: int) -> None:
    """``n`` sales approved offline: the host refuses connections, each one goes to the queue."""
    from firmware.core.model import State

    pad, reader = runner.devices.pinpad, runner.devices.reader
    for i in range(n):
        queued = len(runner.core.advices)
        pad.press("1250#")
        reader.swipe_card("unionpay_credit")
        pad.press("1234#", hold_for_pin=True)
        runner.run_until(lambda q=queued: runner.core.state is State.IDLE and len(runner.core.advices) > q, 10)
        if len(runner.core.advices) <= queued:
            raise RuntimeError(f"offline sale {i} was not stored: {runner.core.state}")


def _forward(runner) -> float:
    """Seconds from asking for the upload to the last advice committed done."""
    from firmware.core.model import State

    t0 = time.perf_counter()
    runner.request_upload()
    runner.run_until(lambda: not runner.core.advices and runner.core.state is State.IDLE, 120)
    elapsed = time.perf_counter() - t0
    if runner.core.advices:
        raise RuntimeError(f"the upload did not complete: {len(runner.core.advices)} advices left")
    return elapsed


def _timed_upload(directory: Path, stored: int = UPLOAD_STORED, delay: float = UPLOAD_DELAY,
                  rounds: int = UPLOAD_ROUNDS) -> dict:
    """Forward ``stored`` offline sales against the host simulator over TCP, which holds every
    advice's answer back ``delay`` seconds; with the default window, and with a window of 1 (the
    floor) in the same run. Two terminals (their own IDs and databases) take turns, round by round,
    so that both see the same machine."""
    from firmware.config import HostSection
    from firmware.embedded_host import EmbeddedHost
    from firmware.hostsim.rules import Behaviour, Rule

    window = HostSection().upload_window
    quiet = logging.getLogger("posterm.runner")  # each offline sale warns that the host is down
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    host = EmbeddedHost().start()
    terminals: dict[int, object] = {}
    try:
        for mti in ("0220", "0221"):
            host.rules.push(Rule(Behaviour.DELAY, seconds=delay, mti=mti))
        for w in (1, window):
            terminals[w] = _upload_terminal(directory / f"window{w}", f"{87654320 + w}", host.url, w, stored)
        times: dict[int, list[float]] = {w: [] for w in terminals}
        for r in range(rounds):
            host.refuse_connections(True)
            for runner in terminals.values():
                runner.devices.link.disconnect()  # the last round's connection: every sale now finds the line down
                _store_offline(runner, stored)
            host.refuse_connections(False)
            for w in sorted(terminals, reverse=bool(r % 2)):
                times[w].append(_forward(terminals[w]))
    finally:
        for runner in terminals.values():
            runner.close()
        host.stop()
        quiet.setLevel(level)
    pipelined, floor = statistics.median(times[window]), statistics.median(times[1])
    return {"upload_window": window, "upload_stored": stored, "upload_delay": delay, "upload_s": pipelined,
            "upload_floor_s": floor, "upload_ratio": pipelined / floor, "upload_rounds": rounds}
