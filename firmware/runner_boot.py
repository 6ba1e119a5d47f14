"""What the runner reads at boot: what survived the last power-off, made ready for the core.

``Runner.boot`` (``runner.py``) first clears what can never go on (queued
messages sealed under a data key a tamper destroyed, inquiries a power cut
left open), then hands the core a ``BootState``: the queues and counters
storage holds, the cashier still signed in, the lock-outs that were running
(each starts again in full) and the plan of a batch upload still owed. The
same step (``_recovered_state``: close the inquiries left open, then read that
``BootState``) answers ``CheckStorage`` once storage is back. Kept apart
from ``runner.py`` so the loop reads on one page.
"""

from __future__ import annotations

from dataclasses import replace

from firmware.bridge import advice_aad, reversal_aad
from firmware.core.batch import OwedUpload
from firmware.core.flows import FLOWS, Recovery
from firmware.core.model import BootState, KeyState
from firmware.errors import CryptoError

__all__ = ["BootMixin"]


class BootMixin:
    """Boot-time recovery of ``Runner`` (``runner.py``); state lives on the runner."""

    def _recovered_state(self, keys: KeyState, why: str = "a power cut") -> BootState:
        """What the core resumes from, at boot and once storage works again (``CheckStorage``): the inquiries
        left open closed first, so a full disk's (its answer never committed) does not wait for a restart."""
        self._close_interrupted_inquiries(why)
        return self._boot_state(keys)

    def _boot_state(self, keys: KeyState) -> BootState:
        """What storage says survived, with the plan of an owed batch upload (the profile decides how it travels)."""
        boot = replace(self.store.boot_state(), keys=keys, lock_reason=self.lock_reason,
                       operator=self._operators_at_boot())
        owed = self.store.upload_owed()
        if owed is None:
            return boot
        plan = self.bridge.upload_plan(self.store.upload_entries(owed.batch))
        return replace(boot, upload=OwedUpload(owed, plan, next_part=self.store.upload_resume(owed.batch, plan)))

    def _operators_at_boot(self) -> str | None:
        """Lock-outs storage holds were running when the power went: each starts again, in full
        (``firmware.operators``). Returns the cashier still signed in, if any."""
        from storage.operators import OperatorBook

        book = OperatorBook(self.store.conn)
        for operator in book.locked():
            self.lockouts.begin(operator.number)
            self.notes.append(("operator.locked_out", f"operator {operator.number} was locked out when the power "
                               f"went: locked out again for {self.lockouts.seconds:g} s"))
        signed_in = book.signed_in()
        return signed_in.number if signed_in is not None else None

    def _abandon_unopenable(self) -> None:
        """Queued messages sealed under a data key that no longer exists (destroyed by a
        tamper, then re-keyed) can never be sent: mark them lost, loudly, so they do not
        block every sale behind them."""
        boot = self.store.boot_state()
        for what, items, blob, aad in (
            ("reversal", boot.reversals, self.store.reversal_message, reversal_aad),
            ("advice", boot.advices, self.store.advice_message, advice_aad),
        ):
            for item in items:
                if self._opens(blob(item.txn_no), aad(item.txn_no)):
                    continue
                self.store.mark_lost(item.txn_no, what)
                self._alert(
                    f"{what}.lost",
                    f"{what} of trace {item.stan:06d} ({item.amount}) can no longer be sent: reconcile it by hand",
                )

    def _close_interrupted_inquiries(self, why: str) -> None:
        """Inquiries a power cut (or a storage fault) left open have nothing to recover (no money moved):
        close them as unanswered, so that only what really needs a reversal or a repeat counts as interrupted."""
        kinds = [k.value for k in FLOWS if self.core.settings.recovery(k) is Recovery.NONE]
        closed = self.store.end_unanswered(kinds, reason="interrupted")
        if closed:
            self.notes.append(("recovery.inquiries", f"{len(closed)} inquiry(ies) interrupted by {why} closed"))

    def _opens(self, blob: bytes, aad: bytes) -> bool:
        # A key version number alone cannot tell: a re-keyed terminal starts at version 1 again.
        try:
            opened = self.keys.sealer.open(blob, aad)
        except CryptoError:
            return False
        opened[:] = bytes(len(opened))
        return True
