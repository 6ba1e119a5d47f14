"""Encrypting (SRED) readers: MagTek MagneSafe encrypted output, carried sealed.

The format is MagTek's MagneSafe V5 keyboard-emulation card data output, as
published in the MagneSafe V5 Communication Reference Manual (MagTek part
number 99875475, section "Card Data (KB)"; the same layout is in the
Dynamag, eDynamo and iDynamo manuals). A MagneSafe reader in keyboard or
serial mode sends, with the factory defaults (field separator ``|``,
terminator CR, track 3 start sentinel ``+``)::

    [masked track 1][masked track 2][masked track 3]     each with its sentinels
    |reader encryption status                           4 hex digits
    |track 1 encrypted |track 2 encrypted |track 3 encrypted   hex, may be empty
    |MagnePrint status |encrypted MagnePrint            hex
    |device serial number
    |encrypted session ID
    |DUKPT KSN                                          20 hex digits (10 bytes)
    [|encryption counter]                               optional, off by default
    |clear text CRC |encrypted CRC |format code
    CR

The masked tracks keep the first 6 and last 4 digits of the PAN, the expiry
and the separators, and replace the rest with a mask character (``0`` by
default). Each encrypted track is the clear track, sentinels included, padded
with zero bytes to a multiple of 8 and encrypted with TDES-CBC (zero IV) under
a key derived from the DUKPT KSN.

This module never decrypts. ``parse_magtek`` turns the output into a
``Swipe`` whose tracks are the *masked* ones and whose ``encrypted`` is an
``EncryptedSwipe`` (ciphertext and KSN, a secret type: masked repr, no
pickling, ``wipe()``). ``open_swipe(swipe, decrypt)`` is the hook for issue
#4: ``decrypt`` is a ``TrackDecryptor`` supplied by ``crypto/`` (DUKPT data
key from the KSN, TDES-CBC); this module checks the clear tracks it returns
against the masked ones and hands back an ordinary ``Swipe``.
``masked_summary`` gives the facts the display and the entry policy need
without decrypting anything. ``encode_magtek`` builds the output for the
simulator and tests.

Errors: ``card.sred_format`` (not this format), ``card.sred_mismatch`` (the
clear tracks do not match the masked ones), ``card.no_track``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Protocol

from crypto.secrets import Secret, TrackData, mask_pan
from firmware.errors import CardError
from hal.magstripe.raw import Sentinels, in_alphabet, split_tracks
from hal.magstripe.swipe import Swipe
from hal.magstripe.tracks import CardSummary, summarise

__all__ = [
    "EncryptedSwipe",
    "TrackDecryptor",
    "parse_magtek",
    "open_swipe",
    "masked_summary",
    "encode_magtek",
    "mask_track",
]

SEPARATOR = "|"
KSN_BYTES = 10
MAGTEK_SENTINELS = Sentinels(track3="+")  # MagneSafe factory defaults: %, ;, + and ?
_FIELDS = (12, 13)  # fields after the masked tracks, without and with the encryption counter
_HEX = re.compile(r"^(?:[0-9A-F]{2})*$")
_AGAIN = "swipe again"


class TrackDecryptor(Protocol):
    """What ``crypto/`` supplies (issue #4): the clear bytes of one encrypted track.

    ``ksn`` is the 10-byte DUKPT key serial number; the result is the track as
    encrypted (sentinels included, zero padding allowed). Raise ``CryptoError``
    when it cannot be decrypted.
    """

    def __call__(self, ksn: bytes, ciphertext: bytes) -> bytes | bytearray: ...


class EncryptedSwipe:
    """Ciphertext per track and the KSN of one encrypted swipe. A secret: masked repr, no pickling, ``wipe()``."""

    __slots__ = ("_ksn", "_tracks", "status", "device_serial")

    def __init__(self, ksn: bytes, tracks: Mapping[int, bytes], *, status: int = 0, device_serial: str = "") -> None:
        if len(ksn) != KSN_BYTES:
            raise ValueError(f"a DUKPT KSN has {KSN_BYTES} bytes")
        self._ksn = Secret(ksn)
        self._tracks = {n: Secret(ct) for n, ct in sorted(tracks.items())}
        self.status = status
        self.device_serial = device_serial

    @property
    def track_numbers(self) -> tuple[int, ...]:
        return tuple(self._tracks)

    def ksn(self) -> bytes:
        """The KSN (for the decryptor in ``crypto/``, or a host message)."""
        return self._ksn.reveal()

    def ciphertext(self, track: int) -> bytes:
        return self._tracks[track].reveal()

    def wipe(self) -> None:
        self._ksn.wipe()
        for secret in self._tracks.values():
            secret.wipe()

    @property
    def wiped(self) -> bool:
        return self._ksn.wiped

    def __repr__(self) -> str:
        if self.wiped:
            return "<EncryptedSwipe wiped>"
        shown = ", ".join(f"track {n}: {len(s)} bytes" for n, s in self._tracks.items()) or "no tracks"
        return f"<EncryptedSwipe {shown}, KSN {KSN_BYTES} bytes>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("EncryptedSwipe cannot be pickled")


def _bad(what: str) -> CardError:
    return CardError(f"Encrypted reader output {what}: {_AGAIN}", code="card.sred_format")


def parse_magtek(raw: bytes | bytearray, sentinels: Sentinels) -> Swipe:
    """Split MagTek encrypted output into masked tracks and an ``EncryptedSwipe``. Raises ``CardError``."""
    try:
        text = bytes(raw).decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError:
        raise _bad("is not text") from None
    masked_part, *fields = text.split(SEPARATOR)
    if len(fields) not in _FIELDS:
        raise _bad("does not have the fields of MagTek's format")
    status, enc = fields[0], fields[1:4]
    ksn = fields[8]
    if not re.fullmatch(r"[0-9A-F]{4}", status):
        raise _bad("has an unreadable encryption status")
    if len(ksn) != 2 * KSN_BYTES or not _HEX.match(ksn):
        raise _bad("has no key serial number")
    if any(not _HEX.match(e) or len(e) % 16 for e in enc):
        raise _bad("has unreadable ciphertext")
    ciphertext = {n: bytes.fromhex(e) for n, e in enumerate(enc, start=1) if e}
    if not ciphertext:
        raise CardError(f"Card read failed: {_AGAIN} (no track could be read)", code="card.no_track")
    plus = sentinels.track3 if "+" in sentinels.track3 else sentinels.track3 + "+"
    masked_sentinels = Sentinels(sentinels.track1, sentinels.track2, plus, sentinels.end, sentinels.error_mark)
    try:
        masked = split_tracks(masked_part.encode("ascii"), masked_sentinels, strict=False)
    except CardError as exc:
        if exc.code != "card.no_track":
            raise
        masked = {}  # the reader may be set to send no masked tracks
    encrypted = EncryptedSwipe(bytes.fromhex(ksn), ciphertext, status=int(status, 16), device_serial=fields[6])
    return Swipe.from_tracks(masked, encrypted=encrypted)


def _clear_track(clear: bytes | bytearray, track: int) -> bytearray:
    """The text between the sentinels of a decrypted track (zero padding dropped)."""
    body = bytes(clear).rstrip(b"\x00")
    if len(body) < 2 or chr(body[0]) not in "%;+" or not body.endswith(b"?"):
        raise _bad(f"track {track} does not decrypt to a card track")
    out = bytearray(body[1:-1])
    if not in_alphabet(out, track):
        out[:] = bytes(len(out))
        raise _bad(f"track {track} does not decrypt to a card track")
    return out


def _pan_and_expiry(text: str, track: int) -> tuple[str, str | None]:
    """The PAN and expiry as a track shows them (masked or clear), for comparing the two."""
    if track == 1:
        parts = text[1:].split("^")
        pan = parts[0].replace(" ", "")
        return pan, parts[2][:4] if len(parts) > 2 and len(parts[2]) >= 4 else None
    if track == 3:
        text = text[2:]
    pan, _, rest = text.partition("=")
    return pan, (rest[:4] if track == 2 and len(rest) >= 4 else None)


def _matches(masked: str, clear: str, track: int) -> bool:
    mpan, mexp = _pan_and_expiry(masked, track)
    cpan, cexp = _pan_and_expiry(clear, track)
    same_ends = len(mpan) == len(cpan) and mpan[:6] == cpan[:6] and mpan[-4:] == cpan[-4:]
    return same_ends and (mexp is None or mexp == cexp)


def open_swipe(swipe: Swipe, decrypt: TrackDecryptor | Callable[[bytes, bytes], bytes | bytearray]) -> Swipe:
    """Decrypt an encrypted swipe through ``decrypt`` (from ``crypto/``) into an ordinary ``Swipe``.

    Every decrypted track must match its masked copy (first 6 and last 4 of
    the PAN, and the expiry): ``card.sred_mismatch`` otherwise. The encrypted
    swipe is left as it was; the caller wipes it.
    """
    enc = swipe.encrypted
    if enc is None:
        raise ValueError("open_swipe needs a swipe from an encrypting reader")
    ksn = enc.ksn()
    clear: dict[int, TrackData] = {}
    try:
        for n in enc.track_numbers:
            plain = decrypt(ksn, enc.ciphertext(n))
            try:
                body = _clear_track(plain, n)
            finally:
                if isinstance(plain, bytearray):
                    plain[:] = bytes(len(plain))
            clear[n] = TrackData(body, track=n)
            body[:] = bytes(len(body))
            masked = getattr(swipe, f"track{n}")
            if masked is not None and not _matches(masked.reveal_str(), clear[n].reveal_str(), n):
                raise CardError(f"Encrypted and masked card data disagree: {_AGAIN}", code="card.sred_mismatch")
    except BaseException:
        for data in clear.values():
            data.wipe()
        raise
    return Swipe.from_tracks(clear)


def masked_summary(swipe: Swipe) -> CardSummary:
    """The card's facts from the masked tracks alone (track 2, else track 1); nothing is decrypted.

    A service code the reader masked (MagTek masks it unless told not to) is
    ``None``: a real service code never starts with the mask digit 0.
    """
    for data, n in ((swipe.track2, 2), (swipe.track1, 1)):
        if data is None:
            continue
        text = data.reveal_str()
        pan, expiry = _pan_and_expiry(text, n)
        if len(pan) < 10 or not (pan[:6] + pan[-4:]).isdigit() or expiry is None or not expiry.isdigit():
            break
        sep = "=" if n == 2 else "^"
        after = text.split(sep, 1 if n == 2 else 2)[-1][4:7]
        service = after if len(after) == 3 and after.isdigit() and after[0] != "0" else None
        return summarise(mask_pan(pan), pan[-4:], expiry, service, tracks="".join(str(t) for t in swipe.encrypted.track_numbers) if swipe.encrypted else "")
    raise CardError(f"Encrypted reader sent no readable masked track: {_AGAIN}", code="card.sred_format")


def mask_track(text: str, track: int, *, mask: str = "0", first: int = 6, last: int = 4) -> str:
    """A track as a MagneSafe reader masks it: PAN ends, expiry, separators and track 1's name kept."""
    if track == 1:
        pan, name, rest = (text[1:].split("^", 2) + ["", ""])[:3]
        return "B" + _mask_pan(pan, mask, first, last) + "^" + name + "^" + rest[:4] + mask * len(rest[4:])
    head = text[:2] if track == 3 else ""
    pan, sep, rest = text[len(head) :].partition("=")
    keep = rest[:4] if track == 2 else ""
    masked_rest = keep + "".join(c if c == "=" else mask for c in rest[len(keep) :])
    return mask * len(head) + _mask_pan(pan, mask, first, last) + sep + masked_rest


def _mask_pan(pan: str, mask: str, first: int, last: int) -> str:
    return pan[:first] + mask * max(0, len(pan) - first - last) + pan[-last:]


def encode_magtek(
    tracks: Mapping[int, str],
    *,
    ksn: bytes,
    encrypt: Callable[[bytes, bytes], bytes],
    device_serial: str = "B0000000SIM0001",
    counter: bool = False,
    sentinels: Sentinels = MAGTEK_SENTINELS,
) -> bytearray:
    """What a MagneSafe reader sends for ``tracks`` (text without sentinels), for the simulator and tests.

    ``encrypt(ksn, clear)`` stands in for the reader's DUKPT encryption.
    """
    starts = {1: sentinels.track1[0], 2: sentinels.track2[0], 3: sentinels.track3[0]}
    card_starts = {1: "%", 2: ";", 3: ";"}
    masked = "".join(f"{starts[n]}{mask_track(t, n)}{sentinels.end}" for n, t in sorted(tracks.items()))
    enc: list[str] = []
    for n in (1, 2, 3):
        if n not in tracks:
            enc.append("")
            continue
        clear = bytearray(f"{card_starts[n]}{tracks[n]}?".encode("ascii"))
        clear += bytes(-len(clear) % 8)
        enc.append(encrypt(ksn, bytes(clear)).hex().upper())
        clear[:] = bytes(len(clear))
    fields = ["0000", *enc, "00000000", "", device_serial, "0" * 16, ksn.hex().upper()]
    fields += (["00000001"] if counter else []) + ["0000", "0000", "0000"]
    return bytearray((masked + SEPARATOR + SEPARATOR.join(fields) + "\r").encode("ascii"))
