"""The runner's action carriers: one ``_a_*`` method per core action, and the helpers they share.

``Runner._execute`` (``runner.py``) walks a batch of actions in order; each one
is carried out here by the method ``CARRIERS`` names for its type (the core's
handlers are ``_h_*``, the runner's are ``_a_*``). What they share lives here
too: looking an original up and judging it, holding and opening the card
session, sealing the reversal or advice that must be committed before a request
leaves, and connecting the host line (the keys and the clock are
``runner_keys.py``'s). Kept apart from ``runner.py`` so the loop, its housekeeping and its
durability order read on one page; the device input is ``runner_input.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from firmware.core import actions as A
from firmware.core.events import (
    BatchCounted,
    Event,
    OriginalFound,
    OriginalRefused,
    OriginalUnknown,
    Printed,
    PrinterFault,
    RecordFound,
    PrinterReady,
    ReportPrinted,
    StorageOk,
)
from firmware.core.flows import (
    FLOWS,
    PREAUTH_FLOWS,
    Candidate,
    Recovery,
    Refusal,
    judge,
)
from firmware.core.preauth import judge_preauth
from firmware.core.refund import judge_refund
from firmware.errors import (
    ConfigError,
    LinkError,
    PrinterError,
    ProtocolError,
    TerminalError,
)
from firmware.runner_keys import KeysMixin
from firmware.sealed import CardSession, ClearCard, card_aad, unpack_card

__all__ = ["ActionsMixin", "HANGUP_BOUND", "CARRIERS"]

log = logging.getLogger("posterm.runner")  # the runner's one logger (``bench`` quiets it by name)

HANGUP_BOUND = 15.0  # seconds a hang-up may block: a modem's +++ guard, OK and ATH0 with their timeouts


def _before_sending(build: Callable[[], bytes]) -> bytes:
    """Build a payload; a failure here means nothing left the terminal (the core may go offline)."""
    try:
        return build()
    except TerminalError as e:
        e.sent = False
        raise


class ActionsMixin(KeysMixin):
    """Action carriers of ``Runner`` (``runner.py``); state lives on the runner. Those of the keys and the
    clock are ``KeysMixin``'s (``runner_keys.py``)."""

    def _do(self, a: A.Action) -> Event | None:
        try:
            carry_out = CARRIERS[type(a)]
        except KeyError:  # a new action without a runner method is a bug
            raise ConfigError(f"the runner cannot carry out {a.name}", code="runner.unknown_action") from None
        return carry_out(self, a)

    # One method per action type, registered in CARRIERS below (the core's handlers are
    # ``_h_*``; the runner's are ``_a_*``).
    def _a_show(self, a: A.Show) -> None:
        display = self.devices.display
        try:
            display.show(a.lines)
        except TerminalError as e:  # shown again after the display's rest (runner_wait, _retry_faulted)
            self._owed_screen = a.lines
            if not self._rests(display):  # the screens of a sale that fail one after another do not lengthen the rest
                self._failed(display, e, alert=False)
            raise
        if self._owed_screen is not None:
            self._owed_screen = None
            self._worked(display)

    def _a_start_timer(self, a: A.StartTimer) -> None:
        self.timers[a.timer] = self.monotonic() + a.seconds

    def _a_cancel_timer(self, a: A.CancelTimer) -> None:
        self.timers.pop(a.timer, None)

    def _a_enable_reader(self, a: A.EnableReader) -> None:
        if self.session is not None:
            self.session.wipe()
            self.session = None
        self.devices.reader.enable()

    def _a_disable_reader(self, a: A.DisableReader) -> None:
        self.devices.reader.disable()

    def _a_begin_pin(self, a: A.BeginPin) -> None:
        with self._session(a.txn_no).card() as card:
            self.devices.pinpad.begin_pin_entry(card.pan, allow_bypass=a.allow_bypass)

    def _a_begin_account(self, a: A.BeginAccount) -> None:
        self._session(a.txn_no)  # the card it goes with must be held
        self.devices.pinpad.begin_account_entry()

    def _a_cancel_pin(self, a: A.CancelPin) -> None:
        self.devices.pinpad.cancel_pin_entry()

    def _a_find_original(self, a: A.FindOriginal) -> Event:
        """Look the original up and judge it; only its safe facts go back to the core."""
        self._original_card = None
        flow = FLOWS[a.kind]
        if a.reference is not None:
            return self._find_held(a) if flow.by_auth_code else self._find_refunded(a)
        match = self.store.find_original(a.stan, a.batch)
        if match is None and self.store.in_settled_batch(a.stan):
            return OriginalRefused(f"{flow.prefix}.batch_settled", "BATCH SETTLED")
        verdict = (judge_preauth if a.kind in PREAUTH_FLOWS else judge)(flow, self._candidate(match))
        if isinstance(verdict, Refusal):
            return OriginalRefused(verdict.code, verdict.text)
        self._original_card = (a.txn_no, match.pan_hash)
        return OriginalFound(verdict)

    def _a_find_record(self, a: A.FindRecord) -> Event:
        """A record of the open batch by its trace, for a reprint: the journal's own (masked) record, nothing sealed."""
        found = self.store.record_by_trace(a.stan, a.batch)
        if found is None:
            return RecordFound(a.stan)
        return RecordFound(a.stan, *found)

    def _a_verify_operator(self, a: A.VerifyOperator) -> Event:
        """Check a typed password against the stored hash (``storage.operators``); wipe it either way."""
        from firmware.operators import check_password

        self.wal_dirty = True  # a wrong try or a lock-out may have been committed
        return check_password(self.store.conn, a, rules=self.core.settings.operators, lockouts=self.lockouts,
                              now=self.clock())

    def _a_record_sign_in(self, a: A.RecordSignIn) -> None:
        """Commit who is signed in (``storage.operators``), before the screen says so."""
        from storage.operators import OperatorBook

        OperatorBook(self.store.conn).set_signed_in(a.number, self.clock())

    def _candidate(self, match) -> Candidate | None:
        if match is None:
            return None
        forwarded = match.advice is not None and match.advice[1]  # the host accepted its advice
        return Candidate(match.facts, match.state, match.claims, forwarded, tuple(s for s, _ in match.refunds),
                         match.completions, declined=match.advice_refused)

    def _find_refunded(self, a: A.FindOriginal) -> Event:
        """A refund's original, by reference number and date in any batch."""
        match = self.store.find_by_reference(a.reference.rrn, a.reference.date)
        return self._named(a, match, judge_refund(self._candidate(match)))

    def _find_held(self, a: A.FindOriginal) -> Event:
        """A pre-auth's cancel or completion: the pre-auth by auth code and date in any batch."""
        match = self.store.find_by_auth(a.reference.auth_code, a.reference.date)
        return self._named(a, match, judge_preauth(FLOWS[a.kind], self._candidate(match)))

    def _named(self, a: A.FindOriginal, match, verdict) -> Event:
        """An original named by a keyed number: judged if the journal holds it (its card hash kept for
        the swipe), else (``verdict`` None) left to the host."""
        if verdict is None:
            return OriginalUnknown()
        if isinstance(verdict, Refusal):
            return OriginalRefused(verdict.code, verdict.text)
        self._original_card = (a.txn_no, match.pan_hash)
        return OriginalFound(verdict)

    def _a_open_request(self, a: A.OpenRequest) -> None:
        session = self._session(a.record.txn_no)
        recovery = self.core.settings.recovery(a.record.kind)  # the profile's (HostBridge.recoveries)
        reversal = resend = journal_card = None
        with session.card() as card:
            pan_hash = self.keys.pan_hash(card.pan)
            if recovery is Recovery.REVERSAL:
                reversal = self.bridge.sealed_reversal(a.record, card, self.keys.sealer)
            elif recovery is Recovery.ADVICE:  # cup's refund: its ready-made repeat instead of a reversal
                resend = self.bridge.sealed_resend(a.record, card, self.keys.sealer)
            if recovery is not Recovery.NONE:  # an inquiry keeps no card data, even sealed
                journal_card = session.sealed_for_journal(card)
        self.store.open_request(a.record, pan_hash=pan_hash, card=journal_card, reversal=reversal, counters=a.counters,
                                advice=resend)

    def _a_send_request(self, a: A.SendRequest) -> None:
        session = self._session(a.record.txn_no)
        with session.card() as card:
            payload = _before_sending(lambda: self.bridge.request(a.record, card, session.pin_block, self.keys.mac))
        self._send(payload)

    def _a_record_outcome(self, a: A.RecordOutcome) -> None:
        advice = self._sealed_advice(a.record) if a.advice else None
        resent = self.core.settings.recovery(a.record.kind) is Recovery.ADVICE  # its ready-made repeat has its answer
        self.store.record_outcome(a.record, copies=a.copies, reversal_reason=a.reversal_reason, advice=advice,
                                  close_advice=resent)

    def _a_wipe_card(self, a: A.WipeCard) -> None:
        if self.session is not None and self.session.txn_no == a.txn_no:
            self.session.wipe()
            self.session = None
        if self._original_card is not None and self._original_card[0] == a.txn_no:
            self._original_card = None

    def _a_print(self, a: A.Print) -> Event:
        self._print(a.receipt)
        self.printed.append((a.job.record.txn_no, a.job.copy.value))
        return Printed(a.job.record.txn_no, a.job.copy)

    def _a_mark_printed(self, a: A.MarkPrinted) -> None:
        self.store.mark_printed(a.txn_no, a.copy, skipped=a.skipped)

    def _a_send_reversal(self, a: A.SendReversal) -> None:
        blob = self.store.reversal_message(a.reversal.txn_no)
        payload = _before_sending(
            lambda: self.bridge.stored_reversal(
                blob, a.reversal.txn_no, a.reversal.reason, a.repeat, self.keys.sealer, self.keys.mac
            )
        )
        self._send(payload)

    def _a_settle_sending(self, a: A.SettleSending) -> None:
        self.store.settle_sending(a.batch, a.sending)

    def _a_upload_progress(self, a: A.UploadProgress) -> None:
        self.store.upload_progress(a.batch, a.part, a.plan)

    def _a_reversal_sending(self, a: A.ReversalSending) -> None:
        self.store.reversal_sending(a.txn_no, a.reason)

    def _a_reversal_done(self, a: A.ReversalDone) -> None:
        self.store.reversal_done(a.txn_no, a.response_code, a.reason)

    def _a_send_advice(self, a: A.SendAdvice) -> None:
        blob = self.store.advice_message(a.advice.txn_no)
        payload = _before_sending(
            lambda: self.bridge.stored_advice(blob, a.advice.txn_no, a.repeat, self.keys.sealer, self.keys.mac)
        )
        self._send(payload)

    def _a_advice_sending(self, a: A.AdviceSending) -> None:
        self.store.advices_sending(a.txn_nos)  # a window's marks: one commit, before any of its frames

    def _a_advice_done(self, a: A.AdviceDone) -> None:
        self.store.advice_done(a.txn_no, a.response_code, accepted=a.accepted, rrn=a.rrn, auth_code=a.auth_code, settle_date=a.settle_date)

    def _a_advice_outcome(self, a: A.AdviceOutcome) -> None:
        self.store.advice_outcome(a.txn_no, a.state, a.response_code, rrn=a.rrn, auth_code=a.auth_code,
                                  settle_date=a.settle_date, copies=a.copies)

    def _a_check_storage(self, a: A.CheckStorage) -> Event:
        self.store.check()
        return StorageOk(self._recovered_state(self.core.keys, why="a storage fault"))

    def _a_save_counters(self, a: A.SaveCounters) -> None:
        self.store.save_counters(a.counters)

    def _a_send_network(self, a: A.SendNetwork) -> None:
        s = self.core.settings
        mac = self.keys.mac if self.keys else None
        payload = _before_sending(lambda: self.bridge.network(
            a.job, a.batch, s.terminal_id, s.merchant_id, self.clock(), mac, currency=s.currency,
            operator=self.core.operator_no))  # the signed-in cashier (field 63 of the 0800 and 0500)
        self._send(payload)

    def _a_count_batch(self, a: A.CountBatch) -> Event:
        totals = self.store.batch_totals(a.batch)
        try:
            return BatchCounted(totals, self.bridge.upload_plan(self.store.upload_entries(a.batch)))
        except ProtocolError as e:  # a profile without a batch upload: its settlement is refused when sent
            log.debug("no upload plan (%s)", e.code)
            return BatchCounted(totals)

    def _a_send_upload(self, a: A.SendUpload) -> None:
        """One 0320: the batch's transactions read again from the journal, their card numbers opened
        from the journal's sealed copies for the length of the encoding, then wiped."""
        job, s = a.job, self.core.settings

        def build() -> bytes:
            part = self.bridge.upload_part(self.store.upload_entries(job.batch), job)
            records = {e.txn_no: self.store.record(e.txn_no) for e in part if e.offline}
            cards: dict[int, ClearCard] = {}
            try:
                for entry in part:
                    blob = self.store.card_blob(entry.txn_no)
                    cards[entry.txn_no] = unpack_card(self.keys.sealer.open(blob, card_aad(entry.txn_no, "journal")))
                return self.bridge.upload(job, part, cards, records, s.terminal_id, s.merchant_id, self.keys.mac)
            finally:
                for card in cards.values():
                    card.wipe()

        self._send(_before_sending(build))

    def _a_upload_done(self, a: A.UploadDone) -> None:
        self.store.upload_done(a.batch)

    def _a_close_batch(self, a: A.CloseBatch) -> None:
        self.store.close_batch(a.settlement, a.counters)

    def _a_print_report(self, a: A.PrintReport) -> Event:
        self._print(a.receipt)
        self.printed.append((0, f"report {a.settlement.batch:06d}"))
        return ReportPrinted(a.settlement, reprint=a.reprint)

    def _a_mark_report_printed(self, a: A.MarkReportPrinted) -> None:
        self.store.mark_report_printed(a.batch)

    def _a_alert(self, a: A.Alert) -> None:
        self._alert(a.code, a.text)

    def _a_note(self, a: A.Note) -> None:
        self.notes.append((a.code, a.text))
        log.info("%s: %s", a.code, a.text)

    def _a_disconnect(self, a: A.Disconnect) -> None:
        self.devices.link.disconnect()

    def _print(self, receipt) -> None:
        """Print; the core learns a fault before the failure itself, and that a print worked after a fault."""
        printer = self.devices.printer
        try:
            printer.print_receipt(receipt)
        except PrinterError as e:
            self.pending.append(PrinterFault(e.code, e.text))  # before the ActionFailed ``_execute`` adds
            self._failed(printer, e, alert=False)  # the printer rests before the runner asks it again
            raise
        if self.core.printer_fault is not None:
            self._worked(printer)
            self.pending.append(PrinterReady())

    def _alert(self, code: str, text: str) -> None:
        self.alerts.append((code, text))
        log.warning("ALERT %s: %s", code, text)

    def _session(self, txn_no: int) -> CardSession:
        if self.session is None or self.session.txn_no != txn_no:
            from firmware.errors import CryptoError

            raise CryptoError("no card data is held for this sale", code="secret.wiped")
        return self.session

    def _sealed_advice(self, record) -> bytes:
        with self._session(record.txn_no).card() as card:
            return self.bridge.sealed_advice(record, card, self.keys.sealer)

    def _send(self, payload: bytes) -> None:
        link = self.devices.link
        if not link.connected:
            bound = (self.connect_timeout or link.options["connect_timeout"]) + HANGUP_BOUND
            try:
                with self.blocking(bound):  # the connect may hang up a half-made call on the way out
                    link.connect(self.connect_timeout)
            except LinkError as e:
                e.sent = False  # nothing left the terminal: the caller may go offline
                raise
        link.send(payload)


# Action type -> the runner method that carries it out (``_a_`` + the action's name).
CARRIERS: dict[type, Callable] = {
    cls: getattr(ActionsMixin, "_a_" + cls.name)
    for cls in vars(A).values()
    if isinstance(cls, type) and issubclass(cls, A.Action) and cls is not A.Action
}
