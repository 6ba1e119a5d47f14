"""A customer display on a pseudo-terminal, for testing ``SerialDisplay`` over a real wire.

``PtyDisplaySim`` sits on the master side of ``os.openpty()``; the real
driver (real pyserial) opens ``sim.port``, the slave. A thread reads what the
driver sends and interprets it as an Epson DM-D display would
(``hal.display.dmd``) into a ``rows`` x ``cols`` character grid, so a test
reads exactly what a customer would see. ``CustomerDisplay`` is that display
without the wire.

Records: ``screen`` (the grid, a tuple of strings), ``commands`` (every
command, in order, with its stream offset), ``count(op)``, ``received`` (all
bytes), ``state`` (``DisplayState``: mode, character table, brightness,
cursor shown, blink), ``brightness``, ``cursor`` (row, column, from 0), and
``errors``: every unknown command, parameter out of range, position off the
grid or text in a mode this simulator does not model, which a real display
would ignore or garble. Helpers: ``wait_until``, ``wait_for_screen``,
``shows``.

Faults: ``stall()`` stops reading and suspends the tty's output, as a display
holding its busy line does, so the driver's write times out; ``unstall()``.
``unplug()`` closes the master: the driver's next write fails (EIO).

What the simulator assumes where DM-D manuals leave room: after ``ESC @`` the
cursor is shown, brightness is 4, the table is PC437 and the mode is
overwrite; in overwrite mode the cursor wraps from the end of a row to the
start of the next, and from the bottom right to home; ``LF`` at the bottom
row and ``US LF`` at the top wrap to the other end; ``BS`` at home goes to
the bottom right.
"""

from __future__ import annotations

import contextlib
import dataclasses
import termios
from dataclasses import dataclass

from hal.display.dmd import TABLE_CODECS, Command, Decoder, Op, Rejected, Text
from hal.ptysim import Instrument, PtySim, record

__all__ = ["CustomerDisplay", "DisplayState", "PtyDisplaySim"]

_MOVES = {Op.HOME, Op.LEFT, Op.RIGHT, Op.DOWN, Op.UP, Op.LINE_START, Op.LINE_END, Op.BOTTOM}
_MODES = {Op.OVERWRITE, Op.VERTICAL_SCROLL, Op.HORIZONTAL_SCROLL}


@dataclass(frozen=True)
class DisplayState:
    """The display's settings besides the grid and the cursor; the defaults are what ``ESC @`` restores."""

    mode: Op = Op.OVERWRITE
    table: int = 0  # ``ESC t`` number: PC437
    brightness: int = 4  # 100 %
    cursor_visible: bool = True
    blink: int = 0  # x 50 ms; 0: steady


