"""``iso87-aes``: iso87 with a field 52 wide enough for an AES PIN block (ISO 9564-1 format 4).

AES DUKPT (ANSI X9.24-3-2017) encrypts each PIN as an ISO 9564-1:2017 format 4
block, 16 bytes (one AES block). No edition of ISO 8583 gives field 52 room for
it: 1987 (pyiso8583's ``default_ascii``), 1993 (jPOS ``ISO93APackager``, Oscar
Sanderson's ``dl_iso8583_defs_1993.c``) and the 2003-based jPOS CMF all define
PIN data as fixed b 8, the size of a TDES block. An acquirer that takes format 4
blocks therefore widens the field in its own host specification, and this
profile does what such a host does: field 52 becomes variable binary of up to 16
bytes with an LL prefix, as ISO 8583:1993 made field 53 variable (b..48) so that
one field could carry security data of different lengths. The length prefix says
which block came: 16 bytes, format 4 under an AES DUKPT key; 8 bytes, format 0
under a TDES key (a session PIN key, or TDES DUKPT while an estate moves to AES).
A fixed b16 would refuse every TDES block, and an acquirer migrating to AES
takes both for as long as the migration lasts.

Like every binary field of iso87 the block travels as upper-case hex text and
the LL prefix counts those characters: ``32`` then 32 hex digits for a format 4
block, ``16`` then 16 for a format 0 one. The KSN travels in field 53 as on
iso87 (b..48: 12 bytes for AES, 10 for TDES), which is how the host picks the
BDK and the PIN block format.

Everything else is iso87's: the profile is iso87's ``build()`` with field 52
replaced, so iso87's table stays the one source of truth, and ``family`` names
iso87 so that its sign-on key layout and its reconciliation are this profile's
too. iso87 itself and cup keep their fixed b 8 field 52 unchanged.
"""

from __future__ import annotations

import dataclasses

from firmware.host.spec import Encoding, LengthType, Profile

NAME = "iso87-aes"
PIN_BLOCK_MAX = 16  # bytes: an ISO 9564-1 format 4 (AES) block; format 0 blocks (8 bytes) fit too


def build() -> Profile:
    from firmware.host.profiles import get_profile

    base = get_profile("iso87")
    fields = dict(base.fields)
    name = "PIN data (ISO 9564-1 format 4 or format 0 block)"
    fields[52] = dataclasses.replace(
        fields[52],
        name=name,
        length=LengthType.LLVAR,
        max_len=PIN_BLOCK_MAX,
        length_encoding=Encoding.ASCII,
        desc=f"{name}; ASCII; hex text, LL counting hex characters (acquirer-widened b..16)",
    )
    return dataclasses.replace(
        base,
        name=NAME,
        description="iso87 with field 52 as variable binary up to 16 bytes, for AES DUKPT (ISO 9564 format 4) PIN blocks",
        fields=fields,
        family="iso87",
    )
