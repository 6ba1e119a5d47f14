"""Answers out of order, twice, late, or on another connection (FX8).

The real runner and TCP link against the built-in host simulator on a real socket; a scripted host
(``hostile.scripted``) holds the simulator's own, correctly MACed answers back, sends one twice in one write, or
hands over an answer it held back ahead of the next. Each test asserts the money: the host's ledger, the
terminal's journal, the reversals and advices sent and how often, the paper, and that the terminal ends idle.
"""

from __future__ import annotations

from dataclasses import replace

from firmware.hostsim.processor import Answer

from .hostile import SALE, remac, scripted, setting
from .test_power_cuts import books

FAST = {"host": {"response_timeout": 0.5, "connect_timeout": 0.3}}


def mtis(sent) -> list[str]:
    return [m.mti for m in sent]


def notes(r) -> list[str]:
    return [code for code, _ in r["notes"]]


def postings(r) -> list[tuple[str, str, str, int]]:
    return [(p["stan"], p["kind"], p["status"], p["amount"]) for p in r["host_ledger"]["postings"]]


def twice(mti: str, times: int = 1):
    """A host that answers the first ``times`` requests of ``mti`` twice, in one write."""
    left = [times]

    def script(request, answer):
        if request.mti != mti or answer.payload is None or not left[0]:
            return answer
        left[0] -= 1
        return replace(answer, also=(answer.payload,))

    return script


class Holding:
    """A host that holds back the answer to the first request of ``hold`` (the request is processed, its answer
    lost to the terminal: silence, or the connection ``close``d), and hands it over ahead of its answer to the
    first later request of ``release``, in one write. ``when`` picks the held request (by default any)."""

    def __init__(self, hold: str, release: str, *, close: bool = False, when=lambda request: True) -> None:
        self.hold, self.release, self.close, self.when = hold, release, close, when
        self.held: bytes | None = None
        self.released = False

    def __call__(self, request, answer):
        if self.held is None and not self.released and request.mti == self.hold and self.when(request):
            self.held = answer.payload
            return Answer(None, close=self.close)
        if self.held is not None and request.mti == self.release and answer.payload is not None:
            held, self.held, self.released = self.held, None, True
            return replace(answer, payload=held, also=(answer.payload,))
        return answer


# -- the sale path ---------------------------------------------------------------------------------------------
def test_a_sale_answered_twice_in_one_arrival_is_approved_once_and_printed_once():
    sent = []
    r = scripted([{"key": "X"}] + SALE + [{"expect": {"outcome": "approved", "state": "idle"}}], twice("0200"),
                 sent=sent)
    assert r["ok"], r["failures"]
    assert mtis(sent) == ["0200"]  # nothing reversed
    (sale,) = r["transactions"]
    assert sale["outcome"] == "approved" and len(sale["receipts"]) == 2  # merchant and cardholder copies, once
    assert postings(r) == [(sale["stan"], "sale", "approved", 1250)]
    assert notes(r).count("host.late") == 1
    books(r)


def test_a_late_approval_arriving_with_the_reversals_answer_does_not_undo_the_reversal():
    """The sale's 0210 (approved) comes after the terminal gave up on it, in the same arrival as the answer to
    its reversal: the sale stays reversed (once), the host's posting reversed, no receipt."""
    sent = []
    r = scripted([{"key": "X"}] + SALE + [{"expect": {"outcome": "reversed", "state": "idle"}}],
                 Holding("0200", "0400"), sent=sent)
    assert r["ok"], r["failures"]
    assert mtis(sent) == ["0200", "0400"]
    (sale,) = r["transactions"]
    assert sale["outcome"] == "reversed" and sale["receipts"] == []
    assert postings(r) == [(sale["stan"], "sale", "reversed", 1250)]
    assert r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    assert "host.unmatched" in notes(r)
    books(r)


