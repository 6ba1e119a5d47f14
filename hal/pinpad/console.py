"""A PIN pad on the developer's terminal (``console://``, ``console://?tty=/dev/pts/3``).

The terminal is put in cbreak mode (no echo, no line buffering; Ctrl-C still
interrupts) while the pad is open, and restored on close. Keys are read
without blocking; ``fileno()`` is the terminal, for the runner's ``select``.

Keyboard keys map to pad keys: digits as they are, Enter to ``#`` (ENTER),
Backspace/Delete to ``*`` (CLEAR), Escape to ``X`` (CANCEL), ``x``/``X`` to
CANCEL, ``f``/``F`` to FUNCTION, ``#`` and ``*`` as they are. Escape sequences
(arrow and function keys) are skipped whole, so an arrow key does not cancel.
Anything else is ignored.

A slow serial console or a busy Pi may split a key's sequence across two
reads (``ESC`` in one, ``[A`` in the next). As terminals do, a read's
trailing ``ESC`` or unfinished ``ESC [``/``ESC O`` sequence (at most
``SEQUENCE_MAX`` bytes) is held for the next read; when ``ESC_WAIT`` seconds
pass with nothing after it, a lone ``ESC`` is the Escape key (CANCEL) and an
unfinished sequence is dropped. Only those bytes wait: the digits before them
are handed out at once, and what is held is wiped once used.

The console pad is a development and demo tool: a PIN typed on a general
purpose keyboard is not protected the way a PCI PTS PIN pad protects it.
"""

from __future__ import annotations

import os
import select
import time
from typing import Any

from firmware.errors import PinPadError
from hal.pinpad import PinPad
from hal.url import Option

__all__ = ["ConsolePinPad", "ESC_WAIT", "SEQUENCE_MAX", "split_escape", "translate"]

STDIN_FD = 0

_KEYMAP: dict[int, str] = {ord(d): d for d in "0123456789"}
_KEYMAP.update({ord("#"): "#", ord("*"): "*", ord("\r"): "#", ord("\n"): "#", 0x7F: "*", 0x08: "*"})
_KEYMAP.update({ord("x"): "X", ord("X"): "X", ord("f"): "F", ord("F"): "F"})
_ESC = 0x1B
ESC_WAIT = 0.1  # seconds a held ESC waits for the rest of a key's sequence (vim's ttimeoutlen)
SEQUENCE_MAX = 16  # longest unfinished sequence held (ESC [ 1 5 ; 2 ~ is 7 bytes); longer is noise


def split_escape(data: bytes | bytearray) -> tuple[str, int]:
    """The pad keys in ``data``, and where a trailing escape sequence that may still be arriving starts.

    That sequence (a lone ``ESC``, or ``ESC [``/``ESC O`` without its final
    byte, at most ``SEQUENCE_MAX`` bytes) gives no keys yet; the second value is
    ``len(data)`` when there is none."""
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == _ESC:
            if i + 1 == n:
                return "".join(out), i
            if data[i + 1] in b"[O":
                # CSI / SS3 sequence: skip to its final byte (0x40-0x7E).
                j = i + 2
                while j < n and not 0x40 <= data[j] <= 0x7E:
                    j += 1
                if j == n and n - i <= SEQUENCE_MAX:
                    return "".join(out), i
                i = j + 1
                continue
            out.append("X")
        else:
            key = _KEYMAP.get(b)
            if key is not None:
                out.append(key)
        i += 1
    return "".join(out), n


def translate(data: bytes | bytearray) -> str:
    """Turn bytes from a terminal into pad key characters, nothing more to come (see the module docstring).

    A lone ``ESC`` at the end is the Escape key; an unfinished sequence is dropped."""
    keys, cut = split_escape(data)
    return keys + ("X" if cut == len(data) - 1 else "")


class ConsolePinPad(PinPad):
    """``console://`` PIN pad. Option ``tty``: terminal path (default: standard input)."""

    scheme = "console"
    OPTIONS = {"tty": Option(str, "", "terminal to read keys from; empty for standard input")}

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        self._fd: int | None = None
        self._owned = False
        self._saved: list[Any] | None = None
        self._held = bytearray()  # a trailing escape sequence, perhaps split across reads (module docstring)
        self._held_at = 0.0  # when its last byte was read

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

        self._drop_held()
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

    def next_deadline(self) -> float | None:
        """Also when a held ESC has waited ``ESC_WAIT``: the poll then reads it as Escape (CANCEL)."""
        ahead = super().next_deadline()
        if not self._held:
            return ahead
        held = self._held_at + ESC_WAIT
        return held if ahead is None else min(ahead, held)

    def _read_keys(self) -> str:
        fd = self._fd
        if fd is None:
            return ""
        chunks = bytearray(self._held)  # the held bytes go first: the rest of their sequence may follow
        came = False
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
                came = True
            if not came:
                if self._held and time.monotonic() >= self._held_at + ESC_WAIT:
                    self._drop_held()
                    return translate(chunks)  # nothing followed: a lone ESC is Escape
                return ""
            keys, cut = split_escape(chunks)
            self._drop_held()
            with memoryview(chunks) as view:
                self._held += view[cut:]  # no copy left behind unwiped
            self._held_at = time.monotonic()
            return keys
        finally:
            chunks[:] = bytes(len(chunks))

    def _drop_held(self) -> None:
        self._held[:] = bytes(len(self._held))
        self._held.clear()
