"""Transfer (转账): money from the card swiped to an account the cardholder keys on the PIN pad.

The kind is a row of ``flows.FLOWS`` (``destination=True``); the states and handlers
are a sale's, with one state more, ACCOUNT, between CARD and PIN:

* page 2 of the function menu, key 5: AMOUNT, then CARD as a sale;
* ACCOUNT: the PIN pad owns the keys (``BeginAccount``) as it does for the PIN. The
  cardholder keys the destination account (12 to 19 digits) and ENTER, then keys it
  again and ENTER. The pad refuses a wrong length, a card-shaped number whose Luhn
  check digit is wrong, and a second keying that differs (``hal.pinpad.account``);
  each refusal is shown and the account is keyed again from the start. The clear
  digits never reach the core: the runner seals the account with the card
  (``firmware.sealed.CardSession.add_account``) and hands the core its mask only;
* PIN, AUTHORISING as a sale, online only (0200, processing code 400000), its
  ready-made 0400 committed with the request; reversed when unanswered. The account
  is wiped with the tracks once the host answers (``WipeCard``).

Why re-keying rather than showing the mask for ENTER: a mask hides the middle digits,
where a slip of one key goes unseen; a second keying catches it, as bank counters do.

A transfer is kept out of the merchant's settlement totals and batch upload: the
money moves from the cardholder to another account, not to the merchant (the host
simulator's ledger leaves it out alike). No void or refund names one: the journal's
judges refuse it as ``void.transfer`` / ``refund.transfer``.
"""

from __future__ import annotations

from datetime import datetime

from firmware.core import screens
from firmware.core.actions import Action, BeginAccount, Note, Show, StartTimer
from firmware.core.events import AccountCancelled, AccountCaptured, AccountProgress, AccountRejected
from firmware.core.model import State, Timer

__all__ = ["TransferMixin"]

Result = tuple[State, list[Action]]


class TransferMixin:
    """The transfer's handlers of ``Terminal`` (``machine.py``); state lives on the terminal."""

    def _begin_account(self, head: list[Action]) -> Result:
        """After the card: the pad collects the destination account."""
        return State.ACCOUNT, head + [
            BeginAccount(self.sale.txn_no),
            Show(screens.account(self, 0, False)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_account_progress(self, ev: AccountProgress, now: datetime) -> Result:
        return State.ACCOUNT, [
            Show(screens.account(self, ev.digits, ev.confirming)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_account_rejected(self, ev: AccountRejected, now: datetime) -> Result:
        """Shown, noted, and keyed again from the start (the pad's entry goes on)."""
        return State.ACCOUNT, [
            Note(ev.code, f"transfer destination account refused: {ev.text.lower()}"),
            Show(screens.account(self, 0, False, ev.text)),
            StartTimer(Timer.INPUT, self.settings.input_timeout),
        ]

    def _h_account_captured(self, ev: AccountCaptured, now: datetime) -> Result:
        """The account is sealed with the card; the PIN follows, under the sale's rule."""
        self.sale.account = ev.masked
        return self._begin_pin([])  # sale.py

    def _h_account_cancelled(self, ev: AccountCancelled, now: datetime) -> Result:
        wipe = self._wipe()
        state, actions = self._idle("CANCELLED")
        return state, wipe + actions
