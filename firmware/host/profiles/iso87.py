"""Generic ISO 8583:1987 in ASCII, after pyiso8583's ``default_ascii`` spec.

ASCII MTI, bitmap as 16 ASCII hex characters, numeric fields as ASCII
digits, ASCII LL/LLL length prefixes; no TPDU, no header. Field lengths are
those of ``default_ascii`` (fields 2 to 64); binary fields (52, 55, 64) travel
as upper-case hex text and their length prefix counts hex characters, as
``default_ascii`` does.

MAC (``X919``): the ISO 9797-1 algorithm 3 / ANSI X9.19 retail MAC, padding
method 1, over the bytes from the first MTI character through the end of field
63 (bit 64 already set in the bitmap); all 8 bytes of the result go in field
64 as 16 upper-case hex characters. The key is K1||K2 (16 bytes); an 8-byte
key is used as K1 = K2, which makes the retail MAC the plain DES CBC-MAC.
"""

from __future__ import annotations

from firmware.host.spec import (
    Encoding,
    EntryMode,
    FieldKind,
    FieldSpec,
    LengthType,
    MacAlgorithm,
    Mtis,
    OriginalField,
    OriginalPart,
    Profile,
    TxnKind,
    TxnSpec,
)

N, AN, ANS, B, Z = FieldKind.N, FieldKind.AN, FieldKind.ANS, FieldKind.B, FieldKind.Z
FIX, LL, LLL = LengthType.FIXED, LengthType.LLVAR, LengthType.LLLVAR

# number, name, kind, length type, max (bytes for B, else characters)
_LAYOUT: tuple[tuple[int, str, FieldKind, LengthType, int], ...] = (
    (2, "Primary account number", N, LL, 19),
    (3, "Processing code", N, FIX, 6),
    (4, "Amount, transaction", N, FIX, 12),
    (5, "Amount, settlement", N, FIX, 12),
    (6, "Amount, cardholder billing", N, FIX, 12),
    (7, "Transmission date and time (MMDDhhmmss)", N, FIX, 10),
    (8, "Amount, cardholder billing fee", N, FIX, 8),
    (9, "Conversion rate, settlement", N, FIX, 8),
    (10, "Conversion rate, cardholder billing", N, FIX, 8),
    (11, "System trace audit number", N, FIX, 6),
    (12, "Time, local transaction (hhmmss)", N, FIX, 6),
    (13, "Date, local transaction (MMDD)", N, FIX, 4),
    (14, "Date, expiration (YYMM)", N, FIX, 4),
    (15, "Date, settlement", N, FIX, 4),
    (16, "Date, conversion", N, FIX, 4),
    (17, "Date, capture", N, FIX, 4),
    (18, "Merchant type", N, FIX, 4),
    (19, "Acquiring institution country code", N, FIX, 3),
    (20, "PAN extended, country code", N, FIX, 3),
    (21, "Forwarding institution country code", N, FIX, 3),
    (22, "Point of service entry mode", N, FIX, 3),
    (23, "Card sequence number", N, FIX, 3),
    (24, "Network international identifier", N, FIX, 3),
    (25, "Point of service condition code", N, FIX, 2),
    (26, "Point of service PIN capture code", N, FIX, 2),
    (27, "Authorisation identification response length", N, FIX, 1),
    (28, "Amount, transaction fee (x+n8)", ANS, FIX, 9),
    (29, "Amount, settlement fee (x+n8)", ANS, FIX, 9),
    (30, "Amount, transaction processing fee (x+n8)", ANS, FIX, 9),
    (31, "Amount, settlement processing fee (x+n8)", ANS, FIX, 9),
    (32, "Acquiring institution identification code", N, LL, 11),
    (33, "Forwarding institution identification code", N, LL, 11),
    (34, "Primary account number, extended", ANS, LL, 28),
    (35, "Track 2 data", Z, LL, 37),
    (36, "Track 3 data", Z, LLL, 104),
    (37, "Retrieval reference number", AN, FIX, 12),
    (38, "Authorisation identification response", AN, FIX, 6),
    (39, "Response code", AN, FIX, 2),
    (40, "Service restriction code", AN, FIX, 3),
    (41, "Card acceptor terminal identification", ANS, FIX, 8),
    (42, "Card acceptor identification code", ANS, FIX, 15),
    (43, "Card acceptor name/location", ANS, FIX, 40),
    (44, "Additional response data", AN, LL, 25),
    (45, "Track 1 data", ANS, LL, 76),
    (46, "Additional data, ISO", ANS, LLL, 999),
    (47, "Additional data, national", ANS, LLL, 999),
    (48, "Additional data, private", ANS, LLL, 999),
    (49, "Currency code, transaction", N, FIX, 3),
    (50, "Currency code, settlement", N, FIX, 3),
    (51, "Currency code, cardholder billing", N, FIX, 3),
    (52, "PIN data", B, FIX, 8),
    (53, "Security related control information", N, FIX, 16),
    (54, "Additional amounts", ANS, LLL, 240),
    (55, "ICC data", B, LLL, 255),
    (56, "Reserved ISO", ANS, LLL, 999),
    (57, "Reserved national", ANS, LLL, 999),
    (58, "Reserved national", ANS, LLL, 999),
    (59, "Reserved national", ANS, LLL, 999),
    (60, "Reserved national", ANS, LLL, 999),
    (61, "Reserved private", ANS, LLL, 999),
    (62, "Reserved private", ANS, LLL, 999),
    (63, "Reserved private", ANS, LLL, 999),
    (64, "Message authentication code", B, FIX, 8),
)

