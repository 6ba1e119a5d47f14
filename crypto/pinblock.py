"""ISO 9564-1 PIN blocks.

The clear PIN exists only inside these functions and inside the PIN pad
driver that calls them. What leaves is a ``PinBlock`` holding the block
encrypted under the PIN key.

Format 0 is implemented here for the backbone; formats 1, 3 and 4 follow the
same shape (issue #4).
"""

from __future__ import annotations

from crypto.des import TdesEcb
from crypto.secrets import Pan, PinBlock, SecretKey
from firmware.errors import CryptoError

__all__ = ["pin_field_iso0", "pan_field_iso0", "clear_block_iso0", "encrypt_iso0", "decrypt_iso0", "check_pin"]


def check_pin(pin: bytes | bytearray) -> None:
    if not 4 <= len(pin) <= 12 or not all(0x30 <= b <= 0x39 for b in pin):
        raise CryptoError("a PIN is 4 to 12 digits", code="pin.format")


def pin_field_iso0(pin: bytes | bytearray) -> bytearray:
    """0 | length | PIN digits | F fill, as 8 bytes."""
    check_pin(pin)
    nibbles = bytearray(b"0" + b"%X" % len(pin) + bytes(pin) + b"F" * (14 - len(pin)))
    field = bytearray.fromhex(nibbles.decode("ascii"))
    for i in range(len(nibbles)):
        nibbles[i] = 0
    return field


def pan_field_iso0(pan: Pan | str) -> bytes:
    """0000 | the 12 rightmost PAN digits excluding the check digit."""
    digits = pan.reveal_str() if isinstance(pan, Pan) else pan
    return bytes.fromhex("0000" + digits[:-1][-12:].rjust(12, "0"))


def clear_block_iso0(pin: bytes | bytearray, pan: Pan | str) -> bytearray:
    pin_field = pin_field_iso0(pin)
    pan_field = pan_field_iso0(pan)
    for i in range(8):
        pin_field[i] ^= pan_field[i]
    return pin_field


def encrypt_iso0(pin: bytes | bytearray, pan: Pan | str, key: SecretKey | TdesEcb) -> PinBlock:
    """Build an ISO format 0 block and encrypt it under the PIN key (TDES-ECB)."""
    ecb = key if isinstance(key, TdesEcb) else TdesEcb(key.reveal())
    clear = clear_block_iso0(pin, pan)
    try:
        return PinBlock(ecb.encrypt(bytes(clear)), format=0)
    finally:
        for i in range(len(clear)):
            clear[i] = 0


def decrypt_iso0(block: PinBlock | bytes, pan: Pan | str, key: SecretKey | TdesEcb) -> bytes:
    """Recover the PIN digits from an encrypted format 0 block (host side, lab tools)."""
    ecb = key if isinstance(key, TdesEcb) else TdesEcb(key.reveal())
    raw = block.reveal() if isinstance(block, PinBlock) else bytes(block)
    clear = bytearray(ecb.decrypt(raw))
    pan_field = pan_field_iso0(pan)
    for i in range(8):
        clear[i] ^= pan_field[i]
    text = clear.hex().upper()
    if text[0] != "0":
        raise CryptoError("the PIN block is not ISO format 0", code="pin.block_format")
    n = int(text[1], 16)
    pin, fill = text[2 : 2 + n], text[2 + n :]
    if not 4 <= n <= 12 or not pin.isdigit() or fill != "F" * len(fill):
        raise CryptoError("the PIN block does not decode to a PIN", code="pin.block_format")
    return pin.encode("ascii")
