"""``SaleRecord.changed``: ``dataclasses.replace`` by another road (the record's ``__dict__``), made on every
answer. It must give exactly what ``replace`` gives, for every field, or an answer's record would lose one."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from firmware.core.model import JournalState, Kind, SaleRecord

RECORD = SaleRecord(txn_no=7, amount=1250, stan=42, batch=3, when=datetime(2026, 5, 1, 12, 30), masked_pan="622202******0004",
                    kind=Kind.SALE, currency="156", terminal_id="12345678", merchant_id="123456789012345",
                    operator="01", pin_entered=True, account="622202******1234", earlier=True)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(SaleRecord)])
def test_changing_any_one_field_gives_what_replace_gives(field):
    value = {"when": datetime(2027, 1, 2), "kind": Kind.REFUND, "state": JournalState.APPROVED,
             "original": None, "reference": None, "advice": None}.get(field, 99 if isinstance(getattr(RECORD, field), int)
                                                                        else "X")
    changed = RECORD.changed(**{field: value})
    assert changed == dataclasses.replace(RECORD, **{field: value})
    assert getattr(changed, field) == value and RECORD.changed() == RECORD and changed is not RECORD


def test_an_unknown_field_is_refused_as_replace_refuses_it():
    with pytest.raises(TypeError):
        RECORD.changed(colour="blue")
