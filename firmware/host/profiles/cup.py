"""UnionPay POS ("cup") layout: TPDU + 6-byte header + BCD MTI + binary bitmap.

Field types and lengths follow the UnionPay POS field description
("中国银联POS终端消息域说明") as implemented by public POS code
(e.g. dongzhijiaren/ISO8583 ``8583/st8583.c``). Numeric fields are BCD with
BCD length prefixes (LLVAR 1 byte, LLLVAR 2 bytes, counting digits; binary and
text fields count bytes). Odd-length numbers: a fixed field is right-aligned
with a leading 0 nibble, except field 22 which UnionPay left-aligns
(``021`` -> ``02 10``); every variable numeric or track field is
left-aligned with a trailing 0 nibble. Each choice is in the field's ``desc``.
"""

from __future__ import annotations

from firmware.host.profiles.iso87 import DISPLAY_TEXTS as ISO_DISPLAY_TEXTS  # the ISO 8583 codes' forms
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
    Pad,
    Profile,
    ReadCapability,
    TxnKind,
    TxnSpec,
)

N, AN, ANS, B, Z = FieldKind.N, FieldKind.AN, FieldKind.ANS, FieldKind.B, FieldKind.Z
FIX, LL, LLL = LengthType.FIXED, LengthType.LLVAR, LengthType.LLLVAR
BCD, ASCII, BIN = Encoding.BCD, Encoding.ASCII, Encoding.BINARY

_RIGHT_ALIGNED = "BCD, right-aligned: an odd length gets a leading 0 nibble"
_LEFT_ALIGNED = "BCD, left-aligned: an odd length gets a trailing 0 nibble"

# number, name, kind, length type, max, sensitive, pad side for odd BCD
_LAYOUT: tuple[tuple[int, str, FieldKind, LengthType, int, bool, Pad], ...] = (
    (2, "Primary account number", N, LL, 19, True, Pad.RIGHT),
    (3, "Processing code", N, FIX, 6, False, Pad.LEFT),
    (4, "Amount, transaction", N, FIX, 12, False, Pad.LEFT),
    (11, "System trace audit number", N, FIX, 6, False, Pad.LEFT),
    (12, "Time, local transaction (hhmmss)", N, FIX, 6, False, Pad.LEFT),
    (13, "Date, local transaction (MMDD)", N, FIX, 4, False, Pad.LEFT),
    (14, "Date, expiration (YYMM)", N, FIX, 4, True, Pad.LEFT),
    (15, "Date, settlement (MMDD)", N, FIX, 4, False, Pad.LEFT),
    (22, "Point of service entry mode", N, FIX, 3, False, Pad.RIGHT),
    (23, "Card sequence number", N, FIX, 3, False, Pad.LEFT),
    (25, "Point of service condition code", N, FIX, 2, False, Pad.LEFT),
    (26, "Point of service PIN capture code", N, FIX, 2, False, Pad.LEFT),
    (32, "Acquiring institution identification", N, LL, 11, False, Pad.RIGHT),
    (35, "Track 2 data", Z, LL, 37, True, Pad.RIGHT),
    (36, "Track 3 data", Z, LLL, 104, True, Pad.RIGHT),
    (37, "Retrieval reference number", AN, FIX, 12, False, Pad.LEFT),
    (38, "Authorisation identification response", AN, FIX, 6, False, Pad.LEFT),
    (39, "Response code", AN, FIX, 2, False, Pad.LEFT),
    (41, "Card acceptor terminal identification", ANS, FIX, 8, False, Pad.LEFT),
    (42, "Card acceptor identification code", ANS, FIX, 15, False, Pad.LEFT),
    (44, "Additional response data", AN, LL, 25, False, Pad.LEFT),
    # Sensitive: a batch upload (0320) carries card numbers here; a 0500 its totals; a transfer (0200,
    # 400000) the destination account (转入卡号), digits left-aligned: this layout has no field 103.
    (48, "Additional data, private", N, LLL, 322, True, Pad.RIGHT),
    (49, "Currency code, transaction", AN, FIX, 3, False, Pad.LEFT),
    (52, "PIN data", B, FIX, 8, True, Pad.LEFT),
    (53, "Security related control information", N, FIX, 16, False, Pad.LEFT),
    # 54 carries a balance inquiry's answer (the balance): shown on the display, kept out of reprs.
    (54, "Additional amounts", AN, LLL, 20, True, Pad.LEFT),
    (55, "ICC system related data", B, LLL, 255, True, Pad.LEFT),
    # 60.1 type n2, 60.2 batch n6, 60.3 network code n3; in financial messages 60.4 read capability n1 and
    # 60.5 IC condition code n1 (``read_capability``), 13 digits; management messages stop at 60.3, 11.
    (60, "Reserved private: 60.1 type, 60.2 batch, 60.3 network code, 60.4, 60.5", N, LLL, 17, False, Pad.RIGHT),
    (61, "Original message: batch, STAN, date", N, LLL, 29, False, Pad.RIGHT),
    # 62 carries working keys (under the TMK) in sign-on answers: kept out of reprs.
    (62, "Reserved private (keys, terminal data)", B, LLL, 512, True, Pad.LEFT),
    (63, "Reserved private (operator, card organisation)", ANS, LLL, 163, False, Pad.LEFT),
    (64, "Message authentication code", B, FIX, 8, False, Pad.LEFT),
)

