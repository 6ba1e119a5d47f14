"""Random sessions against the core: the durability rules hold whatever happens.

A small world plays the runner's part. It carries out each batch, sometimes
failing one action part-way (as the runner does, dropping the rest), keeps
a model of what storage would hold, and answers like a host might (matching
or not, approved or declined, good MAC or bad, or not at all). Over random
sessions these must always hold:

* a request is sent only after its record and its recovery (the reversal, or
  a refund's ready-made repeat) were committed, and never while an older
  reversal is still owed;
* a refund is never reversed, and an inquiry is neither reversed nor re-sent;
* a stored advice (an offline sale, a completion made without the host) is
  committed with its outcome before it is sent, and its answer only closes it;
* a receipt prints only for an outcome that was committed as an approval;
* every committed outcome belongs to an opened request;
* STANs of opened requests never repeat;
* the card of a sale is wiped once the host has answered it;
* a network message's STAN is committed before it is sent, and no STAN repeats;
* once the keys are zeroized, nothing is ever sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.core import actions as A
from firmware.core.events import (
    AccountCancelled,
    AccountCaptured,
    AccountRejected,
    ActionFailed,
    OriginalFound,
    OriginalRefused,
    OriginalUnknown,
    CardRead,
    CardUnreadable,
    HostAnswered,
    HostFrameRejected,
    KeyPressed,
    LinkDropped,
    PinBypassed,
    PinCancelled,
    PinEntered,
    Printed,
    SignOffRequested,
    SignOnRequested,
    StorageOk,
    Tampered,
    TimerExpired,
    UploadRequested,
)
from firmware.core.flows import FLOWS, Recovery
from firmware.core.model import BootState, Counters, JournalState, Kind, PendingAdvice, PendingReversal, State, Timer

from .helpers import CARD, DATE, ORIGINAL, RRN, Driver, replace, reply


@dataclass
class World:
    d: Driver
    armed: set[int] = field(default_factory=set)  # reversals committed, not yet due
    due: set[int] = field(default_factory=set)  # reversals owed to the host
    opened: dict[int, tuple[int, int]] = field(default_factory=dict)  # txn -> (stan, amount)
    advices: dict[int, tuple[int, int]] = field(default_factory=dict)
    advice_kinds: dict[int, Kind] = field(default_factory=dict)  # an offline sale or a completion advice
    resends: set[int] = field(default_factory=set)  # refunds: their ready-made repeat is queued
    inquiries: set[int] = field(default_factory=set)
    outcomes: dict[int, JournalState] = field(default_factory=dict)
    stans: list[int] = field(default_factory=list)
    in_flight: tuple[str, int, int | None, bool] | None = None  # (answer MTI, STAN, amount, network)
    answered: set[int] = field(default_factory=set)
    wiped: set[int] = field(default_factory=set)
    print_job = None
    storage_broken: bool = False
    zeroized: bool = False
    saved_stans: set = field(default_factory=set)

    def run(self, batch: list[A.Action], fail_at: int | None, sent_none: bool) -> None:
        for i, a in enumerate(batch):
            if i == fail_at and not isinstance(a, A.ADVISORY):
                code = "storage.full" if isinstance(a, A.PERSISTENT) else "device.failed"
                if isinstance(a, A.PERSISTENT):
                    self.storage_broken = True
                sent = None if sent_none else False
                self.feed(ActionFailed(a, code, "injected failure", sent=sent))
                return
            self.apply(a)

    def apply(self, a: A.Action) -> None:
        if self.zeroized:
            assert not isinstance(a, (A.SendRequest, A.SendReversal, A.SendAdvice, A.SendNetwork)), (
                f"{a.name} after the keys were zeroized"
            )
        if isinstance(a, A.Zeroize):
            self.zeroized = True
        elif isinstance(a, A.SaveCounters):
            self.saved_stans.add(a.counters.stan)
        elif isinstance(a, A.SendNetwork):
            assert a.job.stan % 999999 + 1 in self.saved_stans, "a network message went before its STAN was saved"
            if a.job.stan not in self.stans:
                self.stans.append(a.job.stan)
            mti = "0810" if a.job.kind.value == "sign_on" else "0830"
            self.in_flight = (mti, a.job.stan, None, True)
        if isinstance(a, A.OpenRequest):
            txn = a.record.txn_no
            assert txn not in self.opened, "a journal number was opened twice"
            self.opened[txn] = (a.record.stan, a.record.amount)
            self.stans.append(a.record.stan)
            recovery = FLOWS[a.record.kind].recovery
            if recovery is Recovery.REVERSAL:
                self.armed.add(txn)
            elif recovery is Recovery.ADVICE:  # committed with the request, already "sent"
                self.advices[txn] = (a.record.stan, a.record.amount)
                self.resends.add(txn)
            else:
                self.inquiries.add(txn)
        elif isinstance(a, A.SendRequest):
            txn = a.record.txn_no
            assert txn in self.opened, "request sent before its record was committed"
            assert txn in self.armed or txn in self.resends or txn in self.inquiries, (
                "request sent before its recovery was committed")
            assert not self.due, f"request sent while reversals {self.due} are owed"
            assert self.armed - {txn} == set(), f"request sent while older requests {self.armed - {txn}} are unresolved"
            mti = {Kind.REFUND: "0230", Kind.PREAUTH: "0110", Kind.PREAUTH_VOID: "0110"}.get(a.record.kind, "0210")
            amount = None if a.record.kind is Kind.BALANCE else a.record.amount
            self.in_flight = (mti, a.record.stan, amount, False)
        elif isinstance(a, A.RecordOutcome):
            txn = a.record.txn_no
            assert txn in self.opened, "outcome recorded for a request that was never opened"
            self.outcomes[txn] = a.record.state
            self.armed.discard(txn)
            if txn in self.resends:  # its answer closes the ready-made repeat
                self.advices.pop(txn, None)
            if a.reversal_reason is not None:
                self.due.add(txn)
            if a.advice:
                self.advices[txn] = (a.record.stan, a.record.amount)
                self.advice_kinds[txn] = a.record.kind
        elif isinstance(a, A.SendReversal):
            txn = a.reversal.txn_no
            if txn in self.armed:  # an unanswered request: its armed reversal is now due
                self.armed.discard(txn)
                self.due.add(txn)
            assert txn in self.due, "a reversal was sent that storage does not owe"
            assert txn not in self.resends and txn not in self.inquiries, "a refund or an inquiry was reversed"
            self.in_flight = ("0410", a.reversal.stan, a.reversal.amount, False)
        elif isinstance(a, A.ReversalDone):
            self.due.discard(a.txn_no)
        elif isinstance(a, A.AdviceDone):
            assert a.txn_no not in self.resends, "a refund's answer closed its queue entry but not its record"
            self.advices.pop(a.txn_no, None)
        elif isinstance(a, A.AdviceOutcome):
            assert a.txn_no in self.resends, "an outcome came back for a queued message that is no refund"
            self.advices.pop(a.txn_no, None)
            self.outcomes[a.txn_no] = a.state
        elif isinstance(a, A.SendAdvice):
            assert a.advice.txn_no in self.advices, "an advice was sent that storage does not hold"
            assert a.advice.txn_no not in self.inquiries, "an inquiry was sent again"
            self.in_flight = ("0230", a.advice.stan, a.advice.amount, False)
        elif isinstance(a, A.Print):
            txn = a.job.record.txn_no
            assert self.outcomes.get(txn) in (JournalState.APPROVED, JournalState.OFFLINE_APPROVED), (
                "a receipt printed without a committed approval"
            )
            self.print_job = a.job
        elif isinstance(a, A.WipeCard):
            self.wiped.add(a.txn_no)

    def durable(self) -> BootState:
        """What ``Store.boot_state()`` would return from this model."""
        owed = sorted(self.armed | self.due)
        return BootState(
            counters=self.d.t.counters,
            reversals=tuple(PendingReversal(t, *self.opened[t]) for t in owed),
            advices=tuple(
                PendingAdvice(t, *v, created_at=self.d.now, sent_before=t in self.resends,
                              kind=Kind.REFUND if t in self.resends else self.advice_kinds.get(t, Kind.SALE))
                for t, v in sorted(self.advices.items())
            ),
            keys=self.d.t.keys,
        )

    def feed(self, event) -> None:
        if not self.d.t.accepts(event):
            return
        batch = self.d.t.handle(event, self.d.now)
        self.d.batches.append(batch)
        self.pending = batch


def _answer(world: World, data) -> HostAnswered | None:
    if world.in_flight is None:
        return None
    mti, stan, amount, network = world.in_flight
    kind = data.draw(st.sampled_from(["approve", "decline", "bad_mac", "wrong_stan", "wrong_amount"]))
    r = reply(mti=mti, stan=stan, amount=amount, mac_ok=None if network else True)
    if kind == "decline":
        r = replace(r, response_code="51", approved=False)
    elif kind == "bad_mac":
        r = replace(r, mac_ok=False)
    elif kind == "wrong_stan":
        r = replace(r, stan=stan % 999999 + 1)
    elif kind == "wrong_amount":
        r = replace(r, amount=(amount or 0) + 1)
    return HostAnswered(r)


def _event(world: World, data):
    state = world.d.state
    options = ["key", "timer", "failure_next", "sign_on", "sign_off"] + (["tamper"] if data.draw(st.integers(0, 30)) == 0 else [])
    if state is State.CARD:
        options += ["card", "card", "bad_card"]
    if state is State.PIN:
        options += ["pin", "pin", "pin", "bypass", "pin_cancel"]
    if state is State.ACCOUNT:  # a transfer's destination, keyed twice on the pad (the runner seals it)
        options += ["account", "account", "account", "account_bad", "account_cancel"]
    if state in (State.AUTHORISING, State.UPLINK):
        options += ["answer", "answer", "answer", "garbage", "drop", "timeout"]
    if state is State.PRINTING:
        options += ["printed", "printed", "printed"]
    if state is State.SUSPENDED:
        options += ["storage_ok"]
    if state is State.IDLE:
        options += ["upload", "refund", "refund", "balance", "preauth", "held", "advice", "transfer"]
    if state is State.CONFIRM:
        options += ["#"]
    if state is State.AMOUNT:
        options += ["amount"]
    if state is State.LOOKUP:  # a void or a refund: the journal finds its original, or refuses it
        options += ["found", "found", "refused", "unknown"]
    choice = data.draw(st.sampled_from(options))
    if choice == "key":
        return KeyPressed(data.draw(st.sampled_from(list("0123456789#*XF") + ["#"] * 4 + ["1"] * 4 + ["4"] * 2)))
    if choice == "timer":
        return TimerExpired(data.draw(st.sampled_from(list(Timer))))
    if choice == "card":
        return CardRead(replace(CARD, online_only=data.draw(st.booleans())))
    if choice == "bad_card":
        return CardUnreadable("card.luhn", "CARD NUMBER INVALID")
    if choice == "pin":
        return PinEntered()
    if choice == "bypass":
        return PinBypassed()
    if choice == "pin_cancel":
        return PinCancelled()
    if choice == "answer":
        return _answer(world, data)
    if choice == "garbage":
        return HostFrameRejected("host.malformed", "bad frame")
    if choice == "drop":
        return LinkDropped("link.closed", "peer closed")
    if choice == "timeout":
        return TimerExpired(Timer.RESPONSE)
    if choice == "printed" and world.print_job is not None:
        job = world.print_job
        return Printed(job.record.txn_no, job.copy)
    if choice == "storage_ok":
        world.storage_broken = False
        return StorageOk(world.durable())
    if choice == "upload":
        return UploadRequested()
    if choice == "refund":  # F 6, the reference number and the date: the runner looks it up next
        return [KeyPressed(k) for k in f"F6{RRN}#{DATE}#"]
    if choice == "balance":
        return [KeyPressed("F"), KeyPressed("7")]
    if choice == "preauth":  # F 0 1: the amount next
        return [KeyPressed(k) for k in "F01"]
    if choice == "held":  # F 0 2 or 3, the auth code and the date: the runner looks the pre-auth up next
        return [KeyPressed(k) for k in f"F0{data.draw(st.sampled_from('23'))}654321#{DATE}#"]
    if choice == "advice":  # F 0 6: the completion made as an advice, named like the online one
        return [KeyPressed(k) for k in f"F06654321#{DATE}#"]
    if choice == "transfer":  # F 0 5: the amount next, then the card and the destination account
        return [KeyPressed(k) for k in "F05"]
    if choice == "account":
        return AccountCaptured("622848*********0018")
    if choice == "account_bad":
        return AccountRejected("transfer.account_mismatch", "ACCOUNTS DIFFER")
    if choice == "account_cancel":
        return AccountCancelled()
    if choice == "#":
        return KeyPressed("#")
    if choice == "amount":
        return [KeyPressed(k) for k in data.draw(st.sampled_from(["300#", "1250#", "1300#"]))]
    if choice == "unknown":
        return OriginalUnknown()
    if choice == "found":
        return OriginalFound(ORIGINAL)
    if choice == "refused":
        return OriginalRefused("void.not_found", "TRACE NOT FOUND")
    if choice == "sign_on":
        return SignOnRequested()
    if choice == "sign_off":
        return SignOffRequested()
    if choice == "tamper":
        return Tampered("gpio", "case opened")
    return None


def _step(world: World, event, data) -> None:
    flight = world.in_flight
    if isinstance(event, HostAnswered) and flight is not None and event.reply.stan == flight[1] and not flight[3]:
        if event.reply.mti == flight[0] and event.reply.amount == flight[2]:
            world.answered.update(t for t, (s, _) in world.opened.items() if s == event.reply.stan)
    before = len(world.d.batches)
    world.feed(event)
    if len(world.d.batches) == before:
        return
    batch = world.pending
    fail = data.draw(st.one_of(st.none(), st.none(), st.none(), st.integers(0, max(len(batch) - 1, 0))))
    sent_none = data.draw(st.booleans())
    world.run(batch, fail, sent_none)
    # keep running feedback batches that ActionFailed produced
    while world.pending is not batch:
        batch = world.pending
        world.run(batch, None, False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_durability_rules_hold_in_random_sessions(data):
    world = World(Driver(boot=BootState(counters=Counters(stan=data.draw(st.integers(1, 500)), txn_no=1))))
    world.pending = world.d.batches[-1]
    world.run(world.pending, None, False)
    for _ in range(data.draw(st.integers(5, 80))):
        if world.storage_broken and world.d.state is not State.SUSPENDED and world.d.state is not State.UPLINK:
            world.storage_broken = False
        event = _event(world, data)
        if event is None:
            continue
        for event in event if isinstance(event, list) else [event]:
            _step(world, event, data)
    assert len(world.stans) == len(set(world.stans)), "a STAN was used twice"
    for txn in world.answered:
        if world.d.t.sale is None or world.d.t.sale.txn_no != txn:
            assert txn in world.wiped, f"sale {txn} was answered but its card was never wiped"
