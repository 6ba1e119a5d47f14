"""The runner's device input: swipes, PIN pad events and host frames turned into core events.

Card data enters the terminal here. A swipe is opened (an SRED reader's
inside ``crypto/``), parsed and judged against the fallback policy; the core
gets only its safe facts (``CardFacts``) while the clear card is sealed in a
``CardSession`` at once. A PIN block and a transfer's destination account join
that session; a host frame is read and checked (its MAC) by the bridge, and a
sign-on answer's working keys are kept aside until the core asks for them.
What the core refuses (``_unaccepted``) is wiped here too. Kept apart from
``runner.py`` so the loop reads on one page; the actions are ``runner_actions.py``.
"""

from __future__ import annotations

import hmac
import logging

from crypto.secrets import Pan
from firmware.core.events import (
    AccountCancelled,
    AccountCaptured,
    AccountProgress,
    AccountRejected,
    CardRead,
    CardUnreadable,
    Event,
    HostAnswered,
    HostFrameRejected,
    KeyPressed,
    LinkDropped,
    PinBypassed,
    PinCancelled,
    PinEntered,
    PinPadFailed,
    PinProgress,
    ReaderFailed,
    Tampered,
    TimerExpired,
)
from firmware.core.flows import FLOWS
from firmware.core.model import CardFacts, State
from firmware.errors import CardError, CryptoError, LinkError, ProtocolError, TerminalError
from firmware.sealed import CardSession, ClearCard
from hal import pinpad as pad
from hal.magstripe import Swipe
from hal.magstripe.policy import entry_decision
from hal.magstripe.policy import prompt as card_prompt, reason as card_reason
from hal.magstripe.sred import open_swipe
from hal.magstripe.tracks import parse_swipe, summary
from hal.pinpad import account as acct

__all__ = ["InputMixin", "SIGN_ON_ANSWER"]

log = logging.getLogger("posterm.runner")  # the runner's one logger (``bench`` quiets it by name)


def _unreadable(code: str) -> CardUnreadable:
    """A swipe refused by its error code: what was wrong and what to do, in the display's capitals."""
    return CardUnreadable(code, card_reason(code).upper(), card_prompt(code).upper())


SIGN_ON_ANSWER = "0810"
_KEY_TEXT = {key: key.value for key in pad.Key}  # a key's character for the core (``.value`` costs more)


