"""A PIN pad on the developer's terminal (``console://``, ``console://?tty=/dev/pts/3``).

The terminal is put in cbreak mode (no echo, no line buffering; Ctrl-C still
interrupts) while the pad is open, and restored on close. Keys are read
without blocking; ``fileno()`` is the terminal, for the runner's ``select``.

Keyboard keys map to pad keys: digits as they are, Enter to ``#`` (ENTER),
Backspace/Delete to ``*`` (CLEAR), Escape to ``X`` (CANCEL), ``x``/``X`` to
CANCEL, ``f``/``F`` to FUNCTION, ``#`` and ``*`` as they are. Escape sequences
(arrow and function keys) are skipped whole, so an arrow key does not cancel.
Anything else is ignored.

The console pad is a development and demo tool: a PIN typed on a general
purpose keyboard is not protected the way a PCI PTS PIN pad protects it.
"""

from __future__ import annotations

import os
import select
from typing import Any

from firmware.errors import PinPadError
from hal.pinpad import PinPad
from hal.url import Option

__all__ = ["ConsolePinPad", "translate"]

STDIN_FD = 0

_KEYMAP: dict[int, str] = {ord(d): d for d in "0123456789"}
_KEYMAP.update({ord("#"): "#", ord("*"): "*", ord("\r"): "#", ord("\n"): "#", 0x7F: "*", 0x08: "*"})
_KEYMAP.update({ord("x"): "X", ord("X"): "X", ord("f"): "F", ord("F"): "F"})
_ESC = 0x1B


def translate(data: bytes) -> str:
    """Turn bytes from a terminal into pad key characters (see the module docstring)."""
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == _ESC:
            if i + 1 < n and data[i + 1] in b"[O":
                # CSI / SS3 sequence: skip to its final byte (0x40-0x7E).
                j = i + 2
                while j < n and not 0x40 <= data[j] <= 0x7E:
                    j += 1
                i = j + 1
                continue
            out.append("X")
        else:
            key = _KEYMAP.get(b)
            if key is not None:
                out.append(key)
        i += 1
    return "".join(out)


class ConsolePinPad(PinPad):
    """``console://`` PIN pad. Option ``tty``: terminal path (default: standard input)."""

    scheme = "console"
    OPTIONS = {"tty": Option(str, "", "terminal to read keys from; empty for standard input")}

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        self._fd: int | None = None
        self._owned = False
        self._saved: list[Any] | None = None

    def _do_open(self) -> None:
        import termios  # stdlib, POSIX only: imported where it is needed

        path = self.options["tty"]
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY) if path else STDIN_FD
        except OSError as exc:
            raise PinPadError(
                f"cannot open terminal {path!r} for the PIN pad ({exc.strerror})", code="pinpad.open_failed"
            ) from None
        owned = bool(path)
        try:
            saved = termios.tcgetattr(fd)
        except termios.error:
            if owned:
                os.close(fd)
            where = repr(path) if path else "standard input"
            raise PinPadError(f"console PIN pad needs a terminal, and {where} is not one", code="pinpad.not_a_tty") from None
        mode = termios.tcgetattr(fd)
        mode[3] &= ~(termios.ECHO | termios.ICANON)  # cbreak: ISIG stays, so Ctrl-C works
        mode[6][termios.VMIN] = 1
        mode[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, mode)
        self._fd, self._owned, self._saved = fd, owned, saved

    def _do_close(self) -> None:
        import termios

        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._saved is not None:
                # TCSAFLUSH: unread keys (perhaps PIN digits) are discarded, not left for the shell.
                termios.tcsetattr(fd, termios.TCSAFLUSH, self._saved)
        except (termios.error, OSError):
            pass  # the terminal is already gone; nothing left to restore
        finally:
            self._saved = None
            if self._owned:
                os.close(fd)

    def fileno(self) -> int | None:
        return self._fd

    def _read_keys(self) -> str:
        fd = self._fd
        if fd is None:
            return ""
        chunks = bytearray()
        try:
            while True:
                try:
                    if not select.select([fd], [], [], 0)[0]:
                        break
                    data = os.read(fd, 256)
                except OSError:  # EIO: the terminal hung up
                    data = b""
                if not data:
                    raise PinPadError("the PIN pad terminal was closed", code="pinpad.disconnected")
                chunks += data
            return translate(bytes(chunks))
        finally:
            chunks[:] = bytes(len(chunks))
