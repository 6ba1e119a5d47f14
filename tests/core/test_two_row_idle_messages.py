"""Every result message the core shows on its way back to idle (``Terminal._idle``) says itself on 2 rows of 20
(brief FX14): no fallback to first-and-last, which drops the middle line with a warning in the log.

Each route below ends in one ``_idle`` message of three lines or more (the 2-line ones fit as they are). Each is
fitted by the real display port's rule (``hal.display.fit_screen``) on a 2 x 20 display, and must carry a
short form that fits without a warning; the 4-row screen is unchanged.
"""

from __future__ import annotations

import logging

import pytest

from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    CardRead,
    HostAnswered,
    OperatorChecked,
    OriginalRefused,
    OriginalUnknown,
    PinEntered,
    PrinterFault,
    ReaderFailed,
    TimerExpired,
)
from firmware.core.model import State, Timer
from firmware.host.balance import Balance
from hal.display import fit_screen

from . import helpers as h


def _reader_failed():
    d = h.to_card()
    d.feed(ReaderFailed("reader.io_failed", "the card reader failed"))
    return d


def _printer_refused(code):
    def route():
        d = h.to_idle()
        d.feed(PrinterFault(code, "the printer failed"))
        d.keys("8")
        return d
    route.__name__ = f"printer_refused_{code}"
    return route


def _authorising(d, keys):
    """From ``d``, ``keys`` to the card prompt, then the card and its PIN: the request is out."""
    d.keys(keys)
    d.feed(CardRead(h.CARD), PinEntered())
    return d


def _inquiry():
    return _authorising(h.to_idle(), "F7")


def _balance(value):
    def route():
        d = _inquiry()
        d.feed(HostAnswered(h.reply(stan=h.request_stan(d), amount=None, balance=value)))
        return d
    route.__name__ = f"balance_{'given' if value else 'not_given'}"
    return route


def _balance_bad_mac():
    d = _inquiry()
    d.feed(HostAnswered(h.reply(stan=h.request_stan(d), amount=None, mac_ok=False)))
    return d


def _journal_error():
    d = h.to_lookup()
    d.feed(ActionFailed(d.last(A.FindOriginal), "storage.read_failed", "the journal could not be read"))
    return d


def _declined():
    d = h.to_authorising()
    d.feed(HostAnswered(h.reply(stan=h.request_stan(d), response_code="51", approved=False)))
    return d


def _refused_offline():
    d = _authorising(h.to_confirm(), "#")  # a void: never approved offline
    d.feed(ActionFailed(d.last(A.SendRequest), "link.refused", "connection refused", sent=False))
    return d


def _trace_not_found():
    d = h.to_lookup()
    d.feed(OriginalUnknown())
    return d


def _original_refused():
    d = h.to_lookup()
    d.feed(OriginalRefused("void.already_voided", "ALREADY VOIDED"))
    return d


def _reversed_after_timeout():
    """No answer: the reversal goes and is acknowledged; the sale ends not approved (AU20 M5)."""
    d = h.to_authorising()
    stan = h.request_stan(d)
    d.feed(TimerExpired(Timer.RESPONSE))
    d.feed(HostAnswered(h.reply(mti="0410", stan=stan)))
    return d


def _sign_in_locked_out():
    d = h.to_checking()
    d.feed(OperatorChecked("01", "sign_in", False, "operator.wrong_password", "WRONG PASSWORD", tries_left=0,
                           locked_for=900))
    return d


def _supervisor(code, text, tries_left, locked_for):
    def route():
        d = h.signed_in()
        d.keys("F41#")
        d.feed(OperatorChecked("00", "void", False, code, text, tries_left=tries_left, locked_for=locked_for))
        return d
    route.__name__ = f"supervisor_{code.rpartition('.')[2]}"
    return route


ROUTES = [
    _reader_failed,
    _printer_refused("printer.not_responding"),
    _printer_refused("printer.paper_out"),
    _printer_refused("printer.disconnected"),
    _printer_refused("printer.jammed"),  # a code the screen does not name: PRINTER FAULT / NO SALES
    _balance(Balance(9876503, "156")),
    _balance(None),
    _balance_bad_mac,
    _journal_error,
    _declined,
    _refused_offline,
    _trace_not_found,
    _original_refused,
    _reversed_after_timeout,
    _sign_in_locked_out,
    _supervisor("operator.wrong_password", "WRONG PASSWORD", 2, 0),
    _supervisor("operator.locked_out", "LOCKED OUT", 0, 30),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.__name__)
def test_every_idle_message_fits_two_rows_without_the_fallback(route, caplog):
    d = route()
    assert d.state is State.IDLE
    message = d.last(A.Show).lines
    assert len([line for line in message if line.strip()]) >= 2, message
    with caplog.at_level(logging.WARNING, logger="hal.display"):
        two = fit_screen(message, 2, 20)
    assert not caplog.records, f"{tuple(message)} fell back to first and last on 2 rows"
    assert all(line.strip() for line in two), two  # both rows say something
    assert fit_screen(message, 4, 20) == tuple(line[:20].ljust(20) for line in message) + \
        ("".ljust(20),) * (4 - len(message))  # 4 rows: the message as written


@pytest.mark.parametrize(("route", "two_rows"), [
    (_reader_failed, ("SALE CANCELLED", "CHECK CARD READER")),
    (_printer_refused("printer.not_responding"), ("NO SALES: PRINTER", "NOT RESPONDING")),
    (_printer_refused("printer.jammed"), ("PRINTER FAULT", "NO SALES")),
    (_declined, ("DECLINED CNY 12.50", "51 NO FUNDS")),  # the amount, and the reason's display form (AU20 L4)
    (_refused_offline, ("HOST UNAVAILABLE", "NOT VOIDED")),
    (_reversed_after_timeout, ("SALE NOT APPROVED", "CNY 12.50")),
    (_sign_in_locked_out, ("WRONG PASSWORDS", "LOCKED FOR 900 S")),
    (_supervisor("operator.locked_out", "LOCKED OUT", 0, 30), ("SUPERVISOR LOCKED", "VOID NOT STARTED")),
], ids=lambda v: v.__name__ if callable(v) else "")
def test_a_two_row_message_keeps_what_happened_and_what_it_means(route, two_rows):
    assert fit_screen(route().last(A.Show).lines, 2, 20) == tuple(line.ljust(20) for line in two_rows)