class InputMixin:
    """Device and host input of ``Runner`` (``runner.py``); state lives on the runner."""

    def _poll_devices(self) -> bool:
        got = False
        if self.devices.tamper is not None and self.core.state is not State.LOCKED:
            for trip in self._safe_poll(self.devices.tamper):
                got = True
                self.dispatch(Tampered(trip.source, trip.reason))
        for item in self._safe_poll(self.devices.reader):
            got = True
            self._on_swipe(item)
        for item in self._safe_poll(self.devices.pinpad):
            got = True
            self._on_pad(item)
        try:
            frames = self.devices.link.poll()
        except LinkError as e:
            got = True
            self.dispatch(LinkDropped(e.code, e.text))
            frames = []
        if frames:
            self._arrivals += 1  # one read: every frame in it came before anything sent in reply to one
        for payload in frames:
            got = True
            self._on_frame(payload, self._arrivals)
        return got

    def _safe_poll(self, device) -> list:
        try:
            return self._polled(device)  # alerted there, once per fault; the device rests a while (runner_wait)
        except TerminalError as e:
            if device is self.devices.reader and self.core.state is State.CARD:
                self.dispatch(ReaderFailed(e.code, e.text))  # the card wait ends naming the reader, not at its timeout
            elif device is self.devices.pinpad and self.core.state is State.PIN:
                # the PIN could not be taken or encrypted (the pad failed, the DUKPT key is exhausted or its
                # state could not be written): the pad's entry is over, so is the sale, at once rather than
                # at the input timeout, named rather than shown as the cardholder's cancel (audit AU21 M3);
                # nothing was journalled or sent, and no DUKPT counter was spent
                try:
                    device.cancel_pin_entry()  # whatever the pad still holds of the entry goes
                except TerminalError as again:
                    log.warning("pinpad: cancelling the PIN entry failed too: %s", again.text)
                self.dispatch(PinPadFailed(e.code, e.text))
            return []

    def _on_swipe(self, item: Swipe | CardError) -> None:
        if isinstance(item, CardError):
            self.dispatch(_unreadable(item.code))
            return
        sale = self.core.sale
        if self.core.state is not State.CARD or sale is None:
            item.wipe()
            self.notes.append(("reader.ignored", "swipe while not waiting for a card"))
            return
        if item.encrypted is not None:  # an SRED reader: its tracks open only inside crypto/
            try:
                item = self._open_encrypted(item)
            except CardError as e:
                self.dispatch(_unreadable(e.code))
                return
        try:
            facts, clear = self._parse(item)
        except CardError as e:
            self.dispatch(_unreadable(e.code))
            return
        finally:
            item.wipe()
        # the original's card, when the journal holds the original (a refund's may be elsewhere)
        if FLOWS[sale.kind].same_card and sale.original is not None and not self._same_card(sale.txn_no, clear):
            clear.wipe()
            code = f"{FLOWS[sale.kind].prefix}.card_mismatch"
            self.notes.append((code, "the card swiped is not the original's"))
            self.dispatch(CardUnreadable(code, "NOT ORIGINAL CARD", "SWIPE ORIG CARD"))  # this one cannot do
            return
        if self.session is not None:
            self.session.wipe()
        self.session = CardSession(sale.txn_no, self.keys.sealer, clear)  # sealed from here on
        self.dispatch(CardRead(facts))

    def _same_card(self, txn_no: int, clear: ClearCard) -> bool:
        """The swiped PAN's keyed hash equals the original's (compared in constant time)."""
        if self._original_card is None or self._original_card[0] != txn_no:
            return False
        return hmac.compare_digest(self.keys.pan_hash(clear.pan), self._original_card[1])

    def _open_encrypted(self, swipe: Swipe) -> Swipe:
        try:
            if self.keys.sred is None:
                self._alert("keys.no_sred", "the reader encrypts its tracks but no SRED key is loaded")
                raise CardError("this reader's key is not loaded", code="card.sred_no_key")
            try:
                return open_swipe(swipe, self.keys.sred)
            except CryptoError:
                raise CardError("the encrypted tracks did not decrypt", code="card.sred_mismatch") from None
        finally:
            swipe.wipe()

    def _parse(self, swipe: Swipe) -> tuple[CardFacts, ClearCard]:
        """Parse, check and decide (service code against the fallback policy); raise CardError to refuse."""
        card = parse_swipe(swipe, self.clock().date())
        try:
            s = summary(card)
            decision = entry_decision(s, self.fallback)
            if not decision.accepted:
                raise decision.error
            facts = CardFacts(
                masked_pan=s.masked_pan,
                expiry=s.expiry,
                service_code=s.service_code,
                pin_required=decision.pin_required,
                online_only=decision.online_required,
                entry_mode=decision.entry_mode,
            )
        except BaseException:
            card.wipe()
            raise
        # The clear card takes the parsed card's own PAN and tracks (parse_swipe made them for it; they are
        # wiped once the session has sealed them); the rest of the parsed card (track 3's fields) goes now.
        clear = ClearCard(card.pan, card.expiry, card.track2, card.track3, card.sequence_number)
        if card.track3_fields is not None:
            card.track3_fields.wipe()
        card.name = None
        return facts, clear

    def _on_pad(self, event) -> None:
        if isinstance(event, pad.KeyPress):
            self.dispatch(KeyPressed(_KEY_TEXT[event.key]))
        elif isinstance(event, pad.PinEntered):
            if self.session is None or self.core.state is not State.PIN:
                event.block.wipe()
                return
            self.session.pin_block = event.block
            self.dispatch(PinEntered())
        elif isinstance(event, pad.PinBypassed):
            self.dispatch(PinBypassed())
        elif isinstance(event, pad.PinCancelled):
            self.dispatch(PinCancelled())
        elif isinstance(event, pad.PinProgress):
            self.dispatch(PinProgress(event.digits))
        elif isinstance(event, acct.AccountEntered):
            self._on_account(event.account)
        elif isinstance(event, acct.AccountProgress):
            self.dispatch(AccountProgress(event.digits, event.confirming))
        elif isinstance(event, acct.AccountRejected):
            self.dispatch(AccountRejected(event.code, event.text))
        elif isinstance(event, acct.AccountCancelled):
            self.dispatch(AccountCancelled())

    def _on_account(self, account: Pan) -> None:
        """A transfer's destination account: sealed with the card at once; the core gets its mask only."""
        if self.session is None or self.core.state is not State.ACCOUNT:
            account.wipe()
            return
        masked = account.masked()
        self.session.add_account(account)  # wipes ``account``
        self.dispatch(AccountCaptured(masked))

    def _on_frame(self, payload: bytes, arrival: int | None = None) -> None:
        try:
            reply, message = self.bridge.read(payload, self.keys.mac if self.keys else None)
        except ProtocolError as e:
            self.dispatch(HostFrameRejected(e.code, e.text))
            return
        if reply.mti == SIGN_ON_ANSWER and reply.approved:
            try:  # encrypted under the TMK; checked and installed only if the core asks
                self._signon_keys = self.bridge.signon_keys(message)
            except ProtocolError as e:
                self._signon_keys = None
                self.notes.append((e.code, e.text))
        if self.crash:
            self.crash.check(self.crash.ANSWER)
        self.dispatch(HostAnswered(reply, arrival))

    def _unaccepted(self, event: Event) -> None:
        if isinstance(event, HostAnswered):
            self.notes.append(("host.late", f"answer {event.reply.mti} trace {event.reply.stan} arrived too late"))
            log.info("ignored a late host answer (MTI %s, STAN %s)", event.reply.mti, event.reply.stan)
        elif isinstance(event, CardRead) and self.session is not None:
            self.session.wipe()
        elif isinstance(event, PinEntered) and self.session is not None and self.session.pin_block is not None:
            self.session.pin_block.wipe()
        elif not isinstance(event, (TimerExpired, LinkDropped)):
            log.debug("ignored %s in state %s", type(event).__name__, self.core.state.name)
