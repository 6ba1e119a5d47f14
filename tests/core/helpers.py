"""Driving the sans-IO core by hand: events in, actions out, no devices."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from firmware.core import actions as A
from firmware.core.batch import Totals
from firmware.core.events import (
    ActionFailed,
    Booted,
    CardRead,
    HostAnswered,
    KeyPressed,
    PinEntered,
    Printed,
    SignOffRequested,
    TimerExpired,
)
from firmware.core.machine import Terminal
from firmware.core.events import BatchCounted, OperatorChecked, OriginalFound
from firmware.core.model import BootState, CardFacts, KeyState, Kind, OriginalFacts, State, Timer
from firmware.core.settings import CoreSettings, OperatorRules
from firmware.host.messages import Reply
from firmware.host.profiles import get_profile

NOW = datetime(2026, 11, 22, 10, 15, 3)
CARD = CardFacts(masked_pan="620550*********0004", expiry="4912", service_code="120", pin_required=True)
# An approved sale of the current batch, as the journal would hand it to a void.
ORIGINAL = OriginalFacts(
    txn_no=1, kind=Kind.SALE, amount=1250, currency="156", stan=7, batch=1, when=NOW,
    masked_pan=CARD.masked_pan, rrn="000000000007", auth_code="654321",
)
_CUP = get_profile("cup")
SETTINGS = CoreSettings(response_texts={"51": "Insufficient funds"}, display_texts={"51": "NO FUNDS"})


def reply(**changes) -> Reply:
    base = dict(
        mti="0210",
        stan=1,
        terminal_id=SETTINGS.terminal_id,
        merchant_id=SETTINGS.merchant_id,
        amount=1250,
        response_code="00",
        rrn="000000000001",
        auth_code="123456",
        settle_date="1122",
        host_date="1122",
        host_time="101503",
        batch=1,
        mac_ok=True,
        approved=True,
    )
    base.update(changes)
    code = base["response_code"]  # what the code means, as parse_reply reads it from the profile
    base.setdefault("reversal_done", code in _CUP.reversal_done_codes)
    base.setdefault("try_again", code in _CUP.try_again_codes)
    base.setdefault("key_error", code in _CUP.key_error_codes)
    base.setdefault("must_reverse", code in _CUP.reverse_codes)
    return Reply(**base)


class Driver:
    """A terminal core plus the list of every action batch it produced."""

    def __init__(self, settings: CoreSettings = SETTINGS, boot: BootState | None = None) -> None:
        self.t = Terminal(settings)
        self.batches: list[list[A.Action]] = []
        self.now = NOW
        if boot is not None:
            self.feed(Booted(boot))

    def feed(self, *events, advance: float = 0.0) -> list[A.Action]:
        out: list[A.Action] = []
        for e in events:
            self.now += timedelta(seconds=advance)
            batch = self.t.handle(e, self.now)
            self.batches.append(batch)
            out += batch
        return out

    def keys(self, text: str) -> list[A.Action]:
        return self.feed(*(KeyPressed(k) for k in text))

    @property
    def state(self) -> State:
        return self.t.state

    def all(self, kind: type) -> list:
        return [a for batch in self.batches for a in batch if isinstance(a, kind)]

    def last(self, kind: type):
        found = self.all(kind)
        assert found, f"no {kind.__name__} action was produced"
        return found[-1]


def to_idle(settings: CoreSettings = SETTINGS, boot: BootState | None = None) -> Driver:
    return Driver(settings, boot or BootState())


def to_amount() -> Driver:
    d = to_idle()
    d.keys("1")
    return d


def to_card(amount: str = "1250") -> Driver:
    d = to_idle()
    d.keys(amount + "#")
    return d


def to_pin(card: CardFacts = CARD, **kw) -> Driver:
    d = to_card(**kw)
    d.feed(CardRead(card))
    return d


def to_account(amount: str = "5000") -> Driver:
    """A transfer (F 0 5) with its card read: the PIN pad collects the destination account."""
    d = to_menu()
    d.keys("05" + amount + "#")
    d.feed(CardRead(CARD))
    return d


def to_authorising(**kw) -> Driver:
    d = to_pin(**kw)
    d.feed(PinEntered())
    return d


def request_stan(d: Driver) -> int:
    return d.last(A.OpenRequest).record.stan


def to_printing() -> Driver:
    d = to_authorising()
    d.feed(HostAnswered(reply(stan=request_stan(d))))
    return d


def to_receipt_held() -> Driver:
    d = to_printing()
    d.feed(ActionFailed(d.last(A.Print), "printer.paper_out", "out of paper"))
    return d


def to_uplink() -> Driver:
    d = to_authorising()
    d.feed(TimerExpired(Timer.RESPONSE))
    return d


def to_suspended() -> Driver:
    d = to_authorising()
    d.feed(ActionFailed(d.last(A.OpenRequest), "storage.full", "storage is full"))
    return d


def to_menu() -> Driver:
    d = to_idle()
    d.keys("F")
    return d


def to_signed_off() -> Driver:
    """Signed off by the operator (the host never acknowledged: signed off all the same)."""
    d = to_idle()
    d.feed(SignOffRequested())
    d.feed(TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE), TimerExpired(Timer.RESPONSE))
    return d


def to_trace() -> Driver:
    """The void's trace prompt (function menu, 4)."""
    d = to_menu()
    d.keys("4")
    return d


