"""The host simulator inside this process, behind a real TCP socket on loopback.

The demo, the scenario runner and the end-to-end tests talk to it through
the terminal's real ``tcp://`` link driver. Scenarios can also take the link
down: the listening socket closes (connects are refused, as when the line is
dead) and comes back on the same port.
"""

from __future__ import annotations

from pathlib import Path

from crypto.dukpt_lab import lab_bdks
from crypto.keys import KeyUsage
from crypto.provision import lab_key
from firmware.hostsim.ledger import Ledger
from firmware.hostsim.processor import HostProcessor
from firmware.hostsim.rules import RuleBook
from firmware.hostsim.server import HostSimServer

__all__ = ["EmbeddedHost"]


class EmbeddedHost:
    def __init__(self, profile: str = "cup", ledger_path: Path | str = ":memory:") -> None:
        self.ledger = Ledger(ledger_path)
        # With the lab TMK the host issues fresh working keys at each sign-on; until a
        # terminal signs on, it uses the lab working keys a lab terminal is provisioned with.
        self.processor = HostProcessor(
            profile,
            mac_key=lab_key(KeyUsage.MAC),
            pin_key=lab_key(KeyUsage.PIN),
            ledger=self.ledger,
            rules=RuleBook(),
            tmk=lab_key(KeyUsage.TMK),
            dukpt_bdks=lab_bdks(),  # a lab terminal with host.pin_keys = "dukpt" (crypto.dukpt_lab)
        )
        self._server: HostSimServer | None = None
        self._port = 0

    @property
    def rules(self) -> RuleBook:
        return self.processor.rules

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self._port)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self._port}"

    def start(self) -> EmbeddedHost:
        self._server = HostSimServer(self.processor, host="127.0.0.1", port=self._port)
        self._port = self._server.start()[1]
        return self

    @property
    def up(self) -> bool:
        return self._server is not None

    def refuse_connections(self, refuse: bool) -> None:
        """Take the line down (connects are refused, live connections drop) or bring it back."""
        if refuse and self._server is not None:
            self._server.stop()
            self._server = None
        elif not refuse and self._server is None:
            self.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.ledger.close()

    def __enter__(self) -> EmbeddedHost:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
