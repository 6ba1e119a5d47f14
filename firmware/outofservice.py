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
unit (``MONITOR_SERVICE_RESULT``, ``MONITOR_EXIT_STATUS``). It acts only when that
result is ``start-limit-hit`` (or when run by hand): systemd also runs ``OnFailure=``
for a stop that timed out, after which the terminal is started again. It reads only
the display, the data directory and the log settings of the configuration (``KEYS``),
since a configuration ``posterm run`` refuses is a likely reason systemd gave up.
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


# What this command reads of the configuration; the rest may be what made systemd give up.
KEYS = ("devices.display", "storage.data_dir", "log.level", "log.file")


def add_out_of_service_command(sub, with_config) -> None:
    def cmd(args) -> int:
        from firmware.config import DEFAULT_PATH, load_config_keys
        from firmware.logs import setup_logging

        result = os.environ.get("MONITOR_SERVICE_RESULT")
        if result is not None and result != "start-limit-hit":
            # systemd runs OnFailure= units for other failures too (a stop that timed out, then a start): the
            # terminal is not given up on, and the run lock and the display are posterm run's
            print(f"posterm: systemd has not given up on posterm run ({result}): the display is left to it")
            return 0
        path = args.config if args.config is not None else (DEFAULT_PATH if DEFAULT_PATH.exists() else None)
        config = load_config_keys(path, KEYS)
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
