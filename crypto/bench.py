"""Benchmark helpers for ``posterm bench``: seconds per operation, measured here and now.

``dukpt_seconds`` times what a DUKPT terminal does per transaction in memory:
take the next counter, update the future-key registers, derive the PIN, MAC
and data working keys (target 1 ms). ``dukpt_persisted_seconds`` adds the
durable write of the advanced state, which a real transaction pays too and
which depends on the disk. ``pin_and_mac_seconds`` times an ISO 9564 format 0
PIN block under the PIN key plus the UnionPay ECB MAC of a typical request
(target 0.5 ms). Each returns the mean over a run of lab keys (published test
values, nothing secret).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Figure", "dukpt_seconds", "dukpt_persisted_seconds", "pin_and_mac_seconds", "figures"]

# Published test keys (X9.24-1 / X9.24-3 examples): lab values only.
_TDES_BDK = "0123456789ABCDEFFEDCBA9876543210"
_TDES_KSN = "FFFF9876543210E00000"
_AES_BDK = "FEDCBA9876543210F1F1F1F1F1F1F1F1"
_AES_IKID = "1234567890123456"


@dataclass(frozen=True)
class Figure:
    name: str
    seconds: float
    target: float | None  # None: for information, no target

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.seconds <= self.target


def _registers(scheme: str):
    from crypto.secrets import SecretKey

    if scheme == "tdes":
        from crypto.dukpt import TdesRegisters, derive_ipek, parse_ksn

        return TdesRegisters.from_initial_key(derive_ipek(bytes.fromhex(_TDES_BDK), _TDES_KSN), parse_ksn(_TDES_KSN))
    from crypto.dukpt_aes import AesRegisters, derive_initial_key

    bdk = bytes.fromhex(_AES_BDK) * (2 if scheme == "aes256" else 1)
    ik = derive_initial_key(SecretKey(bdk), bytes.fromhex(_AES_IKID))
    return AesRegisters.from_initial_key(ik, bytes.fromhex(_AES_IKID))


def dukpt_seconds(scheme: str = "tdes", transactions: int = 2000) -> float:
    """Mean seconds per DUKPT transaction (registers and working keys, in memory)."""
    registers = _registers(scheme)
    start = time.perf_counter()
    for _ in range(transactions):
        registers.next_keys().wipe()
    return (time.perf_counter() - start) / transactions


def dukpt_persisted_seconds(scheme: str = "tdes", transactions: int = 200, data_dir: Path | None = None) -> float:
    """As ``dukpt_seconds`` plus the fsync'd write of the state, in ``data_dir`` (default: a temp dir)."""
    from crypto.dukpt_device import initialise_from_bdk
    from crypto.keyring import KEK_FILE, FileKek
    from crypto.secrets import SecretKey

    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        kek = FileKek.create(Path(tmp) / KEK_FILE)
        if scheme == "tdes":
            bdk, ksn = SecretKey(bytes.fromhex(_TDES_BDK)), _TDES_KSN
        else:
            bdk = SecretKey(bytes.fromhex(_AES_BDK) * (2 if scheme == "aes256" else 1))
            ksn = _AES_IKID
        device = initialise_from_bdk(Path(tmp), scheme, bdk, ksn, kek=kek)
        start = time.perf_counter()
        for _ in range(transactions):
            device.next_transaction().wipe()
        return (time.perf_counter() - start) / transactions


def pin_and_mac_seconds(transactions: int = 2000, mab_size: int = 120) -> float:
    """Mean seconds for an ISO format 0 PIN block plus the UnionPay ECB MAC of a request."""
    from crypto.des import TdesEcb
    from crypto.keys import KeyUsage
    from crypto.mac import cup_ecb_mac
    from crypto.pinblock import encrypt_iso0
    from crypto.provision import lab_key
    from crypto.secrets import Pan
    from firmware.hostsim.lab import LAB_PAN

    pin_key, mac = lab_key(KeyUsage.PIN), TdesEcb(lab_key(KeyUsage.MAC).reveal())
    pan, mab = Pan(LAB_PAN), bytes(range(256))[:mab_size]
    start = time.perf_counter()
    for _ in range(transactions):
        encrypt_iso0(b"1234", pan, pin_key).wipe()
        cup_ecb_mac(mac, mab)
    return (time.perf_counter() - start) / transactions


def figures(data_dir: Path | None = None) -> list[Figure]:
    """Every crypto figure with its target, for ``posterm bench``."""
    return [
        Figure("DUKPT TDES derivation per transaction", dukpt_seconds("tdes"), 0.001),
        Figure("DUKPT AES-128 derivation per transaction", dukpt_seconds("aes128"), 0.001),
        Figure("DUKPT AES-256 derivation per transaction", dukpt_seconds("aes256"), 0.001),
        Figure("DUKPT TDES per transaction with the fsync'd state", dukpt_persisted_seconds("tdes", data_dir=data_dir),
               None),
        Figure("PIN block (ISO 0) plus message MAC (UnionPay ECB)", pin_and_mac_seconds(), 0.0005),
    ]
