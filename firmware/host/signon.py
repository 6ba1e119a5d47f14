"""Sign-on and sign-off: the 0800 that asks for working keys, where they travel in its answer, the 0820.

The key layouts are data (``SIGNON_KEY_LAYOUTS``, one entry per profile and
network management code), read by the terminal (``read_signon_keys``) and
written by the host simulator (``with_signon_keys``) from the same entry, so
the two agree by construction. Nothing is decrypted here
(``crypto.signon`` installs the keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crypto.keys import KeyUsage
from firmware.errors import ProtocolError
from firmware.host.codec import Message, Tpdu
from firmware.host.requests import _field60, _local_time, _message, _txn_spec, acquirer_fields
from firmware.host.spec import FieldKind, Profile, TxnKind

__all__ = ["SIGN_OFF_MTI", "KeySlot", "SignonKeyLayout", "SIGNON_KEY_LAYOUTS", "signon_key_layout",
           "signon_network_code", "build_signon", "build_signoff", "read_signon_keys", "with_signon_keys"]


def build_signon(profile: Profile, *, stan: int, batch: int, terminal_id: str, merchant_id: str,
                 when: datetime, operator: str = "01", tpdu: Tpdu | None, header: str | None = None,
                 network_code: str | None = None, acquirer_id: str = "") -> Message:
    """The 0800 sign-on; the answer carries the working keys (``read_signon_keys``).

    ``network_code`` (cup field 60.3) asks for a key layout other than the
    profile's: 001 single-length keys, 003 double-length, 004 with a data key.
    """
    spec = _txn_spec(profile, TxnKind.SIGN_ON)
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id, **acquirer_fields(profile, acquirer_id)}
    fields.update(_local_time(profile, when, profile.local_time_fields))
    fields.update(_field60(profile, spec, batch))
    if network_code is not None:
        signon_key_layout(profile, network_code)  # an unknown layout fails here, not at the answer
        if 60 in fields:
            fields[60] = fields[60][:-3] + network_code
    f63 = profile.fields.get(63)
    if f63 is not None and f63.kind is FieldKind.ANS and spec.type_code is not None:
        fields[63] = operator.ljust(3)
    return _message(profile, spec.mti, fields, tpdu, header)


# -- sign-on keys and sign-off -------------------------------------------------
SIGN_OFF_MTI = "0820"


@dataclass(frozen=True)
class KeySlot:
    """One working key in the sign-on answer: its encrypted bytes, then its check value."""

    usage: KeyUsage
    size: int  # bytes of the key (and of its ciphertext under the TMK)
    wire: int  # bytes it takes in the field: ``size``, or more with zero padding after it
    check: int = 4  # bytes of check value


@dataclass(frozen=True)
class SignonKeyLayout:
    field: int
    slots: tuple[KeySlot, ...]

    @property
    def length(self) -> int:
        return sum(s.wire + s.check for s in self.slots)

    def sizes(self) -> dict[KeyUsage, int]:
        return {s.usage: s.size for s in self.slots}


_PIN, _MAC, _TDK = KeyUsage.PIN, KeyUsage.MAC, KeyUsage.TDK

# (profile, network management code) -> where the working keys travel in the 0810.
# cup follows the UnionPay POS convention for field 62: 001 single-length PIK/MAK
# (24 bytes), 003 double-length PIK and single-length MAK padded to 16 (40 bytes),
# 004 the same plus a double-length TDK (60 bytes). iso87 carries its double-length
# PIN, X9.19 MAC and data keys as hex text in field 62.
SIGNON_KEY_LAYOUTS: dict[tuple[str, str], SignonKeyLayout] = {
    ("cup", "001"): SignonKeyLayout(62, (KeySlot(_PIN, 8, 8), KeySlot(_MAC, 8, 8))),
    ("cup", "003"): SignonKeyLayout(62, (KeySlot(_PIN, 16, 16), KeySlot(_MAC, 8, 16))),
    ("cup", "004"): SignonKeyLayout(62, (KeySlot(_PIN, 16, 16), KeySlot(_MAC, 8, 16), KeySlot(_TDK, 16, 16))),
    ("iso87", "001"): SignonKeyLayout(62, (KeySlot(_PIN, 16, 16), KeySlot(_MAC, 16, 16), KeySlot(_TDK, 16, 16))),
}


def signon_key_layout(profile: Profile, network_code: str | None = None) -> SignonKeyLayout:
    code = network_code or _txn_spec(profile, TxnKind.SIGN_ON).network_code
    layout = SIGNON_KEY_LAYOUTS.get((profile.family, code))  # iso87-aes signs on as iso87 does
    if layout is None:
        raise ProtocolError(f"profile {profile.name} has no sign-on key layout for network code {code}",
                            code="host.unsupported")
    return layout


def signon_network_code(profile: Profile, message: Message) -> str:
    """The network management code of a sign-on or its answer (cup 60.3), else the profile's."""
    f60 = profile.fields.get(60)
    value = message.fields.get(60, "")
    if f60 is not None and f60.kind is FieldKind.N and len(value) >= 11:
        return value[8:11]
    return _txn_spec(profile, TxnKind.SIGN_ON).network_code


