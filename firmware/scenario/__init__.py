"""Scenarios: a session at the terminal, scripted step by step in TOML.

    name = "declined sale"
    [config]                      # overrides of the terminal configuration
    host = { response_timeout = 2 }

    [[step]]
    key = "1250#"                 # keys on the PIN pad: amount 12.50, ENTER
    [[step]]
    host = { behaviour = "decline", code = "51" }
    [[step]]
    swipe = "unionpay_debit"      # a test card, or { track2 = "...", track3 = "..." }
    [[step]]
    pin = "1234"                  # typed on the PIN pad, then ENTER
    [[step]]
    expect = { outcome = "declined", response_code = "51" }

A void of an earlier sale is one step that keys the function menu, 4 (void),
the original's trace and ENTER, then confirms the original shown (ENTER);
the card and the PIN follow as for a sale::

    [[step]]
    void = { trace = 1 }          # or void = 1; confirm = false stops at the confirmation
    [[step]]
    swipe = "unionpay_debit"      # must be the original's card
    [[step]]
    pin = "1234"
    [[step]]
    expect = { outcome = "approved", notes = "" }

A refused void (no such trace, already voided, a void of a void ...) leaves
its stable code among the result's ``notes`` (``expect = { notes =
"void.not_found" }``); nothing is journalled or sent.

A refund keys the function menu, 6, the original's reference number and
date (today's unless given), confirms the original, and keys the amount; a
balance inquiry keys the function menu, 7. The card and PIN follow::

    [[step]]
    refund = { rrn = "000000000001", amount = 500 }   # date = "MMDD"; confirm = false stops at CONFIRM
    [[step]]
    balance = true

The pre-auth family is on the menu's second page (F, 0, then 1-4); the card
and PIN follow each::

    [[step]]
    preauth = 10000                                    # F 0 1, the amount
    [[step]]
    preauth_complete = { auth = "000001", amount = 11000 }   # F 0 3; preauth_cancel likewise (F 0 2)
    [[step]]
    preauth_complete_void = { trace = 2 }              # F 0 4, the completion's trace
    [[step]]
    preauth_advice = { auth = "000001", amount = 11000 }     # F 0 6: the completion as an advice (no PIN)

Each step puts something into a simulated device (or changes the host, the
printer, the link, the power), then runs the terminal until it waits for a
person again. ``power_cut`` arms a cut at a named point (``after:send_request``
...: see ``runner.CrashPlan``), and ``restart`` boots a new runner on the same
data directory, as after the power comes back: recovery runs by itself.

Operators (``operators.required``, ``operators.supervisor_for``): ``add_operator``
stores a cashier (or, for 00, the supervisor's new password) as ``posterm operators``
would; ``sign_in`` keys the number, ENTER, the password, ENTER; ``sign_out`` keys F
then *; a guarded void, refund or settle takes ``supervisor = "..."`` in its table, typed
at the supervisor's prompt (without it the step stops there, and a ``supervisor`` step
types it)::

    [[step]]
    add_operator = { operator = "01", password = "1111" }
    [[step]]
    sign_in = { operator = "01", password = "1111" }
    [[step]]
    void = { trace = 1, supervisor = "123456" }

A settlement is ``settle = true`` (F, 5, then ENTER on the totals); a host rule
``host = { behaviour = "unbalanced" }`` makes the host answer its totals "not
balanced", and the terminal then uploads the batch before its report prints.

The result lists every transaction from the journal with its kind (``sale``,
``void``), outcome, codes, trace and receipt text (a void also gives its
original's trace as ``original_stan``; a voided sale the journal number of
its void as ``voided_by``), the host simulator's ledger, what the display
showed last, the operator alerts and notes, the settlements (batch, result,
uploaded, totals), and the failed ``expect`` steps.

Four modules, so the file format can be read (and documented) without the
machinery that runs it:

* ``steps``: the file format: ``STEP_KINDS`` (each step's one-line
  documentation, from which README's step table is generated), the checks of
  each step's value, ``Step``, ``Scenario``, ``parse_scenario`` and
  ``load_scenario``;
* ``runner``: ``ScenarioRunner``: the simulated devices, the host, the power,
  and one branch per step kind;
* ``menus``: the steps that walk the function menu (void, refund, the
  pre-auth family, the supervisor's prompt, the operators);
* ``report``: the ``expect`` checks and the result (``snapshot``).
"""

from __future__ import annotations

from firmware.scenario.runner import ScenarioRunner
from firmware.scenario.steps import STEP_KINDS, Scenario, Step, load_scenario, parse_scenario

__all__ = ["Scenario", "Step", "load_scenario", "parse_scenario", "ScenarioRunner", "STEP_KINDS"]
