"""Generic ISO 8583:1987 in ASCII, after pyiso8583's ``default_ascii`` spec.

ASCII MTI, bitmaps as 16 ASCII hex characters, numeric fields as ASCII
digits, ASCII LL/LLL length prefixes; no TPDU, no header. Field lengths are
those of ``default_ascii`` (fields 2 to 128, but 65, the tertiary bitmap's
bit, which posterm does not use); binary fields (52, 53, 55, 64, 96, 128) travel
as upper-case hex text and their length prefix counts hex characters, as
``default_ascii`` does, except field 53, which is ISO 8583:1993's b..48 (not
1987's n16) so that it can carry a DUKPT KSN (``ksn_field``, sent only with a
DUKPT PIN block). The secondary bitmap goes only with a field above 64
(a reversal's 90, a reconciliation's totals), as 1987 says.

MAC (``X919``): the ISO 9797-1 algorithm 3 / ANSI X9.19 retail MAC, padding
method 1, over the bytes from the first MTI character up to the MAC field (its
bit already set in the bitmap); all 8 bytes of the result go in the last field
as 16 upper-case hex characters: field 64 when only the primary bitmap is
present, field 128 when the secondary is. The key is K1||K2 (16 bytes); an
8-byte key is used as K1 = K2, which makes the retail MAC the plain DES CBC-MAC.

Originals (field 90, n42: MTI, STAN, transmission date and time, acquiring and
forwarding institution IDs): a reversal names the request it reverses, a void
the sale it voids (with that sale's RRN in 37 and authorisation code in 38), a
refund (0200, 200000: a request reversed when unanswered, not cup's 0220
notification) the sale it pays back (with that sale's RRN in 37).
Field 32 (the acquiring institution's ID) goes in every message the terminal sends
(financial, reversal, advice, sign-on, sign-off, reconciliation) when
``host.acquirer_id`` is set, and 90's acquirer part names it; posterm
sends no field 33 (a forwarder's), so that part is zeros.

Reversal reasons (field 39 of a 0400) are ISO 8583:1987 response codes: 68 for no
answer, 20 for an answer whose MAC failed (``reason_codes``); the journal keeps
the terminal's own (UnionPay's 98 and A0).

Reconciliation (0500/0510, ``SETTLEMENT``): see ``firmware.host.settlement``.
There is no batch upload in 1987: an out-of-balance batch is reconciled by hand.
"""

from __future__ import annotations

from firmware.host.spec import (
    Encoding,
    EntryMode,
    FieldKind,
    FieldSpec,
    LengthType,
    MacAlgorithm,
    MacPlacement,
    Mtis,
    OriginalField,
    OriginalPart,
    Profile,
    ReversalReason,
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
    # Not default_ascii's n16: ISO 8583:1993's b..48, which carries the DUKPT KSN (see ksn_field).
    (53, "Security related control information (DUKPT KSN)", B, LL, 48),
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
    # The secondary bitmap's fields. 65 (bitmap, extended) is left out: no tertiary bitmap.
    (66, "Settlement code (1 in balance, 2 out of balance, 3 error)", N, FIX, 1),
    (67, "Extended payment code", N, FIX, 2),
    (68, "Receiving institution country code", N, FIX, 3),
    (69, "Settlement institution country code", N, FIX, 3),
    (70, "Network management information code", N, FIX, 3),
    (71, "Message number", N, FIX, 4),
    (72, "Message number, last", N, FIX, 4),
    (73, "Date, action (YYMMDD)", N, FIX, 6),
    (74, "Credits, number", N, FIX, 10),
    (75, "Credits, reversal number", N, FIX, 10),
    (76, "Debits, number", N, FIX, 10),
    (77, "Debits, reversal number", N, FIX, 10),
    (78, "Transfer, number", N, FIX, 10),
    (79, "Transfer, reversal number", N, FIX, 10),
    (80, "Inquiries, number", N, FIX, 10),
    (81, "Authorisations, number", N, FIX, 10),
    (82, "Credits, processing fee amount", N, FIX, 12),
    (83, "Credits, transaction fee amount", N, FIX, 12),
    (84, "Debits, processing fee amount", N, FIX, 12),
    (85, "Debits, transaction fee amount", N, FIX, 12),
    (86, "Credits, amount", N, FIX, 16),
    (87, "Credits, reversal amount", N, FIX, 16),
    (88, "Debits, amount", N, FIX, 16),
    (89, "Debits, reversal amount", N, FIX, 16),
    (90, "Original data elements (MTI, STAN, date and time, acquirer, forwarder)", N, FIX, 42),
    (91, "File update code", AN, FIX, 1),
    (92, "File security code", AN, FIX, 2),
    (93, "Response indicator", AN, FIX, 5),
    (94, "Service indicator", AN, FIX, 7),
    (95, "Replacement amounts", AN, FIX, 42),
    (96, "Message security code", B, FIX, 8),
    (97, "Amount, net settlement (x+n16: C or D, then 16 digits)", ANS, FIX, 17),
    (98, "Payee", ANS, FIX, 25),
    (99, "Settlement institution identification code", N, LL, 11),
    (100, "Receiving institution identification code", N, LL, 11),
    (101, "File name", ANS, LL, 17),
    (102, "Account identification 1", ANS, LL, 28),
    (103, "Account identification 2", ANS, LL, 28),
    (104, "Transaction description", ANS, LLL, 100),
    *((n, "Reserved for ISO use", ANS, LLL, 999) for n in range(105, 112)),
    *((n, "Reserved for national use", ANS, LLL, 999) for n in range(112, 120)),
    *((n, "Reserved for private use", ANS, LLL, 999) for n in range(120, 128)),
    (128, "Message authentication code", B, FIX, 8),
)

