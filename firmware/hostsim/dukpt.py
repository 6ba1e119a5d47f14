"""The host simulator's side of DUKPT: the PIN key from the KSN, and no KSN twice.

An acquirer holds the BDK; for a request whose PIN block comes with a KSN
(the profile's ``ksn_field``) it derives that transaction's PIN key from the
BDK and the KSN: a 10-byte KSN is TDES (X9.24-1, PIN variant, ISO format 0),
a 12-byte one AES (X9.24-3, PIN encryption key of the BDK's type, ISO format
4). A KSN that terminal has sent before is refused with ``63`` (security
violation): that is how an acquirer catches a terminal reusing a counter.
The KSNs seen are kept per terminal ID in the host's ledger, so across restarts
of a simulator whose ledger is a file (a repeated *request*, the same STAN, is
answered as a duplicate before this).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from crypto.secrets import SecretKey
from firmware.errors import CryptoError

__all__ = ["KSN_REUSED", "DukptHostMixin", "dukpt_pin_key"]

KSN_REUSED = "63"  # ISO 8583:1987 "security violation"
PIN_FORMAT_ERROR = "99"  # the simulator's own code for a PIN block it cannot read (as for session keys)


def dukpt_pin_key(bdks: Mapping[str, SecretKey], ksn: bytes) -> tuple[SecretKey, int]:
    """The PIN encryption key of ``ksn`` and the ISO 9564 format that goes with it."""
    if len(ksn) == 10:
        from crypto.dukpt import TdesVariant, derive_ipek, derive_transaction_key, tdes_working_key

        bdk = bdks.get("tdes")
        if bdk is None:
            raise CryptoError("the host holds no TDES BDK", code="dukpt.no_bdk")
        ipek = derive_ipek(bdk, ksn)
        txn = derive_transaction_key(ipek, ksn)
        try:
            return tdes_working_key(txn, TdesVariant.PIN), 0
        finally:
            ipek.wipe()
            txn.wipe()
    if len(ksn) == 12:
        from crypto.dukpt_aes import (
            AesKeyType,
            AesKeyUsage,
            derive_initial_key,
            derive_intermediate_key,
            derive_working_key,
        )

        bdk = next((bdks[f] for f in ("aes128", "aes256") if f in bdks), None)
        if bdk is None:
            raise CryptoError("the host holds no AES BDK", code="dukpt.no_bdk")
        initial = derive_initial_key(bdk, ksn[:8])
        intermediate = derive_intermediate_key(initial, ksn)
        try:
            return derive_working_key(intermediate, ksn, AesKeyUsage.PIN_ENCRYPTION,
                                      AesKeyType.of_bdk(len(bdk))), 4
        finally:
            initial.wipe()
            intermediate[:] = bytes(len(intermediate))
    raise CryptoError(f"a KSN is 10 (TDES) or 12 (AES) bytes, not {len(ksn)}", code="dukpt.ksn")


class DukptHostMixin:
    """For ``HostProcessor``: ``self.dukpt_bdks`` (family -> BDK) and ``self.ledger`` (the KSNs seen)."""

    dukpt_bdks: Mapping[str, SecretKey]

    def _dukpt_pin(self, terminal_id: str | None, ksn_hex: str, block_hex: str, pan: str,
                   expected: str | None) -> str | None:
        """``63`` for a KSN seen before, ``99`` for a block that cannot be read, ``55`` for the wrong PIN."""
        from crypto.pinblock import decrypt_pin_block

        try:
            ksn = bytes.fromhex(ksn_hex)
            block = bytes.fromhex(block_hex)
        except ValueError:
            return PIN_FORMAT_ERROR
        if not self.ledger.first_use_of_ksn(terminal_id or "", ksn):
            return KSN_REUSED
        try:
            key, fmt = dukpt_pin_key(self.dukpt_bdks, ksn)
        except CryptoError:
            return PIN_FORMAT_ERROR
        try:
            pin = decrypt_pin_block(block, pan, key, fmt)
        except (CryptoError, ValueError):
            return PIN_FORMAT_ERROR
        finally:
            key.wipe()
        if expected is not None and not hmac.compare_digest(pin, expected.encode("ascii")):
            return "55"
        return None
