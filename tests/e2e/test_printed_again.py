"""AU16 L1 on the real drivers: the ESC/POS printer over its pty simulator takes the whole merchant copy and
then does not answer the status check after it. ENTER prints the copy again, marked, so the merchant does not
hold two identical signature slips for one charge; paper out, or a printer silent, before the copy prints it
plain (FX14: the check before the write says nothing was sent)."""

from __future__ import annotations

import pytest

from tests.e2e.real_devices import receipts, serial_terminal


def _merchant_copies(t) -> list[str]:
    return [r for r in receipts(t.printer.printed_text) if "\nMERCHANT COPY\n" in r]


def test_a_copy_printed_again_after_an_unanswered_status_is_marked(tmp_path):
    with serial_terminal(tmp_path) as t:
        t.sale_to_pin()
        t.printer.mute(after_next_status=True)
        t.pad.enter_pin("1234")
        t.settle_after_sale()
        assert t.state == "receipt_held" and len(_merchant_copies(t)) == 1
        t.printer.unmute()
        t.pad.press("#")
        assert t.run_until(lambda: t.state == "idle", 5), t.state
        first, again = _merchant_copies(t)
        assert "PRINTED AGAIN" not in first
        assert "*** PRINTED AGAIN ***" in again and "MAY DUPLICATE THE SLIP BEFORE IT" in again
        assert "PRINTED AGAIN" not in t.printer.printed_text.split("CARDHOLDER COPY", 1)[1]


@pytest.mark.parametrize("fault, back", [("paper_out", "load_paper"), ("mute", "unmute")])
def test_a_copy_held_before_it_was_sent_prints_plain(tmp_path, fault, back):
    """Paper out, or a printer that stops answering before the copy (switched off between two sales): the
    status check before the write fails, nothing was sent, so the copy printed once it works is not marked."""
    with serial_terminal(tmp_path) as t:
        t.sale_to_pin()
        getattr(t.printer, fault)()
        t.pad.enter_pin("1234")
        t.settle_after_sale()
        assert t.state == "receipt_held" and _merchant_copies(t) == []
        getattr(t.printer, back)()
        t.pad.press("#")
        assert t.run_until(lambda: t.state == "idle", 5), t.state
        [copy] = _merchant_copies(t)
        assert "PRINTED AGAIN" not in t.printer.printed_text and "AUTH NO:" in copy
