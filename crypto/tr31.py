"""ANSI X9 TR-31 key blocks, versions A, B, C and D, from ``cryptography``'s primitives.

psec (the library the issue suggests) builds TripleDES from the deprecated
``primitives`` location and warns under cryptography 50 (checked with psec
1.3.0), so the key block itself is written here; every cipher comes from
``cryptography`` (TDES from its ``decrepit`` module, AES, CMAC).

A key block is ASCII::

    header (16 chars + optional blocks) | encrypted key data (hex) | MAC (hex)

=======  =========================================  ===========  ==============
version  key binding                                cipher       MAC
=======  =========================================  ===========  ==============
A, C     variants: KBPK xor 45.. (enc), 4D.. (MAC)  TDES-CBC,    TDES CBC-MAC,
                                                    IV = header   4 bytes
B        derivation: TDES-CMAC of counter data      TDES-CBC,    TDES-CMAC,
                                                    IV = MAC      8 bytes
D        derivation: AES-CMAC of counter data       AES-CBC,     AES-CMAC,
                                                    IV = MAC      16 bytes
=======  =========================================  ===========  ==============

The clear key data is a 2-byte key length in bits, the key, and random
padding (which may hide the key's real length). The optional blocks (``KS``
for a DUKPT initial key serial number, ``IK`` for an AES DUKPT initial key
ID, ...) are authenticated with the header; a ``PB`` pad block keeps the
header a whole number of cipher blocks and is not returned.

Errors are ``CryptoError`` with codes ``tr31.*`` and never quote the block.
"""

from __future__ import annotations

import hmac
import os
import re
from dataclasses import dataclass

from crypto.secrets import SecretKey
from firmware.errors import CryptoError

__all__ = ["Tr31Header", "Tr31Block", "wrap", "unwrap", "parse_header", "VERSIONS"]

VERSIONS = ("A", "B", "C", "D")
_MAC_SIZE = {"A": 4, "B": 8, "C": 4, "D": 16}
_BLOCK = {"A": 8, "B": 8, "C": 8, "D": 16}
_KBPK_SIZES = {"A": (8, 16, 24), "B": (16, 24), "C": (8, 16, 24), "D": (16, 24, 32)}
_KEY_SIZES = {"T": (8, 16, 24), "A": (16, 24, 32)}  # by the header's algorithm of the wrapped key
_MAX_LENGTH = 9992
_HEX = re.compile(r"[0-9A-F]*")


def _bad(text: str, code: str = "tr31.format") -> CryptoError:
    return CryptoError(text, code=code)


@dataclass(frozen=True)
class Tr31Header:
    """The attributes of a key block. ``blocks`` are the optional blocks, ``PB`` excluded."""

    version: str = "B"
    key_usage: str = "K0"
    algorithm: str = "T"
    mode_of_use: str = "B"
    key_version: str = "00"
    exportability: str = "N"
    blocks: tuple[tuple[str, str], ...] = ()
    reserved: str = "00"

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise _bad(f"key block version {self.version!r} is not supported (A, B, C, D)", "tr31.version")
        for value, size, what in ((self.key_usage, 2, "key usage"), (self.algorithm, 1, "algorithm"),
                                  (self.mode_of_use, 1, "mode of use"), (self.key_version, 2, "key version"),
                                  (self.exportability, 1, "exportability"), (self.reserved, 2, "reserved field")):
            if not (isinstance(value, str) and len(value) == size and value.isascii() and value.isalnum()):
                raise _bad(f"the key block {what} must be {size} letters or digits", "tr31.header")
        for block_id, data in self.blocks:
            if not (len(block_id) == 2 and block_id.isascii() and block_id.isalnum()) or block_id == "PB":
                raise _bad("an optional block ID is 2 letters or digits (PB is added by itself)", "tr31.header")
            if not all(0x20 <= ord(c) <= 0x7E for c in data):
                raise _bad(f"optional block {block_id} must be printable ASCII", "tr31.header")

    def block(self, block_id: str) -> str | None:
        return dict(self.blocks).get(block_id)

    def text(self, length: int) -> str:
        """The header as it goes on the wire for a key block of ``length`` characters."""
        opt = "".join(_dump_block(i, d) for i, d in self.blocks)
        count = len(self.blocks)
        base = 16 + len(opt)
        step = _BLOCK[self.version]
        if base % step:
            fill = -(base + 4) % step
            opt += f"PB{4 + fill:02X}" + "0" * fill
            count += 1
        if count > 99:
            raise _bad("a key block has at most 99 optional blocks", "tr31.header")
        return (f"{self.version}{length:04d}{self.key_usage}{self.algorithm}{self.mode_of_use}"
                f"{self.key_version}{self.exportability}{count:02d}{self.reserved}{opt}")


