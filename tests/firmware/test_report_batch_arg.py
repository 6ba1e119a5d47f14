"""``posterm report --batch``: a live batch number, or an earlier batch's archived one (``storage.archive``)."""

from __future__ import annotations

import argparse

import pytest

from firmware.reportcli import batch_number


@pytest.mark.parametrize("text, value", [("7", 7), ("999999", 999999), ("1000007", 1_000_007), ("2000001", 2_000_001),
                                         ("1000000", None), ("0", None), ("2000000", None), ("x7", None)])
def test_report_batch_takes_a_live_or_an_earlier_batch_s_number(text, value):
    if value is None:
        with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 999999 .an earlier batch"):
            batch_number(text)
    else:
        assert batch_number(text) == value
