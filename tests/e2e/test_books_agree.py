"""The merchant's books and the bank's agree through the host's refusals and lost answers.

Each test came from an audit (session 7) and failed on the code before its fix: it states
what the books must be and reproduces, on simulated devices against the host simulator,
the path that once broke them. The core-level rules are in tests/core/test_host_codes.py.
"""

from __future__ import annotations

from firmware.core import actions as A
from firmware.core.events import HostAnswered, SignOnRequested
from firmware.core.model import BatchHeld, BootState, Counters, NetworkKind
from firmware.scenario import ScenarioRunner, parse_scenario
from tests.core.helpers import Driver, reply
from tests.e2e.consistency import books

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
CREDIT_SALE = [{"key": "1250#"}, {"swipe": "unionpay_credit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.4, "connect_timeout": 0.4}}


def run(steps, config=FAST):
    return ScenarioRunner().run(parse_scenario({"name": "audit", "config": config, "step": steps}))


def mtis(result) -> list[str]:
    return [m["mti"] for m in result["host_ledger"]["messages"]]


# -- a reversal the host did NOT apply was recorded as applied ------------------------

def test_a_reversal_the_host_declines_is_not_taken_as_done():
    """The sale's answer is lost, so the terminal reverses it; the host answers the 0400 with 96
    (system malfunction) and does not apply it. ``uplink._h_uplink_answered`` takes any 0410 as
    done (``ReversalDone`` -> ``storage.queues.reversal_done`` marks the sale REVERSED whatever the
    code): the card is charged, the terminal says reversed, nothing was printed, no alert, and the
    reversal is never sent again. The books must agree once the host works again."""
    r = run([
        {"host": {"behaviour": "drop", "mti": "0200", "times": 1}},
        {"host": {"behaviour": "decline", "code": "96", "mti": "0400", "times": 1}},
        *SALE,
        {"upload": True},  # the host works again: whatever is still owed goes now
        *SALE,
    ])
    assert r["state"] == "idle"
    books(r)  # before the fix: "host approved STAN 000001 (1250) but the terminal has reversed"


# -- a stored offline sale was dropped on a technical error ----------------------------------

def test_an_offline_sale_answered_system_malfunction_is_sent_again_not_dropped():
    """An offline sale (receipt printed, goods gone) is forwarded; the host answers the 0220 with
    96 (system malfunction), a technical error, and posts nothing. ``window._window_answered``
    treats any answer as final (``AdviceDone``: the queue entry is closed, the record stays
    offline_approved out of the totals): the merchant is never paid for a sale he has a receipt
    for. A technical code (96, 91, A0, 30 ...) should leave the advice queued for the next upload."""
    r = run([
        {"link": "down"},
        *CREDIT_SALE,
        {"link": "up"},
        {"host": {"behaviour": "decline", "code": "96", "mti": "0220", "times": 1}},
        {"upload": True},
        {"upload": True},
    ])
    assert r["transactions"][0]["outcome"] == "offline_approved"
    assert mtis(r).count("0221") == 1, mtis(r)  # before the fix: one 0220, then nothing
    books(r)  # before the fix: "terminal approved STAN 000001 that the host does not count"


# -- a sign-on answer moved the batch and abandoned the open one ------------------------

def test_a_sign_on_answer_does_not_abandon_an_open_batch_with_transactions():
    """``uplink._network_answered`` adopts the batch number of every 0810 (``reply.batch``) and
    ``InstallWorkingKeys`` commits it. A sign-on from the menu (F 2) in the middle of a batch that
    holds transactions, answered with another batch number, leaves those transactions in a batch
    the terminal will never settle: ``CountBatch`` counts the new number only, and a void of
    them is refused as not found. (The host simulator always echoes the terminal's batch, so no
    end-to-end test can meet this.)"""
    d = Driver(boot=BootState(counters=Counters(stan=10, batch=1, txn_no=4),
                                  batch_held=BatchHeld(debit_count=3, debit_amount=3750)))
    d.feed(SignOnRequested())
    job = d.last(A.SendNetwork).job
    assert job.kind is NetworkKind.SIGN_ON
    d.feed(HostAnswered(reply(mti="0810", stan=job.stan, amount=None, mac_ok=None, batch=7)))
    d.keys("F5")  # settle: the three transactions of batch 1 must be counted
    assert d.last(A.CountBatch).batch == 1  # before the fix: 7


# -- the host simulator could not refuse a settlement ------------------------------------

def test_the_host_simulator_honours_a_decline_rule_on_a_settlement():
    """``HostProcessor._settle`` ignores a ``decline`` rule (only ``unbalanced`` is read), though the
    rule matches and is spent: a scenario asking for a 0510 with 95 (reconcile error) gets 00 and a
    closed batch. So the terminal's refused-settlement path (and how it treats 95) has no
    end-to-end test, and a scenario written to test it passes without testing it."""
    r = run([*SALE, {"host": {"behaviour": "decline", "code": "95", "mti": "0500", "times": 1}}, {"settle": True}])
    (settle,) = [m for m in r["host_ledger"]["messages"] if m["mti"] == "0500"]
    assert settle["response_code"] == "95", settle  # before the fix: 00, "settlement batch 000001: balanced"


# -- iso87: a reversal sent again after a power cut went as 0400, not 0401 ---------------------------

def test_iso87_reversal_already_transmitted_before_a_power_cut_goes_again_as_0401():
    """A reversal's transmission was not recorded (reversals had no 'sent' mark, unlike advices),
    so one that left just before a power cut went again at the next start as a first 0400; ISO 8583
    wants the repeat (0401). Now ``ReversalSending`` notes it before the first transmission. The simulator matches reversals by STAN and amount whatever the MTI,
    so the books agree here; a host that answers a second 0400 as a duplicate (94) is taken as
    done too (finding 1)."""
    r = run([
        {"host": {"behaviour": "drop", "mti": "0200", "times": 1}},
        {"host": {"behaviour": "drop", "mti": "0400", "times": 1}},
        {"power_cut": "after:send_reversal"},
        *SALE,
        {"restart": True},
    ], config={"host": {**FAST["host"], "profile": "iso87"}})
    assert r["power_cuts"] == ["after:send_reversal"]
    assert mtis(r) == ["0200", "0400", "0401"], mtis(r)  # before the fix: 0200, 0400, 0400


# -- a sign-on whose answer was lost wedged the terminal for good -------------------------

def test_a_lost_sign_on_answer_does_not_wedge_the_terminal():
    """The operator signs on (F 2); the host issues new working keys but every 0810 is lost, so the
    terminal keeps its old keys (``signon.failed``). The next sale's answer (A0 from the host, MACed
    under the new key) fails its MAC, so the sale is reversed. Before the fix each 0400 was
    answered A0 the same way and a queued reversal went before everything, the operator's next
    sign-on included: no online sale and no settlement until someone deleted the keys by hand.
    Now an answer that fails its MAC (or says A0) brings a sign-on first, by itself."""
    r = run([
        *SALE,
        {"host": {"behaviour": "drop", "mti": "0800", "times": 3}},  # every attempt of the sign-on
        {"key": "F2"},
        *SALE,  # answered under the host's new key: reversed, after a sign-on that brings that key
        *SALE,
    ])
    sent = mtis(r)
    assert sent[:5] == ["0200", "0800", "0800", "0800", "0200"], sent
    assert sent[5:] == ["0800", "0400", "0200"], sent  # the cure: sign on, then the reversal goes
    assert [t["outcome"] for t in r["transactions"]] == ["approved", "reversed", "approved"]
    books(r)


# -- a settlement the host may have closed unheard ------------------------------------------------

def test_after_an_unanswered_settlement_the_batch_takes_nothing_until_settled_again():
    """Every 0510 is lost: the host may have closed the batch without the terminal hearing it. A sale
    keyed then (even after a restart) is refused until the settlement is done again; then sales go
    on in the next batch, and the books agree."""
    r = run([
        *SALE,
        {"host": {"behaviour": "drop", "mti": "0500", "times": 3}},
        {"settle": True},
        {"key": "1250#"},
        {"expect": {"alerts": "settle.interrupted", "state": "idle", "journal_count": 1}},
        {"restart": True},
        {"key": "1250#"},
        {"expect": {"alerts": "settle.interrupted", "state": "idle", "journal_count": 1}},
        {"settle": True},
        *SALE,
    ])
    assert r["ok"], r["failures"]
    assert [t["outcome"] for t in r["transactions"]] == ["approved", "approved"]
    assert mtis(r).count("0500") == 4
    books(r)
