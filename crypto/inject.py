"""Loading the terminal master key and the DUKPT initial key, each checked by its KCV.

Production: the key injection facility sends the TMK in a TR-31 key block
(usage ``K0``, TDES) under a key block protection key (KBPK) the terminal
already holds; a DUKPT terminal gets its initial key in a block of usage
``B1`` with the initial KSN (``KS``) or key ID (``IK``) in an optional block.
A block of usage ``B0`` (a BDK) is refused: a BDK never enters a terminal.

Lab: the TMK or KBPK from clear components, XORed together, each component
checked against its own KCV and the result against the key's KCV.

Loading a new TMK drops the working keys (they were under the old one:
sign on again) and ends a tamper lock-out (``crypto.tamper``).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from pathlib import Path

from crypto.keyring import KeyEntry, Keyring, KekProvider
from crypto.keys import KeyUsage, kcv
from crypto.secrets import SecretKey
from crypto.tr31 import Tr31Block, unwrap
from firmware.errors import CryptoError

__all__ = ["check_kcv", "combine_components", "inject_key", "inject_tmk_tr31", "inject_dukpt_tr31", "open_tmk_tr31",
           "kbpk_for"]


def check_kcv(key: SecretKey | bytes, expected: str | None, what: str, *, algorithm: str = "auto") -> str:
    """The key's KCV (6 hex digits; 10 for ``aes-cmac``); raise unless it starts with ``expected``."""
    full = kcv(key, 5 if algorithm == "aes-cmac" else 3, algorithm=algorithm)
    if expected is not None:
        want = expected.strip().upper()
        if len(want) < 4 or not hmac.compare_digest(full[: len(want)], want):
            raise CryptoError(f"the {what} does not match its check value", code="keys.kcv")
    return full


def combine_components(components: Sequence[SecretKey | bytes], kcvs: Sequence[str | None] | None = None,
                       *, usage: str = "tmk") -> SecretKey:
    """LAB: XOR clear components of equal length, checking each against its KCV."""
    raws = [c.reveal() if isinstance(c, SecretKey) else bytes(c) for c in components]
    if len(raws) < 2:
        raise CryptoError("a key from components needs at least two components", code="keys.components")
    if len({len(r) for r in raws}) != 1:
        raise CryptoError("key components must all have the same length", code="keys.components")
    for i, raw in enumerate(raws):
        check_kcv(raw, kcvs[i] if kcvs and i < len(kcvs) else None, f"key component {i + 1}")
    out = bytearray(len(raws[0]))
    for raw in raws:
        for i, b in enumerate(raw):
            out[i] ^= b
    try:
        return SecretKey(bytes(out), usage=usage)
    finally:
        out[:] = bytes(len(out))


def inject_key(ring: Keyring, usage: KeyUsage, key: SecretKey, *, expected_kcv: str | None = None,
               note: str = "", kcv_algorithm: str = "auto") -> KeyEntry:
    """Install ``key`` as the only version of ``usage``, after checking its KCV.

    A new TMK drops the working keys, which were under the old one. Installing
    a TMK ends a tamper lock-out.
    """
    usage = KeyUsage(usage)
    check_kcv(key, expected_kcv, f"{usage.value} key", algorithm=kcv_algorithm)
    with ring.batch():
        entry = ring.put(usage, key, note=note, save=False)
        for old in ring.versions(usage)[:-1]:
            ring.drop(usage, old, save=False)
        if usage is KeyUsage.TMK:
            from crypto.signon import WORKING_USAGES

            for working in WORKING_USAGES:
                ring.drop(working, save=False)
    if usage is KeyUsage.TMK:
        from crypto.tamper import clear_tamper

        clear_tamper(ring.path.parent)
    return entry


def kbpk_for(ring: Keyring | None, kbpk: SecretKey | None) -> SecretKey:
    """``kbpk`` if given (``--kbpk``, the lab), else the ring's KBPK; ``keys.no_kbpk`` if neither."""
    if kbpk is not None:
        return kbpk
    if ring is None or not ring.has(KeyUsage.KBPK):
        raise CryptoError("no key block protection key is loaded to open the TR-31 block", code="keys.no_kbpk")
    return ring.get(KeyUsage.KBPK)


def open_tmk_tr31(kbpk: SecretKey, block: str) -> Tr31Block:
    """Open a TR-31 block that must hold a TMK (usage K0, TDES, mode B, D or N); nothing is installed.

    The caller wipes ``.key``. ``posterm provision --manifest`` opens the block this way to
    check its KCV before it changes anything."""
    opened = unwrap(kbpk, block, usage=KeyUsage.TMK.value)
    h = opened.header
    if h.key_usage != "K0" or h.algorithm != "T" or h.mode_of_use not in "BDN":
        opened.key.wipe()
        raise CryptoError(
            f"the key block holds a {h.key_usage}/{h.algorithm}/{h.mode_of_use} key, not a TDES "
            "key-encryption key (K0/T, mode B, D or N)", code="tr31.usage")
    if len(opened.key) not in (16, 24):
        opened.key.wipe()
        raise CryptoError("a terminal master key is a double- or triple-length TDES key", code="crypto.key_length")
    return opened


def inject_tmk_tr31(ring: Keyring, block: str, *, kbpk: SecretKey | None = None,
                    expected_kcv: str | None = None) -> KeyEntry:
    """The TMK from a TR-31 block (usage K0, TDES, mode B, D or N), checked and installed."""
    opened = open_tmk_tr31(kbpk_for(ring, kbpk), block)
    try:
        return inject_key(ring, KeyUsage.TMK, opened.key, expected_kcv=expected_kcv,
                          note=f"TR-31 {opened.header.version}")
    finally:
        opened.key.wipe()


def inject_dukpt_tr31(data_dir: Path, block: str, kbpk: SecretKey, *, ksn: str | None = None,
                      expected_kcv: str | None = None, kek: KekProvider | None = None):
    """Initialise the DUKPT registers from a TR-31 block holding an initial key (usage B1).

    The KSN comes from ``ksn`` or the block's ``KS`` (TDES initial KSN) or
    ``IK`` (AES initial key ID) optional block. The initial key is wiped once
    the registers are filled. Returns the ``DukptDevice``.
    """
    from crypto.dukpt_device import DukptDevice, DukptScheme

    opened: Tr31Block = unwrap(kbpk, block, usage="dukpt-ik")
    h = opened.header
    try:
        if h.key_usage == "B0":
            raise CryptoError("the key block holds a BDK, which never goes into a terminal", code="dukpt.bdk_refused")
        if h.key_usage != "B1":
            raise CryptoError(f"the key block holds a {h.key_usage} key, not a DUKPT initial key (B1)",
                              code="tr31.usage")
        if h.algorithm == "T":
            scheme, method = DukptScheme.TDES, "tdes"
        elif h.algorithm == "A":
            scheme, method = (DukptScheme.AES256 if len(opened.key) == 32 else DukptScheme.AES128), "aes-cmac"
        else:
            raise CryptoError(f"DUKPT takes a TDES or AES initial key, not algorithm {h.algorithm}", code="tr31.usage")
        serial = ksn or h.block("KS") or h.block("IK")
        if serial is None:
            raise CryptoError("no KSN given and the key block carries none (KS or IK)", code="dukpt.ksn")
        check_kcv(opened.key, expected_kcv, "DUKPT initial key", algorithm=method)
        return DukptDevice.initialise(Path(data_dir), scheme, opened.key, serial, kek=kek)
    finally:
        opened.key.wipe()