def _dump_block(block_id: str, data: str) -> str:
    if len(data) + 4 <= 255:
        return f"{block_id}{len(data) + 4:02X}{data}"
    total = len(data) + 10
    if total > 0xFFFF:
        raise _bad(f"optional block {block_id} is too long", "tr31.header")
    return f"{block_id}0002{total:04X}{data}"


def parse_header(text: str) -> tuple[Tr31Header, int]:
    """The header at the start of ``text`` and its length in characters."""
    if len(text) < 16 or not text[:16].isascii() or not text[:16].isalnum():
        raise _bad("a key block starts with a 16-character alphanumeric header")
    if not text[12:14].isdigit():
        raise _bad("the key block's count of optional blocks is not 2 digits")
    count, pos, blocks = int(text[12:14]), 16, []
    for _ in range(count):
        block_id = text[pos : pos + 2]
        if len(block_id) < 2 or not (block_id.isascii() and block_id.isalnum()):
            raise _bad(f"optional block at character {pos} has no valid ID")
        size_text = text[pos + 2 : pos + 4]
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", size_text):
            raise _bad(f"optional block {block_id} has a malformed length")
        size, head = int(size_text, 16), 4
        if size == 0:  # extended length: 2 hex digits giving the length's size in bytes, then the length
            digits_text = text[pos + 4 : pos + 6]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits_text) or int(digits_text, 16) == 0:
                raise _bad(f"optional block {block_id} has a malformed extended length")
            n = 2 * int(digits_text, 16)
            size_text = text[pos + 6 : pos + 6 + n]
            if len(size_text) != n or not re.fullmatch(r"[0-9A-Fa-f]+", size_text):
                raise _bad(f"optional block {block_id} has a malformed extended length")
            size, head = int(size_text, 16), 6 + n
        if size < head or pos + size > len(text):
            raise _bad(f"optional block {block_id} runs past its length")
        data = text[pos + head : pos + size]
        if not all(0x20 <= ord(c) <= 0x7E for c in data):
            raise _bad(f"optional block {block_id} is not printable ASCII")
        if block_id != "PB":
            blocks.append((block_id, data))
        pos += size
    header = Tr31Header(version=text[0], key_usage=text[5:7], algorithm=text[7], mode_of_use=text[8],
                        key_version=text[9:11], exportability=text[11], blocks=tuple(blocks), reserved=text[14:16])
    return header, pos


# -- key binding ---------------------------------------------------------------
def _check_kbpk(version: str, kbpk: bytes) -> bytes:
    if len(kbpk) not in _KBPK_SIZES[version]:
        sizes = ", ".join(str(n) for n in _KBPK_SIZES[version])
        raise _bad(f"a version {version} KBPK is {sizes} bytes, not {len(kbpk)}", "tr31.kbpk")
    return kbpk