def test_an_answer_held_over_a_reconnect_is_not_taken_for_the_next_sale():
    """The host closes the connection on the first sale (processed, approved, its answer lost); the terminal
    reverses it on a new connection, and the next sale's request gets, on that connection, the first sale's
    0210 ahead of its own: each sale ends by its own answer."""
    sent = []
    steps = [{"key": "X"}] + SALE + [{"expect": {"outcome": "reversed"}}] + SALE + [
        {"expect": {"outcome": "approved", "state": "idle"}}]
    r = scripted(steps, Holding("0200", "0200", close=True), sent=sent)
    assert r["ok"], r["failures"]
    assert mtis(sent) == ["0200", "0400", "0200"]
    first, second = r["transactions"]
    assert (first["outcome"], second["outcome"]) == ("reversed", "approved")
    assert first["receipts"] == [] and len(second["receipts"]) == 2
    assert postings(r) == [(first["stan"], "sale", "reversed", 1250), (second["stan"], "sale", "approved", 1250)]
    assert "host.unmatched" in notes(r)
    books(r)


# -- the advice window -----------------------------------------------------------------------------------------
WINDOW = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4, "upload_window": 4}, "offline": {"max_count": 50}}
FIRST = 1001  # stored sale i is for FIRST + i minor units


def stored_sales(n: int) -> list[dict]:
    steps = [{"link": "down"}]
    for i in range(n):
        steps += [{"key": f"{FIRST + i}#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"}]
    return steps + [{"link": "up"}]


def amount_is(amount: int):
    return lambda request: int(request.fields.get(4, "0")) == amount


def assert_each_posted_once(r, n: int) -> None:
    """Every stored sale approved offline, forwarded and posted once; nothing owed; the books agree."""
    assert r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    txns = r["transactions"]
    assert [t["outcome"] for t in txns if FIRST <= t["amount"] < FIRST + n] == ["offline_approved"] * n
    offline = sorted((p["stan"], p["status"]) for p in r["host_ledger"]["postings"] if p["kind"] == "offline_sale")
    assert offline == sorted((t["stan"], "approved") for t in txns if t["outcome"] == "offline_approved")
    books(r)


def test_an_advice_answered_twice_in_one_arrival_is_done_once_and_the_window_goes_on():
    sent = []
    r = scripted(stored_sales(8) + [{"upload": True}, {"expect": {"state": "idle"}}], twice("0220", times=3),
                 config=WINDOW, sent=sent)
    assert r["ok"], r["failures"]
    assert_each_posted_once(r, 8)
    assert sorted(mtis(sent)) == ["0220"] * 8  # no repeat: the second copies freed no room and sent nothing
    assert notes(r).count("host.unmatched") == 3


def test_a_try_again_answer_to_an_advice_arriving_twice_in_one_write_sends_one_repeat():
    """The host answers a stored sale's 0220 with 96 twice in one write: the second copy was on the wire before the
    repeat the first asked for, so it cannot answer it. One repeat (0221) goes, the host posts it once, and a 96 to
    that repeat (the next write) is still its answer: one more repeat, as before."""
    sent = []
    decline = {"host": {"behaviour": "decline", "code": "96", "kind": "offline_sale", "times": 2}}
    r = scripted(stored_sales(1) + [decline, {"upload": True}, {"expect": {"state": "idle"}}], twice("0220"),
                 config=WINDOW, sent=sent)
    assert r["ok"], r["failures"]
    assert mtis(sent) == ["0220", "0221", "0221"]  # the first 96 (twice), then the repeat's own 96
    assert notes(r).count("uplink.stale_retry") == 1 and notes(r).count("uplink.retry") == 2
    assert_each_posted_once(r, 1)


def test_an_advice_answer_held_over_a_dropped_connection_is_matched_once_on_the_next():
    """The host posts the third stored sale and closes the connection without answering; on the new connection
    that sale goes again as a repeat (0221), and the host sends the 0230 it held ahead of the repeat's own: the
    first closes the advice, the second is unmatched, nothing is sent a third time."""
    sent = []
    held = Holding("0220", "0221", close=True, when=amount_is(FIRST + 2))
    r = scripted(stored_sales(8) + [{"upload": True}, {"expect": {"state": "idle"}}], held, config=WINDOW, sent=sent)
    assert r["ok"], r["failures"]
    assert held.released
    assert_each_posted_once(r, 8)
    third = next(t["stan"] for t in r["transactions"] if t["amount"] == FIRST + 2)
    assert [m.mti for m in sent if m.fields.get(11) == third] == ["0220", "0221"]
    assert "host.unmatched" in notes(r)