def build_signoff(profile: Profile, *, stan: int, batch: int, terminal_id: str, merchant_id: str,
                  tpdu: Tpdu | None, header: str | None = None, acquirer_id: str = "") -> Message:
    """The 0820 sign-off: after its answer the terminal drops its working keys."""
    fields = {11: f"{stan:06d}", 41: terminal_id, 42: merchant_id, **acquirer_fields(profile, acquirer_id)}
    f60 = profile.fields.get(60)
    if f60 is not None and f60.kind is FieldKind.N:
        fields[60] = f"00{batch:06d}002"
    return _message(profile, SIGN_OFF_MTI, fields, tpdu, header)


def read_signon_keys(profile: Profile, message: Message) -> tuple[dict[KeyUsage, bytes], dict[KeyUsage, bytes]]:
    """(encrypted working keys, their check values) from a sign-on answer, by usage.

    Nothing is decrypted here: ``crypto.signon.install_working_keys`` checks
    and installs them under the terminal master key.
    """
    layout = signon_key_layout(profile, signon_network_code(profile, message))
    text = message.fields.get(layout.field)
    if text is None:
        raise ProtocolError(f"the sign-on answer has no working keys in field {layout.field}",
                            code="host.signon_keys")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != layout.length:
        raise ProtocolError(f"field {layout.field} of the sign-on answer is not {layout.length} bytes of keys",
                            code="host.signon_keys")
    encrypted, checks, pos = {}, {}, 0
    for slot in layout.slots:
        encrypted[slot.usage] = raw[pos : pos + slot.size]
        pos += slot.wire
        checks[slot.usage] = raw[pos : pos + slot.check]
        pos += slot.check
    return encrypted, checks


def with_signon_keys(profile: Profile, response: Message, encrypted: dict[KeyUsage, bytes],
                     check_values: dict[KeyUsage, bytes]) -> Message:
    """The host's sign-on answer with the working keys set in their field (a copy)."""
    layout = signon_key_layout(profile, signon_network_code(profile, response))
    out = bytearray()
    for slot in layout.slots:
        key, check = encrypted.get(slot.usage), check_values.get(slot.usage)
        if key is None or check is None or len(key) != slot.size or len(check) < slot.check:
            raise ProtocolError(f"no {slot.size}-byte {slot.usage.value} key with its check value to send",
                                code="host.signon_keys")
        out += key + bytes(slot.wire - slot.size) + check[: slot.check]
    fields = dict(response.fields)
    fields[layout.field] = out.hex().upper()
    return response.copy(fields=dict(sorted(fields.items())))