_O = OriginalPart
# Field 90, original data elements: how a message names the transaction it refers to.
ORIGINAL_DATA = OriginalField(90, (_O.MTI, _O.STAN, _O.TRANSMITTED, _O.ACQUIRER, _O.FORWARDER), in_reversal=False)

# A void names the sale it voids: that sale's RRN (37), authorisation code (38) and data
# elements (90). Its reversal carries none of them: its own 90 names the void it reverses.
VOID_ORIGINAL = (
    OriginalField(37, (_O.RRN,), in_reversal=False),
    OriginalField(38, (_O.AUTH_CODE,), in_reversal=False),
    ORIGINAL_DATA,
)


# A refund (a credit: 0200, processing code 200000) names the sale or completion it pays back by that
# transaction's RRN (37) and original data elements (90: its MTI, STAN and field 7 where the journal holds
# it, else the sale's 0200, zeros and the keyed date then 000000): the host finds the original by RRN and
# date, from any terminal. It is a request like a sale's, reversed (0400, naming the refund itself in 90)
# when unanswered, not sent again as cup's 0220 notification is (firmware.bridge HostBridge.recoveries).
REFUND_ORIGINAL = (
    OriginalField(37, (_O.RRN,), in_reversal=False),
    ORIGINAL_DATA,
)


# A pre-auth's cancel, completion and completion advice name it by its authorisation code (38)
# and original data elements (90); ISO 8583:1987 matches a completion to its authorisation by 90.
PREAUTH_ORIGINAL = (
    OriginalField(38, (_O.AUTH_CODE,), in_reversal=False),
    ORIGINAL_DATA,
)


# Reconciliation (0500/0510): counts in 74-77, amounts in 86-89, the net in 97, the
# settlement currency in 50, the batch in 60 (private use: 1987 has no batch number);
# the answer's 66 says whether the host found it in balance.
def _settlement():
    from firmware.host.settlement import ReconciliationLayout

    return ReconciliationLayout(batch_field=60, currency_field=50)


# 54 (additional amounts) carries a balance inquiry's answer: shown on the display, kept out of reprs.
# 103 (account identification 2) carries a transfer's destination account: card data too.
_SENSITIVE = frozenset({2, 14, 34, 35, 36, 45, 52, 54, 55, 103})

