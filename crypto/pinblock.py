"""ISO 9564-1 PIN blocks: formats 0, 1 and 3 (TDES, 8 bytes) and 4 (AES, 16 bytes).

The clear PIN exists only inside these functions and inside the PIN pad
driver that calls them. What leaves is a ``PinBlock`` holding the block
encrypted under the PIN key, a fixed working key or a DUKPT PIN key alike.

=======  ==============================================  ============
format   clear block                                      cipher
=======  ==============================================  ============
0        0 N PIN F..F  XOR  0000 + 12 PAN digits           TDES-ECB
1        1 N PIN + random fill (0-F), no PAN                TDES-ECB
3        3 N PIN + random fill (A-F)  XOR  PAN field (0)    TDES-ECB
4        4 N PIN A..A + 8 random bytes; PAN field M PAN 0.. AES, twice
=======  ==============================================  ============

Format 4 enciphers ``E(K, E(K, PIN field) XOR PAN field)`` (ISO 9564-1:2017
9.4.2.3). The random fills of formats 1, 3 and 4 come from ``os.urandom``;
``fill`` arguments exist only so tests can replay published examples.

Every failure raises ``CryptoError`` whose text never quotes a PIN, PAN or
block; the code says what was wrong (``pin.block_format`` for the control
field, ``pin.block_pin`` for the PIN length or digits, ``pin.block_fill``).
"""

from __future__ import annotations

import enum
import os

from crypto.aes import AesEcb
from crypto.des import TdesEcb
from crypto.secrets import Pan, PinBlock, SecretKey
from firmware.errors import CryptoError

__all__ = [
    "PinFormat", "check_pin", "pin_field_iso0", "pan_field_iso0", "pan_field_iso4", "clear_block",
    "clear_block_iso0", "decode_clear_block", "encrypt_pin_block", "decrypt_pin_block",
    "encrypt_iso0", "decrypt_iso0",
]


class PinFormat(enum.IntEnum):
    ISO0 = 0
    ISO1 = 1
    ISO3 = 3
    ISO4 = 4

    @property
    def block_size(self) -> int:
        return 16 if self is PinFormat.ISO4 else 8

    @property
    def uses_pan(self) -> bool:
        return self is not PinFormat.ISO1


def _format(fmt: int | PinFormat) -> PinFormat:
    if type(fmt) is PinFormat:  # a member already: the enum's own call costs a microsecond
        return fmt
    try:
        return PinFormat(fmt)
    except ValueError:
        raise CryptoError(f"ISO 9564 PIN block format {fmt!r} is not supported (0, 1, 3, 4)",
                          code="pin.unsupported_format") from None


def check_pin(pin: bytes | bytearray) -> None:
    if not 4 <= len(pin) <= 12 or not all(0x30 <= b <= 0x39 for b in pin):
        raise CryptoError("a PIN is 4 to 12 digits", code="pin.format")


def _digits(pan: Pan | str | bytes) -> str:
    if isinstance(pan, Pan):
        return pan.reveal_str()
    text = pan.decode("ascii") if isinstance(pan, (bytes, bytearray)) else pan
    if not (1 <= len(text) <= 19 and text.isascii() and text.isdigit()):
        raise CryptoError("a PAN for a PIN block is 1 to 19 digits", code="pin.pan")
    return text


def _wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


def _nibbles_to_bytes(nibbles: bytearray) -> bytearray:
    """Hex nibble characters to bytes, wiping the character buffer."""
    try:
        return bytearray.fromhex(nibbles.decode("ascii"))
    finally:
        _wipe(nibbles)


def _random_nibbles(count: int, alphabet: bytes) -> bytes:
    """``count`` characters drawn uniformly from ``alphabet`` (rejection sampling, no modulo bias)."""
    out = bytearray()
    limit = 256 - 256 % len(alphabet)
    while len(out) < count:
        for b in os.urandom(count):
            if b < limit and len(out) < count:
                out.append(alphabet[b % len(alphabet)])
    return bytes(out)


