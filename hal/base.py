"""The device base class every port derives from.

A port (``MagstripeReader``, ``PinPad``, ``ReceiptPrinter``, ``Display``,
``Link``) is an abstract subclass of ``Device`` that writes the logic all its
drivers share. A driver overrides only a few ``_hooks``. The runner never
blocks inside a device: input devices offer ``poll()`` (non-blocking) plus
``fileno()`` for ``select`` where a real file descriptor exists, and
``next_deadline()`` where a simulator will have something ready at a known
monotonic time.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from hal.url import DeviceUrl, Option, bind_options

__all__ = ["Device", "DeviceContext", "InProcessHost", "HostAnswerLike"]


class HostAnswerLike(Protocol):
    """What an in-process host returns for one request (see ``firmware.hostsim``)."""

    payload: bytes | None  # None: the host stays silent
    delay: float  # seconds before the answer (or the close) happens
    close: bool  # the host closes the connection instead of (or after) answering


class InProcessHost(Protocol):
    def respond(self, payload: bytes) -> HostAnswerLike: ...


@dataclass
class DeviceContext:
    """What the runner hands to drivers besides their URL. Nothing here is global."""

    data_dir: Path | None = None
    # The PIN key for soft PIN pads (simulator, console). Called at each PIN entry,
    # so a key changed by sign-on is picked up. A hardware PIN pad holds its own keys.
    pin_key: Callable[[], Any] | None = None
    # The in-process host behind a sim:// link.
    host: InProcessHost | None = None
    # For PIN pads that hold the terminal master key (``serial://``, Z protocol): the
    # working PIN key encrypted under the TMK (bytes), or None when none is loaded.
    # Called at each PIN entry. It is a cryptogram, never a clear key; still not logged.
    pin_key_for_pad: Callable[[], bytes | None] | None = None


class Device(abc.ABC):
    kind: ClassVar[str] = "device"
    scheme: ClassVar[str] = ""
    OPTIONS: ClassVar[Mapping[str, Option]] = {}

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        self.url = url if isinstance(url, DeviceUrl) else DeviceUrl.parse(url, what=self.kind)
        self.context = context or DeviceContext()
        self.options: dict[str, Any] = bind_options(self.url, self.OPTIONS)
        self._open = False

    # -- lifecycle ---------------------------------------------------------
    def open(self) -> None:
        if not self._open:
            self._do_open()
            self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            self._do_close()

    @property
    def is_open(self) -> bool:
        return self._open

    def _do_open(self) -> None:  # hook
        pass

    def _do_close(self) -> None:  # hook
        pass

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- waiting -----------------------------------------------------------
    def fileno(self) -> int | None:
        """A file descriptor that becomes readable when ``poll()`` has something, if there is one."""
        return None

    def next_deadline(self) -> float | None:
        """The ``time.monotonic()`` at which ``poll()`` will next have something, if known."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url.shown}>"
