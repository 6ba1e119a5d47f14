"""A hostile or broken host's frames fed to the terminal's reading side (``HostBridge.read``; audit AU11).

Every mutation of a valid, MACed answer must end as a reply the core can judge (which it matches against its
request and MAC rules) or as a named ``ProtocolError``/``MacError``: never another exception, which would
escape ``runner_input._on_frame`` (it catches ``ProtocolError`` only) and stop the loop with a traceback. The framing below it: ``tests/hal/test_framing.py``.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.keys import KeyUsage
from crypto.provision import lab_key
from firmware.bridge import HostBridge
from firmware.errors import MacError, ProtocolError
from firmware.host.codec import Tpdu, encode
from firmware.host.messages import build_request, build_response, expectation_for, mac_problem, mismatch, response_text
from firmware.host.profiles import get_profile
from firmware.hostsim.lab import lab_card, lab_txn

WHEN = datetime(2024, 5, 6, 12, 34, 56)
TPDU = Tpdu("60", "0003", "0000")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_answer(name: str) -> tuple[HostBridge, bytes, object, object]:
    profile = get_profile(name)
    tpdu = TPDU if profile.tpdu else None
    mac = lab_key(KeyUsage.MAC)
    request = build_request(profile, lab_txn(), lab_card(), tpdu=tpdu)
    answer = build_response(profile, request, response_code="00", rrn="000000000001", auth_code="123456", when=WHEN)
    payload = encode(profile, answer, mac_key=mac)
    return HostBridge(profile, tpdu), payload, mac, expectation_for(request)


def _read_all_the_way(bridge: HostBridge, payload: bytes, mac, expect) -> None:
    try:
        reply, _ = bridge.read(payload, mac)
    except (ProtocolError, MacError):
        return
    mismatch(expect, reply)
    mac_problem(reply, True)
    response_text(bridge.profile, reply.response_code)


mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.integers(0, 0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("dup"), st.integers(0, 10_000), st.integers(1, 40)),
)


def _mutate(payload: bytes, ops) -> bytes:
    p = bytearray(payload)
    for op, at, arg in ops:
        at = at % (len(p) + 1)
        if op == "flip" and at < len(p):
            p[at] ^= arg
        elif op == "cut":
            del p[at:]
        elif op == "insert":
            p[at:at] = bytes([arg])
        elif op == "dup":
            p[at:at] = p[at : at + arg]
    return bytes(p)


@pytest.mark.parametrize("name", ["cup", "iso87"])
@FUZZ
@given(ops=st.lists(mutations, min_size=1, max_size=4))
def test_a_mutated_answer_is_a_reply_or_a_named_error(name, ops):
    bridge, payload, mac, expect = _valid_answer(name)
    _read_all_the_way(bridge, _mutate(payload, ops), mac, expect)


@pytest.mark.parametrize("name", ["cup", "iso87"])
@FUZZ
@given(tail=st.binary(min_size=0, max_size=300))
def test_any_bytes_after_a_valid_prefix_are_a_reply_or_a_named_error(name, tail):
    bridge, payload, mac, expect = _valid_answer(name)
    for cut in (0, 5, 11, 13, 21, len(payload) // 2):
        _read_all_the_way(bridge, payload[:cut] + tail, mac, expect)
