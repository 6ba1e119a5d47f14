"""What goes on a receipt. Pure: a journal record and the settings in, a document out.

The printer driver decides how the document becomes ESC/POS bytes; this
module decides only the content. The merchant copy shows the PAN masked to
first 6 / last 4 and has a signature line; the cardholder copy shows only
the last 4 digits and says whose copy it is.
"""

from __future__ import annotations

from firmware.core.flows import FLOWS
from firmware.core.model import Copy, EntryMode, JournalState, Kind, PrintJob
from firmware.core.settings import CoreSettings
from firmware.money import format_amount
from hal.printer import Align, Line, Receipt

__all__ = ["build_receipt", "card_scheme", "ENTRY_LETTER", "KIND_TEXT", "SCHEMES"]

ENTRY_LETTER = {
    EntryMode.SWIPE: "S",
    EntryMode.FALLBACK: "F",
    EntryMode.MANUAL: "M",
    EntryMode.CHIP: "I",
    EntryMode.CONTACTLESS: "C",
}

# The card's scheme by the leading digits of its PAN (the issuer identification ranges the schemes publish),
# read from the masked PAN's first six, which the journal keeps; a PAN in none of them prints no scheme.
# (first digits from, to, inclusive, as many digits as the bounds have; scheme), the narrower ranges first.
SCHEMES: tuple[tuple[str, str, str], ...] = (
    ("3528", "3589", "JCB"),
    ("34", "34", "AMEX"),
    ("37", "37", "AMEX"),
    ("4", "4", "VISA"),
    ("2221", "2720", "MASTERCARD"),
    ("51", "55", "MASTERCARD"),
    ("62", "62", "UNIONPAY"),
)


def card_scheme(masked_pan: str) -> str:
    """The scheme of a masked PAN (first 6 and last 4 clear) by its first digits; empty when unknown."""
    return next((name for low, high, name in SCHEMES if low <= masked_pan[: len(low)] <= high), "")


KIND_TEXT = {
    Kind.SALE: "SALE",
    Kind.VOID: "VOID",
    Kind.REFUND: "REFUND",
    # PREAUTH as the screens and the menu say it, which have no column for a hyphen to spare on 16 (UX25);
    # its cancel as the menu (2 CANCEL) and the screens (PA CANCEL) name it
    Kind.PREAUTH: "PREAUTH",
    Kind.PREAUTH_VOID: "PREAUTH CANCEL",
    Kind.PREAUTH_COMPLETE: "AUTH COMPLETE",
    Kind.PREAUTH_COMPLETE_VOID: "AUTH COMPLETE VOID",
    Kind.BALANCE: "BALANCE",
    Kind.TRANSFER: "TRANSFER",
    Kind.OFFLINE_SALE: "SALE",
    Kind.PREAUTH_COMPLETE_ADVICE: "AUTH COMPLETE",
    Kind.SIGN_ON: "SIGN ON",
}


def _last4_only(masked: str) -> str:
    return "*" * (len(masked) - 4) + masked[-4:]


def _offline_lines(r) -> list[Line]:
    """A record approved offline says where its advice stands: a reprint after the host refused it must
    not say approved (the bank has no record of it), nor "to be uploaded" once the host has it."""
    if r.advice is None:  # two lines: one wrapped at 32 columns as "... - TO BE" and "UPLOADED" (UX25)
        return [Line("APPROVED OFFLINE", align=Align.CENTER), Line("TO BE UPLOADED", align=Align.CENTER)]
    if r.advice.accepted:
        return [Line("APPROVED OFFLINE", align=Align.CENTER), Line("UPLOADED", align=Align.CENTER)]
    return [Line(f"DECLINED BY HOST ({r.advice.code or '-'})", align=Align.CENTER, bold=True),
            Line("NOT PAID - CALL THE ACQUIRER", align=Align.CENTER)]


def _orig_date(keyed: str) -> str:
    """The original's date as keyed, MMDD, printed MM-DD: the order DATE/TIME above reads in (0304 is March 4,
    not April 3, nor 03:04). No year: the cashier keyed none and the host was sent none (cup 61.3), and a year
    inferred here would print a guess as a fact."""
    return f"{keyed[:2]}-{keyed[2:]}" if len(keyed) == 4 and keyed.isdigit() else keyed