# Field 39's values in ISO 8583:1987, shortened for a 20-column display; every code 1987 gives (but the
# file-update codes 24 to 29, which answer no message a terminal sends) has its text, so the operator reads
# the host's reason rather than "Declined (code NN)": 95, say, is the host's answer to a 0500 whose totals
# it could not reconcile.
RESPONSE_TEXTS = {
    "00": "Approved",
    "01": "Refer to card issuer",
    "02": "Refer to issuer, special",
    "03": "Invalid merchant",
    "04": "Pick up card",
    "05": "Do not honour",
    "06": "Error",
    "07": "Pick up card, special",
    "08": "Honour with identification",
    "09": "Request in progress",
    "10": "Partial approval",
    "11": "Approved (VIP)",
    "12": "Invalid transaction",
    "13": "Invalid amount",
    "14": "Invalid card number",
    "15": "No such issuer",
    "17": "Customer cancellation",
    "19": "Re-enter transaction",
    "20": "Invalid response",
    "21": "No action taken",
    "22": "Suspected malfunction",
    "23": "Unacceptable fee",
    "25": "Original transaction not found",
    "30": "Format error",
    "31": "Bank not supported",
    "32": "Completed partially",
    "33": "Expired card, pick up",
    "34": "Suspected fraud, pick up",
    "35": "Call acquirer, pick up",
    "36": "Restricted card, pick up",
    "37": "Call security, pick up",
    "38": "PIN tries exceeded, pick up",
    "39": "No credit account",
    "40": "Function not supported",
    "41": "Lost card",
    "42": "No universal account",
    "43": "Stolen card",
    "44": "No investment account",
    "51": "Insufficient funds",
    "52": "No cheque account",
    "53": "No savings account",
    "54": "Expired card",
    "55": "Incorrect PIN",
    "56": "No card record",
    "57": "Not permitted to cardholder",
    "58": "Not permitted to terminal",
    "59": "Suspected fraud",
    "60": "Contact acquirer",
    "61": "Exceeds withdrawal limit",
    "62": "Restricted card",
    "63": "Security violation",
    "64": "Original amount incorrect",
    "65": "Exceeds frequency limit",
    "66": "Call acquirer security",
    "67": "Hard capture",
    "68": "Response received too late",
    "75": "PIN tries exceeded",
    "90": "Cut-off in progress",
    "91": "Issuer unavailable",
    "92": "Routing not found",
    "93": "Violation of law",
    "94": "Duplicate transmission",
    "95": "Reconcile error",
    "96": "System malfunction",
    # Not ISO 8583:1987 codes: posterm's host simulator answers these on both profiles.
    "99": "PIN format error",
    "A0": "MAC error",
}