# How a void names its original (UnionPay 消费撤销): field 37 the original's RRN,
# 38 its authorisation code (when it had one), 61 = 61.1 original batch + 61.2
# original POS trace. The reversal of a void (冲正) carries 38 and 61, not 37.
_O = OriginalPart
VOID_ORIGINAL = (
    OriginalField(37, (_O.RRN,), in_reversal=False),
    OriginalField(38, (_O.AUTH_CODE,)),
    OriginalField(61, (_O.BATCH, _O.STAN)),
)
# How a refund names its original (UnionPay 退货, 0220): 37 the original's RRN, 61 = 61.1
# original batch, 61.2 original POS trace (zeros when the terminal does not hold the
# original: it may be in an old batch or on another terminal), 61.3 the original's date
# MMDD; 63 may carry the card organisation. A refund is never reversed: no reversal fields.
REFUND_ORIGINAL = (
    OriginalField(37, (_O.RRN,), in_reversal=False),
    OriginalField(61, (_O.BATCH, _O.STAN, _O.DATE), in_reversal=False),
)

# How a pre-auth's cancel (预授权撤销) and completion (预授权完成请求) name it: 38 its
# authorisation code, 61 = 61.1 original batch, 61.2 original POS trace (zeros when the
# terminal does not hold the pre-auth: it may be old or from another terminal), 61.3 its
# date MMDD. Both are reversed (冲正), their reversals carrying 38 and 61 too. A completion's
# void (预授权完成撤销) names the completion as a void names a sale (VOID_ORIGINAL).
PREAUTH_ORIGINAL = (
    OriginalField(38, (_O.AUTH_CODE,)),
    OriginalField(61, (_O.BATCH, _O.STAN, _O.DATE)),
)

# Settlement (结算, 0500): field 48 domestic then foreign totals (each: debit amount n12,
# count n3, credit amount n12, count n3, result n1), 60.1 = 00, 60.3 = 201, 63 operator.
def _settlement():
    from firmware.host.settlement import SettlementLayout

    return SettlementLayout(totals_field=48, type_code="00", network_code="201", operator_field=63)


# Batch upload (批上送, 0320/0330) after a settlement the host did not find balanced: up to
# 8 transactions per message in field 48 (count n2, then per transaction: card organisation
# n2, trace n6, card number n20, amount n12: 2 + 8 x 40 = 322, field 48's maximum), 60.1 00,
# 60.3 201; the end message carries the total (n4) with 60.3 202. Offline sales go one to a
# message with their own fields (see firmware.host.settlement).
def _batch_upload():
    from firmware.host.settlement import UploadLayout

    return UploadLayout(mti="0320", entries_field=48, per_message=8, type_code="00", network_code="201",
                        end_code="202")