def test_an_advice_given_up_whose_answer_comes_during_the_next_sale_is_sent_again_as_a_repeat():
    """One stored sale, every transmission of it unanswered (its first answer held back): the upload gives up
    (advice.pending). The next online sale's request gets, on a new connection, that held 0230 ahead of its own
    0210: the sale is approved by its own answer, the advice stays queued and goes again as a repeat, posted once."""
    held = Holding("0220", "0200")
    silent = {"host": {"behaviour": "drop", "mti": "0221", "times": 2}}
    sent = []
    steps = stored_sales(1) + [silent, {"upload": True}, {"expect": {"alerts": "advice.pending", "state": "idle"}},
                               *SALE, {"expect": {"outcome": "approved"}}, {"upload": True},
                               {"expect": {"state": "idle"}}]
    quick = {**WINDOW, "host": {**WINDOW["host"], "response_timeout": 0.2}}  # three silences before it gives up
    r = scripted(steps, held, config=quick, sent=sent)
    assert r["ok"], r["failures"]
    assert held.released
    assert_each_posted_once(r, 1)
    (stored, online) = r["transactions"]
    assert [m.mti for m in sent if m.fields.get(11) == stored["stan"]] == ["0220", "0221", "0221", "0221"]
    assert (online["outcome"], len(online["receipts"])) == ("approved", 2)
    assert "host.unmatched" in notes(r)


# -- the settlement and the batch upload -----------------------------------------------------------------------
UPLOAD = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}, "offline": {"max_count": 50}}
# two stored sales (a 0320 each, under their own STANs), one online sale (packed in a 0320), then the end
BATCH = stored_sales(2) + [{"upload": True}] + SALE + [{"host": {"behaviour": "unbalanced", "times": 1}},
                                                      {"settle": True}, {"expect": {"state": "idle"}}]


def assert_uploaded_once(r, sent) -> None:
    """The batch settled unbalanced, uploaded whole and once (three transactions, one end), the report printed
    once saying so; the host's books and the terminal's agree."""
    assert r["owed"] == {"reversals": 0, "advices": 0, "receipts": 0}
    (settlement,) = r["settlements"]
    assert (settlement["result"], settlement["uploaded"]) == ("unbalanced", True)
    ledger = r["host_ledger"]
    assert sorted(u["stan"] for u in ledger["uploads"]) == sorted(t["stan"] for t in r["transactions"])
    assert all(u["matched"] for u in ledger["uploads"])
    assert [(e["count"], e["uploaded"]) for e in ledger["upload_ends"]] == [(3, 3)]
    assert [m.mti for m in sent].count("0500") == 1
    assert [a[0] for a in r["alerts"]].count("settle.uploaded") == 1
    assert not any(code in ("settle.upload_owed", "advice.pending") for code, _ in r["alerts"])
    books(r)


def test_a_settlement_and_every_upload_message_answered_twice_upload_the_batch_once():
    """Each 0510 and 0330 comes twice in one arrival: the second 0510 meets the first 0320 in flight, each second
    0330 the next 0320; every one is unmatched, and each 0320 goes once."""
    sent = []
    both = [twice("0500"), twice("0320", times=4)]
    r = scripted(BATCH, lambda request, answer: both[1](request, both[0](request, answer)), config=UPLOAD, sent=sent)
    assert r["ok"], r["failures"]
    assert_uploaded_once(r, sent)
    assert [m.mti for m in sent].count("0320") == 4  # three transactions' messages and the end, each once
    assert notes(r).count("host.unmatched") == 1 + 3 and notes(r).count("host.late") == 1  # the end's: idle


class Stale:
    """A batch upload whose first 0330 is held back: the terminal sends that 0320 again (same STAN), the host
    answers the repeat, and hands over the held 0330 ahead of the answer to the next 0320: an earlier part's
    answer arriving while a later part is in flight."""

    def __init__(self) -> None:
        self.held: bytes | None = None
        self.seen: list[str] = []

    def __call__(self, request, answer):
        if request.mti != "0320":
            return answer
        self.seen.append(request.fields[11])
        if len(self.seen) == 1:
            self.held = answer.payload
            return Answer(None)
        if len(self.seen) == 3 and self.held is not None:
            held, self.held = self.held, None
            return replace(answer, payload=held, also=(answer.payload,))
        return answer