def to_lookup(trace: str = "7") -> Driver:
    d = to_trace()
    d.keys(trace + "#")
    return d


def to_reprint() -> Driver:
    """The reprint's trace prompt (function menu, 8): TRACE NO (#=LAST)."""
    d = to_menu()
    d.keys("8")
    return d


def to_reprint_lookup(trace: str = "7") -> Driver:
    d = to_reprint()
    d.keys(trace + "#")
    return d


def to_confirm(original: OriginalFacts = ORIGINAL) -> Driver:
    d = to_lookup(str(original.stan))
    d.feed(OriginalFound(original))
    return d


RRN = "000000000007"  # ORIGINAL's reference number, as a refund keys it
DATE = NOW.strftime("%m%d")


def to_reference() -> Driver:
    """The refund's first prompt (function menu, 6): the original's reference number."""
    d = to_menu()
    d.keys("6")
    return d


def to_original_date(rrn: str = RRN) -> Driver:
    d = to_reference()
    d.keys(rrn + "#")
    return d


def to_refund_lookup(rrn: str = RRN, date: str = DATE) -> Driver:
    d = to_original_date(rrn)
    d.keys(date + "#")
    return d


TOTALS = Totals(debit_count=2, debit_amount=3000, credit_count=1, credit_amount=1000)


def to_counting() -> Driver:
    """Settlement (function menu, 5) with nothing queued: the runner is asked to count the batch."""
    d = to_menu()
    d.keys("5")
    return d


def to_totals(totals: Totals = TOTALS) -> Driver:
    d = to_counting()
    d.feed(BatchCounted(totals))
    return d


def to_locked() -> Driver:
    return Driver(boot=BootState(keys=KeyState.LOCKED, lock_reason="never provisioned"))


OPERATOR_SETTINGS = replace(SETTINGS, operators=OperatorRules(required=True, supervisor_for=frozenset({"void", "refund",
                                                                                                "settle"})))


def to_sign_in(number: str = "01") -> Driver:
    """operators.required, nobody signed in: the number keyed, the password asked for."""
    d = to_idle(OPERATOR_SETTINGS)
    d.keys(number + "#")
    return d


def signed_in(number: str = "01", settings: CoreSettings = OPERATOR_SETTINGS) -> Driver:
    d = to_idle(settings)
    d.keys(number + "#1234#")
    d.feed(OperatorChecked(number, "sign_in", True))
    return d


def to_supervisor() -> Driver:
    d = signed_in()
    d.keys("F4")
    return d


def to_checking() -> Driver:
    d = to_sign_in()
    d.keys("1234#")
    return d


REACH = {
    State.BOOTING: lambda: Driver(),
    State.IDLE: to_idle,
    State.AMOUNT: to_amount,
    State.CARD: to_card,
    State.PIN: to_pin,
    State.AUTHORISING: to_authorising,
    State.PRINTING: to_printing,
    State.RECEIPT_HELD: to_receipt_held,
    State.UPLINK: to_uplink,
    State.SUSPENDED: to_suspended,
    State.MENU: to_menu,
    State.SIGNED_OFF: to_signed_off,
    State.LOCKED: to_locked,
    State.TRACE: to_trace,
    State.LOOKUP: to_lookup,
    State.CONFIRM: to_confirm,
    State.COUNTING: to_counting,
    State.TOTALS: to_totals,
    State.REFERENCE: to_reference,
    State.ORIGINAL_DATE: to_original_date,
    State.SIGN_IN: to_sign_in,
    State.SUPERVISOR: to_supervisor,
    State.CHECKING: to_checking,
    State.ACCOUNT: to_account,
    State.REPRINT: to_reprint,
    State.REPRINT_LOOKUP: to_reprint_lookup,
}


def printed_all(d: Driver) -> None:
    """Acknowledge every Print until the core stops asking."""
    while d.state is State.PRINTING:
        job = d.last(A.Print).job
        d.feed(Printed(job.record.txn_no, job.copy))


__all__ = [
    "to_account",
    "NOW",
    "CARD",
    "ORIGINAL",
    "SETTINGS",
    "to_trace",
    "to_lookup",
    "to_confirm",
    "to_counting",
    "to_totals",
    "to_reference",
    "to_original_date",
    "to_refund_lookup",
    "RRN",
    "DATE",
    "TOTALS",
    "reply",
    "Driver",
    "REACH",
    "to_reprint",
    "to_reprint_lookup",
    "to_idle",
    "to_amount",
    "to_card",
    "to_pin",
    "to_authorising",
    "to_printing",
    "to_receipt_held",
    "to_uplink",
    "to_suspended",
    "request_stan",
    "printed_all",
    "replace",
]
