"""The actions the runner carries out on the terminal itself: its screen, card reader, PIN pad and
printer, its timers, its log and its clock; and ``Action``, the root every action derives from.

Why a module of its own: none of these commits to storage or sends to the host, so none is
part of the durability order that ``actions.py`` declares (``PERSISTENT``); most are
``ADVISORY`` (a dead display must not stop a sale). The runner carries them out with the
devices it was given (``firmware.runner_actions``). ``Action`` is here rather than in
``actions.py`` because that module builds on this one: import every action, these
included, from ``firmware.core.actions``, the one place that names them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from firmware.core.batch import Settlement
from firmware.core.model import PrintJob, Timer

__all__ = [
    "Action",
    "Show",
    "EnableReader",
    "DisableReader",
    "BeginPin",
    "BeginAccount",
    "CancelPin",
    "StartTimer",
    "CancelTimer",
    "WipeCard",
    "Print",
    "PrintReport",
    "Alert",
    "Note",
    "SetClock",
]


@dataclass(frozen=True)
class Action:
    name = "action"  # the crash-point name: the runner can cut the power before/after it


@dataclass(frozen=True)
class Show(Action):
    lines: tuple[str, ...]
    name = "show"


@dataclass(frozen=True)
class EnableReader(Action):
    txn_no: int
    name = "enable_reader"


@dataclass(frozen=True)
class DisableReader(Action):
    name = "disable_reader"


@dataclass(frozen=True)
class BeginPin(Action):
    txn_no: int
    allow_bypass: bool = False
    name = "begin_pin"


@dataclass(frozen=True)
class BeginAccount(Action):
    """The PIN pad collects a transfer's destination account (keyed twice); ``CancelPin`` ends it too."""

    txn_no: int
    name = "begin_account"


@dataclass(frozen=True)
class CancelPin(Action):
    name = "cancel_pin"


@dataclass(frozen=True)
class StartTimer(Action):
    timer: Timer
    seconds: float
    name = "start_timer"


@dataclass(frozen=True)
class CancelTimer(Action):
    timer: Timer
    name = "cancel_timer"


@dataclass(frozen=True)
class WipeCard(Action):
    """Destroy the sealed tracks and the PIN block of a sale: the host has answered (or never will)."""

    txn_no: int
    name = "wipe_card"


@dataclass(frozen=True)
class Print(Action):
    job: PrintJob
    receipt: Any  # hal.printer.Receipt
    name = "print"


@dataclass(frozen=True)
class Alert(Action):
    """Something the operator must know (logged as a warning, shown on the idle screen)."""

    code: str
    text: str
    name = "alert"


@dataclass(frozen=True)
class SetClock(Action):
    """The host's time differs from the terminal's by ``offset`` (the host's instant minus the terminal's, summer
    time on either side counted): move the clock by it, if the configuration lets the runner
    (``terminal.clock_from_host``); else the runner alerts (core/clock.py). A difference, not a time: the
    runner adds it to the system clock's own epoch seconds, so no civil time is read again (a naive one names
    two instants in the hour the end of summer time repeats), and what passed since the answer is counted."""

    offset: timedelta
    name = "set_clock"


@dataclass(frozen=True)
class Note(Action):
    """Something worth a log line (a rejected frame, a late answer)."""

    code: str
    text: str
    name = "note"


@dataclass(frozen=True)
class PrintReport(Action):
    settlement: Settlement
    receipt: Any  # hal.printer.Receipt
    reprint: bool = False  # asked for from the menu: its printing changes nothing stored
    name = "print_report"
