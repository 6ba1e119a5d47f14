"""No copy of a sale's card data outlives the host's answer in memory (audit AU15 M1).

A terminal whose host link is ``sim://`` (``posterm screen``; ``posterm run`` with ``devices.link =
"sim://"``, which firmware/cli.py serves with the embedded host: a bench with a real reader and PIN pad)
used to keep every request it sent, whole, in ``SimLink.sent`` (the instrument's record): field 2 (the
PAN), field 35 (track 2) and field 52 (the PIN block), for as long as the process ran. The record now
holds each request's facts (length, MTI); whole requests only for a test that asks (``keep_frames``)."""

from __future__ import annotations

import gc
import types

from firmware.core.model import State
from firmware.screen.session import ScreenSession
from hal.magstripe.sim import TEST_CARDS
from .canary import needles


def _reachable(root) -> list:
    """Every object reachable from ``root`` (the test cards' own constants left out)."""
    skip = {id(TEST_CARDS)} | {id(c) for c in TEST_CARDS.values()}
    seen: dict[int, object] = {}
    stack = [root]
    while stack:
        o = stack.pop()
        if id(o) in seen or id(o) in skip or isinstance(o, (types.ModuleType, type, types.FunctionType,
                                                             types.CodeType, types.FrameType)):
            continue
        seen[id(o)] = o
        stack.extend(gc.get_referents(o))
    return list(seen.values())


def _card_data_held(root) -> list[str]:
    forms = {k: v for k, v in needles().items() if k.startswith("unionpay_debit") and "PIN block" not in k}
    found = []
    for o in _reachable(root):
        if isinstance(o, (bytes, bytearray)):
            found += [k for k, v in forms.items() if v in o]
    return sorted(set(found))


def test_a_screen_session_keeps_no_request_bytes_once_the_sale_is_over(tmp_path):
    """``posterm screen`` (and a bench ``posterm run`` on ``sim://``) lives long: once the answer has come and
    ``WipeCard`` has run, nothing reachable from the runner (its ``sim://`` link's record above all) still
    holds the PAN or the track in any form the canary knows."""
    with ScreenSession(data_dir=tmp_path / "data") as s:
        r = s.runner
        r.run_until(r.waiting_for_person, 10)
        s.press("1250#")
        r.run_until(r.waiting_for_person, 10)
        s.swipe("unionpay_debit")
        r.run_until(r.waiting_for_person, 10)
        s.press("1234#")
        r.run_until(lambda: r.core.state is State.IDLE, 10)
        assert r.core.state is State.IDLE and r.session is None  # the answer came, WipeCard ran
        held = _card_data_held(r)
        assert not held, f"{held}; the sim:// link heard {len(r.devices.link.sent)} request(s)"
