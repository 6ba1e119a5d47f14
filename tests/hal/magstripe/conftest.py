"""Helpers for the magstripe tests. Devices are made from URLs or handed their simulators; nothing is patched."""

from __future__ import annotations

import select
import time
from datetime import date

import pytest

from crypto.secrets import TrackData
from hal.magstripe import Swipe
from hal.magstripe.sim import TEST_CARDS

TODAY = date(2025, 6, 15)


def make_swipe(t1=None, t2=None, t3=None) -> Swipe:
    make = lambda text, n: None if text is None else TrackData(text, track=n)  # noqa: E731
    return Swipe(make(t1, 1), make(t2, 2), make(t3, 3))


def poll_until(reader, count: int = 1, *, limit: float = 5.0) -> list:
    """Poll ``reader`` until it has delivered ``count`` items (a bounded wait for the kernel, not a speed test)."""
    got: list = []
    deadline = time.monotonic() + limit
    while len(got) < count and time.monotonic() < deadline:
        fd = reader.fileno()
        wait = 0.01
        if reader.next_deadline() is not None:
            wait = max(0.0, min(wait, reader.next_deadline() - time.monotonic()))
        if fd is not None:
            select.select([fd], [], [], wait)
        else:
            time.sleep(wait)
        got += reader.poll()
    assert len(got) >= count, f"reader delivered {len(got)} of {count} swipes within {limit:g} s"
    return got


def settle(reader, seconds: float = 0.05) -> list:
    """Everything the reader delivers within ``seconds`` (to show that nothing comes)."""
    got: list = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += reader.poll()
        time.sleep(0.005)
    return got


def card_texts() -> set[str]:
    """Every test card's PAN and track text, to look for in logs and messages."""
    out: set[str] = set()
    for card in TEST_CARDS.values():
        out.add(card.pan)
        out.update(t for t in (card.track1, card.track2, card.track3) if t)
    return out


@pytest.fixture
def today() -> date:
    return TODAY
