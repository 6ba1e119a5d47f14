"""Loading the terminal master key and the DUKPT initial key, each checked by its KCV.

Production: the key injection facility sends the TMK in a TR-31 key block
(usage ``K0``, TDES) under a key block protection key (KBPK) the terminal
already holds; a DUKPT terminal gets its initial key in a block of usage
``B1`` with the initial KSN (``KS``) or key ID (``IK``) in an optional block.
A block of usage ``B0`` (a BDK) is refused: a BDK never enters a terminal.

Lab: the TMK or KBPK from clear components, XORed together, each component
checked against its own KCV and the result against the key's KCV. The same
component twice (the key would be all zeros) or a combined key of zeros is
refused, and so is a length its usage never has (``KEY_LENGTHS``: the same
rule whichever way the key comes, components, TR-31 or a manifest).

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
           "kbpk_for", "require_key_length", "KEY_LENGTHS"]

# Bytes a key of each injectable usage may have. TMK: a double- or triple-length TDES
# key-encryption key (the cup and iso87 working keys are TDES under it); KBPK: what a
# version B (TDES) or D (AES) key block is opened with (single DES, version A/C only,
# is not accepted); SRED: a TDES DUKPT initial key (crypto.sred derives from 16 bytes).
KEY_LENGTHS: dict[KeyUsage, tuple[int, ...]] = {
    KeyUsage.TMK: (16, 24),
    KeyUsage.KBPK: (16, 24, 32),
    KeyUsage.SRED: (16,),
}
_LENGTH_TEXT = {
    KeyUsage.TMK: "a terminal master key is a double- or triple-length TDES key",
    KeyUsage.KBPK: "a key block protection key is a 16-, 24- or 32-byte key",
    KeyUsage.SRED: "an encrypting reader's initial key is a 16-byte TDES DUKPT key",
}


def require_key_length(usage: KeyUsage, key: SecretKey | bytes) -> None:
    """``crypto.key_length`` unless ``key`` has a length its ``usage`` allows (``KEY_LENGTHS``)."""
    usage = KeyUsage(usage)
    allowed = KEY_LENGTHS.get(usage)
    if allowed is not None and len(key) not in allowed:
        raise CryptoError(f"{_LENGTH_TEXT[usage]}, not {len(key)} bytes", code="crypto.key_length")


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
    if len(set(raws)) != len(raws):  # XORed, a pair cancels out: two custodians typed the same one
        raise CryptoError("the same key component was given twice", code="keys.components")
    for i, raw in enumerate(raws):
        check_kcv(raw, kcvs[i] if kcvs and i < len(kcvs) else None, f"key component {i + 1}")
    out = bytearray(len(raws[0]))
    for raw in raws:
        for i, b in enumerate(raw):
            out[i] ^= b
    try:
        if not any(out):
            raise CryptoError("the key components combine to a key of zeros", code="keys.components")
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
    require_key_length(usage, key)
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
    try:
        require_key_length(KeyUsage.TMK, opened.key)
    except CryptoError:
        opened.key.wipe()
        raise
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
