"""LAB ONLY: the published DUKPT test BDKs, shared by the lab terminal and the host simulator.

The BDKs are those of the published vectors (``/work/shared/vectors``): ANSI
X9.24-1 annex A for TDES, the X9.24-3 test vector supplement for AES-128.
A lab terminal is initialised from them with the vectors' initial KSN / key
ID, so its first PIN block can be checked against the published one. (The lab
SRED reader's key is the same TDES IPEK: two lab devices sharing a key is a
lab shortcut, never a production one.) A production terminal receives its
initial key in a TR-31 block (``posterm keys inject-dukpt``) and never sees a BDK.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from crypto.dukpt_device import DukptDevice, DukptScheme, initialise_from_bdk
from crypto.secrets import SecretKey

__all__ = ["LAB_BDKS", "LAB_INITIAL_KSNS", "lab_bdk", "lab_bdks", "lab_scheme_for", "provision_lab_dukpt"]

# Test values only. Never for a terminal that takes real cards.
LAB_BDKS = {
    "tdes": "0123456789ABCDEFFEDCBA9876543210",  # X9.24-1 annex A
    "aes128": "FEDCBA9876543210F1F1F1F1F1F1F1F1",  # X9.24-3 supplement, AES-128
}
LAB_INITIAL_KSNS = {
    DukptScheme.TDES: "FFFF9876543210E00000",
    DukptScheme.AES128: "1234567890123456",  # the initial key ID; the counter starts at 1
}


def lab_bdk(family: str) -> SecretKey:
    return SecretKey(bytes.fromhex(LAB_BDKS[family]), usage="dukpt-bdk")


def lab_bdks() -> dict[str, SecretKey]:
    """The host simulator's BDKs: ``tdes`` for 10-byte KSNs, ``aes128`` for 12-byte ones."""
    return {family: lab_bdk(family) for family in LAB_BDKS}


def lab_scheme_for(carries: Callable[[int], bool]) -> DukptScheme:
    """The lab DUKPT scheme for a host whose PIN field ``carries(size)`` a block of ``size`` bytes.

    AES-128 when the field takes its 16-byte ISO format 4 block (iso87-aes: that is what the
    profile is for), else TDES (format 0, 8 bytes: iso87). If the field takes neither, TDES too:
    the terminal then refuses to start (``keys.dukpt_pin_field``), never falling back.
    """
    from crypto.dukpt_reserve import PIN_BLOCK_SIZE, PIN_FORMATS

    aes = DukptScheme.AES128
    return aes if carries(PIN_BLOCK_SIZE[PIN_FORMATS[aes]]) else DukptScheme.TDES


def provision_lab_dukpt(data_dir: Path, scheme: DukptScheme | str = DukptScheme.TDES) -> DukptDevice | None:
    """Initialise the lab DUKPT registers unless some are loaded already; returns them, or None if kept."""
    scheme = DukptScheme(scheme)
    if scheme not in LAB_INITIAL_KSNS:
        raise ValueError(f"no lab DUKPT key for {scheme.value}")
    if DukptDevice.exists(data_dir):
        return None
    family = "tdes" if scheme is DukptScheme.TDES else "aes128"
    device = initialise_from_bdk(Path(data_dir), scheme, lab_bdk(family), LAB_INITIAL_KSNS[scheme])
    device.wipe()
    return device
