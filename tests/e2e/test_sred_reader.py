"""A sale from an encrypting (SRED) reader: real serial driver on a pty, MagTek output, decrypted in crypto/."""

from __future__ import annotations

import pytest

from crypto.keys import KeyUsage
from crypto.provision import LAB_SRED_KSN, lab_key, provision
from crypto.sred import SredDecryptor
from firmware.app import Overrides, build_runner
from firmware.config import Config
from firmware.embedded_host import EmbeddedHost
from hal.base import DeviceContext
from hal.magstripe.devsim import PtyReaderSim
from hal.magstripe.serial import SerialReader
from hal.magstripe.sim import find_card
from hal.magstripe.sred import encode_magtek
from hal.registry import make_device


@pytest.fixture
def terminal(tmp_path):
    data = tmp_path / "data"
    provision(data, lab=True)
    host = EmbeddedHost().start()
    sim = PtyReaderSim()
    config = Config().replace({"storage": {"data_dir": str(data)}, "devices": {"link": host.url}})
    context = DeviceContext(data_dir=data)
    devices = {kind: make_device(kind, "sim://", context) for kind in ("pinpad", "printer", "display")}
    devices["reader"] = SerialReader(f"serial://{sim.port}?format=magtek", context)
    runner = build_runner(config, overrides=Overrides(devices=devices))
    runner.devices.pinpad.context.pin_key = lambda: runner.keys.pin_key
    runner.boot()
    yield runner, sim, host
    runner.close()
    sim.close()
    host.stop()


def magtek_swipe(card: str, counter: int, key=None) -> bytes:
    c = find_card(card)
    ksn = bytes.fromhex(LAB_SRED_KSN[:-5] + f"{counter:05X}")
    reader_side = SredDecryptor(key or lab_key(KeyUsage.SRED))
    return bytes(encode_magtek({2: c.track2, 3: c.track3}, ksn=ksn, encrypt=reader_side.encrypt))


def test_a_sale_from_an_encrypting_reader_is_decrypted_in_crypto_and_approved(terminal):
    runner, sim, host = terminal
    runner.devices.pinpad.press("1250#")
    runner.run_until(runner.waiting_for_person, 5)
    sim.send(magtek_swipe("unionpay_debit", 1))
    runner.run_until(lambda: runner.core.state.value == "pin", 5)
    runner.devices.pinpad.press("1234#")
    runner.run_until(lambda: runner.core.state.value == "idle" and runner.store.journal(), 10)
    (record,) = runner.store.journal()
    assert record.state.value == "approved" and record.masked_pan == "620550*********0004"
    (posting,) = host.ledger.postings()
    assert posting["status"] == "approved"


def test_a_swipe_under_another_key_is_refused_and_asks_again(terminal):
    runner, sim, _ = terminal
    from crypto.secrets import SecretKey

    runner.devices.pinpad.press("1250#")
    runner.run_until(runner.waiting_for_person, 5)
    sim.send(magtek_swipe("unionpay_debit", 2, key=SecretKey(bytes(range(16)), "sred")))
    runner.run_until(lambda: any("SWIPE AGAIN" in line for line in runner.devices.display.lines), 5)
    assert runner.core.state.value == "card"
    assert runner.store.journal() == []
