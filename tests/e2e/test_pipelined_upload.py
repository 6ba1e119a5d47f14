"""End to end over real TCP: stored offline sales forwarded with a window of advices in flight.

Simulated devices, the terminal's real ``tcp://`` link, the host simulator on a
socket serving pipelined frames. Each test stores offline sales with the line
down, brings it back and forwards them with ``host.upload_window = 4``; the
host's ledger must then hold one posting per sale, every retry must have gone
as a repeat (0221) and been answered, and the books must agree.
"""

from __future__ import annotations

import pytest

from firmware.runner import CrashPlan
from firmware.scenario import ScenarioRunner, parse_scenario

from .test_power_cuts import books

CONFIG = {
    "host": {"response_timeout": 0.4, "connect_timeout": 0.4, "upload_window": 4},
    "offline": {"max_count": 50},
}
FIRST = 1001  # sale i (from 0) is for FIRST + i minor units, so a host rule can pick it by amount


def stored_sales(n: int) -> list[dict]:
    steps = [{"link": "down"}]
    for i in range(n):
        steps += [{"key": f"{FIRST + i}#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"}]
    return steps + [{"link": "up"}]


class Recorder:
    """Instruments the store once the line is back: which advices were marked together, and the
    order their answers were committed in."""

    def __init__(self, sim: ScenarioRunner) -> None:
        self.sim, self.marked, self.done = sim, [], []

    def __call__(self, step) -> None:
        if step.kind != "link" or step.value != "up":
            return
        store = self.sim.runner.store
        mark, done = store.advices_sending, store.advice_done
        store.advices_sending = lambda txn_nos: (self.marked.append(tuple(txn_nos)), mark(txn_nos))[1]
        store.advice_done = lambda txn_no, code, **ref: (self.done.append(txn_no), done(txn_no, code, **ref))[1]


def run(steps, *, arm=None) -> tuple[dict, Recorder]:
    sim = ScenarioRunner()
    recorder = Recorder(sim)

    def after(step):
        recorder(step)
        if arm is not None and step.kind == "link" and step.value == "up":
            sim.runner.crash = CrashPlan(*arm)

    result = sim.run(parse_scenario({"name": "pipelined", "config": CONFIG, "step": steps}), after_step=after)
    return result, recorder


def ledger_per_stan(result) -> dict[str, dict]:
    """For each STAN the host heard of: its postings, and the MTIs (with answers) it received."""
    ledger = result["host_ledger"]
    out: dict[str, dict] = {}
    for p in ledger["postings"]:
        out.setdefault(p["stan"], {"postings": [], "messages": []})["postings"].append(p)
    for m in ledger["messages"]:
        out.setdefault(m["stan"], {"postings": [], "messages": []})["messages"].append((m["mti"], m["response_code"]))
    return out


def assert_forwarded_exactly_once(result, n: int) -> dict[str, dict]:
    assert result["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    txns = result["transactions"]
    assert [t["outcome"] for t in txns] == ["offline_approved"] * n
    per_stan = ledger_per_stan(result)
    assert set(per_stan) == {t["stan"] for t in txns}
    for stan, seen in per_stan.items():
        (posting,) = seen["postings"]  # one posting per sale, however often it was sent
        assert (posting["kind"], posting["status"]) == ("offline_sale", "approved")
        assert [mti for mti, _ in seen["messages"]].count("0220") <= 1, f"STAN {stan} sent twice as an original"
        assert all(code == "00" for _, code in seen["messages"]), f"STAN {stan}: {seen['messages']}"
        assert posting["duplicates"] == len(seen["messages"]) - 1  # every repeat was answered from the ledger
    books(result)
    return per_stan


def test_twenty_stored_sales_go_four_at_a_time_and_their_answers_are_matched_in_any_order():
    delays = [{"host": {"behaviour": "delay", "seconds": s, "amount": FIRST + i, "mti": "0220"}}
              for i, s in ((0, 0.3), (5, 0.15), (9, 0.2), (14, 0.1))]
    result, rec = run(stored_sales(20) + delays + [{"upload": True}])
    per_stan = assert_forwarded_exactly_once(result, 20)
    assert all([mti for mti, _ in seen["messages"]] == ["0220"] for seen in per_stan.values())  # no retry
    order = [t["txn_no"] for t in result["transactions"]]
    assert rec.marked[0] == tuple(order[:4])  # the first window's four marks: one commit, before its frames
    assert sorted(rec.done) == order and rec.done != order  # answers were matched as they came
    assert rec.done.index(order[0]) > rec.done.index(order[3])  # the slow first one was overtaken


def test_a_sale_the_host_stays_silent_about_is_sent_again_as_a_repeat_and_posted_once():
    silent = FIRST + 4
    steps = stored_sales(20) + [{"host": {"behaviour": "drop", "times": 1, "amount": silent, "mti": "0220"}},
                                {"upload": True}]
    result, _ = run(steps)
    per_stan = assert_forwarded_exactly_once(result, 20)
    stan = next(t["stan"] for t in result["transactions"] if t["amount"] == silent)
    assert [mti for mti, _ in per_stan[stan]["messages"]] == ["0220", "0221"]
    assert sum(len(seen["messages"]) for seen in per_stan.values()) == 21
    assert not any(code == "advice.pending" for code, _ in result["alerts"])


def test_a_link_dropped_mid_window_sends_every_advice_in_flight_again_as_a_repeat():
    # The host posts sales 5 and 6 but holds their answers back, then posts 7 and closes the
    # connection: those three answers are lost with it, though all three are on the host's books.
    held, closing = [FIRST + 4, FIRST + 5], FIRST + 6
    rules = [{"host": {"behaviour": "delay", "seconds": 0.3, "times": 1, "amount": a, "mti": "0220"}} for a in held]
    rules.append({"host": {"behaviour": "close", "times": 1, "amount": closing, "mti": "0220"}})
    result, _ = run(stored_sales(20) + rules + [{"upload": True}])
    per_stan = assert_forwarded_exactly_once(result, 20)
    for t in result["transactions"]:
        if t["amount"] in (*held, closing):
            assert [mti for mti, _ in per_stan[t["stan"]]["messages"]] == ["0220", "0221"], t["amount"]
    assert not any(code == "advice.pending" for code, _ in result["alerts"])


@pytest.mark.parametrize(
    "point, count",
    [
        ("after:advice_sending", 1),  # the first window marked (one commit), nothing sent
        ("after:send_advice", 2),  # half the window on the wire
        ("after:send_advice", 4),  # all of it, no answer read yet
        ("after:answer", 2),  # one answer committed, the second arrived but not committed
        ("after:advice_done", 1),  # one answer committed, its refill not yet marked
        ("after:advice_sending", 2),  # the refill marked, its frame not sent
    ],
)
def test_a_power_cut_with_a_window_in_flight_forwards_each_sale_exactly_once(point, count):
    result, _ = run(stored_sales(8) + [{"upload": True}, {"restart": True}], arm=(point, count))
    assert result["power_cuts"] == [point]
    per_stan = assert_forwarded_exactly_once(result, 8)  # recovery forwarded the rest by itself
    repeated = [s for s, seen in per_stan.items() if "0221" in [mti for mti, _ in seen["messages"]]]
    assert repeated, "after the cut, the advices marked sent must go as repeats"
