"""The selftest's device and host checks: each opened through the HAL registry, as the runner would.

Kept apart from ``firmware.selftest`` (what a check is, their order, running them, the
output, and the checks that read the configuration and the data directory) because these
checks know the hardware: which harmless probe each kind of device answers (a reader armed
and disarmed, a printer's status, a tamper switch polled), and how the host link connects.
A probe prints nothing, reads no swipe and sends nothing to the host. ``plan()`` lists
these checks; ``Target.devices`` and ``Target.host`` let a test hand in simulators.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from firmware.selftest import CheckResult, Status, Target

__all__ = ["check_device", "check_host", "check_link"]


# -- devices --------------------------------------------------------------------------
def _make(kind: str, url: str, target: Target):
    from hal.base import DeviceContext
    from hal.registry import make_device

    ready = target.devices.get(kind)
    if ready is not None:
        return ready
    assert target.config is not None
    context = DeviceContext(data_dir=target.config.data_dir, pin_key=None, host=target.host)
    return make_device(kind, url, context)  # ConfigError for an unknown scheme or option


def check_device(kind: str, target: Target) -> CheckResult:
    """Open and close the device through the registry, with one harmless probe per kind. Prints nothing."""
    assert target.config is not None
    device = _make(kind, getattr(target.config.devices, kind), target)
    url = device.url.text
    device.open()
    try:
        probe = _PROBES.get(kind)
        return probe(device, url) if probe else CheckResult(kind, Status.PASS, "", f"{url} opened and closed")
    finally:
        device.close()


def _probe_reader(reader, url: str) -> CheckResult:
    from hal.magstripe.raw import OutputFormat

    reader.enable()  # arms the hardware; a reader that does not answer raises here
    reader.disable()  # no poll(): nothing swiped meanwhile is ever read
    kind = " (encrypting, MagTek format)" if reader.output_format is OutputFormat.MAGTEK else ""
    return CheckResult("reader", Status.PASS, "", f"{url}{kind} opened, armed and closed")


def _probe_printer(printer, url: str) -> CheckResult:
    from hal.printer import PrinterStatus, status_error

    printer.warm_up()  # python-escpos knows the profile and code page (ConfigError if not)
    status = printer.status()
    facts = f"profile {printer.profile}, {printer.columns} columns; nothing printed"
    if not status.can_print:
        err = status_error(status)
        return CheckResult("printer", Status.FAIL, err.code, err.text, facts)
    if status is PrinterStatus.PAPER_NEAR_END:
        return CheckResult("printer", Status.WARN, "printer.paper_near_end",
                           "the paper roll is nearly used up: change it soon", facts)
    return CheckResult("printer", Status.PASS, "", f"{url} ready, paper loaded", facts)


def _probe_tamper(switch, url: str) -> CheckResult:
    trips = switch.poll()
    if trips:  # the runner would zeroize at start; a selftest only says so
        return CheckResult("tamper", Status.FAIL, "tamper.tripped",
                           f"the tamper switch is active ({trips[0].reason}): the keys are destroyed at start")
    return CheckResult("tamper", Status.PASS, "", f"{url} opened, not tripped, closed")


_PROBES: dict[str, Callable[[Any, str], CheckResult]] = {"reader": _probe_reader, "printer": _probe_printer,
                                                          "tamper": _probe_tamper}


# -- link -----------------------------------------------------------------------------
def check_link(target: Target) -> CheckResult:
    """Without ``--online``: open and close the configured host link device (a modem's serial port and its
    carrier line, say), so a dead or missing one is found offline too. Nothing is dialled, nothing connects,
    nothing is sent; a link error is this check's FAIL with its code. ``sim://`` is the built-in host, in
    process: nothing to open."""
    assert target.config is not None
    url = target.config.devices.link
    if "link" not in target.devices and url.startswith("sim:"):
        return CheckResult("link", Status.PASS, "", "sim:// is the built-in host simulator: nothing to open")
    link = _make("link", url, target)
    link.open()
    link.close()
    where = link.url.text.split("?", 1)[0]  # not the options: a modem's dial string is not for the console
    return CheckResult("link", Status.PASS, "", f"{where} opened and closed; nothing dialled or sent",
                       "posterm selftest --online connects to the host")


# -- host -----------------------------------------------------------------------------
def check_host(target: Target) -> CheckResult:
    """Connect and disconnect. Nothing is sent: a sign-on or an echo test would change the host's state."""
    assert target.config is not None
    url = target.config.devices.link
    embedded = None
    if "link" not in target.devices and target.host is None and url.startswith("sim:"):
        from firmware.embedded_host import EmbeddedHost

        embedded = EmbeddedHost(target.config.host.profile)  # not started: the sim link calls it in-process
        target.host = embedded.processor
    try:
        link = _make("link", url, target)
        link.open()
        try:
            start = time.perf_counter()
            link.connect(timeout=target.config.host.connect_timeout or None)
            ms = (time.perf_counter() - start) * 1000
            link.disconnect()
        finally:
            link.close()
    finally:
        if embedded is not None:
            target.host = None
            embedded.stop()
    what = " (the built-in host simulator)" if embedded is not None else ""
    where = link.url.text.split("?", 1)[0]  # not the options: a modem's dial string is not for the console
    return CheckResult("host", Status.PASS, "", f"{where}{what} connected and disconnected",
                       f"connect {ms:.1f} ms; nothing sent")
