"""``hid:///dev/input/by-id/usb-...-event-kbd``: a USB keyboard-wedge reader, read as Linux input events.

A keyboard-wedge reader presents itself as a USB keyboard and types each
swipe, then Enter. Left to the system, those keystrokes would reach whatever
has the keyboard focus: a login prompt, a shell. So the driver opens the
reader's evdev node and *grabs* it (``EVIOCGRAB``): from then on its events
reach this process only. A grab that fails is an error (``reader.grab_failed``),
never a fallback to reading the device shared. ``grab=false`` exists only for
tests on stand-ins that are not input devices (a FIFO); never set it on a
terminal.

The driver speaks the kernel's evdev interface directly: it reads
``struct input_event`` records (``linux/input.h``: a ``struct timeval``,
then type, code and value; 24 bytes on 64-bit systems, 16 on 32-bit ones)
and issues the grab ioctl. That needs no third-party package, so nothing
heavy is imported, and the driver works the same on a Pi Zero.

Options: ``layout`` (``us``, ``uk``, ``de``, ``fr``: the layout the reader is
set to type for, see ``hal.magstripe.keymaps``), the text-reader options
(sentinels, ``timeout`` for a swipe that stops without Enter, ``format``
``ascii`` or ``magtek``) and ``grab``.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from collections.abc import Mapping
from typing import ClassVar

from firmware.errors import ReaderError
from hal.base import DeviceContext
from hal.magstripe.assembler import SwipeAssembler
from hal.magstripe.keymaps import LAYOUTS, KeyDecoder
from hal.magstripe.serial import TextReader, text_reader_options
from hal.url import DeviceUrl, Option

__all__ = ["HidReader", "INPUT_EVENT", "EV_KEY", "EV_SYN", "EVIOCGRAB"]

INPUT_EVENT = struct.Struct("@llHHi")  # struct input_event with the platform's native long
EV_SYN, EV_KEY = 0, 1
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)


class HidReader(TextReader):
    scheme: ClassVar[str] = "hid"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "layout": Option(str, "us", "keyboard layout the reader types for", choices=tuple(LAYOUTS)),
        "grab": Option(bool, True, "take the device exclusively so no keystroke reaches a console"),
        **text_reader_options(),
    }

    URL_EXAMPLE = "hid:///dev/input/event3"

    def __init__(self, url: DeviceUrl | str, context: DeviceContext | None = None) -> None:
        super().__init__(url, context)
        self._assembler = SwipeAssembler(terminator=b"\r", gap=self.gap)
        self._keys = KeyDecoder(LAYOUTS[self.options["layout"]])
        self._fd: int | None = None
        self._partial = bytearray()  # the start of an event record cut by a short read

    def _do_open(self) -> None:
        import fcntl

        try:
            fd = os.open(self.device_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            raise ReaderError(f"could not open the card reader {self.device_path}", code="reader.open_failed") from None
        if self.options["grab"]:
            try:
                fcntl.ioctl(fd, EVIOCGRAB, 1)
            except OSError:
                os.close(fd)
                raise ReaderError(
                    f"could not take the card reader {self.device_path} for this terminal alone; "
                    "its keystrokes could reach a console",
                    code="reader.grab_failed",
                ) from None
        self._fd = fd
        self._keys.reset()

    def _do_close(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        self._assembler.clear()
        self._partial[:] = bytes(len(self._partial))
        self._partial = bytearray()
        if fd is None:
            return
        if self.options["grab"]:
            try:
                fcntl.ioctl(fd, EVIOCGRAB, 0)
            except OSError:
                pass  # the device is gone; closing releases the grab anyway
        os.close(fd)

    def fileno(self) -> int | None:
        return self._fd

    def next_deadline(self) -> float | None:
        return self._assembler.deadline()

    def _read_raw(self) -> list[bytearray]:
        typed = bytearray()
        try:
            while True:
                try:
                    chunk = os.read(self._fd, INPUT_EVENT.size * 64)  # type: ignore[arg-type]
                except BlockingIOError:
                    break
                if not chunk:
                    break  # a stand-in with no writer; a real input device never ends
                self._partial += chunk
                whole = len(self._partial) - len(self._partial) % INPUT_EVENT.size
                for _sec, _usec, type_, code, value in INPUT_EVENT.iter_unpack(bytes(self._partial[:whole])):
                    if type_ == EV_KEY:
                        chars = self._keys.feed(code, value)
                        # A character no track holds (an accented letter) becomes DEL, which no track accepts.
                        typed += chars.encode("ascii") if chars.isascii() else b"\x7f"
                self._partial[:whole] = bytes(whole)
                del self._partial[:whole]
            return self._assembler.feed(typed, time.monotonic())
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                raise ReaderError(f"the card reader {self.device_path} was unplugged", code="reader.disconnected") from None
            raise ReaderError(f"the card reader {self.device_path} stopped working", code="reader.io_failed") from None
        finally:
            typed[:] = bytes(len(typed))
