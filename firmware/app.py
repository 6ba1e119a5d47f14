"""Putting a terminal together from its configuration.

``build_runner`` opens, in this order, the display, the database (migrated
if an update brought a new schema: ``UPDATING`` is on the display meanwhile),
the keys, the host profile and the other devices named by URL, and hands them
to a ``Runner``. Anything missing or wrong stops it with a ``TerminalError``
that names the problem (an unprovisioned data directory, an unknown driver
scheme, a serial port that is not there) and closes whatever it had already
opened.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import TerminalKeys, ensure_private_dir
from crypto.tamper import tamper_status
from firmware.core.model import KeyState
from firmware.errors import CryptoError, DisplayError
from storage.rekey import finish_rotation, rotation_pending
from firmware.bridge import HostBridge
from firmware.config import Config
from firmware.core.settings import CoreSettings
from firmware.runner import CrashPlan, Devices, Runner
from firmware.sysclock import set_system_clock, system_zone
from hal.base import Device, DeviceContext, InProcessHost
from hal.display import Display, Lines
from hal.registry import make_device
from storage.profile import PROFILE_KEY, adopt_profile, profile_error
from storage.store import Store

__all__ = ["build_runner", "open_devices", "load_keys", "KeyStatus", "Overrides", "DEVICE_ORDER", "UPDATING"]

log = logging.getLogger(__name__)

DEVICE_ORDER = ("tamper", "display", "printer", "reader", "pinpad", "link")

# On the display while the database migrates after an update (minutes on a Pi Zero): a blank or stale screen got
# the terminal switched off and on, which starts the migration again from scratch. 16 columns at most
# (hal.display.MIN_COLS); on 2 rows, what it is doing and what not to do.
UPDATING = Lines(("UPDATING RECORDS", "PLEASE WAIT", "", "DO NOT POWER OFF"), ("UPDATING RECORDS", "DO NOT POWER OFF"))


@dataclass
class Overrides:
    """Ready-made devices to use instead of the configured URLs (simulators shared across restarts)."""

    devices: dict[str, Device] = field(default_factory=dict)
    host: InProcessHost | None = None


def _device(kind: str, config: Config, context: DeviceContext, overrides: Overrides) -> Device:
    return overrides.devices.get(kind) or make_device(kind, getattr(config.devices, kind), context)


def open_devices(config: Config, context: DeviceContext, overrides: Overrides | None = None) -> Devices:
    """Every device, opened (one already open, an override, is taken as it is); all closed again if one fails."""
    overrides = overrides or Overrides()
    opened: dict[str, Device] = {}
    try:
        for kind in DEVICE_ORDER:
            device = _device(kind, config, context, overrides)
            device.open()
            opened[kind] = device
    except BaseException:
        for device in opened.values():
            with contextlib.suppress(Exception):
                device.close()
        raise
    return Devices(**opened)


@dataclass
class KeyStatus:
    keys: TerminalKeys | None
    ring: Keyring | None
    state: KeyState
    reason: str | None = None


def load_keys(data_dir: Path, bridge: HostBridge, store: Store) -> KeyStatus:
    """What the key ring allows. A terminal without usable keys still starts, to say why."""
    record = tamper_status(data_dir)
    if record is not None:  # zeroized and not re-keyed since: say so, not merely "key file missing"
        return KeyStatus(None, None, KeyState.LOCKED, record.text)
    try:
        ring = Keyring.load(data_dir)
        if rotation_pending(ring):  # a rotation the power cut interrupted: finish it first
            finish_rotation(ring, store.conn)
        keys = TerminalKeys.load(ring, mac_context=bridge.mac_context)
    except CryptoError as e:  # tampered, never provisioned, damaged
        return KeyStatus(None, None, KeyState.LOCKED, e.text)
    if keys.pin_key is not None and keys.mac is not None:
        return KeyStatus(keys, ring, KeyState.READY)
    if ring.has(KeyUsage.TMK):
        return KeyStatus(keys, ring, KeyState.NEED_SIGN_ON)
    return KeyStatus(keys, ring, KeyState.LOCKED, "no terminal master key: inject one (posterm keys inject)")


def open_dukpt(data_dir: Path, bridge: HostBridge):
    """The DUKPT PIN cipher for ``host.pin_keys = "dukpt"``: registers loaded, first window reserved.

    ``keys.no_dukpt`` without DUKPT keys; ``keys.dukpt_pin_field`` when the profile's field 52 cannot
    carry the scheme's PIN block: AES DUKPT makes 16-byte ISO format 4 blocks, which only iso87-aes
    carries (cup's and iso87's field 52 is b 8); TDES makes 8-byte format 0 blocks, which a fixed
    16-byte field would not take."""
    from crypto.dukpt_reserve import DukptPinCipher
    from firmware.host.spec import LengthType

    cipher = DukptPinCipher.open(data_dir)
    field = bridge.profile.fields.get(52)
    if field is None or not field.carries(cipher.pin_block_size):
        scheme = cipher.scheme.value
        cipher.close()
        holds = "no field 52" if field is None else (
            f"field 52 {'of' if field.length is LengthType.FIXED else 'of up to'} {field.max_len} bytes")
        raise CryptoError(
            f"{scheme} DUKPT makes {cipher.pin_block_size}-byte PIN blocks (ISO format {cipher.pin_format}); "
            f"profile {bridge.profile.name} has {holds}" + (" (use iso87-aes)" if cipher.pin_format == 4 else ""),
            code="keys.dukpt_pin_field",
        )
    return cipher


def _under_tmk(ring: Keyring, key) -> bytes | None:
    """``key`` encrypted under the terminal master key (TDES-ECB), as a host sends it at sign-on."""
    if not ring.has(KeyUsage.TMK):
        return None
    from crypto.des import TdesEcb

    tmk = ring.get(KeyUsage.TMK)
    try:
        return TdesEcb(tmk.reveal()).encrypt(key.reveal())
    finally:
        tmk.wipe()


def build_runner(
    config: Config,
    *,
    overrides: Overrides | None = None,
    crash: CrashPlan | None = None,
    slow_start: Callable[[str], AbstractContextManager] | None = None,
) -> Runner:
    """``slow_start``: a context around a long step before ready (a schema migration: ``Notifier.extending``).

    The display is opened first, alone, so that a migration says so on it (``UPDATING``); the other devices
    after the database, as before: a key pressed or a card swiped during the wait is never read afterwards. A
    display that fails to open stops the start before the database is touched (the terminal cannot run without
    one, and an unmigrated database is one the firmware before the update still uses); one that opens but does
    not take the screen is left to the runner's fault handling, and the migration runs."""
    overrides = overrides or Overrides()
    data_dir = ensure_private_dir(Path(config.data_dir))
    bridge = HostBridge.from_config(config)
    holder: dict[str, Runner] = {}  # the PIN pad asks the running terminal for its current PIN key

    def pin_key():  # the session PIN key, or the DUKPT cipher (host.pin_keys)
        runner = holder.get("runner")
        return runner.pin_cipher() if runner is not None else None

    def pin_key_for_pad():  # for a PIN pad holding the TMK: the PIN key encrypted under it
        runner = holder.get("runner")
        if runner is None or runner.keys is None or runner.keys.pin_key is None or runner.ring is None:
            return None
        return _under_tmk(runner.ring, runner.keys.pin_key)

    context = DeviceContext(data_dir=data_dir, pin_key=pin_key, host=overrides.host, pin_key_for_pad=pin_key_for_pad)
    display = _device("display", config, context, overrides)
    display.open()
    store = dukpt = None
    try:
        # a new database records the profile at once
        store = Store.open(data_dir, fresh={PROFILE_KEY: config.host.profile}, slow=_showing(display, slow_start))
        profile_note = _check_profile(store, config.host.profile)
        status = load_keys(data_dir, bridge, store)
        if config.host.pin_keys == "dukpt":  # refused here, never a fall back to the session PIN key
            dukpt = open_dukpt(data_dir, bridge)
        devices = open_devices(config, context, Overrides({**overrides.devices, "display": display}, overrides.host))
    except BaseException:  # ^C mid-migration too: a closed serial display no longer says DO NOT POWER OFF
        if dukpt is not None:
            dukpt.close()
        if store is not None:
            store.close()
        with contextlib.suppress(Exception):
            display.close()
        raise
    settings = CoreSettings.from_config(
        config, mtis=bridge.mtis, response_texts=bridge.response_texts, mac_required=bridge.mac_required,
        batch_limits=bridge.batch_limits, recoveries=bridge.recoveries,
        local_zone=system_zone(),  # libc's: the zone of the core's now, so times are compared as instants
        display_cols=devices.display.cols, display_cjk=devices.display.cjk, display_texts=bridge.profile.display_texts,  # the screens' width
    )
    runner = holder["runner"] = Runner(
        settings=settings,
        devices=devices,
        store=store,
        keys=status.keys,
        ring=status.ring,
        key_state=status.state,
        lock_reason=status.reason,
        data_dir=data_dir,
        bridge=bridge,
        connect_timeout=config.host.connect_timeout or None,
        fallback=config.card.fallback,
        crash=crash,
        dukpt=dukpt,
        set_clock=set_system_clock if config.terminal.clock_from_host else None,
    )
    if profile_note is not None:
        runner.notes.append(("config.profile", profile_note))
    return runner


def _showing(display: Display, slow: Callable[[str], AbstractContextManager] | None):
    """``slow`` (systemd's start timeout extended, or nothing) with ``UPDATING`` on the display for the whole
    step. A display that does not take it (not responding) does not stop the migration: the runner meets the
    fault again at its first screen and handles it as any display fault."""

    @contextlib.contextmanager
    def step(what: str) -> Iterator[None]:
        with slow(what) if slow is not None else contextlib.nullcontext():
            try:
                display.show(UPDATING)
            except DisplayError as e:
                log.warning("the display did not take the UPDATING screen (%s): %s", e.code, what)
            yield

    return step


def _check_profile(store: Store, configured: str) -> str | None:
    """Refuse a host profile other than the one this data directory's owed messages were built in
    (``config.profile_changed``, ``storage.profile``); otherwise record it. What to tell the operator, or None."""
    error = profile_error(store, configured)
    if error is not None:
        raise error
    note = adopt_profile(store, configured)
    if note is not None:
        log.warning("%s", note)
    return note