def _derive(version: str, kbpk: bytes) -> tuple[bytes, bytes]:
    """(encryption key, authentication key) for the key block protection key."""
    _check_kbpk(version, kbpk)
    if version in ("A", "C"):
        return bytes(b ^ 0x45 for b in kbpk), bytes(b ^ 0x4D for b in kbpk)
    from crypto.mac import aes_cmac, tdes_cmac

    if version == "B":
        algorithm, cmac, step = (b"\x00\x00" if len(kbpk) == 16 else b"\x00\x01"), tdes_cmac, 8
    else:
        algorithm, cmac, step = {16: b"\x00\x02", 24: b"\x00\x03", 32: b"\x00\x04"}[len(kbpk)], aes_cmac, 16
    bits = (8 * len(kbpk)).to_bytes(2, "big")
    out = []
    for usage in (b"\x00\x00", b"\x00\x01"):
        key = b"".join(cmac(kbpk, bytes([i]) + usage + b"\x00" + algorithm + bits)
                       for i in range(1, -(-len(kbpk) // step) + 1))
        out.append(key[: len(kbpk)])
    return out[0], out[1]


def _mac(version: str, kbak: bytes, data: bytes) -> bytes:
    from crypto.mac import aes_cmac, iso9797_alg1, tdes_cmac

    if version in ("A", "C"):
        return iso9797_alg1(kbak, data)[:4]
    if version == "B":
        return tdes_cmac(kbak, data)
    return aes_cmac(kbak, data)


def _cbc(version: str, key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    if version == "D":
        from crypto.aes import aes_cbc_decrypt, aes_cbc_encrypt

        return (aes_cbc_encrypt if encrypt else aes_cbc_decrypt)(key, data, iv)
    from crypto.des import tdes_cbc_decrypt, tdes_cbc_encrypt

    return (tdes_cbc_encrypt if encrypt else tdes_cbc_decrypt)(key, data, iv)


def _raw(key: SecretKey | bytes) -> bytes:
    return key.reveal() if isinstance(key, SecretKey) else bytes(key)


# -- wrap / unwrap ---------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Tr31Block:
    """An unwrapped key block: its header and the key (a ``SecretKey``)."""

    header: Tr31Header
    key: SecretKey

    def __repr__(self) -> str:
        return f"Tr31Block({self.header!r}, key={self.key!r})"


def wrap(kbpk: SecretKey | bytes, header: Tr31Header, key: SecretKey | bytes, *,
         masked_length: int | None = None, pad: bytes | None = None) -> str:
    """The key block carrying ``key`` under ``kbpk``.

    ``masked_length`` pads the key data as if the key were that long (hiding
    a double-length key among triple-length ones). ``pad`` replaces the
    random padding; only tests replaying published blocks pass it.
    """
    v, kbpk_raw, key_raw = header.version, _raw(kbpk), _raw(key)
    sizes = _KEY_SIZES.get(header.algorithm)
    if not key_raw or (sizes is not None and len(key_raw) not in sizes):
        raise _bad(f"a key of {len(key_raw)} bytes does not fit algorithm {header.algorithm}", "tr31.key_length")
    if v != "D" and len(key_raw) > len(kbpk_raw):
        raise _bad("the key is longer than the key block protection key", "tr31.key_length")
    kbek, kbak = _derive(v, kbpk_raw)
    step = _BLOCK[v]
    shown = max(len(key_raw), masked_length or 0)
    fill = shown - len(key_raw) + (-(2 + shown) % step)
    if pad is None:
        pad = os.urandom(fill)
    elif len(pad) != fill:
        raise _bad(f"the padding must be {fill} bytes", "tr31.key_length")
    clear = (8 * len(key_raw)).to_bytes(2, "big") + key_raw + pad
    length = len(header.text(0)) + 2 * len(clear) + 2 * _MAC_SIZE[v]
    if length > _MAX_LENGTH:
        raise _bad("the key block would be longer than 9992 characters", "tr31.header")
    head = header.text(length).encode("ascii")
    if v in ("A", "C"):
        enc = _cbc(v, kbek, head[:8], clear, encrypt=True)
        mac = _mac(v, kbak, head + enc)
    else:
        mac = _mac(v, kbak, head + clear)
        enc = _cbc(v, kbek, mac, clear, encrypt=True)
    return head.decode("ascii") + enc.hex().upper() + mac.hex().upper()


def unwrap(kbpk: SecretKey | bytes, block: str, *, usage: str = "generic") -> Tr31Block:
    """Check and open a key block; the key comes back as a ``SecretKey`` of ``usage``."""
    if not isinstance(block, str) or not block.isascii() or not block.isprintable():
        raise _bad("a key block is printable ASCII text")
    block = block.strip()
    if len(block) < 5 or block[0] not in VERSIONS:
        raise _bad("the key block version is not A, B, C or D", "tr31.version")
    if not block[1:5].isdigit() or int(block[1:5]) != len(block):
        raise _bad("the key block's length field does not match its length")
    header, head_len = parse_header(block)
    v = header.version
    kbpk_raw = _check_kbpk(v, _raw(kbpk))
    mac_hex, step = 2 * _MAC_SIZE[v], _BLOCK[v]
    body = block[head_len : len(block) - mac_hex].upper()
    mac_text = block[len(block) - mac_hex :].upper()
    if head_len % step or not body or len(body) % (2 * step) or not _HEX.fullmatch(body + mac_text):
        raise _bad("the key block's encrypted data or MAC is malformed")
    kbek, kbak = _derive(v, kbpk_raw)
    head, enc, mac = block[:head_len].encode("ascii"), bytes.fromhex(body), bytes.fromhex(mac_text)
    if v in ("A", "C"):
        ok = hmac.compare_digest(_mac(v, kbak, head + enc), mac)
        clear = _cbc(v, kbek, head[:8], enc, encrypt=False) if ok else b""
    else:
        clear = _cbc(v, kbek, mac, enc, encrypt=False)
        ok = hmac.compare_digest(_mac(v, kbak, head + clear), mac)
    if not ok:
        raise _bad("the key block fails its MAC: wrong KBPK or altered block", "tr31.mac")
    bits = int.from_bytes(clear[:2], "big")
    if bits == 0 or bits % 8:
        raise _bad("the key block holds no whole key", "tr31.key")
    if 2 + bits // 8 > len(clear):
        raise _bad("the key block's key length runs past its data", "tr31.key")
    return Tr31Block(header, SecretKey(clear[2 : 2 + bits // 8], usage=usage))
