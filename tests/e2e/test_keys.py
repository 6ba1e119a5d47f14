"""Sign-on with fresh working keys, sign-off, tamper and re-keying, end to end over TCP."""

from __future__ import annotations


from crypto.keyring import Keyring
from crypto.keys import KeyUsage, kcv
from crypto.provision import LAB_KEYS, provision
from crypto.tamper import tamper_status, zeroize
from firmware.scenario import ScenarioRunner, parse_scenario
from tests.engineer import booted

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def run(steps, data_dir=None, config=FAST):
    return ScenarioRunner(data_dir=data_dir).run(parse_scenario({"name": "t", "config": config, "step": steps}))


def test_sign_on_installs_fresh_working_keys_that_the_next_sale_uses(tmp_path):
    data = tmp_path / "data"
    r = run([{"key": "F2"}, {"expect": {"state": "idle", "alerts": "signon.ok"}}] + SALE, data_dir=data)
    assert r["ok"], r["failures"]
    mtis = [m["mti"] for m in r["host_ledger"]["messages"]]
    assert mtis == ["0800", "0200"]
    assert r["transactions"][0]["outcome"] == "approved"  # the host checked MAC and PIN block with the new keys
    ring = Keyring.load(data)
    assert ring.entry(KeyUsage.PIN).kcv != kcv(bytes.fromhex(LAB_KEYS[KeyUsage.PIN]))
    assert ring.entry(KeyUsage.MAC).kcv != kcv(bytes.fromhex(LAB_KEYS[KeyUsage.MAC]))


def test_a_sale_after_a_sign_on_encrypts_its_pin_under_the_new_key(tmp_path):
    """The runner keeps the session PIN key's TDES context from one PIN to the next (``Runner.pin_cipher``):
    the key a sign-on installs must replace it, or the host cannot read the next sale's PIN block."""
    sign_on = [{"key": "F2"}, {"expect": {"state": "idle", "alerts": "signon.ok"}}]
    r = run(SALE + sign_on + SALE, data_dir=tmp_path / "data")
    assert r["ok"], r["failures"]
    assert [m["mti"] for m in r["host_ledger"]["messages"]] == ["0200", "0800", "0200"]
    assert [t["outcome"] for t in r["transactions"]] == ["approved", "approved"]


def test_sign_off_refuses_sales_until_the_next_sign_on():
    r = run([{"key": "F3"}, {"expect": {"state": "signed_off", "display": "SIGNED OFF"}}, {"key": "1250#"},
             {"expect": {"state": "signed_off", "journal_count": 0}}, {"key": "F2"}] + SALE)
    assert r["ok"], r["failures"]
    assert [m["mti"] for m in r["host_ledger"]["messages"]] == ["0820", "0800", "0200"]
    assert r["transactions"][0]["outcome"] == "approved"


def test_tamper_destroys_keys_locks_and_after_rekeying_queued_items_are_marked_lost(tmp_path):
    data = tmp_path / "data"
    steps = [{"host": {"behaviour": "drop", "times": 4}}] + SALE + [
        {"expect": {"display": "REVERSAL QUEUED"}},  # the sale's outcome, held (AU20 M5)
        {"tamper": "case opened"},
        {"expect": {"state": "locked", "display": "TERMINAL LOCKED", "alerts": "tamper.queue_lost"}},
        *SALE,
        {"expect": {"state": "locked"}},
        {"restart": True},
        {"expect": {"state": "locked", "display": "TERMINAL LOCKED", "alerts": "keys destroyed (sim: case opened)"}},
    ]
    r = run(steps, data_dir=data)
    assert r["ok"], r["failures"]
    assert tamper_status(data) is not None
    assert not (data / "kek.key").exists() and not (data / "keyring.json").exists()
    # An engineer re-keys (here: the lab keys again) and restarts: the reversal sealed under
    # the destroyed data key can never be sent; it is marked lost, loudly, and sales work. (A scenario
    # never re-keys a tampered terminal itself: posterm provision does.)
    provision(data, lab=True)
    r = run([{"expect": {"alerts": "reversal.lost", "state": "idle"}}] + SALE, data_dir=data)
    assert r["ok"], r["failures"]
    outcomes = [t["outcome"] for t in r["transactions"]]
    assert outcomes == ["lost", "approved"]


def test_a_zeroize_from_another_process_locks_the_running_terminal(tmp_path):
    data = tmp_path / "data"
    with booted(data) as runner:
        t = runner.runner
        assert t.core.state.value == "idle"
        zeroize(data, reason="operator command", source="command")
        t.run_until(lambda: t.core.state.value == "locked", 5)
        assert t.core.state.value == "locked"
        assert t.keys is None  # nothing kept in memory either
        assert "TERMINAL LOCKED" in runner.devices["display"].lines[0]


def test_a_sign_on_wipes_the_session_keys_it_replaces(tmp_path):
    """AU12 F7: the working-key install drops the old PIN key's TDES context and wipes the old PIN key once
    the new keys are in (the MAC context is replaced, the MAC key read to build it wiped); the next sale
    encrypts under the new key."""
    sign_on = [{"key": "F2"}, {"expect": {"state": "idle", "alerts": "signon.ok"}}]
    sim = ScenarioRunner(data_dir=tmp_path / "data")
    seen: dict[int, tuple] = {}

    def after(step) -> None:
        t = sim.runner
        seen[step.index] = (t.keys.pin_key, t.keys.mac, t._pin_context)

    r = sim.run(parse_scenario({"name": "t", "config": FAST, "step": SALE + sign_on + SALE}), after_step=after)
    assert r["ok"], r["failures"]
    old_pin, old_mac, old_context = seen[len(SALE) - 1]  # after the first sale's PIN
    assert old_context is not None and old_context[0] is old_pin  # the context the sale made
    new_pin, new_mac, context = seen[len(SALE) + 1]  # after the sign-on
    assert new_pin is not old_pin and new_mac is not old_mac
    assert old_pin.wiped and not new_pin.wiped
    assert context is None  # made again, from the new key, at the next PIN
    assert [t["outcome"] for t in r["transactions"]] == ["approved", "approved"]
