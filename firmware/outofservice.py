"""``posterm out-of-service``: the display's last word once systemd has given up on ``posterm run``.

When a bug ends ``posterm run``, it puts OUT OF SERVICE / RESTARTING on the display
(``RESTARTING``) and systemd starts it again; recovery is then a power cut's. After
six failed starts within a minute (``StartLimitBurst`` in ``deploy/posterm.service``)
systemd stops trying, and "RESTARTING" would stay on the display, untrue, until someone
looked at the journal. The unit's ``OnFailure=`` starts
``deploy/posterm-out-of-service.service``, which runs this command: it opens the
configured display alone (no database, no keys, no other device) and shows OUT OF
SERVICE / CALL SUPPORT (``GIVEN_UP``), so the cashier stops keying sales into a dead
terminal and calls someone.

It takes the run lock of the data directory first, so it never draws over a terminal
that is running; and it logs why systemd gave up, as systemd tells an ``OnFailure=``
unit (``MONITOR_SERVICE_RESULT``, ``MONITOR_EXIT_STATUS``).
"""

from __future__ import annotations

import logging
import os

__all__ = ["RESTARTING", "GIVEN_UP", "show_out_of_service", "add_out_of_service_command"]

log = logging.getLogger("posterm")

RESTARTING = ("OUT OF SERVICE", "RESTARTING")  # posterm run, ended by a bug; systemd starts it again
GIVEN_UP = ("OUT OF SERVICE", "CALL SUPPORT")  # systemd has stopped starting it


def show_out_of_service(config) -> str:
    """Show ``GIVEN_UP`` on the configured display, under the run lock; what systemd said, for the log."""
    from firmware.runlock import run_lock
    from hal.base import DeviceContext
    from hal.registry import make_device

    why = ", ".join(f"{name.removeprefix('MONITOR_').lower()} {os.environ[name]}"
                    for name in ("MONITOR_SERVICE_RESULT", "MONITOR_EXIT_CODE", "MONITOR_EXIT_STATUS")
                    if os.environ.get(name)) or "no reason given"
    with run_lock(config.data_dir, doing="take over its display"):
        display = make_device("display", config.devices.display, DeviceContext(data_dir=config.data_dir))
        display.open()
        try:
            display.show_final(GIVEN_UP)
        finally:
            display.close()
    log.error("posterm run is stopped for good (%s): the display says %s", why, " / ".join(GIVEN_UP))
    return why


def add_out_of_service_command(sub, with_config) -> None:
    def cmd(args) -> int:
        from firmware.cli import _config
        from firmware.logs import setup_logging

        config = _config(args)
        if args.data_dir:
            config = config.replace({"storage": {"data_dir": args.data_dir}})
        setup_logging(config.log.level, config.log.file or None)
        why = show_out_of_service(config)
        print(f"posterm: the display says {' / '.join(GIVEN_UP)} ({why})")
        return 0

    p = with_config(sub.add_parser(
        "out-of-service",
        help="show OUT OF SERVICE / CALL SUPPORT on the display (systemd's OnFailure= once it gives up on posterm run)",
    ))
    p.set_defaults(func=cmd)
