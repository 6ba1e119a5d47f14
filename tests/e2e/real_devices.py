"""A whole terminal whose devices are the REAL drivers on pty / socket simulators (from audit AU16).

reader  serial://  (PtyReaderSim)        pinpad  serial:// zpad (PtyZPinPadSim)
printer serial://  (PtyPrinterSim)       display serial://     (PtyDisplaySim)
link    tcp://     (EmbeddedHost)  or    modem:// (PtyModemSim -> EmbeddedHost over TCP)

The device paths are symlinks in ``tmp/dev``, as udev gives ``/dev/ttyUSB0``; ``replug(kind)`` is the same
device unplugged and plugged back at the same path. The back-offs are short (``reopen=0.2`` on the drivers
that declare it, ``Runner.device_backoff``) so a test waits well under a second for a device to come back.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from crypto.provision import provision
from firmware.app import build_runner
from firmware.config import Config
from firmware.embedded_host import EmbeddedHost
from hal.display.ptysim import PtyDisplaySim
from hal.link.modemsim import PtyModemSim
from hal.magstripe.devsim import PtyReaderSim
from hal.pinpad.ptysim import PtyZPinPadSim
from hal.printer.ptysim import PtyPrinterSim

PAD_FAST = "response_timeout=0.3&reopen=0.2"
PRINTER_FAST = "timeout=0.3&reopen=0.2"
READER_FAST = "reopen=0.2"
BACKOFF_FAST = (0.1, 0.4)  # the runner's rest for a failed device: first, longest
_ATTRIBUTE = {"pinpad": "pad"}  # the Terminal's name for a kind's simulator, where it is not the kind


@dataclass
class Terminal:
    runner: object
    reader: PtyReaderSim
    pad: PtyZPinPadSim
    printer: PtyPrinterSim
    display: PtyDisplaySim
    host: EmbeddedHost
    modem: object = None
    sims: list = field(default_factory=list)
    dev: object = None  # the directory of the stable device paths (symlinks, as udev gives /dev/ttyUSB0)

    def replug(self, kind: str):
        """The device of ``kind`` was unplugged (its sim closed); a new one appears at the same path."""
        if kind == "display":
            new = PtyDisplaySim(self.display.rows, self.display.cols)
        else:
            new = {"reader": PtyReaderSim, "pinpad": PtyZPinPadSim, "printer": PtyPrinterSim}[kind]()
        self.sims.append(new)
        link = self.dev / kind
        tmp = self.dev / (kind + ".new")
        os.symlink(new.port, tmp)
        os.replace(tmp, link)
        setattr(self, _ATTRIBUTE.get(kind, kind), new)
        return new

    def come_back(self, kind: str, *, away: float = 0.5, back: float = 0.6):
        """The device of ``kind`` is unplugged for ``away`` s (unless already gone), then plugged back and
        given ``back`` s (longer than the back-offs) to be opened again; returns its new simulator."""
        getattr(self, _ATTRIBUTE.get(kind, kind)).close()
        self.run_until(lambda: False, away)
        new = self.replug(kind)
        self.run_until(lambda: False, back)
        return new

    # -- a session at the counter ------------------------------------------
    def run_until(self, predicate, timeout=8.0) -> bool:
        return self.runner.run_until(predicate, timeout)

    @property
    def state(self) -> str:
        return self.runner.core.state.value

    def key_amount(self, keys="1250#") -> None:
        self.pad.press(keys)
        assert self.run_until(lambda: self.state == "card", 5), f"no card prompt, state {self.state}"

    def sale_to_pin(self, keys="1250#", card="unionpay_debit") -> None:
        self.key_amount(keys)
        self.reader.swipe_card(card)
        assert self.run_until(lambda: self.state == "pin", 5), f"no PIN prompt, state {self.state}"

    def sale(self, keys="1250#", card="unionpay_debit", pin="1234", n=None) -> None:
        before = len(self.runner.store.journal())
        self.sale_to_pin(keys, card)
        self.pad.enter_pin(pin)
        self.run_until(lambda: len(self.runner.store.journal()) > before and self.state in ("idle", "receipt_held"), 10)

    def settle_after_sale(self, n: int = 1) -> None:
        """Until ``n`` records are journalled and the terminal rests (idle, or holding a receipt), then a moment more."""
        self.run_until(lambda: len(self.journal()) >= n and self.state in ("idle", "receipt_held"), 10)
        self.run_until(lambda: False, 0.3)

    def journal(self):
        return self.runner.store.journal()

    def postings(self):
        return self.host.ledger.postings()

    def copies(self):
        return self.runner.store.conn.execute("SELECT merchant_copy, cardholder_copy FROM journal").fetchall()

    def printed_titles(self) -> list[str]:
        text = self.printer.printed_text
        return [t for t in ("MERCHANT COPY", "CARDHOLDER COPY") for _ in range(text.count(t))]

    def screen(self) -> str:
        return " | ".join(self.display.screen)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.runner.close()
        for sim in self.sims:
            with contextlib.suppress(Exception):
                sim.close()
        with contextlib.suppress(Exception):
            self.host.stop()


def make_terminal(tmp_path, *, link="tcp", printer_opts=PRINTER_FAST, pad_opts=PAD_FAST, modem_opts=None,
                  extra=None, display_rows=2, boot=True) -> Terminal:
    """A booted terminal; ``boot=False`` leaves ``runner.boot()`` to the test (a device faulted before it)."""
    data = tmp_path / "data"
    provision(data, lab=True)
    host = EmbeddedHost().start()
    reader, pad, printer, display = PtyReaderSim(), PtyZPinPadSim(), PtyPrinterSim(), PtyDisplaySim(display_rows)
    modem = None
    sims = [reader, pad, printer, display]
    dev = tmp_path / "dev"
    dev.mkdir()
    for kind, sim in (("reader", reader), ("pinpad", pad), ("printer", printer), ("display", display)):
        os.symlink(sim.port, dev / kind)
    if link == "modem":
        h, p = host.address
        modem = PtyModemSim(remote=f"{h}:{p}", guard_time=0.02, keep_frames=True)
        sims.append(modem)
        link_url = modem.url("95516", **(modem_opts or {"idle_hangup": 0.3}))
    else:
        link_url = host.url
    devices = {
        "reader": f"serial://{dev / 'reader'}?{READER_FAST}",
        "pinpad": f"serial://{dev / 'pinpad'}?{pad_opts}",
        "printer": f"serial://{dev / 'printer'}?{printer_opts}",
        "display": f"serial://{dev / 'display'}?rows={display.rows}&cols={display.cols}",
        "link": link_url,
    }
    config = Config().replace({"storage": {"data_dir": str(data)}, "devices": devices, **(extra or {})})
    runner = build_runner(config)
    runner.device_backoff = BACKOFF_FAST
    if boot:
        runner.boot()
    return Terminal(runner, reader, pad, printer, display, host, modem, sims, dev)


@contextlib.contextmanager
def serial_terminal(tmp_path, **options):
    """``make_terminal`` for a ``with`` block: closed whatever the test does."""
    t = make_terminal(tmp_path, **options)
    try:
        yield t
    finally:
        t.close()


def receipts(text: str, head: str = "POSTERM DEMO SHOP") -> list[str]:
    """Printed text cut into receipts at each one's header."""
    return [head + part for part in text.split(head)[1:]]