# 54 (additional amounts) carries a balance inquiry's answer: shown on the display, kept out of reprs.
_SENSITIVE = frozenset({2, 14, 34, 35, 36, 45, 52, 54, 55})

RESPONSE_TEXTS = {
    "00": "Approved",
    "01": "Refer to card issuer",
    "03": "Invalid merchant",
    "04": "Pick up card",
    "05": "Do not honour",
    "06": "Error",
    "08": "Honour with identification",
    "10": "Partial approval",
    "11": "Approved (VIP)",
    "12": "Invalid transaction",
    "13": "Invalid amount",
    "14": "Invalid card number",
    "15": "No such issuer",
    "25": "Original transaction not found",
    "30": "Format error",
    "40": "Function not supported",
    "41": "Lost card",
    "43": "Stolen card",
    "51": "Insufficient funds",
    "54": "Expired card",
    "55": "Incorrect PIN",
    "57": "Not permitted to cardholder",
    "58": "Not permitted to terminal",
    "61": "Exceeds withdrawal limit",
    "62": "Restricted card",
    "65": "Exceeds frequency limit",
    "68": "Response received too late",
    "75": "PIN tries exceeded",
    "91": "Issuer unavailable",
    "94": "Duplicate transmission",
    "96": "System malfunction",
    # Not ISO 8583:1987 codes: posterm's host simulator answers these on both profiles.
    "99": "PIN format error",
    "A0": "MAC error",
}


def build() -> Profile:
    return Profile(
        name="iso87",
        description="ISO 8583:1987 in ASCII (pyiso8583 default_ascii), no TPDU or header, X9.19 MAC",
        fields={
            n: FieldSpec(
                number=n,
                name=name,
                kind=kind,
                length=length,
                max_len=max_len,
                encoding=Encoding.ASCII,
                length_encoding=None if length is FIX else Encoding.ASCII,
                sensitive=n in _SENSITIVE,
                desc=f"{name}; ASCII" + ("; hex text" if kind is B else ""),
            )
            for n, name, kind, length, max_len in _LAYOUT
        },
        mti_encoding=Encoding.ASCII,
        bitmap_encoding=Encoding.ASCII,
        tpdu=False,
        header_length=0,
        default_header=None,
        mac=MacAlgorithm.X919,
        mtis=Mtis(reversal="0400", reversal_repeat="0401", advice="0220", advice_repeat="0221", network="0800"),
        transactions={
            TxnKind.SALE: TxnSpec("0200", "000000", "00"),
            # Field 90 (original data elements) needs a secondary bitmap this profile does not
            # have, so a void names its original in 37/38 and, as this project's private use,
            # field 61: original batch, STAN and local date (MMDD).
            TxnKind.VOID: TxnSpec("0200", "020000", "00", original=(
                OriginalField(37, (OriginalPart.RRN,), in_reversal=False),
                OriginalField(38, (OriginalPart.AUTH_CODE,)),
                OriginalField(61, (OriginalPart.BATCH, OriginalPart.STAN, OriginalPart.DATE)),
            )),
            TxnKind.REFUND: TxnSpec("0200", "200000", "00"),
            TxnKind.PREAUTH: TxnSpec("0100", "000000", "06"),
            TxnKind.PREAUTH_VOID: TxnSpec("0100", "020000", "06"),
            TxnKind.PREAUTH_COMPLETE: TxnSpec("0220", "000000", "06", reversible=False),
            TxnKind.PREAUTH_COMPLETE_VOID: TxnSpec("0220", "020000", "06", reversible=False),
            TxnKind.BALANCE: TxnSpec("0100", "310000", "00", reversible=False, amount=False),
            TxnKind.OFFLINE_SALE: TxnSpec("0220", "000000", "00", reversible=False),
            TxnKind.SIGN_ON: TxnSpec("0800", None, None, reversible=False, network_code="001"),
        },
        entry_modes={
            EntryMode.MANUAL: "01",
            EntryMode.SWIPE: "90",  # full, unaltered track read
            EntryMode.CHIP: "05",
            EntryMode.CONTACTLESS: "07",
            EntryMode.FALLBACK: "80",
        },
        # The third digit is the terminal's PIN entry capability, not whether a PIN was entered.
        pin_capability=("1", "1"),
        approved_codes=frozenset({"00", "08", "11"}),
        response_texts=RESPONSE_TEXTS,
        reversal_reasons={
            "98": "No answer from the host",
            "96": "Terminal could not record the answer",
            "A0": "MAC failure on the answer",
            "06": "Other",
        },
        unmacced_mtis=frozenset({"0800", "0810"}),
        pin_security_info=None,
        local_time_fields=frozenset({7, 12, 13}),
    )