RESPONSE_TEXTS = {
    "00": "Approved",
    "01": "Refer to card issuer",
    "03": "Invalid merchant",
    "04": "Pick up card",
    "05": "Do not honour",
    "10": "Partial approval",
    "11": "Approved (VIP)",
    "12": "Invalid transaction",
    "13": "Invalid amount",
    "14": "Invalid card number",
    "15": "No such issuer",
    "22": "Suspected malfunction",
    "25": "Original transaction not found",
    "30": "Format error",
    "33": "Expired card, pick up",
    "34": "Suspected fraud",
    "38": "PIN tries exceeded, pick up",
    "40": "Function not supported",
    "41": "Lost card",
    "43": "Stolen card",
    "45": "Fallback not allowed",
    "51": "Insufficient funds",
    "54": "Expired card",
    "55": "Incorrect PIN",
    "57": "Not permitted to cardholder",
    "58": "Not permitted to terminal",
    "59": "Suspected fraud",
    "61": "Exceeds amount limit",
    "62": "Restricted card",
    "64": "Original amount incorrect",
    "65": "Exceeds frequency limit",
    "68": "Response received too late",
    "75": "PIN tries exceeded",
    "90": "Cut-off in progress",
    "91": "Issuer unavailable",
    "92": "Unable to route",
    "94": "Duplicate transaction",
    "96": "System malfunction",
    "97": "Terminal not registered",
    "98": "Issuer timed out",
    "99": "PIN format error",
    "A0": "MAC error",
    "A2": "Approved with fault",
    "A4": "Approved with fault",
    "A5": "Approved with fault",
    "A6": "Approved with fault",
}

# Each text's display form (``Profile.display_texts``): what a decline shows after its code where the
# whole text does not fit the display ("51 NO FUNDS"); at most 13 characters, so "NN " and it fit the
# narrowest display the screens support (hal.display.MIN_COLS, 16). One per code above (checked).
DISPLAY_TEXTS = {code: ISO_DISPLAY_TEXTS[code] for code in RESPONSE_TEXTS if code in ISO_DISPLAY_TEXTS} | {
    "45": "NO FALLBACK", "97": "TERM UNKNOWN", "98": "NO ISSUER ANS",  # UnionPay's own codes
    "A2": "APPR W FAULT", "A4": "APPR W FAULT", "A5": "APPR W FAULT", "A6": "APPR W FAULT",
}


def _field(number: int, name: str, kind: FieldKind, length: LengthType, max_len: int, sensitive: bool, pad: Pad) -> FieldSpec:
    if kind in (N, Z):
        encoding = BCD
        desc = f"{name}; {_LEFT_ALIGNED if pad is Pad.RIGHT else _RIGHT_ALIGNED}"
        if kind is Z:
            desc += "; '=' travels as nibble D"
    else:
        encoding = BIN if kind is B else ASCII
        desc = f"{name}; {'binary' if kind is B else 'ASCII'}"
    return FieldSpec(
        number=number,
        name=name,
        kind=kind,
        length=length,
        max_len=max_len,
        encoding=encoding,
        length_encoding=None if length is FIX else BCD,
        pad=pad,
        sensitive=sensitive,
        desc=desc,
    )