class CustomerDisplay(Instrument):
    """The display's side of the wire, without the wire: the grid, its state, and the records."""

    what = "display simulator"

    def __init__(self, rows: int = 2, cols: int = 20) -> None:
        super().__init__()
        self.rows, self.cols = rows, cols
        self._decoder = Decoder()
        self._commands: list[Command] = []
        self._errors: list[Rejected] = []
        self._reset()

    def _reset(self) -> None:
        """The power-on state, which ``ESC @`` restores."""
        self._grid = [[" "] * self.cols for _ in range(self.rows)]
        self._row = self._col = 0
        self._state = DisplayState()

    def handle(self, data: bytes) -> None:
        """Take bytes from the wire (a display answers nothing)."""
        with self._cond:
            self._received += data
            for event in self._decoder.feed(data):
                if isinstance(event, Text):
                    self._text(event)
                elif isinstance(event, Command):
                    self._commands.append(event)
                    self._command(event)
                else:
                    self._errors.append(event)
            self._cond.notify_all()

    # -- the display ---------------------------------------------------------------------
    def _text(self, event: Text) -> None:
        if self._state.mode is not Op.OVERWRITE:
            self._errors.append(Rejected(event.data, event.at, f"text in {self._state.mode.value} mode (not modelled)"))
            return
        codec = TABLE_CODECS[self._state.table]
        for byte in event.data:
            self._grid[self._row][self._col] = chr(byte) if byte < 0x80 else bytes([byte]).decode(codec, "replace")
            self._step(1)

    def _step(self, by: int) -> None:
        """Move the cursor ``by`` cells in reading order, wrapping around the whole screen."""
        cell = (self._row * self.cols + self._col + by) % (self.rows * self.cols)
        self._row, self._col = divmod(cell, self.cols)

    def _command(self, cmd: Command) -> None:
        op = cmd.op
        if op is Op.INITIALISE:
            self._reset()
        elif op is Op.CLEAR:
            self._grid = [[" "] * self.cols for _ in range(self.rows)]
            self._row = self._col = 0
        elif op is Op.CLEAR_LINE:
            self._grid[self._row] = [" "] * self.cols
            self._col = 0
        elif op is Op.MOVE:
            col, row = cmd.params
            if col > self.cols or row > self.rows:
                self._errors.append(Rejected(b"", cmd.at, f"US $ {col} {row} is off a {self.rows} x {self.cols} grid"))
            else:
                self._row, self._col = row - 1, col - 1
        elif op in _MOVES:
            self._move(op)
        elif op in _MODES:
            self._set(mode=op)
        elif op is Op.SELECT_TABLE:
            self._set(table=cmd.params[0])
        elif op is Op.CURSOR:
            self._set(cursor_visible=bool(cmd.params[0] & 1))  # 1 or "1"
        elif op is Op.BRIGHTNESS:
            self._set(brightness=cmd.params[0])
        elif op is Op.BLINK:
            self._set(blink=cmd.params[0])
        else:  # pragma: no cover - every Op is handled above
            raise AssertionError(op)

    def _set(self, **changes: object) -> None:
        self._state = dataclasses.replace(self._state, **changes)

    def _move(self, op: Op) -> None:
        if op is Op.HOME:
            self._row = self._col = 0
        elif op is Op.LEFT:
            self._step(-1)
        elif op is Op.RIGHT:
            self._step(1)
        elif op is Op.DOWN:
            self._row = (self._row + 1) % self.rows
        elif op is Op.UP:
            self._row = (self._row - 1) % self.rows
        elif op is Op.LINE_START:
            self._col = 0
        elif op is Op.LINE_END:
            self._col = self.cols - 1
        else:  # BOTTOM
            self._row, self._col = self.rows - 1, 0

    # -- records ---------------------------------------------------------------------------
    @property
    def screen(self) -> tuple[str, ...]:
        """What a customer sees now, one string a row."""
        with self._cond:
            return tuple("".join(row) for row in self._grid)

    commands = record(list, "Every command received, in order.")

    def count(self, op: Op) -> int:
        """How many ``op`` commands were received so far."""
        with self._cond:
            return sum(c.op is op for c in self._commands)

    errors = record(list, "What a real display would not take: unknown, out of range, off the grid, not modelled.")
    state = record(doc="The settings (``DisplayState``) now.")

    @property
    def brightness(self) -> int:
        """1-4 (20, 40, 60, 100 %)."""
        return self.state.brightness

    @property
    def cursor(self) -> tuple[int, int]:
        """Row and column of the cursor, from 0."""
        with self._cond:
            return self._row, self._col

    def shows(self, text: str) -> bool:
        """Whether ``text`` is on the screen (rows with trailing spaces removed, joined by newlines)."""
        return text in "\n".join(row.rstrip() for row in self.screen)

    def wait_for_screen(self, screen: tuple[str, ...], timeout: float = 5.0) -> None:
        """Wait until the grid is ``screen``; the failure draws both."""
        try:
            self.wait_until(lambda s: s.screen == screen, timeout)
        except AssertionError:
            raise AssertionError(f"display simulator shows {self.screen!r}, not {screen!r}; errors {self.errors}") from None

    def _progress(self) -> str:
        return f"received {len(self._received)} bytes; it shows {self.screen!r}"


class PtyDisplaySim(CustomerDisplay, PtySim):
    """A customer display on the master side of ``os.openpty()``; ``port`` is the slave path."""

    def __init__(self, rows: int = 2, cols: int = 20) -> None:
        super().__init__(rows, cols)
        self._start("pty-display-sim")

    @property
    def url(self) -> str:
        """A ``serial://`` URL for this display, its size included."""
        return f"serial://{self.port}?rows={self.rows}&cols={self.cols}"

    def stall(self) -> None:
        """Stop taking bytes (busy line held): the driver's writes block; returns once reading has stopped."""
        termios.tcflow(self._slave, termios.TCOOFF)
        with self._cond:
            self._stalled = True
        self._order(b"s", "stop reading")

    def unstall(self) -> None:
        with self._cond:
            self._stalled = False
        with contextlib.suppress(termios.error):  # an unplugged pty has no flow to restart
            termios.tcflow(self._slave, termios.TCOON)
        self._wake(b"r")

    def unplug(self) -> None:
        """The cable is pulled: the master closes, so the driver's side of the pty is hung up."""
        self._order(b"u", "unplug")

    def _obey(self, order: bytes) -> None:
        if order == b"u":
            self._unplug()