def build_receipt(job: PrintJob, settings: CoreSettings) -> Receipt:
    r = job.record
    merchant = job.copy is Copy.MERCHANT
    pan = r.masked_pan if merchant else _last4_only(r.masked_pan)
    kind = KIND_TEXT[r.kind] + (" (OFFLINE)" if r.state is JournalState.OFFLINE_APPROVED else "")
    flow = FLOWS.get(r.kind)
    refund = flow is not None and flow.refund  # money back to the card: shown negative
    amount = f"{'-' if refund else ''}{settings.currency_symbol} {format_amount(r.amount, settings.exponent)}"
    lines = [
        Line(settings.merchant_name, align=Align.CENTER, bold=True),
        Line("MERCHANT COPY" if merchant else "CARDHOLDER COPY", align=Align.CENTER),
        Line(rule=True),
        Line("MERCHANT NO:", right=r.merchant_id or settings.merchant_id),
        Line("TERMINAL NO:", right=r.terminal_id or settings.terminal_id),
        Line("OPERATOR NO:", right=r.operator or settings.operator),
        Line("CARD NO:", right=f"{pan} {ENTRY_LETTER[r.entry_mode]}"),
        Line("CARD TYPE:", right=" ".join(filter(None, (card_scheme(r.masked_pan), r.entry_mode.value.upper())))),
        Line("TRANS TYPE:", right=kind),
        Line("BATCH NO:", right=f"{r.batch:06d}"),
        Line("TRACE NO:", right=f"{r.stan:06d}"),
        Line("REF NO:", right=r.rrn or "-"),
        Line("AUTH NO:", right=r.auth_code or "-"),
        Line("DATE/TIME:", right=r.when.strftime("%Y-%m-%d %H:%M:%S")),
    ]
    by_auth = r.reference is not None and bool(r.reference.auth_code)  # a pre-auth's cancel or completion
    if r.original is not None:
        lines.append(Line("ORIG TRACE NO:", right=f"{r.original.stan:06d}"))
        if by_auth:
            lines.append(Line("ORIG AUTH NO:", right=r.reference.auth_code))
        else:
            lines.append(Line("ORIG REF NO:", right=(r.reference.rrn if r.reference else r.original.rrn) or "-"))
    elif by_auth:  # of a pre-auth this terminal does not hold
        lines.append(Line("ORIG AUTH NO:", right=r.reference.auth_code))
    elif r.reference is not None:  # a refund of a sale this terminal does not hold
        lines.append(Line("ORIG REF NO:", right=r.reference.rrn))
    if r.reference is not None:
        lines.append(Line("ORIG DATE:", right=_orig_date(r.reference.date)))
    if r.account is not None:  # a transfer's destination, masked first 6 / last 4 (as stored)
        lines.append(Line("TO ACCOUNT", right=r.account))
    lines += [
        Line(rule=True),
        Line("AMOUNT:", right=amount, bold=True),
        Line(rule=True),
    ]
    if refund:  # money back, or a charge cancelled (Flow.slip_note)
        lines += [Line(note, align=Align.CENTER) for note in flow.slip_note]
    if flow is not None and flow.hold is not None:  # a hold placed or released: nothing charged
        lines.append(Line(flow.hold.value, align=Align.CENTER))
    if r.state is JournalState.OFFLINE_APPROVED:
        lines += _offline_lines(r)
    if merchant:
        lines += [
            Line("CARDHOLDER SIGNATURE:"),
            Line(""),
            Line(""),
            Line(rule=True),
            Line("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES"),
        ]
    else:
        lines.append(Line("*** CARDHOLDER COPY ***", align=Align.CENTER))
    if job.recovered:
        lines.append(Line("*** PRINTED AFTER POWER LOSS ***", align=Align.CENTER))
    if job.late:
        lines.append(Line("*** LATE HOST ANSWER ***", align=Align.CENTER))
    if job.reprint:
        lines.append(Line("*** REPRINT ***", align=Align.CENTER))
    if job.voided_by is not None:  # an old slip reprinted must not be taken for a live charge
        lines.append(Line(f"VOIDED BY TRACE {job.voided_by:06d}", align=Align.CENTER, bold=True))
    # the copy before it may be whole (a power cut after the write, before the mark, cannot say whether the
    # first reached paper): a merchant must not take two slips for two charges
    if job.again or job.recovered:
        lines += [Line("*** PRINTED AGAIN ***", align=Align.CENTER),
                  Line("MAY DUPLICATE THE SLIP BEFORE IT", align=Align.CENTER)]
    title = f"{job.copy.value.upper()} COPY TRACE {r.stan:06d}"
    return Receipt(lines=tuple(lines), title=title)
