"""One judgement of "looks like card data" (crypto.secrets.CARD_LIKE), used by the log redactor, the scenario
and test-card error echoes and ``journal resolve --note`` (audit AU15 L3, L5, L6).

The redactor wanted 12-19 digits in one run: a PAN written in groups (a card face, a copied table, an
exception text) went through in clear, track 1 kept its name, expiry and service code, and track 3 its tail."""

from __future__ import annotations

import logging
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.secrets import looks_like_card_data, mask_card_data
from firmware.logs import RedactingFormatter, redact
from hal.magstripe.sim import TEST_CARDS

DEBIT = TEST_CARDS["unionpay_debit"]
MC = TEST_CARDS["mastercard"]
FULL = TEST_CARDS["unionpay_full"]
SEPARATORS = [" ", "-", ".", "/", "_", "  ", " - "]


def _grouped(pan: str, sep: str) -> str:
    return sep.join(pan[i:i + 4] for i in range(0, len(pan), 4))


@pytest.mark.parametrize("sep", SEPARATORS)
def test_a_pan_written_in_groups_is_masked_in_a_log_line(sep):
    text = f"operator typed card {_grouped(DEBIT.pan, sep)} at the prompt"
    out = redact(text)
    assert _grouped(DEBIT.pan, sep) not in out, out
    assert DEBIT.pan[6:-4] not in out.replace(sep, ""), out
    assert out.startswith("operator typed card ") and out.endswith(" at the prompt"), out


def test_track_1_leaves_nothing_after_the_pan_in_clear():
    after_name = MC.track1.rsplit("^", 1)[1]  # expiry, service code, discretionary data
    out = redact(f"swipe {MC.track1}")
    assert "TEST CARD" not in out and "MTIP" not in out, out
    assert after_name[:7] not in out, out  # 4912101: expiry 4912, service code 101


def test_track_3_leaves_nothing_after_the_pan_in_clear():
    out = redact(f"swipe {FULL.track3}")
    assert FULL.track3.split("=")[-1] not in out.rsplit("swipe", 1)[1][8:] and "=" in out, out
    assert FULL.track3.split("=")[1] not in out, out


def test_the_formatter_masks_an_exception_text_holding_a_grouped_pan():
    """The path an unexpected error takes at debug level (firmware/cli.py main: log.debug(exc_info=True))."""
    try:
        raise ValueError(f"bad account {_grouped(DEBIT.pan, ' ')}")
    except ValueError:
        record = logging.LogRecord("t", logging.DEBUG, __file__, 1, "internal error", None, sys.exc_info())
    out = RedactingFormatter("%(message)s").format(record)
    assert _grouped(DEBIT.pan, " ") not in out and "bad account" in out, out


@pytest.mark.parametrize("text", [
    "2026-11-22 23:17:56,123 INFO posterm: ready",  # a log line's own time stamp
    "connecting to 192.168.100.200:8583",  # a dotted address: 12 digits at most
    "amount 1250, STAN 000123, batch 000001",
])
def test_what_is_not_card_data_is_left_alone(text):
    assert redact(text) == text
    assert not looks_like_card_data(text, shortest=13)


def test_a_12_digit_reference_number_is_masked_in_a_log_but_is_no_card_number_in_a_note():
    """12 digits in one run were masked in logs before (a short PAN); a note may still name an RRN."""
    assert redact("RRN 000000000001 approved") == "RRN ********0001 approved"
    assert not looks_like_card_data("RRN 000000000001 approved", shortest=13)


@given(card=st.sampled_from(sorted({c.pan for c in TEST_CARDS.values()})), sep=st.sampled_from(SEPARATORS),
       size=st.integers(3, 6), before=st.sampled_from(["", "card ", "(", "x="]),
       after=st.sampled_from(["", " ok", ")", ", next"]))
def test_any_grouping_of_a_card_number_is_judged_card_data_and_masked(card, sep, size, before, after):
    written = sep.join(card[i:i + size] for i in range(0, len(card), size))
    text = before + written + after
    assert looks_like_card_data(text)
    out = mask_card_data(text)
    assert card[6:-4] not in out.replace(sep, "") and written not in out, out
