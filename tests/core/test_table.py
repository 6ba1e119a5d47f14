"""Walk the transition table: every legal event goes where the table says; every other one is refused."""

from __future__ import annotations

import pytest

from firmware.core import actions as A
from firmware.core.batch import Settlement, SettleResult
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
from firmware.core.model import BootState, Copy, State, Timer
from firmware.core.table import ANY_STATE, TABLE, mermaid, transitions
from firmware.errors import StateError

from .helpers import CARD, NOW, ORIGINAL, REACH, TOTALS, reply

# One representative instance of every event type.
SAMPLES = {
    Booted: Booted(BootState()),
    KeyPressed: KeyPressed("5"),
    CardRead: CardRead(CARD),
    CardUnreadable: CardUnreadable("card.luhn", "CARD NUMBER INVALID"),
    PinEntered: PinEntered(),
    PinBypassed: PinBypassed(),
    PinCancelled: PinCancelled(),
    PinProgress: PinProgress(2),
    HostAnswered: HostAnswered(reply()),
    HostFrameRejected: HostFrameRejected("host.malformed", "field 4 at byte 20"),
    LinkDropped: LinkDropped("link.closed", "peer closed"),
    TimerExpired: TimerExpired(Timer.RESPONSE),
    Printed: Printed(1, Copy.MERCHANT),
    ActionFailed: ActionFailed(A.Show(("x",)), "display.not_responding", "display not responding"),
    StorageOk: StorageOk(BootState()),
    UploadRequested: UploadRequested(),
    SignOnRequested: SignOnRequested(),
    SignOffRequested: SignOffRequested(),
    Tampered: Tampered("gpio", "case opened"),
    OriginalFound: OriginalFound(ORIGINAL),
    OriginalRefused: OriginalRefused("void.not_found", "TRACE NOT FOUND"),
    OriginalUnknown: OriginalUnknown(),
    BatchCounted: BatchCounted(TOTALS),
    SettleRequested: SettleRequested(),
    ReportPrinted: ReportPrinted(Settlement(1, TOTALS, SettleResult.BALANCED, NOW, 9)),
    OperatorChecked: OperatorChecked("01", "sign_in", True),
    AccountProgress: AccountProgress(3),
    AccountRejected: AccountRejected("transfer.account_mismatch", "ACCOUNTS DIFFER"),
    AccountCaptured: AccountCaptured("622848*********0018"),
    AccountCancelled: AccountCancelled(),
    PrinterFault: PrinterFault("printer.paper_out", "the printer is out of paper"),
    PrinterReady: PrinterReady(),
    ReaderFailed: ReaderFailed("reader.io_failed", "the card reader stopped working"),
    PinPadFailed: PinPadFailed("pinpad.dukpt.exhausted", "PIN could not be encrypted: the DUKPT key is exhausted"),
    PinKeyLow: PinKeyLow(9_000),
    RecordFound: RecordFound(7),
}


def test_every_event_type_has_a_sample():
    from firmware.core import events

    declared = {v for v in vars(events).values() if isinstance(v, type) and issubclass(v, events.Event)}
    assert declared - {events.Event} == set(SAMPLES)


def test_every_state_is_reachable_and_has_a_row():
    for state in State:
        assert REACH[state]().state is state
        assert state in TABLE


ILLEGAL = [
    (state, event)
    for state in State
    for event in SAMPLES
    if event not in TABLE[state] and event not in ANY_STATE
]


@pytest.mark.parametrize("state, event", ILLEGAL, ids=lambda x: getattr(x, "name", getattr(x, "__name__", str(x))))
def test_illegal_events_are_refused_by_name_and_change_nothing(state, event):
    d = REACH[state]()
    assert not d.t.accepts(SAMPLES[event])
    with pytest.raises(StateError) as err:
        d.feed(SAMPLES[event])
    assert err.value.code == "state.illegal_event"
    assert event.__name__ in err.value.text and state.name in err.value.text
    assert d.state is state


LEGAL = [(state, event, targets) for state, event, _handler, targets in transitions()]


@pytest.mark.parametrize("state, event, targets", LEGAL, ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")))
def test_legal_events_land_in_an_allowed_state(state, event, targets):
    d = REACH[state]()
    sample = SAMPLES[event]
    if event is HostAnswered and state in (State.AUTHORISING, State.UPLINK):
        expect = d.t.expect or d.t.job.expect
        sample = HostAnswered(reply(mti=expect.mti, stan=expect.stan, amount=expect.amount))
    if event is Printed and state is State.PRINTING:
        job = d.t.print_queue[0]
        sample = Printed(job.record.txn_no, job.copy)
    d.feed(sample)
    assert d.state in targets


def test_a_handler_choosing_a_state_outside_the_table_is_caught(monkeypatch):
    d = REACH[State.IDLE]()
    monkeypatch.setattr(type(d.t), "_h_idle_key", lambda self, ev, now: (State.PRINTING, []))
    with pytest.raises(StateError) as err:
        d.feed(KeyPressed("1"))
    assert err.value.code == "state.bad_target"
    assert d.state is State.IDLE


def test_diagram_names_every_transition():
    text = mermaid()
    for state, by_event in TABLE.items():
        for event, t in by_event.items():
            for target in t.targets:
                assert f"{state.name} --> {target.name}: {event.__name__}" in text
