"""Random uploads against the core's window of advices: the forwarding rules hold whatever the host does.

A small world plays the runner, storage and a host that may answer any advice
it has received, in any order, several times, late, with a bad MAC or not at
all; links drop, sends and commits fail part-way through a batch (the runner
drops the rest of the batch, as it does). Over random sessions:

* an advice leaves only after its "sent before" mark is durable, and its first
  transmission is the only one without the repeat MTI (never twice an 0220,
  even across a storage failure and resync);
* a window's marks are one commit, and come before every frame of their batch;
* no more than ``upload_window`` advices are in flight at once;
* an advice is committed done once, and only after an answer for it arrived;
* with a host that answers everything at the end, every advice is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.core import actions as A
from firmware.core.events import (
    ActionFailed,
    Booted,
    HostAnswered,
    LinkDropped,
    StorageOk,
    TimerExpired,
    UploadRequested,
)
from firmware.core.model import BootState, Counters, NetworkJob, PendingAdvice, State, Timer
from firmware.core.window import Window

from .helpers import NOW, SETTINGS, Driver, reply


@dataclass
class World:
    d: Driver
    window: int
    marked: set[int] = field(default_factory=set)  # durable "sent before"
    done: set[int] = field(default_factory=set)  # durable: delivered
    received: set[int] = field(default_factory=set)  # what the host has had at least once
    originals: list[int] = field(default_factory=list)  # first transmissions (0220), in order
    answered: set[int] = field(default_factory=set)  # answers handed to the core
    amounts: dict[int, int] = field(default_factory=dict)
    broken: bool = False  # storage failed: the core is suspended until StorageOk

    def run(self, batch: list[A.Action], fail_at: int | None) -> None:
        marks = [i for i, a in enumerate(batch) if isinstance(a, A.AdviceSending)]
        assert len(marks) <= 1, "a batch marked its advices in more than one commit"
        if marks:
            first_send = min((i for i, a in enumerate(batch) if isinstance(a, A.SendAdvice)), default=len(batch))
            assert marks[0] < first_send, "a frame left before its window was marked"
        for i, a in enumerate(batch):
            if i == fail_at and isinstance(a, (A.SendAdvice, A.AdviceSending, A.AdviceDone)):
                durable = isinstance(a, (A.AdviceSending, A.AdviceDone))
                self.broken = self.broken or durable
                code = "storage.full" if durable else "link.send_failed"
                self.feed(ActionFailed(a, code, "injected", sent=None))
                return
            self.apply(a)

    def apply(self, a: A.Action) -> None:
        if isinstance(a, A.AdviceSending):
            assert not set(a.txn_nos) & self.marked, "an advice was marked twice"
            self.marked.update(a.txn_nos)
        elif isinstance(a, A.SendAdvice):
            txn = a.advice.txn_no
            assert txn in self.marked, "an advice left before it was durably marked sent"
            assert txn not in self.done, "a delivered advice was sent again"
            if not a.repeat:
                assert txn not in self.originals, "an advice went twice without the repeat MTI"
                self.originals.append(txn)
            self.received.add(txn)
        elif isinstance(a, A.AdviceDone):
            assert a.txn_no in self.answered, "an advice was committed done without an answer"
            assert a.txn_no not in self.done, "an advice was committed done twice"
            self.done.add(a.txn_no)
        if isinstance(self.d.t.job, Window):
            assert len(self.d.t.job.flights) <= self.window, "more advices in flight than the window"

    def feed(self, event) -> None:
        if not self.d.t.accepts(event):
            return
        if isinstance(event, HostAnswered) and event.reply.mac_ok is not False:
            self.answered.add(event.reply.stan)  # STAN == journal number here
        batch = self.d.t.handle(event, self.d.now)
        self.d.batches.append(batch)
        self.pending = batch

    def durable(self) -> BootState:
        queue = tuple(PendingAdvice(t, t, self.amounts[t], NOW, sent_before=t in self.marked)
                      for t in sorted(self.amounts) if t not in self.done)
        return BootState(counters=Counters(stan=500, txn_no=500), advices=queue)

    def answer(self, txn: int, kind: str) -> HostAnswered:
        r = reply(mti="0230", stan=txn, amount=self.amounts[txn])
        if kind == "bad_mac":
            r = replace(r, mac_ok=False)
        elif kind == "declined":
            r = replace(r, response_code="51", approved=False)
        return HostAnswered(r)


def _step(world: World, data) -> None:
    d = world.d
    choices = ["answer"] * 6 + ["timeout", "drop", "upload"]
    if world.broken and d.state is State.SUSPENDED:
        choices += ["storage_ok"] * 3
    choice = data.draw(st.sampled_from(choices))
    if choice == "answer" and world.received:
        txn = data.draw(st.sampled_from(sorted(world.received)))  # in any order, again, or late
        event = world.answer(txn, data.draw(st.sampled_from(["ok", "ok", "ok", "declined", "bad_mac"])))
    elif choice == "timeout":
        event = TimerExpired(Timer.RESPONSE)
    elif choice == "drop":
        event = LinkDropped("link.closed", "the host closed the connection")
    elif choice == "storage_ok":
        world.broken = False
        event = StorageOk(world.durable())
    else:
        event = UploadRequested()
    before = len(d.batches)
    world.feed(event)
    if len(d.batches) == before:
        return
    batch = world.pending
    fail = data.draw(st.one_of(st.none(), st.none(), st.none(), st.integers(0, max(len(batch) - 1, 0))))
    world.run(batch, fail)
    while world.pending is not batch:  # the batches ActionFailed produced
        batch = world.pending
        world.run(batch, None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_window_keeps_the_forwarding_rules_in_random_uploads(data):
    n = data.draw(st.integers(1, 9))
    window = data.draw(st.integers(1, 5))
    core = replace(SETTINGS, upload_window=window, reversal_retries=data.draw(st.integers(1, 3)))
    world = World(Driver(core), window, amounts={t: 100 + t for t in range(1, n + 1)})
    world.marked = {t for t in world.amounts if data.draw(st.booleans())}  # some were sent before a power cut
    world.feed(Booted(world.durable()))
    world.run(world.pending, None)
    for _ in range(data.draw(st.integers(0, 60))):
        _step(world, data)
    # then the storage works and the host answers everything, in order
    d = world.d
    for _ in range(4 * n + 10):
        if d.state is State.SUSPENDED:
            world.broken = False
            world.feed(StorageOk(world.durable()))
        elif d.state is State.IDLE and len(world.done) < n:
            world.feed(UploadRequested())
        elif isinstance(d.t.job, Window):
            world.feed(world.answer(d.t.job.flights[0].advice.txn_no, "ok"))
        elif d.t.job is not None and isinstance(d.t.job.item, NetworkJob):  # a bad MAC asked for a sign-on
            world.feed(HostAnswered(reply(mti="0810", stan=d.t.job.item.stan, amount=None, mac_ok=None)))
        else:
            break
        world.run(world.pending, None)  # nothing fails now
    assert world.done == set(world.amounts), f"not delivered: {set(world.amounts) - world.done}"
    assert d.state is State.IDLE and not d.t.advices