def test_an_earlier_parts_0330_arriving_while_a_later_part_is_in_flight_is_not_taken_for_it():
    sent, stale = [], Stale()
    r = scripted(BATCH, stale, config=UPLOAD, sent=sent)
    assert r["ok"], r["failures"]
    assert stale.held is None and stale.seen[0] == stale.seen[1] != stale.seen[2]  # part 1 again, then part 2
    assert_uploaded_once(r, sent)
    assert len(stale.seen) == 5  # part 1 twice (one silence), parts 2, 3 and the end once each
    assert "host.unmatched" in notes(r)


# -- a sign-on sent twice ----------------------------------------------------------------------------------------
def test_a_sign_on_whose_late_first_answer_comes_with_the_repeats_does_not_leave_the_host_s_keys_behind():
    """The operator's 0800 is processed but its 0810 held back; the terminal sends it again (same STAN) and the
    host, which issued fresh keys for each, sends the held 0810 ahead of the repeat's in one write. The
    terminal took the first, whose keys the host had replaced: the next sale failed its MAC at the host (A0) and
    was reversed. Now a sign-on answered after a retry is followed by one more, and both sales are approved."""
    sent = []
    steps = [{"key": "X"}, {"key": "F2"}, {"expect": {"state": "idle", "alerts": "signon.ok"}}] + SALE + SALE + [
        {"expect": {"outcome": "approved", "state": "idle"}}]
    r = scripted(steps, Holding("0800", "0800"), sent=sent)
    assert r["ok"], r["failures"]
    assert mtis(sent) == ["0800", "0800", "0800", "0200", "0200"]
    assert sent[0].fields[11] == sent[1].fields[11] != sent[2].fields[11]
    assert [t["outcome"] for t in r["transactions"]] == ["approved", "approved"]
    assert [status for _, _, status, _ in postings(r)] == ["approved", "approved"]
    assert "signon.again" in notes(r) and "host.unmatched" in notes(r)
    books(r)


# -- answers to messages never sent ----------------------------------------------------------------------------
class Unsent:
    """Ahead of the answer to the first request of ``mti``, the same answer (approved, MACed) re-addressed to a
    STAN the terminal never sent, in one write."""

    def __init__(self, mti: str) -> None:
        self.mti, self.runner, self.done = mti, None, False

    def after(self, runner, step) -> None:
        self.runner = runner

    def __call__(self, request, answer):
        if self.done or request.mti != self.mti or answer.payload is None:
            return answer
        self.done = True
        stray = remac(self.runner, answer.payload, setting(f11="999999"))
        return replace(answer, payload=stray, also=(answer.payload,))


def test_an_approval_for_a_stan_never_sent_is_not_taken_for_the_sale_in_flight():
    sent, stray = [], Unsent("0200")
    r = scripted([{"key": "X"}] + SALE + [{"expect": {"outcome": "approved", "state": "idle"}}], stray, sent=sent,
                 after=stray.after)
    assert r["ok"], r["failures"]
    assert stray.done and mtis(sent) == ["0200"]
    (sale,) = r["transactions"]
    assert sale["stan"] != "999999" and len(sale["receipts"]) == 2
    assert postings(r) == [(sale["stan"], "sale", "approved", 1250)]
    assert any(code == "host.unmatched" and "STAN 999999" in text for code, text in r["notes"])
    books(r)


def test_an_advice_answer_for_a_stan_never_sent_leaves_the_window_as_it_was():
    sent, stray = [], Unsent("0220")
    r = scripted(stored_sales(6) + [{"upload": True}, {"expect": {"state": "idle"}}], stray, config=WINDOW,
                 sent=sent, after=stray.after)
    assert r["ok"], r["failures"]
    assert stray.done
    assert_each_posted_once(r, 6)
    assert sorted(mtis(sent)) == ["0220"] * 6
    assert any(code == "host.unmatched" and "STAN 999999" in text for code, text in r["notes"])
