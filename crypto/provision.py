"""Provisioning a data directory and loading the keys a running terminal needs.

``provision()`` creates the device KEK, the at-rest data key and the PAN hash
key. With ``lab=True`` it also installs the published *lab* terminal master
and working keys below, which the built-in host simulator shares. They are
test keys, printed in this file for everyone to read: a production terminal
receives its master key by TR-31 injection and its working keys by sign-on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.atrest import PanHasher, Sealer
from crypto.des import TdesEcb
from crypto.keyring import KEK_FILE, FileKek, Keyring
from crypto.keys import KeyUsage
from crypto.secrets import SecretKey
from firmware.errors import CryptoError

__all__ = ["LAB_KEYS", "provision", "TerminalKeys", "lab_key"]

# Lab keys: test values only. Never load them into a terminal that takes real cards.
LAB_KEYS: dict[KeyUsage, str] = {
    KeyUsage.TMK: "0123456789ABCDEFFEDCBA9876543210",
    KeyUsage.PIN: "C1D0F8FB4958670DBA40AB1F3752EF0D",
    KeyUsage.MAC: "89B07B35A1B3F47E",
    # The IPEK of the ANSI X9.24-1 annex A test BDK for KSN FFFF9876543210E00000: the lab SRED reader's.
    KeyUsage.SRED: "6AC292FAA1315B4D858AB3A3D7D5933A",
}
LAB_SRED_KSN = "FFFF9876543210E00000"


def lab_key(usage: KeyUsage) -> SecretKey:
    return SecretKey(bytes.fromhex(LAB_KEYS[usage]), usage=usage.value)


def ensure_private_dir(path: Path) -> Path:
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def provision(data_dir: Path, *, lab: bool = False) -> Keyring:
    """Create the KEK and at-rest keys if they are missing; optionally load lab keys.

    Safe to run twice: existing keys are kept.
    """
    data_dir = ensure_private_dir(data_dir)
    kek_path = data_dir / KEK_FILE
    kek = FileKek(kek_path) if kek_path.exists() else FileKek.create(kek_path)
    ring = Keyring.load(data_dir, kek)
    if not ring.has(KeyUsage.DATA):
        ring.generate(KeyUsage.DATA, 32, note="at-rest card data")
    if not ring.has(KeyUsage.PAN_HASH):
        ring.generate(KeyUsage.PAN_HASH, 32, note="PAN look-up hash")
    if lab:
        for usage in (KeyUsage.TMK, KeyUsage.PIN, KeyUsage.MAC, KeyUsage.SRED):
            if not ring.has(usage):
                ring.put(usage, lab_key(usage), note="LAB TEST KEY")
        from crypto.tamper import clear_tamper

        clear_tamper(data_dir)  # re-keyed (with lab keys)
    return ring


def _tdes_context(key: SecretKey) -> TdesEcb:
    return TdesEcb(key.reveal())


@dataclass
class TerminalKeys:
    """What the runner holds while it runs: ready-made contexts, no clear key in a repr.

    ``mac`` is whatever context the host profile's MAC algorithm needs, built
    once by ``mac_context`` (a TDES context for the UnionPay ECB MAC, the two
    DES halves for X9.19; see ``firmware.host.mac.mac_key_for``).
    """

    sealer: Sealer
    pan_hash: PanHasher
    pin_key: SecretKey | None
    mac: Any
    sred: Any = None  # crypto.sred.SredDecryptor, when an encrypting reader's key is loaded

    @classmethod
    def load(cls, ring: Keyring, mac_context: Callable[[SecretKey], Any] = _tdes_context) -> TerminalKeys:
        """The running terminal's keys; ``keys.tampered`` after a tamper until re-keyed."""
        from crypto.tamper import require_untampered

        require_untampered(ring.path.parent)
        data = {v: ring.get(KeyUsage.DATA, v) for v in ring.versions(KeyUsage.DATA)}
        if not data:
            raise CryptoError("no at-rest data key: provision the terminal", code="keys.not_provisioned")
        sealer = Sealer(data, max(data))
        pan_hash = PanHasher(ring.get(KeyUsage.PAN_HASH))
        pin_key = ring.get(KeyUsage.PIN) if ring.has(KeyUsage.PIN) else None
        mac = mac_context(ring.get(KeyUsage.MAC)) if ring.has(KeyUsage.MAC) else None
        sred = None
        if ring.has(KeyUsage.SRED):
            from crypto.sred import SredDecryptor

            sred = SredDecryptor(ring.get(KeyUsage.SRED))
        for key in data.values():
            key.wipe()
        return cls(sealer, pan_hash, pin_key, mac, sred)

    def require_working_keys(self) -> None:
        if self.pin_key is None or self.mac is None:
            raise CryptoError("no working keys: sign on to the host first", code="keys.no_working_keys")
