"""``hal.serialport.SerialLine``: a serial port that closes itself when its device goes away and opens the
same path again when it is back, on real pseudo-terminals and the real pyserial (no mock).

The path is a symlink, as udev gives ``/dev/ttyUSB0``: unplugging closes the pty's master side (the driver's
side then reads EIO), plugging back makes a new pty and points the link at it.
"""

from __future__ import annotations

import os
import time

import pytest

from firmware.errors import ReaderError
from hal.serialport import PortGone, SerialLine, open_serial

REOPEN = 0.2


class Cable:
    """A pty behind a stable path: ``unplug()`` hangs it up, ``plug()`` puts a new one at the same path."""

    def __init__(self, tmp_path) -> None:
        self.link = tmp_path / "ttyUSB0"
        self.master = -1
        self.plug()

    def plug(self) -> None:
        self.master, slave = os.openpty()
        tmp = self.link.with_suffix(".new")
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)
        os.close(slave)

    def unplug(self) -> None:
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()


@pytest.fixture
def cable(tmp_path):
    c = Cable(tmp_path)
    yield c
    c.close()


def _open(cable, **kw) -> SerialLine:
    return open_serial(str(cable.link), 9600, error=ReaderError, what="card reader", code="reader.open_failed",
                       reopen=REOPEN, **kw)


def _wait_until_due() -> None:
    time.sleep(REOPEN + 0.05)


def test_a_port_whose_device_went_away_is_gone_and_fails_at_once_until_its_next_attempt(cable):
    line = _open(cable)
    try:
        cable.unplug()
        with pytest.raises(OSError):
            line.read(line.in_waiting or 1)
        assert line.gone and line.fileno() is None
        with pytest.raises(PortGone):  # within the period: no open is tried
            line.read(1)
        assert line.attempts == 0
        _wait_until_due()
        with pytest.raises(PortGone):  # still unplugged: one attempt, and the next a period later
            line.read(1)
        with pytest.raises(PortGone):
            line.read(1)
        assert line.attempts == 1 and line.gone
    finally:
        line.close()


def test_the_same_path_plugged_back_is_opened_again_with_its_settings_and_the_devices_set_up(cable):
    set_up = []
    line = _open(cable, on_reopen=lambda: set_up.append(line.write(b"INIT")))
    try:
        line.timeout = 0.5
        cable.unplug()
        with pytest.raises(OSError):
            line.read(1)
        cable.plug()
        _wait_until_due()
        line.timeout = 0  # set while gone: kept for the reopen
        assert line.in_waiting == 0  # the first use opens it again
        assert not line.gone and line.reopens == 1 and set_up == [4]
        assert os.read(cable.master, 64) == b"INIT"  # the set-up went to the device that came back
        os.write(cable.master, b"hello")
        time.sleep(0.05)
        assert line.read(line.in_waiting or 1) == b"hello"
        assert line.timeout == 0 and isinstance(line.fileno(), int)
    finally:
        line.close()


def test_a_set_up_that_fails_leaves_the_port_gone_for_another_period(cable):
    def refuse():
        raise ReaderError("the reader did not answer its set-up", code="reader.silent")

    line = _open(cable, on_reopen=refuse)
    try:
        cable.unplug()
        with pytest.raises(OSError):
            line.read(1)
        cable.plug()
        _wait_until_due()
        with pytest.raises(ReaderError) as e:
            line.read(1)
        assert e.value.code == "reader.silent" and line.gone
        with pytest.raises(PortGone):
            line.read(1)
    finally:
        line.close()


def test_a_closed_line_is_never_opened_again(cable):
    line = _open(cable)
    cable.unplug()
    with pytest.raises(OSError):
        line.read(1)
    line.close()
    _wait_until_due()
    with pytest.raises(PortGone):
        line.read(1)
    assert line.attempts == 0


def test_reopen_none_is_the_bare_pyserial_port_for_a_driver_that_reopens_on_its_own(cable):
    port = open_serial(str(cable.link), 9600, error=ReaderError, what="modem", code="link.open_failed", reopen=None)
    try:
        assert not isinstance(port, SerialLine) and port.is_open
    finally:
        port.close()