# -- fields ------------------------------------------------------------------
def pin_field_iso0(pin: bytes | bytearray) -> bytearray:
    """0 | length | PIN digits | F fill, as 8 bytes."""
    return _pin_field(PinFormat.ISO0, pin, None)


def pan_field_iso0(pan: Pan | str) -> bytes:
    """0000 | the 12 rightmost PAN digits excluding the check digit (formats 0 and 3)."""
    digits = _digits(pan)
    return bytes.fromhex("0000" + digits[:-1][-12:].rjust(12, "0"))


def pan_field_iso4(pan: Pan | str) -> bytes:
    """M | PAN (at least 12 digits, zero-filled on the left) | 0 fill, as 16 bytes.

    M is the number of PAN digits beyond 12 (0 for a PAN of 12 digits or fewer).
    """
    digits = _digits(pan)
    text = f"{max(len(digits) - 12, 0):X}" + digits.rjust(12, "0")
    return bytes.fromhex(text.ljust(32, "0"))


_FILLS = {PinFormat.ISO0: b"F", PinFormat.ISO1: b"0123456789ABCDEF", PinFormat.ISO3: b"ABCDEF"}


def _pin_field(fmt: PinFormat, pin: bytes | bytearray, fill: bytes | None) -> bytearray:
    check_pin(pin)
    head = bytearray(b"%X%X" % (fmt, len(pin))) + bytes(pin)  # an IntEnum formats as its number
    if fmt is PinFormat.ISO4:
        head += b"A" * (16 - len(head))
        head += fill.hex().upper().encode() if fill is not None else os.urandom(8).hex().upper().encode()
    elif fill is not None:
        head += fill.upper()
    elif fmt is PinFormat.ISO0:
        head += b"F" * (16 - len(head))
    else:
        head += _random_nibbles(16 - len(head), _FILLS[fmt])
    if len(head) != 2 * fmt.block_size:
        _wipe(head)
        raise CryptoError("the PIN block fill has the wrong length", code="pin.block_fill")
    return _nibbles_to_bytes(head)


def clear_block(fmt: int | PinFormat, pin: bytes | bytearray, pan: Pan | str | None = None, *,
                fill: bytes | None = None) -> bytearray:
    """The clear PIN block (format 4: the plaintext PIN field). Wipe it after use.

    ``fill`` replaces the random fill: hex characters for formats 1 and 3,
    8 bytes for format 4. Only tests replaying published examples pass it.
    """
    fmt = _format(fmt)
    field = _pin_field(fmt, pin, fill)
    if fmt in (PinFormat.ISO0, PinFormat.ISO3):
        if pan is None:
            _wipe(field)
            raise CryptoError(f"ISO format {fmt.value} needs the PAN", code="pin.pan")
        for i, b in enumerate(pan_field_iso0(pan)):
            field[i] ^= b
    return field


def clear_block_iso0(pin: bytes | bytearray, pan: Pan | str) -> bytearray:
    return clear_block(PinFormat.ISO0, pin, pan)


def decode_clear_block(fmt: int | PinFormat, block: bytes | bytearray, pan: Pan | str | None = None) -> bytes:
    """The PIN digits of a clear block (format 4: of the plaintext PIN field)."""
    fmt = _format(fmt)
    if len(block) != fmt.block_size:
        raise CryptoError(f"an ISO format {fmt.value} PIN block is {fmt.block_size} bytes", code="pin.block_length")
    work = bytearray(block)
    try:
        if fmt in (PinFormat.ISO0, PinFormat.ISO3):
            if pan is None:
                raise CryptoError(f"ISO format {fmt.value} needs the PAN", code="pin.pan")
            for i, b in enumerate(pan_field_iso0(pan)):
                work[i] ^= b
        text = work.hex().upper()
        if text[0] != f"{fmt.value:X}":
            raise CryptoError(f"the PIN block is not ISO format {fmt.value}", code="pin.block_format")
        n = int(text[1], 16)
        pin = text[2 : 2 + n]
        if not 4 <= n <= 12 or not pin.isdigit():
            raise CryptoError("the PIN block does not hold a PIN of 4 to 12 digits", code="pin.block_pin")
        fill = text[2 + n : 16]
        allowed = "A" if fmt is PinFormat.ISO4 else _FILLS[fmt].decode()
        if any(c not in allowed for c in fill):
            raise CryptoError(f"the PIN block fill is not that of ISO format {fmt.value}", code="pin.block_fill")
        return pin.encode("ascii")
    finally:
        _wipe(work)


