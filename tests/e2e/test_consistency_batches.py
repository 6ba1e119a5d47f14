"""``consistency.check_batches`` catches each disagreement it names (the crash test relies on it): one
closed batch that agrees, then one fault at a time."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from firmware.core.batch import Settlement, SettleResult, Totals
from firmware.core.model import JournalState, Kind

from .consistency import check_batches

WHEN = datetime(2026, 1, 2, 3, 4, 5)
REPORT = """SETTLEMENT REPORT
BATCH NO:                 000001
TOTAL         3        CNY 17.50
"""


def _record(stan, kind, amount, batch=1, state=JournalState.APPROVED):
    return SimpleNamespace(txn_no=stan, stan=stan, kind=kind, amount=amount, batch=batch, state=state)


def _posting(stan, kind, amount, batch="000001", status="approved"):
    return {"stan": f"{stan:06d}", "kind": kind, "amount": amount, "batch": batch, "status": status}


def _message(id_, mti, stan, action="approved"):
    return {"id": id_, "mti": mti, "stan": f"{stan:06d}", "action": action}


def _books():
    """Batch 1: a sale (voided), its void, an offline sale, a declined sale; settled balanced; batch 2 open."""
    journal = [_record(1, Kind.SALE, 1250), _record(2, Kind.VOID, 1250), _record(3, Kind.SALE, 1750,
                                                                               state=JournalState.OFFLINE_APPROVED),
               _record(4, Kind.SALE, 99, state=JournalState.DECLINED)]
    postings = [_posting(1, "sale", 1250, status="voided"), _posting(2, "void", 1250), _posting(3, "offline_sale", 1750),
                _posting(4, "sale", 99, status="declined")]
    messages = [_message(1, "0200", 1), _message(2, "0200", 2), _message(3, "0220", 3), _message(4, "0200", 4),
                _message(5, "0500", 5, "settlement batch 000001: balanced")]
    settlement = Settlement(1, Totals(2, 3000, 1, 1250), SettleResult.BALANCED, WHEN, 5)
    batches = [{"batch": "000001", "result": "1"}]
    return dict(journal=journal, settlements=[settlement], postings=postings, messages=messages,
                host_batches=batches, open_batch=2, paper=[REPORT])


def _check(books):
    return check_batches(books.pop("journal"), books.pop("settlements"), books.pop("postings"), books.pop("messages"),
                         books.pop("host_batches"), **books)


def test_books_that_agree_pass():
    assert _check(_books()) == {"batches": 1, "unbalanced": 0, "uploaded": 0}


def _late_posting(b):  # the host books a sale into batch 1 after its 0500
    b["journal"].append(_record(6, Kind.SALE, 500))
    b["postings"].append(_posting(6, "sale", 500))
    b["messages"].append(_message(6, "0200", 6))
    b["settlements"] = [Settlement(1, Totals(3, 3500, 1, 1250), SettleResult.BALANCED, WHEN, 5)]
    b["paper"] = [REPORT.replace("3        CNY 17.50", "4        CNY 22.50")]


def _host_counts_more(b):  # a reversal the host never applied: it still counts the sale
    b["postings"].append(_posting(7, "sale", 700))
    b["journal"].append(_record(7, Kind.SALE, 700, state=JournalState.REVERSED))


def _host_closed_the_open_batch(b):
    b["host_batches"].append({"batch": "000002", "result": "1"})


def _other_batch(b):  # the void in batch 2 at the host, in batch 1 at the terminal
    b["postings"][1]["batch"] = "000002"


def _no_report(b):
    b["paper"] = []


def _wrong_verdict(b):
    b["host_batches"][0]["result"] = "2"


def _upload_never_done(b):
    b["settlements"] = [Settlement(1, Totals(2, 3000, 1, 1250), SettleResult.UNBALANCED, WHEN, 5)]
    b["host_batches"][0]["result"] = "2"


@pytest.mark.parametrize("fault, says", [
    (_late_posting, "after it closed that batch"),
    (_host_counts_more, "but the host books (3, 3700, 1, 1250)"),
    (_host_closed_the_open_batch, "closed batches differ"),
    (_other_batch, "is in batch 000001 at the terminal, 000002 at the host"),
    (_no_report, "its report never printed"),
    (_wrong_verdict, "the host's verdict 2, the terminal recorded 1"),
    (_upload_never_done, "its upload never completed"),
])
def test_each_disagreement_is_caught(fault, says):
    books = _books()
    fault(books)
    with pytest.raises(AssertionError, match=says.replace("(", r"\(").replace(")", r"\)")):
        _check(books)
