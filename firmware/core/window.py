"""The pipelined upload of stored offline sales: a window of advices in flight on one connection.

A terminal that was offline for a day holds hundreds of advices. Sent one at a
time, each waits a whole round trip for its answer; a window of
``host.upload_window`` keeps that many on the wire, and answers are matched to
them by MTI, STAN, terminal ID and amount, in whatever order they come. Only
advices travel this way: reversals, sign-on/off, settlement and the batch
upload stay one at a time (``uplink.py``), and a window is opened only when no
reversal is queued (a reversal first, always).

Durability, as for a single advice and with the same guarantees:

* every advice is marked "sent before" durably BEFORE its first frame leaves.
  A window's marks are ONE commit (``AdviceSending(txn_no, more=...)``), then its
  frames go back to back. A refill after an answer is marked the same way;
* each answer is its own commit (``AdviceDone``): one host frame is one event,
  and a commit costs far less than the round trip the window saves;
* every transmission after the first is a repeat (0221), answered by the host
  from its ledger (posted once).

One RESPONSE timer guards the window: it restarts whenever frames leave or an
answer is matched, so it fires only when the host has said nothing for
``response_timeout`` while advices wait. Then, or when the link drops or a send
fails, every advice in flight has had one more failed attempt and all are sent
again as repeats. An answer with a bad MAC, or "try again" (96), fails its own
advice alone, which is sent again by itself; a second such answer in the same
arrival (``HostAnswered.arrival``) was on the wire before that repeat left, so it
is ignored: one attempt spent, one repeat sent. Once any advice has used ``reversal_retries`` attempts,
the upload stops as it did for a single advice: the link is dropped, that
advice is alerted (``advice.pending``), and it and every other advice still in
flight stay queued, marked, for the next upload. An answer that arrives after
that is ignored as a late answer (noted by the runner): the advice's next
attempt is a repeat, which the host answers from its ledger.

A window of 1 is exactly the uplink as it was before the window existed
(``tests/core/test_upload_window.py`` compares the actions one by one).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from firmware.core import screens
from firmware.core.actions import (
    Action,
    AdviceDone,
    AdviceSending,
    Alert,
    CancelTimer,
    Disconnect,
    Note,
    SendAdvice,
    Show,
    StartTimer,
)
from firmware.core.model import AdviceAnswer, Kind, PendingAdvice, State, Timer
from firmware.core.flows import STORED_ADVICE
from firmware.host.messages import Expectation, mac_problem, mismatch, other_amount

__all__ = ["Flight", "Window", "WindowMixin", "resolve_remedy"]

Result = tuple[State, list[Action]]


@dataclass
class Flight:
    """One advice on the wire: what its answer must match, and how many times it has left."""

    advice: PendingAdvice
    expect: Expectation
    attempts: int = 1
    asked_in: int | None = None  # the arrival (``HostAnswered.arrival``) of the answer that asked for its repeat


@dataclass
class Window:
    """The advices in flight, oldest first (``Terminal.job`` while the queue is forwarded)."""

    then: Any  # uplink.Then: where the terminal goes once the queue is delivered
    flights: list[Flight] = field(default_factory=list)

    def holds(self, txn_no: int) -> bool:
        return any(f.advice.txn_no == txn_no for f in self.flights)


class WindowMixin:
    """The advice handlers of the UPLINK state (``uplink.UplinkMixin``); state lives on the terminal."""

    def _start_window(self, then: Any, head: list[Action]) -> Result:
        """Open a window on the queue's first advices: their marks in one commit, then their frames."""
        picked = self.advices[: max(1, self.settings.upload_window)]
        self.job = Window(then)
        if len(picked) == 1:
            what = "SENDING " + _advice_title(picked[0])
            shown = screens.shown(self, (what, f"TRACE {picked[0].stan:06d}", "PLEASE WAIT"), (what, "PLEASE WAIT"))
        else:
            shown = screens.shown(self, ("SENDING OFFLINE", f"{len(self.advices)} SALES QUEUED", "PLEASE WAIT"),
                                (f"SENDING {len(self.advices)} OFFLINE", "PLEASE WAIT"))
        return State.UPLINK, head + [Show(shown)] + self._launch(picked)

    def _launch(self, advices: list[PendingAdvice]) -> list[Action]:
        """Mark the advices never sent (ONE commit), send every one back to back, wait for answers."""
        fresh = [a.txn_no for a in advices if not a.sent_before]
        marks: list[Action] = [AdviceSending(fresh[0], more=tuple(fresh[1:]))] if fresh else []
        sends: list[Action] = []
        for advice in advices:
            repeat = advice.sent_before  # sent before, perhaps before a power cut: a repeat (0221)
            if not advice.sent_before:
                marked = replace(advice, sent_before=True)
                self.advices[self.advices.index(advice)] = marked
                advice = marked
            self.job.flights.append(Flight(advice, self._expectation(advice)))
            sends.append(SendAdvice(advice, repeat=repeat))
        return marks + sends + [self._wait()]

    def _wait(self) -> StartTimer:
        return StartTimer(Timer.RESPONSE, self.settings.response_timeout)

    # -- answers ---------------------------------------------------------------------
    def _window_answered(self, reply: Any, now: datetime, arrival: int | None = None) -> Result:
        window: Window = self.job
        flight = next((f for f in window.flights if mismatch(f.expect, reply) is None), None)
        if flight is None:
            other = next((f for f in window.flights if other_amount(f.expect, reply)), None)
            if other is not None:  # this advice's answer, for another amount: not what was stored, it goes again
                self.link_up = True
                return self._flight_failed(other, f"answered for {mismatch(other.expect, reply)}", now, arrival,
                                           refused=True)
            return State.UPLINK, [Note("host.unmatched", f"answer rejected: {self._unmatched(window, reply)}")]
        untrusted = mac_problem(reply, self.settings.mac_required)
        if untrusted:
            self._keys_suspect(reply, flight.advice.txn_no)
            return self._flight_failed(flight, f"acknowledgement {untrusted}", now, arrival)
        self.link_up = True
        if reply.try_again:  # not processed (a malfunction, a cut-off, our MAC): not an answer, it goes again
            self._keys_suspect(reply, flight.advice.txn_no)
            code = reply.response_code
            return self._flight_failed(flight, f"not processed: {code} {self.settings.response_text(code)}", now,
                                       arrival)
        window.flights.remove(flight)
        item = flight.advice
        self.advices = [a for a in self.advices if a.txn_no != item.txn_no]
        actions: list[Action] = [CancelTimer(Timer.RESPONSE)]
        stored = item.kind in STORED_ADVICE  # an offline sale or completion: the answer acknowledges it
        if not stored:  # a refund sent again: its answer is its outcome (refund.py)
            actions += self._advice_answered(item, reply)
        else:
            accepted = reply.advice_accepted
            # the host's RRN is kept whatever it answered, as a declined online sale's record keeps its answer's:
            # a refund keyed with a refused advice's RRN is then found here and refused, never sent
            granted = (reply.auth_code, reply.settle_date) if reply.approved else ()
            done = AdviceDone(item.txn_no, reply.response_code, accepted, reply.rrn, *granted)
            actions.append(done)
            self._advice_on_receipt(done)
            if not accepted:
                actions.append(Alert("advice.declined", f"{_advice_title(item).lower()} trace {item.stan:06d} declined "
                                     f"by the host: {reply.response_code} "
                                     f"{self.settings.response_text(reply.response_code)}"))
        if not window.flights:  # the next window, or whatever the uplink holds after the advices
            return self._uplink(window.then, actions, now)
        room = self.settings.upload_window - len(window.flights)
        refill = [a for a in self.advices if not window.holds(a.txn_no)][: max(0, room)]
        return State.UPLINK, actions + (self._launch(refill) if refill else [self._wait()])

    def _advice_on_receipt(self, done: AdviceDone) -> None:
        """The newest receipt, if it is this advice's, as ``done`` leaves it in storage (the host's reference
        only where the record has none): a reprint says what the host made of it."""
        last = self.last_receipt
        if last is None or last.txn_no != done.txn_no:
            return
        self.last_receipt = replace(last, advice=AdviceAnswer(done.response_code, done.accepted), rrn=last.rrn or done.rrn,
                                    auth_code=last.auth_code or done.auth_code,
                                    settle_date=last.settle_date or done.settle_date)

    @staticmethod
    def _unmatched(window: Window, reply: Any) -> str:
        """Why an answer fits no advice in flight: told against the one with its STAN, else the oldest."""
        same = [f for f in window.flights if f.expect.stan == reply.stan]
        return mismatch((same or window.flights)[0].expect, reply)

    # -- failures --------------------------------------------------------------------
    def _window_failed(self, why: str, now: datetime) -> Result:
        """Silence, a dropped link or a failed send: each advice in flight failed one attempt; all go again."""
        window: Window = self.job
        spent = [f for f in window.flights if f.attempts >= self.settings.reversal_retries]
        if spent:
            return self._window_given_up(spent, why, now)
        for f in window.flights:
            f.attempts += 1
        notes: list[Action] = [self._retry_note(f, why) for f in window.flights]
        sends: list[Action] = [SendAdvice(f.advice, repeat=True) for f in window.flights]
        return State.UPLINK, notes + sends + [self._wait()]

    def _flight_failed(self, flight: Flight, why: str, now: datetime, arrival: int | None = None, *,
                       refused: bool = False) -> Result:
        """One advice's answer was unusable (a bad MAC, "try again"): that advice alone goes again.

        Unless the answer came in the same read as the one that asked for the repeat now on its way: it was on
        the wire before that repeat left, so it cannot be the repeat's answer (the same answer sent twice, or
        both answers to earlier transmissions). It is noted and ignored: one attempt spent, one repeat sent."""
        if arrival is not None and flight.asked_in == arrival:
            return State.UPLINK, [Note("uplink.stale_retry", f"{why} again in the same arrival, before its repeat "
                                       f"left: ignored (trace {flight.advice.stan:06d})")]
        if flight.attempts >= self.settings.reversal_retries:
            return self._window_given_up([flight], why, now, refused=refused)
        flight.attempts += 1
        flight.asked_in = arrival
        return State.UPLINK, [self._retry_note(flight, why), SendAdvice(flight.advice, repeat=True), self._wait()]

    def _retry_note(self, flight: Flight, why: str) -> Note:
        """The log line of a retry; it names the advice when several are in flight."""
        trace = f" (trace {flight.advice.stan:06d})" if len(self.job.flights) > 1 else ""
        return Note("uplink.retry", f"attempt {flight.attempts}: {why}{trace}")

    def _window_given_up(self, spent: list[Flight], why: str, now: datetime, *, refused: bool = False) -> Result:
        """An advice used every attempt: stop the upload; everything in flight stays queued (marked sent).
        ``refused``: the host answered it every time, not as it must: only the acquirer can say what it did."""
        window: Window = self.job
        self.job = None
        self.link_up = False
        actions: list[Action] = [CancelTimer(Timer.RESPONSE), Disconnect()]
        for f in spent:
            actions.append(Alert("advice.pending", f"{_advice_title(f.advice).lower()} trace {f.advice.stan:06d} "
                                 f"not delivered ({why}); it stays queued"
                                 f"{resolve_remedy(f.advice.txn_no) if refused else ''}"))
        others = [f.advice.stan for f in window.flights if f not in spent]
        if others:
            traces = ", ".join(f"{stan:06d}" for stan in others)
            actions.append(Note("uplink.abandoned", f"also left in flight, still queued: trace {traces}"))
        return self._queue_stopped(window.then, actions, now)


def resolve_remedy(txn_no: int) -> str:
    """What the operator does about a queued message the host keeps answering without taking it as sent."""
    return (f"; if the host goes on answering so, settle it with the acquirer, then posterm journal resolve "
            f"--txn {txn_no}")


ADVICE_TITLES = {Kind.SALE: "OFFLINE SALE", Kind.PREAUTH_COMPLETE: "COMPL ADVICE"}


def _advice_title(item: PendingAdvice) -> str:
    """What a queued message is, on the display and in alerts: a stored sale or completion, or a refund sent again."""
    return ADVICE_TITLES.get(item.kind) or item.kind.value.upper()
