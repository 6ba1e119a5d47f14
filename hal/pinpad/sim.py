"""A simulated PIN pad: an instrument for tests and the demo.

Tests press keys (``press("1250#")``), read what the pad was asked for
(``prompts``), make it fail (``stop_answering()``) and check it is left
clean (``assert_idle()``). The keys go through the port's soft PIN entry, so
the PIN block a test gets back is the real one.

Type-ahead: pressed keys wait in the pad until polled, and the port hands
them out one ENTER/CANCEL/FUNCTION at a time, so keys typed before a PIN
prompt are read by it when the runner begins the prompt before its next poll.
When something else polls in between (the terminal waits for a swipe after
the amount), ``press("1234#", hold_for_pin=True)`` keeps those keys in the pad
until a PIN prompt is open. Keys are delivered in the order pressed: keys
pressed after held ones wait behind them.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from firmware.errors import PinPadError, ScenarioError
from hal.pinpad import Key, PinEntryRequest, PinPad

__all__ = ["SimPinPad"]

_VALID = "".join(k.value for k in Key)


class SimPinPad(PinPad):
    """``sim://`` PIN pad."""

    scheme = "sim"

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        self._queue: deque[tuple[bytearray, bool]] = deque()
        self._answering = True
        self.prompts: list[PinEntryRequest] = []

    # -- hooks --------------------------------------------------------------
    def _read_keys(self) -> str:
        if not self._answering:
            return ""
        out = bytearray()
        while self._queue:
            keys, held = self._queue[0]
            if held and not self.in_pin_entry:
                break
            self._queue.popleft()
            out += keys
            keys[:] = bytes(len(keys))
        try:
            return out.decode("ascii")
        finally:
            out[:] = bytes(len(out))

    def _prompt(self, request: PinEntryRequest) -> None:
        if not self._answering:
            raise PinPadError("PIN pad is not responding", code="pinpad.not_responding")
        self.prompts.append(request)

    def _do_close(self) -> None:
        for keys, _ in self._queue:
            keys[:] = bytes(len(keys))
        self._queue.clear()

    def next_deadline(self) -> float | None:
        if self._answering and self._queue and (self.in_pin_entry or not self._queue[0][1]):
            return time.monotonic()
        return super().next_deadline()

    # -- the instrument -----------------------------------------------------
    def press(self, keys: str, *, hold_for_pin: bool = False) -> None:
        """Press ``keys`` (characters of ``Key``: digits, ``#`` ENTER, ``*`` CLEAR, ``X`` CANCEL, ``F``)."""
        bad = sorted({c for c in keys if c not in _VALID})
        if bad:
            raise ScenarioError(
                f"PIN pad has no key {bad[0]!r}; keys are 0-9, # (enter), * (clear), X (cancel), F (function)",
                code="scenario.bad_key",
            )
        if keys:
            self._queue.append((bytearray(keys.encode("ascii")), hold_for_pin))

    def stop_answering(self) -> None:
        """The pad goes silent: ``begin_pin_entry`` raises ``pinpad.not_responding``; keys wait."""
        self._answering = False

    def resume(self) -> None:
        self._answering = True

    @property
    def keys_pending(self) -> int:
        """Keys pressed and not yet turned into events (in the pad or read ahead by the port)."""
        return sum(len(k) for k, _ in self._queue) + self.keys_ahead

    def assert_idle(self) -> None:
        """Assert no PIN prompt is open and no pressed key is left unread."""
        problems = []
        if self.in_pin_entry:
            problems.append("a PIN prompt is still open")
        if self.keys_pending:
            problems.append(f"{self.keys_pending} pressed key(s) were never read")
        if problems:
            raise AssertionError(f"{self!r} is not idle: " + "; ".join(problems))
