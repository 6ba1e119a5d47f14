"""Benchmark: decoding and parsing one raw three-track swipe (``python -m hal.magstripe.bench``).

``time_raw_swipe()`` is the figure for ``posterm bench``: seconds per swipe to
decode the F2F bits of tracks 1, 2 and 3 (``hal.magstripe.f2f``), parse and
cross-check them (``hal.magstripe.tracks``, track 3 by ISO 4909) and wipe the
results, for the ``unionpay_full`` test card. It reports the best of
``repeat`` runs of ``rounds`` swipes, the usual way to keep a busy machine's
noise out of a micro-benchmark. The target is well under 1 ms.
"""

from __future__ import annotations

import time
from datetime import date

from hal.magstripe.f2f import decode_swipe_bits, encode_track
from hal.magstripe.sim import find_card
from hal.magstripe.tracks import parse_swipe

__all__ = ["time_raw_swipe", "main"]


def time_raw_swipe(rounds: int = 2000, repeat: int = 5) -> float:
    """Seconds per decode + parse of a raw three-track swipe (best of ``repeat`` runs of ``rounds``)."""
    card = find_card("unionpay_full")
    bits = {n: encode_track(text, n) for n, text in ((1, card.track1), (2, card.track2), (3, card.track3)) if text}
    today = date(2030, 1, 1)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(rounds):
            swipe = decode_swipe_bits(bits)
            parse_swipe(swipe, today).wipe()
            swipe.wipe()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best


def main() -> None:
    print(f"magstripe: decode and parse of a raw three-track swipe: {time_raw_swipe() * 1e6:.1f} µs (target < 1000 µs)")


if __name__ == "__main__":
    main()
