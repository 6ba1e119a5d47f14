"""An answer is the answer only when it is addressed to this terminal and carries what its request did (AU7).

Issue #2: the TPDU is 60 + destination + source, "which the host swaps in its reply", and a response is
matched by MTI + 10, STAN, terminal ID and amount, "anything else is rejected". The MAC covers MTI to field
63, not the TPDU or the 6-byte header, and the match skipped the amount when the request had none: a reply
left unswapped (addressed to the host), sent to another terminal's address, under another TPDU id or with a
garbage header approved a sale; an inquiry's or a settlement's answer carrying an amount was taken (the
settlement's closed the batch). Each is now refused as the frame it is, and the request goes the way of a
request left without a usable answer: a sale is reversed, once.

The real runner and TCP link against the built-in host simulator on a real socket; only the simulator's
answer bytes are rewritten, as a misbehaving host or network access point would send them.
"""

from __future__ import annotations

import pytest

from firmware.bridge import HostBridge
from firmware.errors import ConfigError, ProtocolError
from firmware.host.codec import Message, Tpdu
from firmware.host.profiles import get_profile
from pathlib import Path

from firmware.scenario import ScenarioRunner, parse_scenario

from .consistency import mtis

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.5, "connect_timeout": 0.3}}


def rewritten(tpdu=None, header: bytes | None = None):
    """A host whose first answer (cup: 5-byte TPDU, 6-byte header, then the message) is rewritten so; the
    answers after it (the reversal's) are as the host sent them."""

    def wrap(respond):
        done = []

        def respond_rewritten(payload):
            answer = respond(payload)
            if answer.payload is None or answer.payload[:1] != b"\x60" or done:
                return answer
            done.append(True)
            p = bytearray(answer.payload)
            if tpdu is not None:
                p[0:5] = tpdu(bytes(payload[0:5])) if callable(tpdu) else tpdu
            if header is not None:
                p[5:11] = header
            return type(answer)(bytes(p), answer.delay, answer.close)

        return respond_rewritten

    return wrap


def run(steps, rewrite=None):
    runner = ScenarioRunner()

    def after(step):
        if rewrite is not None and not getattr(runner, "rewritten", False):  # the host is up, nothing sent yet
            runner.processor.respond = rewrite(runner.processor.respond)
            runner.rewritten = True

    return runner.run(parse_scenario({"name": "t", "config": FAST, "step": steps}), after_step=after)


def notes(r) -> list[str]:
    return [code for code, _ in r["notes"]]


@pytest.mark.parametrize("rewrite, code", [
    (rewritten(tpdu=lambda request: request), "host.bad_tpdu"),  # not swapped: addressed to the host
    (rewritten(tpdu=bytes.fromhex("6099999999")), "host.bad_tpdu"),  # another terminal's address
    (rewritten(tpdu=bytes.fromhex("0000000003")), "host.bad_tpdu"),  # not the id sent
    (rewritten(header=bytes.fromhex("DEADBEEFFFFF")), "host.bad_header"),  # another application's
], ids=["not swapped", "other address", "other id", "garbage header"])
def test_a_sale_answered_by_a_frame_not_addressed_here_is_reversed_once(rewrite, code):
    r = run([{"key": "X"}] + SALE + [{"expect": {"outcome": "reversed", "notes": code, "state": "idle"}}], rewrite)
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0400"]
    (sale,) = r["transactions"]
    assert sale["receipts"] == []


def test_a_host_setting_its_own_header_nibbles_and_address_is_still_heard():
    """What the host may set: UnionPay's terminal-status and processing-requirement nibbles of the header,
    and the TPDU's source (its own address; a reversal sealed under an earlier destination still names it)."""
    r = run([{"key": "X"}] + SALE + [{"expect": {"outcome": "approved"}}],
            rewritten(tpdu=bytes.fromhex("6000001234"), header=bytes.fromhex("603113000000")))
    assert r["ok"], r["failures"]


def test_an_inquiry_answered_with_an_amount_is_not_its_answer():
    r = run([{"host": {"behaviour": "wrong_amount", "times": 1}}, {"balance": True}, *SALE[1:],
             {"expect": {"notes": "host.unmatched"}}])
    assert r["ok"], r["failures"]
    (inquiry,) = r["transactions"]
    assert inquiry["outcome"] != "approved"
    assert any("expected none" in text for code, text in r["notes"] if code == "host.unmatched")


def test_a_settlement_answered_with_an_amount_does_not_close_the_batch():
    r = run(SALE + [{"host": {"behaviour": "wrong_amount", "mti": "0500"}}, {"settle": True}])
    assert "settle.ok" not in [code for code, _ in r["alerts"]]
    assert "host.unmatched" in notes(r) and r["settlements"] == []


