"""The settlement report. Pure: a settlement and the settings in, a document out.

Printed after the batch is closed (and reprinted on demand); ``posterm report``
shows the same figures. No card data: a batch's totals are counts and amounts.
"""

from __future__ import annotations

from firmware.core.batch import Settlement, SettleResult, Totals
from firmware.core.settings import CoreSettings
from firmware.money import format_amount
from hal.printer import Align, Line, Receipt

__all__ = ["build_report", "RESULT_TEXT"]

RESULT_TEXT = {
    SettleResult.BALANCED: "BALANCED",
    SettleResult.UNBALANCED: "UNBALANCED",
    SettleResult.ERROR: "HOST ERROR",
}


def _money(amount: int, settings: CoreSettings) -> str:
    return f"{settings.currency_symbol} {format_amount(amount, settings.exponent)}"


def _credit(amount: int, settings: CoreSettings) -> str:
    """Money back to cards, signed; none is no money, with no sign (not "-CNY 0.00")."""
    return ("-" if amount else "") + _money(amount, settings)


def total_lines(totals: Totals, settings: CoreSettings) -> list[Line]:
    """Per kind count and amount, then the net: shared by the report and the CLI's text output.

    Debits are sales and the pre-auths' completions (online, and advices the host
    accepted); credits are voids, refunds and completion voids. Refunds, completions
    and completion voids get lines of their own when there are any (a batch settled
    before schema 8 kept its completions among the sales, and shows them there).
    """
    t = totals
    completions = [Line(f"COMPLETE  {t.completion_count:>5}", right=_money(t.completion_amount, settings))]
    refunds = [Line(f"REFUND    {t.refund_count:>5}", right=_credit(t.refund_amount, settings))]
    cvoids = [Line(f"CMPL VOID {t.completion_void_count:>5}", right=_credit(t.completion_void_amount, settings))]
    return [
        Line("TYPE      COUNT", right="AMOUNT"),
        Line(f"SALE      {t.sale_count:>5}", right=_money(t.sale_amount, settings)),
        *(completions if t.completion_count else []),
        Line(f"VOID      {t.void_count:>5}", right=_credit(t.void_amount, settings)),
        *(refunds if t.refund_count else []),
        *(cvoids if t.completion_void_count else []),
        Line(rule=True),
        Line(f"TOTAL     {totals.debit_count + totals.credit_count:>5}", right=_money(totals.net, settings),
             bold=True),
    ]


def report_head(settings: CoreSettings, title: str) -> list[Line]:
    """The head every report shares, printed (``build_report``) or read (``posterm report``)."""
    return [
        Line(settings.merchant_name, align=Align.CENTER, bold=True),
        Line(title, align=Align.CENTER, bold=True),
        Line(rule=True),
        Line("MERCHANT NO:", right=settings.merchant_id),
        Line("TERMINAL NO:", right=settings.terminal_id),
    ]


def result_lines(s: Settlement) -> list[Line]:
    """What became of a settled batch: the host's verdict on its totals, then its upload."""
    lines = [Line(f"TOTALS {RESULT_TEXT[s.result]}", align=Align.CENTER, bold=True)]
    if s.uploaded:
        lines.append(Line("BATCH UPLOADED", align=Align.CENTER))
    elif s.upload_owed:
        lines.append(Line("BATCH UPLOAD PENDING", align=Align.CENTER))
    elif s.no_upload and not s.balanced:
        lines.append(Line("RECONCILE BY HAND", align=Align.CENTER))
        # the 1987 answer carries no host totals to print beside ours: the acquirer has them (audit AU21 M1)
        lines += [Line("CALL THE ACQUIRER", align=Align.CENTER), Line("WITH THIS REPORT", align=Align.CENTER)]
    return lines


def build_report(s: Settlement, settings: CoreSettings, *, reprint: bool = False) -> Receipt:
    lines = [
        *report_head(settings, "SETTLEMENT REPORT"),
        Line("OPERATOR NO:", right=s.operator or settings.operator),
        Line("BATCH NO:", right=f"{s.batch:06d}"),
        Line("TRACE NO:", right=f"{s.stan:06d}"),
        Line("DATE/TIME:", right=s.when.strftime("%Y-%m-%d %H:%M:%S")),
        Line(rule=True),
        *total_lines(s.totals, settings),
        Line(rule=True),
        *result_lines(s),
    ]
    if reprint:
        lines.append(Line("*** REPRINT ***", align=Align.CENTER))
    return Receipt(lines=tuple(lines), title=f"SETTLEMENT BATCH {s.batch:06d}")
