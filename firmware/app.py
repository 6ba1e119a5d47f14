"""Putting a terminal together from its configuration.

``build_runner`` opens, in this order, the keys, the database, the host
profile and the devices named by URL, and hands them to a ``Runner``.
Anything missing or wrong stops it with a ``TerminalError`` that names the
problem (an unprovisioned data directory, an unknown driver scheme, a serial
port that is not there) and closes whatever it had already opened.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from crypto.keyring import Keyring
from crypto.provision import TerminalKeys, ensure_private_dir
from firmware.bridge import HostBridge
from firmware.config import Config
from firmware.core.settings import CoreSettings
from firmware.errors import TerminalError
from firmware.runner import CrashPlan, Devices, Runner
from hal.base import Device, DeviceContext, InProcessHost
from hal.registry import make_device
from storage.store import Store

__all__ = ["build_runner", "open_devices", "Overrides", "DEVICE_ORDER"]

DEVICE_ORDER = ("display", "printer", "reader", "pinpad", "link")


@dataclass
class Overrides:
    """Ready-made devices to use instead of the configured URLs (simulators shared across restarts)."""

    devices: dict[str, Device] = field(default_factory=dict)
    host: InProcessHost | None = None


def open_devices(config: Config, context: DeviceContext, overrides: Overrides | None = None) -> Devices:
    overrides = overrides or Overrides()
    opened: dict[str, Device] = {}
    try:
        for kind in DEVICE_ORDER:
            device = overrides.devices.get(kind) or make_device(kind, getattr(config.devices, kind), context)
            device.open()
            opened[kind] = device
    except BaseException:
        for device in opened.values():
            with contextlib.suppress(Exception):
                device.close()
        raise
    return Devices(**opened)


def build_runner(
    config: Config,
    *,
    overrides: Overrides | None = None,
    crash: CrashPlan | None = None,
) -> Runner:
    data_dir = ensure_private_dir(Path(config.data_dir))
    bridge = HostBridge.from_config(config)
    keys = TerminalKeys.load(Keyring.load(data_dir), mac_context=bridge.mac_context)
    keys.require_working_keys()
    store = Store.open(data_dir)
    try:
        context = DeviceContext(
            data_dir=data_dir,
            pin_key=lambda: keys.pin_key,
            host=overrides.host if overrides else None,
        )
        devices = open_devices(config, context, overrides)
    except TerminalError:
        store.close()
        raise
    settings = CoreSettings.from_config(
        config, mtis=bridge.mtis, response_texts=bridge.response_texts, mac_required=bridge.mac_required
    )
    return Runner(
        settings=settings,
        devices=devices,
        store=store,
        keys=keys,
        bridge=bridge,
        connect_timeout=config.host.connect_timeout,
        crash=crash,
    )