# -- encryption --------------------------------------------------------------
def _tdes(key: SecretKey | TdesEcb | bytes) -> TdesEcb:
    if isinstance(key, TdesEcb):
        return key
    return TdesEcb(key.reveal() if isinstance(key, SecretKey) else bytes(key))


def _aes(key: SecretKey | AesEcb | bytes) -> AesEcb:
    if isinstance(key, AesEcb):
        return key
    return AesEcb(key.reveal() if isinstance(key, SecretKey) else bytes(key))


def _xor_into(buf: bytearray, other: bytes) -> bytearray:
    for i, b in enumerate(other):
        buf[i] ^= b
    return buf


def encrypt_pin_block(pin: bytes | bytearray, pan: Pan | str | None, key: SecretKey | TdesEcb | AesEcb | bytes,
                      fmt: int | PinFormat = PinFormat.ISO0, *, fill: bytes | None = None) -> PinBlock:
    """Build the clear block and encrypt it: TDES-ECB for formats 0, 1, 3; AES for 4.

    ``key`` is the PIN key, the DUKPT PIN key of this transaction, or a
    ready-made ``TdesEcb``/``AesEcb`` context.
    """
    fmt = _format(fmt)
    clear = clear_block(fmt, pin, pan, fill=fill)
    try:
        if fmt is PinFormat.ISO4:
            if pan is None:
                raise CryptoError("ISO format 4 needs the PAN", code="pin.pan")
            ecb = _aes(key)
            step = _xor_into(bytearray(ecb.encrypt(bytes(clear))), pan_field_iso4(pan))
            return PinBlock(ecb.encrypt(bytes(step)), format=int(fmt))
        return PinBlock(_tdes(key).encrypt(bytes(clear)), format=int(fmt))  # int(): .value costs more
    finally:
        _wipe(clear)


def decrypt_pin_block(block: PinBlock | bytes, pan: Pan | str | None, key: SecretKey | TdesEcb | AesEcb | bytes,
                      fmt: int | PinFormat | None = None) -> bytes:
    """The PIN digits of an encrypted block (host side and lab tools).

    ``fmt`` defaults to the ``PinBlock``'s own format (0 for raw bytes).
    """
    if fmt is None:
        fmt = block.format if isinstance(block, PinBlock) else PinFormat.ISO0
    fmt = _format(fmt)
    raw = block.reveal() if isinstance(block, PinBlock) else bytes(block)
    if len(raw) != fmt.block_size:
        raise CryptoError(f"an ISO format {fmt.value} PIN block is {fmt.block_size} bytes", code="pin.block_length")
    if fmt is PinFormat.ISO4:
        if pan is None:
            raise CryptoError("ISO format 4 needs the PAN", code="pin.pan")
        ecb = _aes(key)
        step = _xor_into(bytearray(ecb.decrypt(raw)), pan_field_iso4(pan))
        clear = bytearray(ecb.decrypt(bytes(step)))
        _wipe(step)
    else:
        clear = bytearray(_tdes(key).decrypt(raw))
    try:
        return decode_clear_block(fmt, clear, pan)
    finally:
        _wipe(clear)


def encrypt_iso0(pin: bytes | bytearray, pan: Pan | str, key: SecretKey | TdesEcb) -> PinBlock:
    """Build an ISO format 0 block and encrypt it under the PIN key (TDES-ECB)."""
    return encrypt_pin_block(pin, pan, key, PinFormat.ISO0)


def decrypt_iso0(block: PinBlock | bytes, pan: Pan | str, key: SecretKey | TdesEcb) -> bytes:
    """Recover the PIN digits from an encrypted format 0 block (host side, lab tools)."""
    return decrypt_pin_block(block, pan, key, PinFormat.ISO0)
