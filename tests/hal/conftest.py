"""Fixtures for the reader, PIN pad, display and link tests (not the printer's).

Devices are made from URLs and handed to each test; nothing is patched.
"""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from crypto.keys import KeyUsage
from crypto.provision import lab_key
from hal.base import DeviceContext


@pytest.fixture
def lab_context() -> DeviceContext:
    """A context whose PIN key is the published lab PIN key."""
    return DeviceContext(pin_key=lambda: lab_key(KeyUsage.PIN))


@dataclass
class Pty:
    """A real pseudo-terminal: the test holds ``master``, the driver opens ``path``."""

    master: int
    slave: int
    path: str

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_until(self, marker: bytes, *, limit: float = 5.0) -> bytes:
        """What the driver wrote, up to and including ``marker`` (a bounded wait, not a speed test)."""
        out = b""
        while marker not in out and select.select([self.master], [], [], limit)[0]:
            out += os.read(self.master, 65536)
        assert marker in out, f"the driver never wrote {marker!r}; got {out!r}"
        return out


@pytest.fixture
def pty() -> Iterator[Pty]:
    master, slave = os.openpty()
    p = Pty(master, slave, os.ttyname(slave))
    try:
        yield p
    finally:
        for fd in (master, slave):
            try:
                os.close(fd)
            except OSError:
                pass
