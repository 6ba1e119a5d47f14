"""Everything that affects the state machine lives here.

``TABLE[state][event type]`` names the handler that runs and the states it
may lead to. ``ANY_STATE`` lists events every state accepts. An event missing
from both for the current state is illegal: ``Terminal.handle`` raises
``StateError`` naming the state and the event, and the state does not change.

The handlers (in ``machine.py``) compute the actions and pick one target from
the set given here; a handler that picks a state outside its set is a bug and
raises too, so this table is the truth about where the terminal can go. The
tests walk it, and ``posterm tools states`` draws it.

Durability order, which the handlers keep and the tests check:

* a request goes out only in the batch ``OpenRequest, SendRequest`` (the record
  and its reversal are committed first);
* a receipt prints only in a batch after ``RecordOutcome`` (the outcome is
  committed first);
* a queued reversal goes out before any other online message (except a
  sign-on when there are no working keys: nothing can be MACed without one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from firmware.core.events import (
    AccountCancelled,
    AccountCaptured,
    AccountProgress,
    AccountRejected,
    ActionFailed,
    BatchCounted,
    ReportPrinted,
    SettleRequested,
    Booted,
    CardRead,
    CardUnreadable,
    Event,
    HostAnswered,
    HostFrameRejected,
    KeyPressed,
    LinkDropped,
    OriginalFound,
    OriginalRefused,
    OriginalUnknown,
    OperatorChecked,
    PinBypassed,
    PinCancelled,
    PinEntered,
    PinProgress,
    Printed,
    PrinterFault,
    PrinterReady,
    PinKeyLow,
    PinPadFailed,
    ReaderFailed,
    RecordFound,
    SignOffRequested,
    SignOnRequested,
    StorageOk,
    Tampered,
    TimerExpired,
    UploadRequested,
)
from firmware.core.model import State

__all__ = ["Transition", "TABLE", "ANY_STATE", "transitions", "mermaid"]

S = State


class Transition(NamedTuple):
    handler: str
    targets: frozenset[State]


def T(handler: str, *targets: State) -> Transition:  # noqa: N802 - reads as a table
    return Transition(handler, frozenset(targets))


_AFTER_UPLINK = (S.UPLINK, S.AUTHORISING, S.PRINTING, S.IDLE, S.SUSPENDED, S.SIGNED_OFF, S.COUNTING)

TABLE: Mapping[State, Mapping[type[Event], Transition]] = {
    S.BOOTING: {
        Booted: T("booted", S.IDLE, S.PRINTING, S.UPLINK, S.SIGNED_OFF, S.LOCKED),
    },
    S.IDLE: {
        KeyPressed: T("idle_key", S.IDLE, S.AMOUNT, S.MENU, S.SIGN_IN),
        TimerExpired: T("idle_timer", S.IDLE, S.UPLINK),
        UploadRequested: T("upload_requested", S.IDLE, S.UPLINK),
        SignOnRequested: T("sign_on_requested", S.UPLINK),
        SignOffRequested: T("sign_off_requested", S.IDLE, S.UPLINK),
        SettleRequested: T("settle_requested", S.UPLINK, S.COUNTING, S.IDLE, S.SUPERVISOR),
    },
    S.MENU: {
        KeyPressed: T("menu_key", S.MENU, S.IDLE, S.UPLINK, S.SIGNED_OFF, S.TRACE, S.COUNTING, S.REFERENCE, S.CARD,
                      S.PRINTING, S.AMOUNT, S.SUPERVISOR, S.REPRINT),
        TimerExpired: T("menu_timer", S.MENU, S.IDLE, S.SIGNED_OFF),
    },
    # A receipt reprinted (reprint.py): key its trace, or ENTER alone for the newest; the runner
    # looks the trace up in the open batch; one copy prints, marked, and nothing stored changes.
    S.REPRINT: {
        KeyPressed: T("reprint_key", S.REPRINT, S.REPRINT_LOOKUP, S.PRINTING, S.IDLE, S.SIGNED_OFF),
        TimerExpired: T("reprint_timer", S.REPRINT, S.IDLE, S.SIGNED_OFF),
    },
    S.REPRINT_LOOKUP: {
        RecordFound: T("record_found", S.PRINTING, S.IDLE, S.SIGNED_OFF),
        TimerExpired: T("ignore_timer", S.REPRINT_LOOKUP),
    },
    # A void: key the original's trace, let the runner find and judge it in the journal,
    # confirm it; then CARD onwards as a sale (flows.FLOWS). A refund keys its original's
    # reference number and date instead, confirms it, and keys an amount (refund.py).
    # A balance inquiry goes from the menu straight to CARD (balance.py), a pre-auth to AMOUNT;
    # a pre-auth's cancel and completion key its auth code and date as a refund keys an RRN,
    # a completion's void its trace as a void does (preauth.py).
    S.TRACE: {
        KeyPressed: T("trace_key", S.TRACE, S.LOOKUP, S.IDLE),
        TimerExpired: T("input_timeout", S.TRACE, S.IDLE),
    },
    S.REFERENCE: {
        KeyPressed: T("reference_key", S.REFERENCE, S.ORIGINAL_DATE, S.IDLE),
        TimerExpired: T("input_timeout", S.REFERENCE, S.IDLE),
    },
    S.ORIGINAL_DATE: {
        KeyPressed: T("original_date_key", S.ORIGINAL_DATE, S.REFERENCE, S.LOOKUP, S.IDLE),
        TimerExpired: T("input_timeout", S.ORIGINAL_DATE, S.IDLE),
    },
    S.LOOKUP: {
        OriginalFound: T("original_found", S.CONFIRM, S.IDLE),  # IDLE: a completion of a lapsed hold
        OriginalRefused: T("original_refused", S.IDLE),
        OriginalUnknown: T("original_unknown", S.CONFIRM, S.IDLE),
        TimerExpired: T("ignore_timer", S.LOOKUP),
    },
    S.CONFIRM: {
        KeyPressed: T("confirm_key", S.CONFIRM, S.CARD, S.AMOUNT, S.IDLE),
        TimerExpired: T("input_timeout", S.CONFIRM, S.IDLE),
    },
    # Settlement (settle.py): the queues go first, the runner totals the batch from the
    # journal, the operator confirms, the 0500 goes last on the uplink; then the report,
    # or (totals not balanced) first the batch upload, on the uplink like a queued message.
    S.COUNTING: {
        BatchCounted: T("batch_counted", S.TOTALS),
        TimerExpired: T("ignore_timer", S.COUNTING),
    },
    S.TOTALS: {
        KeyPressed: T("totals_key", S.TOTALS, S.UPLINK, S.IDLE, S.SIGNED_OFF),
        TimerExpired: T("input_timeout", S.TOTALS, S.IDLE),
    },
    S.SIGNED_OFF: {
        KeyPressed: T("signed_off_key", S.SIGNED_OFF, S.MENU),
        SignOnRequested: T("sign_on_requested", S.UPLINK),
        TimerExpired: T("ignore_timer", S.SIGNED_OFF),
    },
    S.LOCKED: {
        KeyPressed: T("locked_key", S.LOCKED),
        TimerExpired: T("ignore_timer", S.LOCKED),
    },
    # Operators (operators.py): a cashier signs in from a signed-out IDLE; the supervisor's
    # password comes before a guarded menu function; the runner checks either (VerifyOperator)
    # and the guarded function then starts as if its key had just been pressed.
    S.SIGN_IN: {
        KeyPressed: T("sign_in_key", S.SIGN_IN, S.CHECKING, S.IDLE),
        TimerExpired: T("operator_timeout", S.SIGN_IN, S.IDLE),
    },
    S.SUPERVISOR: {
        KeyPressed: T("supervisor_key", S.SUPERVISOR, S.CHECKING, S.IDLE),
        TimerExpired: T("operator_timeout", S.SUPERVISOR, S.IDLE),
    },
    S.CHECKING: {
        OperatorChecked: T("operator_checked", S.IDLE, S.UPLINK, S.SIGNED_OFF, S.TRACE, S.COUNTING, S.REFERENCE,
                           S.CARD, S.PRINTING, S.AMOUNT),  # AMOUNT: a guarded pre-auth or transfer
        TimerExpired: T("ignore_timer", S.CHECKING),
    },
    S.AMOUNT: {
        KeyPressed: T("amount_key", S.AMOUNT, S.CARD, S.IDLE),
        TimerExpired: T("input_timeout", S.AMOUNT, S.IDLE),
    },
    S.CARD: {
        CardRead: T("card_read", S.PIN, S.ACCOUNT, S.PRINTING, S.IDLE),  # ACCOUNT: a transfer's destination
        # first; PRINTING or IDLE: a completion advice takes no PIN (preauth.py)
        CardUnreadable: T("card_unreadable", S.CARD, S.IDLE),
        KeyPressed: T("card_key", S.CARD, S.IDLE),
        TimerExpired: T("input_timeout", S.CARD, S.IDLE),
        ReaderFailed: T("reader_failed", S.IDLE),  # the card wait ends, naming the reader (device_faults.py)
    },
    # A transfer (transfer.py): the PIN pad collects the destination account, keyed twice; the
    # runner seals it with the card and the core learns its mask; then the PIN, as a sale.
    S.ACCOUNT: {
        AccountProgress: T("account_progress", S.ACCOUNT),
        AccountRejected: T("account_rejected", S.ACCOUNT),
        AccountCaptured: T("account_captured", S.PIN),
        AccountCancelled: T("account_cancelled", S.IDLE),
        TimerExpired: T("input_timeout", S.ACCOUNT, S.IDLE),
    },
    S.PIN: {
        PinEntered: T("pin_done", S.AUTHORISING, S.UPLINK, S.PRINTING, S.IDLE),
        PinBypassed: T("pin_done", S.AUTHORISING, S.UPLINK, S.PRINTING, S.IDLE),
        PinCancelled: T("pin_cancelled", S.IDLE),
        PinPadFailed: T("pin_pad_failed", S.IDLE),  # the PIN pad could not encrypt: named (device_faults.py)
        PinProgress: T("pin_progress", S.PIN),
        TimerExpired: T("input_timeout", S.PIN, S.IDLE),
    },
    S.AUTHORISING: {
        HostAnswered: T("request_answered", S.AUTHORISING, S.PRINTING, S.IDLE, S.UPLINK),
        HostFrameRejected: T("frame_rejected", S.AUTHORISING),
        LinkDropped: T("request_unanswered", S.UPLINK, S.IDLE),  # IDLE: an inquiry, nothing to recover
        TimerExpired: T("request_timer", S.AUTHORISING, S.UPLINK, S.IDLE),
    },
    S.UPLINK: {
        HostAnswered: T("uplink_answered", *_AFTER_UPLINK),
        HostFrameRejected: T("frame_rejected", S.UPLINK),
        LinkDropped: T("uplink_unanswered", *_AFTER_UPLINK),
        TimerExpired: T("uplink_timer", *_AFTER_UPLINK),
    },
    S.PRINTING: {
        Printed: T("printed", S.PRINTING, S.IDLE, S.UPLINK, S.SIGNED_OFF),
        # a report a settlement waited for (the batch before's upload) leads on to counting
        ReportPrinted: T("report_printed", S.PRINTING, S.IDLE, S.UPLINK, S.SIGNED_OFF, S.COUNTING),
    },
    S.RECEIPT_HELD: {
        KeyPressed: T("held_key", S.RECEIPT_HELD, S.PRINTING, S.IDLE, S.UPLINK, S.SIGNED_OFF),
    },
    S.SUSPENDED: {
        KeyPressed: T("suspended_key", S.SUSPENDED),
        StorageOk: T("storage_ok", S.IDLE, S.UPLINK, S.PRINTING, S.SIGNED_OFF),
    },
}

# Accepted in every state. A failed action can follow any batch; its handler
# decides from the action what the failure means (see Terminal._h_action_failed).
ANY_STATE: Mapping[type[Event], Transition] = {
    ActionFailed: T("action_failed", *State),
    Tampered: T("tampered", S.LOCKED),
    # what the printer is known to be able to do; the state stays (device_faults.py)
    PrinterFault: T("printer_fault", *State),
    PrinterReady: T("printer_ready", *State),
    # the DUKPT PIN key runs low: alerted once, on the idle status line (device_faults.py)
    PinKeyLow: T("pin_key_low", *State),
}


def transitions() -> list[tuple[State, type[Event], str, frozenset[State]]]:
    """Every (state, event, handler, targets) row, for tests and diagrams."""
    rows = [(s, e, t.handler, t.targets) for s, by_event in TABLE.items() for e, t in by_event.items()]
    rows += [(s, e, t.handler, t.targets) for s in State for e, t in ANY_STATE.items()]
    return rows


def mermaid() -> str:
    """A Mermaid state diagram of the table (``ActionFailed`` edges left out for legibility)."""
    lines = ["stateDiagram-v2", f"    [*] --> {S.BOOTING.name}"]
    for state, by_event in TABLE.items():
        for event, t in by_event.items():
            for target in sorted(t.targets, key=lambda s: s.name):
                lines.append(f"    {state.name} --> {target.name}: {event.__name__}")
    return "\n".join(lines) + "\n"
