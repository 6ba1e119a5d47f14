"""UX25: what a cashier reads after a refusal, at the PIN prompt, and on the slips.

Each test failed on the code before its fix: an expired card said SWIPE AGAIN; a decline and the
offline refusal said no next step; the PIN screen showed no keys; a void's slip said REFUNDED TO THE
CARD; the offline note wrapped as "TO BE" / "UPLOADED"; no slip named the card's scheme and entry mode.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from firmware.core import actions as A
from firmware.core import screens
from firmware.core.events import ActionFailed, CardRead, CardUnreadable, HostAnswered, PinEntered
from firmware.core.model import (AdviceAnswer, BootState, Copy, Counters, EntryMode, JournalState, Kind,
                                 PendingAdvice, PrintJob, SaleRecord, State)
from firmware.core.next_steps import next_step
from firmware.core.receipt import build_receipt
from firmware.core.settings import OfflineLimits
from hal.display import MIN_COLS
from hal.printer import plain_text

from .helpers import CARD, NOW, ORIGINAL, SETTINGS, Driver, reply, to_card, to_confirm, to_pin


def _shown(d: Driver):
    return d.last(A.Show).lines


@pytest.mark.parametrize("cols", [20, MIN_COLS])
def test_an_expired_card_asks_for_another_card_not_the_same_swipe(cols):
    d = to_card()
    d.t.settings = replace(d.t.settings, display_cols=cols)
    d.feed(CardUnreadable("card.expired", "CARD EXPIRED", "USE ANOTHER CARD"))
    lines = _shown(d)
    assert tuple(lines) == ("CARD EXPIRED", "USE ANOTHER CARD", "X=CANCEL") and "SWIPE AGAIN" not in " ".join(lines)
    assert lines.short[:2] == ("CARD EXPIRED", "USE ANOTHER CARD") and d.state is State.CARD


def test_a_bad_read_still_asks_for_the_swipe_again():
    d = to_card()
    d.feed(CardUnreadable("card.lrc", "CARD NOT READ", "SWIPE AGAIN"))
    assert tuple(_shown(d)) == ("CARD NOT READ", "SWIPE AGAIN", "X=CANCEL")


@pytest.mark.parametrize("code, kind, step", [
    ("55", Kind.SALE, "TRY PIN AGAIN"),
    ("51", Kind.SALE, "USE ANOTHER CARD"),
    ("05", Kind.PREAUTH, "USE ANOTHER CARD"),
    ("51", Kind.VOID, ""),  # a void is made with the sale's card: another card cannot do it
    ("51", Kind.REFUND, ""),
    ("51", Kind.BALANCE, ""),  # another card cannot tell this one's balance
    ("55", Kind.VOID, "TRY PIN AGAIN"),
    ("41", Kind.SALE, ""),  # a lost card: no step rather than a wrong one
    ("offline.floor_limit", Kind.SALE, "TRY LATER"),
    ("void.online_only", Kind.VOID, "TRY LATER"),
])
def test_the_next_step_is_one_table_and_none_where_none_is_right(code, kind, step):
    assert next_step(code, kind) == step


def test_a_sale_declined_51_says_to_use_another_card_under_the_whole_reason():
    d = to_pin()
    d.feed(PinEntered())
    stan = d.last(A.OpenRequest).record.stan
    d.feed(HostAnswered(reply(stan=stan, response_code="51", approved=False, auth_code=None)))
    assert tuple(_shown(d)) == ("DECLINED CNY 12.50", "51 INSUFFICIENT", "FUNDS", "USE ANOTHER CARD")


def test_a_void_declined_51_is_not_told_to_use_another_card():
    d = to_confirm()
    d.keys("#")
    d.feed(CardRead(CARD), PinEntered())
    stan = d.last(A.OpenRequest).record.stan
    d.feed(HostAnswered(reply(stan=stan, response_code="51", approved=False, auth_code=None)))
    assert "USE ANOTHER CARD" not in _shown(d) and "VOID DECLINED" in _shown(d)


@pytest.mark.parametrize("cols", [20, MIN_COLS])
def test_over_the_offline_limits_says_to_try_later(cols):
    d = Driver(replace(SETTINGS, offline=OfflineLimits(floor_limit=1000), display_cols=cols),
               BootState(counters=Counters(txn_no=10, stan=10)))
    d.keys("1250#")
    d.feed(CardRead(CARD), PinEntered())
    d.feed(ActionFailed(d.last(A.SendRequest), "link.down", "refused", sent=False))
    lines = _shown(d)
    assert tuple(lines) == ("HOST UNAVAILABLE", "OVER FLOOR LIMIT", "NOT APPROVED", "TRY LATER")
    assert lines.short == ("HOST UNAVAILABLE", "NOT APPROVED")


def test_the_step_gives_way_where_the_refusal_takes_four_rows():
    """OFFLINE QUEUE TOO OLD is said over two lines on 20 columns: the step would make a fifth row."""
    old = (PendingAdvice(1, 1, 100, NOW - timedelta(hours=2)),)
    d = Driver(replace(SETTINGS, offline=OfflineLimits(max_age=timedelta(hours=1))),
               BootState(counters=Counters(txn_no=10, stan=10), advices=old))
    while d.state is State.UPLINK:
        d.feed(ActionFailed(d.last(A.SendAdvice), "link.down", "refused", sent=False))
    d.keys("1250#")
    d.feed(CardRead(CARD), PinEntered())
    d.feed(ActionFailed(d.last(A.SendRequest), "link.down", "refused", sent=False))
    assert len(_shown(d)) == 4 and "TRY LATER" not in _shown(d)


@pytest.mark.parametrize("cols", [20, MIN_COLS])
def test_the_pin_screen_shows_its_keys_as_every_input_screen(cols):
    d = to_card()
    d.t.settings = replace(d.t.settings, display_cols=cols)
    d.feed(CardRead(CARD))
    lines = _shown(d)
    assert lines[-1] in ("#=OK  X=CANCEL", "#=OK X=CANCEL") and "ENTER PIN:" in lines
    assert all(len(line) <= cols for line in (*lines, *lines.short)) and len(lines) <= 4


def _slip(kind: Kind, state=JournalState.APPROVED, advice=None, pan=CARD.masked_pan, mode=EntryMode.SWIPE,
          copy=Copy.MERCHANT) -> list[str]:
    record = SaleRecord(1, 1250, 7, 1, NOW, pan, kind=kind, state=state, entry_mode=mode, advice=advice,
                        original=ORIGINAL if kind is Kind.VOID else None)
    receipt = build_receipt(PrintJob(record, copy), SETTINGS)
    return [row.strip() for row in plain_text(receipt, 32).splitlines()]


def test_a_void_slip_says_the_sale_is_cancelled_not_refunded():
    rows = _slip(Kind.VOID)
    assert "REFUNDED TO THE CARD" not in rows
    assert rows[rows.index("SALE CANCELLED") + 1] == "NOTHING CHARGED"
    assert "REFUNDED TO THE CARD" in _slip(Kind.REFUND)  # money back still says so


@pytest.mark.parametrize("columns", [32, 24, 16])
@pytest.mark.parametrize("advice, second", [(None, "TO BE UPLOADED"), (AdviceAnswer("00", True), "UPLOADED")])
def test_the_offline_note_is_whole_on_narrow_printers(columns, advice, second):
    record = SaleRecord(1, 1250, 7, 1, NOW, CARD.masked_pan, state=JournalState.OFFLINE_APPROVED, advice=advice)
    rows = [row.strip() for row in plain_text(build_receipt(PrintJob(record, Copy.MERCHANT), SETTINGS),
                                              columns).splitlines()]
    assert rows[rows.index("APPROVED OFFLINE") + 1] == second


@pytest.mark.parametrize("pan, mode, copy, said", [
    ("620550*********0004", EntryMode.SWIPE, Copy.MERCHANT, "UNIONPAY SWIPE"),
    ("476173******0010", EntryMode.FALLBACK, Copy.CARDHOLDER, "VISA FALLBACK"),
    ("222100******0009", EntryMode.SWIPE, Copy.MERCHANT, "MASTERCARD SWIPE"),
    ("990000******0001", EntryMode.SWIPE, Copy.MERCHANT, "SWIPE"),  # no scheme known: the entry mode alone
])
def test_the_slip_names_the_card_scheme_and_entry_mode(pan, mode, copy, said):
    rows = _slip(Kind.SALE, pan=pan, mode=mode, copy=copy)
    (line,) = [row for row in rows if row.startswith("CARD TYPE:")]
    assert line.split(":", 1)[1].strip() == said
    assert pan[:6] not in "\n".join(rows) or copy is Copy.MERCHANT  # the cardholder's copy: the last 4 only


def test_the_screens_and_the_slip_say_preauth_alike():
    rows = _slip(Kind.PREAUTH)
    assert any(row.startswith("TRANS TYPE:") and row.endswith("PREAUTH") for row in rows)
    assert "PRE-AUTH" not in "\n".join(rows) and "1 PREAUTH  2 CANCEL" in screens._MENU_MORE[0][0]