# Each text's display form (``Profile.display_texts``): what a decline shows after its code where the
# whole text does not fit the display ("51 NO FUNDS"); at most 13 characters, so "NN " and it fit the
# narrowest display the screens support (hal.display.MIN_COLS, 16). One per code above (checked).
DISPLAY_TEXTS = {
    "00": "APPROVED", "01": "CALL ISSUER", "02": "CALL ISSUER", "03": "BAD MERCHANT", "04": "PICK UP CARD",
    "05": "DO NOT HONOUR", "06": "ERROR", "07": "PICK UP CARD", "08": "CHECK ID", "09": "IN PROGRESS",
    "10": "PART APPROVAL", "11": "APPROVED VIP", "12": "BAD TXN", "13": "BAD AMOUNT", "14": "BAD CARD NO",
    "15": "NO ISSUER", "17": "CUSTOMER CNCL", "19": "TRY AGAIN", "20": "BAD RESPONSE", "21": "NO ACTION",
    "22": "MALFUNCTION", "23": "FEE REFUSED", "25": "NO ORIGINAL", "30": "FORMAT ERROR", "31": "BANK NOT SUPP",
    "32": "PARTLY DONE", "33": "KEEP: EXPIRED", "34": "FRAUD PICK UP", "35": "CALL ACQUIRER",
    "36": "RESTRICTED", "37": "CALL SECURITY", "38": "PIN LOCK KEEP", "39": "NO CREDIT AC",
    "40": "NOT SUPPORTED", "41": "LOST CARD", "42": "NO UNIV AC", "43": "STOLEN CARD", "44": "NO INVEST AC",
    "51": "NO FUNDS", "52": "NO CHEQUE AC", "53": "NO SAVINGS AC", "54": "EXPIRED CARD", "55": "WRONG PIN",
    "56": "NO CARD REC", "57": "NOT FOR CARD", "58": "NOT FOR TERM", "59": "SUSPECT FRAUD",
    "60": "CALL ACQUIRER", "61": "OVER LIMIT", "62": "RESTRICTED", "63": "SECURITY", "64": "BAD ORIG AMT",
    "65": "TOO OFTEN", "66": "CALL SECURITY", "67": "HARD CAPTURE", "68": "TOO LATE", "75": "TOO MANY PINS",
    "90": "CUT-OFF", "91": "ISSUER DOWN", "92": "CANNOT ROUTE", "93": "AGAINST LAW", "94": "DUPLICATE",
    "95": "RECONCILE ERR", "96": "SYSTEM ERROR", "99": "PIN FORMAT", "A0": "MAC ERROR",
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
            TxnKind.VOID: TxnSpec("0200", "020000", "00", original=VOID_ORIGINAL),
            TxnKind.REFUND: TxnSpec("0200", "200000", "00", original=REFUND_ORIGINAL),
            TxnKind.PREAUTH: TxnSpec("0100", "000000", "06"),
            # The cancel and the completion name the pre-auth by its authorisation code (38) and
            # its original data elements (90: the pre-auth's MTI, STAN and field 7 where the journal
            # holds it, else 0100, zeros and the keyed date); the completion is a 0200 request with
            # processing code 00 and condition 06, reversed when unanswered as the sale is. Its
            # void names the completion as a void names a sale (37, 38, 90). The completion made
            # without the host is the 0220 advice, 0221 on a repeat, naming the pre-auth the same way.
            TxnKind.PREAUTH_VOID: TxnSpec("0100", "020000", "06", original=PREAUTH_ORIGINAL),
            TxnKind.PREAUTH_COMPLETE: TxnSpec("0200", "000000", "06", original=PREAUTH_ORIGINAL),
            TxnKind.PREAUTH_COMPLETE_VOID: TxnSpec("0200", "020000", "06", original=VOID_ORIGINAL),
            TxnKind.PREAUTH_COMPLETE_ADVICE: TxnSpec("0220", "000000", "06", reversible=False,
                                                     original=PREAUTH_ORIGINAL),
            TxnKind.BALANCE: TxnSpec("0100", "310000", "00", reversible=False, amount=False),
            # Cardholder accounts transfer: the destination account in 103 (account identification 2).
            TxnKind.TRANSFER: TxnSpec("0200", "400000", "00", account_field=103),
            TxnKind.OFFLINE_SALE: TxnSpec("0220", "000000", "00", reversible=False),
            TxnKind.SIGN_ON: TxnSpec("0800", None, None, reversible=False, network_code="001"),
        },
        # ISO 8583:1987's PAN entry modes: 01 manual, 02 magnetic stripe read. 90 (a full, unaltered
        # track read) is a scheme's value in the range 1987 leaves to private use, as are 80 (a chip
        # card swiped) and the chip entries (05, 07: ISO 8583:1993's): a scheme's own profile would set them.
        entry_modes={
            EntryMode.MANUAL: "01",
            EntryMode.SWIPE: "02",
            EntryMode.CHIP: "05",
            EntryMode.CONTACTLESS: "07",
            EntryMode.FALLBACK: "80",
        },
        # The third digit is the terminal's PIN entry capability, not whether a PIN was entered.
        pin_capability=("1", "1"),
        approved_codes=frozenset({"00", "08", "11"}),
        # 10 (approved for a partial amount) is an approval the terminal cannot complete: reversed (reason 06).
        reverse_codes=frozenset({"10"}),
        response_texts=RESPONSE_TEXTS,
        display_texts=DISPLAY_TEXTS,
        # Field 39 of a reversal in ISO 8583:1987's own codes (UnionPay's 98 and A0 are not among them):
        # no answer is 68 (response received too late), an answer whose MAC failed is 20 (invalid
        # response), one the terminal could not record 96 (system malfunction), anything else 06 (error).
        reversal_reasons={
            "68": "Response received too late: no answer from the host",
            "96": "System malfunction: the terminal could not record the answer",
            "20": "Invalid response: MAC failure on the answer",
            "06": "Error: other",
        },
        reason_codes={
            ReversalReason.NO_ANSWER.value: "68",
            ReversalReason.MAC_FAILURE.value: "20",
        },
        unmacced_mtis=frozenset({"0800", "0810"}),
        pin_security_info=None,
        # With DUKPT PIN keys the KSN (10 bytes TDES, 12 AES) goes in 53 as ISO 8583:1993 defines it
        # (b..48, security related control information; here hex text with an LL prefix counting hex
        # characters, as every binary field of this profile), a common acquirer convention.
        ksn_field=53,
        local_time_fields=frozenset({7, 12, 13}),
        secondary_bitmap=True,
        mac_placement=MacPlacement.LAST_BITMAP,
        # A reversal (0400, repeated 0401) names the request it reverses in 90.
        reversal_original=OriginalField(90, ORIGINAL_DATA.parts),
        acquirer_field=32,
    )


SETTLEMENT = _settlement()