def build() -> Profile:
    return Profile(
        name="cup",
        description="UnionPay POS: TPDU, 6-byte header, BCD MTI, binary bitmap, BCD numerics, ECB MAC",
        fields={row[0]: _field(*row) for row in _LAYOUT},
        mti_encoding=BCD,
        bitmap_encoding=BIN,
        tpdu=True,
        header_length=6,
        default_header="603100000000",
        mac=MacAlgorithm.CUP_ECB,
        # UnionPay repeats a reversal with the same MTI 0400; advice repeats are 0221.
        mtis=Mtis(reversal="0400", reversal_repeat="0400", advice="0220", advice_repeat="0221", network="0800"),
        transactions={
            # 余额查询: no amount; the balance comes back in field 54. Never reversed.
            TxnKind.BALANCE: TxnSpec("0200", "310000", "00", "01", reversible=False, amount=False),
            # 预授权类 (firmware/core/preauth.py): condition code 06; a pre-auth holds funds (0100),
            # its completion (0200) is the debit the settlement counts.
            TxnKind.PREAUTH: TxnSpec("0100", "030000", "06", "10"),
            TxnKind.PREAUTH_VOID: TxnSpec("0100", "200000", "06", "11", original=PREAUTH_ORIGINAL),
            TxnKind.PREAUTH_COMPLETE: TxnSpec("0200", "000000", "06", "20", original=PREAUTH_ORIGINAL),
            TxnKind.PREAUTH_COMPLETE_VOID: TxnSpec("0200", "200000", "06", "21", original=VOID_ORIGINAL),
            # 预授权完成通知 (offline completion, 60.1 = 24; public UnionPay POS code: FUNCODE_OFFCOMPLETE
            # 0x24 "预授权完成(离线)"): the completion made without the host, a stored advice (0220, 0221
            # on a repeat), never reversed; it names its pre-auth as the online completion does.
            TxnKind.PREAUTH_COMPLETE_ADVICE: TxnSpec("0220", "000000", "06", "24", reversible=False,
                                                     original=PREAUTH_ORIGINAL),
            TxnKind.SALE: TxnSpec("0200", "000000", "00", "22"),
            # 转账 (firmware/core/transfer.py): 40 = cardholder accounts transfer; 60.1 = 40 (assumed: no public
            # UnionPay POS table gives one); the destination in 48, since one bitmap has no room for 103
            # (the MAC is field 64, last). Reversed like a sale.
            TxnKind.TRANSFER: TxnSpec("0200", "400000", "00", "40", account_field=48),
            TxnKind.VOID: TxnSpec("0200", "200000", "00", "23", original=VOID_ORIGINAL),
            # 退货: a notification (0220), sent again as 0221 while unanswered, never reversed.
            TxnKind.REFUND: TxnSpec("0220", "200000", "00", "25", reversible=False, original=REFUND_ORIGINAL),
            TxnKind.OFFLINE_SALE: TxnSpec("0220", "000000", "00", "30", reversible=False),
            # 60.3 = 003: sign-on for double-length working keys.
            TxnKind.SIGN_ON: TxnSpec("0800", None, None, "00", reversible=False, network_code="003"),
        },
        entry_modes={
            EntryMode.MANUAL: "01",
            EntryMode.SWIPE: "02",
            EntryMode.CHIP: "05",
            EntryMode.CONTACTLESS: "07",
            # A chip card's stripe read (fallback) is 02 too: 60.5 = 2 says it is one (``read_capability``).
            EntryMode.FALLBACK: "02",
        },
        pin_capability=("1", "2"),  # 22.2: 1 = PIN entered, 2 = no PIN
        # 60.4 = 2, a magnetic stripe reader only (posterm has no chip reader; public UnionPay POS code sends 5
        # for a contact chip reader, 6 for contactless, 0 when unknown); 60.5 = 2 for a fallback, else 0.
        read_capability=ReadCapability(terminal="2", ic_condition={EntryMode.FALLBACK: "2"}),
        approved_codes=frozenset({"00", "11", "A2", "A4", "A5", "A6"}),
        # 10 (approved for a partial amount) is an approval the terminal cannot complete: reversed (reason 06).
        reverse_codes=frozenset({"10"}),
        response_texts=RESPONSE_TEXTS,
        display_texts=DISPLAY_TEXTS,
        reversal_reasons={
            "98": "No answer from the host",
            "96": "Terminal could not record the answer",
            "A0": "MAC failure on the answer",
            "06": "Other",
        },
        unmacced_mtis=frozenset({"0800", "0810", "0820", "0830"}),
        # 53: 1 = ISO 9564 format 0 (with PAN), 6 = double-length TDES key, rest reserved.
        pin_security_info="1600000000000000",
        local_time_fields=frozenset(),
    )


SETTLEMENT = _settlement()
BATCH_UPLOAD = _batch_upload()
