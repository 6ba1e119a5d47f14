"""The runner's carriers for the keys and the clock: working keys installed from a sign-on's answer and
removed at sign-off, zeroizing on tamper, and the host's time at sign-on.

Kept apart from ``runner_actions.py`` (whose ``ActionsMixin`` takes these carriers from ``KeysMixin`` like
its own: ``CARRIERS`` finds every ``_a_*`` method on it) because they touch the key ring, the DUKPT state
and the system clock, not a transaction's records.
"""

from __future__ import annotations

from crypto.keys import KeyUsage
from crypto.signon import install_working_keys, remove_working_keys
from crypto.tamper import tamper_status, zeroize
from firmware.core import actions as A
from firmware.errors import CryptoError, TerminalError

__all__ = ["KeysMixin"]


class KeysMixin:
    """Key and clock carriers of ``Runner`` (``runner.py``); state lives on the runner."""

    def _a_install_working_keys(self, a: A.InstallWorkingKeys) -> None:
        self._install_working_keys(a.counters)

    def _a_remove_working_keys(self, a: A.RemoveWorkingKeys) -> None:
        self._remove_working_keys()

    def _a_zeroize(self, a: A.Zeroize) -> None:
        self._zeroize(a.source, a.reason)

    # -- keys ------------------------------------------------------------------------
    def _install_working_keys(self, counters) -> None:
        keys, self._signon_keys = self._signon_keys, None
        if keys is None:
            raise CryptoError("the sign-on answer carried no usable working keys", code="signon.no_keys")
        encrypted, checks = keys
        # the counters first (a batch number used again is archived with them, storage.archive): saved and the
        # keys then refused, the core keeps its batch and storage's archive is harmless; the keys saved and the
        # counters then refused would leave the ring's keys newer than the core knows (AU10)
        self.store.save_counters(counters)
        install_working_keys(self.ring, None, encrypted, checks)  # all checked before any is installed
        old_pin = self.keys.pin_key
        mac_key = self.ring.get(KeyUsage.MAC)
        try:
            self.keys.pin_key = self.ring.get(KeyUsage.PIN)
            self.keys.mac = self.bridge.mac_context(mac_key)
        finally:
            mac_key.wipe()  # the context holds what it needs
        # The replaced session keys die once the new ones are in: the old PIN key wiped and its TDES context
        # dropped (pin_cipher makes the new one), the old MAC context dropped with the assignment above.
        self._pin_context = None
        if old_pin is not None and old_pin is not self.keys.pin_key:
            old_pin.wipe()

    def _remove_working_keys(self) -> None:
        if self.keys is not None:
            if self.keys.pin_key is not None:
                self.keys.pin_key.wipe()
            self.keys.pin_key = self.keys.mac = None
        self._pin_context = None
        if self.ring is not None:
            remove_working_keys(self.ring)

    def _zeroize(self, source: str, reason: str) -> None:
        if self.session is not None:
            self.session.wipe()
            self.session = None
        keys, self.keys = self.keys, None  # nothing in memory survives either
        dukpt, self.dukpt = self.dukpt, None
        if dukpt is not None:
            dukpt.wipe()
        if keys is not None and keys.pin_key is not None:
            keys.pin_key.wipe()
        self._pin_context = None
        self.ring = None
        self.lock_reason = f"tamper ({source}): {reason}"
        if self.data_dir is not None and tamper_status(self.data_dir) is None:
            zeroize(self.data_dir, reason=reason, source=source)

    def _a_set_clock(self, a: A.SetClock) -> None:
        """The host's time at sign-on, more than a minute from ours (``firmware.core.clock``)."""
        off = a.offset.total_seconds()
        if self.set_clock is None:
            self._alert("clock.differs", f"the host's time is {off:+.0f} s from the terminal's; the clock is left as "
                        "it is (terminal.clock_from_host is off)")
            return
        try:
            self.set_clock(a.offset)  # moved by the difference, read and set at once where the clock is
        except TerminalError as e:
            self._alert(e.code, f"{e.text}; the host's time is {off:+.0f} s from the terminal's")
            return
        self._alert("clock.set", f"clock set to the host's time ({off:+.0f} s)")
