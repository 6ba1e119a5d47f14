"""A whole terminal on its REAL serial drivers over pty simulators (reader, zpad PIN pad, ESC/POS printer,
DM-D display) and a tcp:// link to the embedded host: the counter as the operator meets it.

From AU16's harness (``/work/briefs/au16/au16_terminal.py``), cut to what these tests use. The display is
``PtyDisplaySim``'s default, 2 x 20, the usual pole display, so ``screen()`` is what the operator reads.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from crypto.provision import provision
from firmware.app import build_runner
from firmware.config import Config
from firmware.embedded_host import EmbeddedHost
from hal.display.ptysim import PtyDisplaySim
from hal.magstripe.devsim import PtyReaderSim
from hal.pinpad.ptysim import PtyZPinPadSim
from hal.printer.ptysim import PtyPrinterSim

__all__ = ["SerialTerminal", "serial_terminal", "receipts"]


@dataclass
class SerialTerminal:
    runner: object
    reader: PtyReaderSim
    pad: PtyZPinPadSim
    printer: PtyPrinterSim
    display: PtyDisplaySim
    host: EmbeddedHost

    @property
    def state(self) -> str:
        return self.runner.core.state.value

    def run_until(self, predicate, timeout: float = 8.0) -> bool:
        return self.runner.run_until(predicate, timeout)

    def journal(self):
        return self.runner.store.journal()

    def to_pin(self, keys: str = "1250#", card: str = "unionpay_debit") -> None:
        self.pad.press(keys)
        assert self.run_until(lambda: self.state == "card", 5), f"no card prompt, state {self.state}"
        self.reader.swipe_card(card)
        assert self.run_until(lambda: self.state == "pin", 5), f"no PIN prompt, state {self.state}"

    def settle_after_sale(self, n: int = 1) -> None:
        """Until the sale is journalled and the terminal rests (idle, or holding a receipt), then a moment more."""
        self.run_until(lambda: len(self.journal()) >= n and self.state in ("idle", "receipt_held"), 10)
        self.run_until(lambda: False, 0.3)

    def screen(self) -> str:
        return " | ".join(self.display.screen)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.runner.close()
        for sim in (self.reader, self.pad, self.printer, self.display):
            with contextlib.suppress(Exception):
                sim.close()
        with contextlib.suppress(Exception):
            self.host.stop()


@contextlib.contextmanager
def serial_terminal(tmp_path, *, extra: dict | None = None):
    data = tmp_path / "data"
    provision(data, lab=True)
    host = EmbeddedHost().start()
    reader, pad, printer, display = PtyReaderSim(), PtyZPinPadSim(), PtyPrinterSim(), PtyDisplaySim()
    devices = {
        "reader": f"serial://{reader.port}",
        "pinpad": f"serial://{pad.port}?response_timeout=0.3",
        "printer": f"serial://{printer.port}?timeout=0.3",
        "display": f"serial://{display.port}",  # the driver's default size: 2 x 20
        "link": host.url,
    }
    t = SerialTerminal(None, reader, pad, printer, display, host)
    try:
        config = Config().replace({"storage": {"data_dir": str(data)}, "devices": devices, **(extra or {})})
        t.runner = build_runner(config)
        t.runner.boot()
        yield t
    finally:
        t.close()


def receipts(text: str, head: str = "POSTERM DEMO SHOP") -> list[str]:
    """Printed text cut into receipts at each one's header."""
    return [head + part for part in text.split(head)[1:]]
