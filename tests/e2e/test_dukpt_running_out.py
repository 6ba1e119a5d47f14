"""A DUKPT PIN key running out, end to end (audit AU21 M3): the running terminal says so when few counters are
left (``keys.dukpt_low``, once, and on the idle status line), and when none is left the sale ends naming the
exhausted key, never as the cardholder's CANCELLED, and no further PIN sale starts; nothing is journalled or sent.
"""

from __future__ import annotations

from crypto.dukpt import TdesRegisters, derive_ipek, derive_transaction_key, parse_ksn, with_counter
from crypto.dukpt_device import DukptDevice, DukptScheme
from crypto.dukpt_lab import LAB_INITIAL_KSNS, lab_bdk, provision_lab_dukpt
from crypto.dukpt_reserve import LOW_COUNTERS
from crypto.provision import provision
from firmware.core.model import State

from tests.crypto.test_dukpt import registers_at
from tests.e2e.test_dukpt import _config, _sell, _terminal

END = 0x1FF000  # the lab TDES key with 13 counters left of 1,048,575
ABOVE_THE_MARK = 0x1E9180  # 10,016 left: LOW_COUNTERS and 16


def _near_the_end(data, counter: int = END) -> None:
    """The terminal's saved DUKPT registers as they stand before ``counter`` (built from the host's derivation)."""
    iksn = LAB_INITIAL_KSNS[DukptScheme.TDES]
    ipek = derive_ipek(lab_bdk("tdes"), iksn)
    regs = registers_at(TdesRegisters, lambda c: derive_transaction_key(ipek, with_counter(parse_ksn(iksn), c)).reveal(),
                        bytes.fromhex(iksn), counter)
    DukptDevice.load(data).save(regs)


def _terminal_near_the_end(tmp_path, counter: int = END):
    """A terminal started once (its database made), then restarted with its DUKPT key before ``counter``."""
    data = tmp_path / "data"
    provision(data, lab=True)
    provision_lab_dukpt(data)
    runner, _host = _terminal(data, _config(data, pin_keys="dukpt"))
    runner.close()
    _near_the_end(data, counter)
    return _terminal(data, _config(data, pin_keys="dukpt"))


def test_a_terminal_with_few_counters_left_alerts_once_at_boot_and_shows_it_at_ready(tmp_path):
    runner, _host = _terminal_near_the_end(tmp_path)
    assert [c for c, _ in runner.alerts] == ["keys.dukpt_low"] and "13 counters" in runner.alerts[0][1]
    assert runner.devices.display.shows("PIN KEY LOW")
    _sell(runner, 1)
    assert runner.store.journal()[-1].state.value == "approved"
    assert [c for c, _ in runner.alerts] == ["keys.dukpt_low"]
    runner.close()


def test_a_key_that_falls_below_the_mark_is_alerted_after_an_idle_top_up_and_only_once(tmp_path):
    """16 counters above ``LOW_COUNTERS`` at boot: nothing said; PINs with no idle time between them spend the
    window; the idle top-up (``_reserve_dukpt``, the runner's housekeeping) finds the key below the mark."""
    from crypto.secrets import Pan
    from hal.magstripe.sim import TEST_CARDS

    runner, _host = _terminal_near_the_end(tmp_path, ABOVE_THE_MARK)
    cipher = runner.dukpt
    assert cipher.left == LOW_COUNTERS + 16 and list(runner.alerts) == []
    assert not runner.devices.display.shows("PIN KEY")
    for _ in range(2):
        while cipher.reserved >= cipher.low_water:
            cipher.encrypt_pin(bytearray(b"1234"), Pan(TEST_CARDS["unionpay_debit"].pan)).wipe()
        writes = cipher.writes
        runner._reserve_dukpt()
        assert cipher.writes == writes + 1  # it topped up
    assert [c for c, _ in runner.alerts] == ["keys.dukpt_low"]  # once, not at each top-up
    assert runner.devices.display.shows("PIN KEY LOW")
    runner.close()


def test_an_exhausted_key_ends_the_sale_naming_it_and_refuses_the_next_at_ready(tmp_path):
    runner, host = _terminal_near_the_end(tmp_path)
    _sell(runner, 13)
    assert runner.dukpt.device.exhausted
    records, messages = len(runner.store.journal()), len(host.ledger.messages())
    pad, reader, display = runner.devices.pinpad, runner.devices.reader, runner.devices.display
    pad.press("1250#")
    reader.swipe_card("unionpay_debit")
    pad.press("1234#", hold_for_pin=True)
    assert runner.run_until(lambda: runner.core.state is State.IDLE and display.showed("SALE CANCELLED"), 10)
    assert display.showed("PIN KEY EXHAUSTED")
    assert not any(screen[0].strip() == "CANCELLED" for screen in display.history)  # the cardholder did not cancel
    assert "pinpad.dukpt.exhausted" in [c for c, _ in runner.alerts]
    assert len(runner.store.journal()) == records and len(host.ledger.messages()) == messages
    shown = len(display.history)
    pad.press("1")  # the next sale does not start: READY says why
    assert runner.run_until(lambda: len(display.history) > shown, 5)
    assert runner.core.state is State.IDLE and runner.core.sale is None
    assert display.shows("NO CARD SALES") and display.shows("CALL SUPPORT")
    runner.close()


def test_a_terminal_restarted_with_an_exhausted_key_refuses_sales_at_ready_before_any_swipe(tmp_path):
    """The hold was the running terminal's memory: after a restart the first sale took the amount, the card
    and the PIN before the pad failed. Boot now finds the key used up and READY refuses at once."""
    runner, _host = _terminal_near_the_end(tmp_path)
    _sell(runner, 13)
    assert runner.dukpt.device.exhausted
    runner.close()
    data = tmp_path / "data"
    runner, host = _terminal(data, _config(data, pin_keys="dukpt"))
    assert [c for c, _ in runner.alerts] == ["pinpad.dukpt.exhausted"]
    display = runner.devices.display
    assert display.shows("PIN KEY EXHAUSTED")  # the idle status line
    records = len(runner.store.journal())
    shown = len(display.history)
    runner.devices.pinpad.press("1")
    assert runner.run_until(lambda: len(display.history) > shown, 5)
    assert runner.core.state is State.IDLE and runner.core.sale is None
    assert display.shows("NO CARD SALES") and display.shows("CALL SUPPORT")
    assert len(runner.store.journal()) == records
    runner.close()
