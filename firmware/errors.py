"""One root for every error posterm raises on purpose.

Each subsystem has its own subclass, which also inherits the stdlib type a
caller would naturally catch (``ConfigError`` is a ``ValueError``, ``LinkError``
is a ``ConnectionError`` ...), in the manner of gpiozero's ``PinError``.

An error carries two things:

``code``
    a stable dotted identifier (``"config.unknown_key"``, ``"card.parity"``)
    that tests, scenario results and the operator log refer to;
``text``
    one short sentence an operator can read on a 2-line display or a log.

Neither ever contains a PAN, track data, PIN, PIN block or key. Code that
wraps a third-party exception raises ``from None`` so that the original (which
may quote raw message bytes) is not chained onto ours.

This module imports nothing from posterm so that every package may use it.
"""

from __future__ import annotations


class TerminalError(Exception):
    """Root of all posterm errors."""

    code: str = "terminal.error"

    def __init__(self, text: str, *, code: str | None = None) -> None:
        self.text = text
        if code is not None:
            self.code = code
        super().__init__(text)

    def __str__(self) -> str:
        return f"[{self.code}] {self.text}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, text={self.text!r})"

    def __reduce__(self):  # keep code when crossing process boundaries
        return (_rebuild, (type(self), self.text, self.code))


def _rebuild(cls: type[TerminalError], text: str, code: str) -> TerminalError:
    return cls(text, code=code)


class ConfigError(TerminalError, ValueError):
    """A configuration file, key, value or device URL is wrong."""

    code = "config.invalid"


class DeviceError(TerminalError, OSError):
    """A device failed, is missing or stopped answering."""

    code = "device.failed"


class ReaderError(DeviceError):
    code = "reader.failed"


class PinPadError(DeviceError):
    code = "pinpad.failed"


class PrinterError(DeviceError):
    code = "printer.failed"


class DisplayError(DeviceError):
    code = "display.failed"


class LinkError(DeviceError, ConnectionError):
    """The host link could not connect, dropped, or timed out."""

    code = "link.failed"


class CardError(TerminalError, ValueError):
    """A swipe or the card it read is unusable (bad parity, expired, ...)."""

    code = "card.invalid"


class ProtocolError(TerminalError, ValueError):
    """A host frame could not be decoded, or does not belong to our request."""

    code = "host.malformed"


class MacError(ProtocolError):
    code = "host.mac"


class StorageError(TerminalError, OSError):
    """The database could not be opened, checked or written."""

    code = "storage.failed"


class CryptoError(TerminalError, ValueError):
    """A key is missing or wrong, or a ciphertext failed to authenticate."""

    code = "crypto.failed"


class StateError(TerminalError, RuntimeError):
    """An event arrived that the transaction state machine does not accept."""

    code = "state.illegal_event"


class ScenarioError(ConfigError):
    code = "scenario.invalid"