def test_a_reversal_answered_for_another_amount_stays_queued_named_with_the_way_out():
    """The host answers the reversal's every transmission, its trace and terminal, for one unit more: nothing says
    the sale was reversed as sent. It stays queued and goes again at once (not after a response timeout each), and
    the operator reads what the host answered and what to do, not "no answer"."""
    r = run([{"host": {"behaviour": "drop", "mti": "0200", "times": 1}},
             {"host": {"behaviour": "wrong_amount", "mti": "0400"}}, *SALE,
             {"expect": {"outcome": "reversing", "state": "idle"}}])
    assert r["ok"], r["failures"]
    assert mtis(r) == ["0200", "0400", "0400", "0400"], mtis(r)  # three transmissions (cup repeats a 0400 as 0400)
    (alert,) = [text for code, text in r["alerts"] if code == "reversal.pending"]
    assert "not delivered (answered for amount 1251, expected 1250)" in alert, alert
    assert alert.endswith("then posterm journal resolve --txn 1"), alert


# -- the bridge's check alone ------------------------------------------------------------------------------------
CUP = get_profile("cup")
OURS = Tpdu("60", "0003", "0000")


def frame(tpdu: Tpdu | None, header: str | None) -> Message:
    return Message(mti="0210", fields={}, tpdu=tpdu, header=header)


@pytest.mark.parametrize("tpdu, header, code", [
    (Tpdu("60", "0000", "0003"), "603100000000", None),  # swapped, our header
    (Tpdu("60", "0000", "0007"), "603101000000", None),  # another host address, a processing requirement
    (Tpdu("60", "0003", "0000"), "603100000000", "host.bad_tpdu"),
    (Tpdu("61", "0000", "0003"), "603100000000", "host.bad_tpdu"),
    (None, "603100000000", "host.bad_tpdu"),
    (Tpdu("60", "0000", "0003"), "613100000000", "host.bad_header"),
    (Tpdu("60", "0000", "0003"), None, "host.bad_header"),
])
def test_the_bridge_hears_only_frames_addressed_to_this_terminal(tpdu, header, code):
    bridge = HostBridge(CUP, OURS)
    if code is None:
        bridge._addressed_here(frame(tpdu, header))
    else:
        with pytest.raises(ProtocolError) as e:
            bridge._addressed_here(frame(tpdu, header))
        assert e.value.code == code and "expected" in e.value.text


# -- what the check must still hear (AU8) -----------------------------------------------------------------------
def run_in(config: dict, steps: list, data_dir: Path | None = None) -> dict:
    return ScenarioRunner(data_dir=data_dir).run(parse_scenario({"name": "t", "config": config, "step": steps}))


def test_iso87_which_has_no_header_refuses_a_host_header_at_load():
    """A terminal moved from cup to iso87 that kept host.header: iso87 sends no header and its answers carry
    none (every answer was once refused as host.bad_header, every sale reversed; then the setting was
    ignored). The configuration is now refused, naming the key, before anything is sent."""
    with pytest.raises(ConfigError) as err:
        run_in({"host": {**FAST["host"], "profile": "iso87", "header": "603100000000"}},
               SALE + [{"expect": {"outcome": "approved"}}])
    assert err.value.code == "config.bad_header" and "host.header" in err.value.text


def test_iso87_hears_its_host_on_the_tpdu_alone():
    r = run_in({"host": {**FAST["host"], "profile": "iso87"}}, SALE + [{"expect": {"outcome": "approved"}}])
    assert r["ok"], (r["failures"], r["notes"])


def test_a_reversal_sealed_before_the_terminal_s_address_changed_is_heard(tmp_path):
    """A reversal is sealed with the TPDU of its time; the host swaps what it is sent. Sent as sealed after
    host.tpdu_source changed, its answers came back to the old address and were refused for good: the
    reversal went first forever and no sale could follow. It now goes under today's addresses."""
    data = tmp_path / "data"
    first = run_in(FAST, [{"host": {"behaviour": "drop", "times": 50}}, *SALE], data_dir=data)
    assert first["owed"]["reversals"] == 1, first["owed"]
    second = run_in({"host": {**FAST["host"], "tpdu_source": "0001"}}, SALE + [{"expect": {"outcome": "approved"}}],
                    data_dir=data)
    assert second["ok"], (second["failures"], second["notes"])
    assert "host.bad_tpdu" not in notes(second) and second["owed"]["reversals"] == 0
