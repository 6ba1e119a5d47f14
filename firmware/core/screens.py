"""What the display shows in each state. Pure functions of the core's data.

Lines are kept to 20 characters (the smallest common POS display); a wider
display simply has room to spare, and the display driver truncates anything
longer rather than wrapping.

A screen is written for 4 rows, and says itself again in 2 (``fit(lines,
short)``: ``hal.display.Lines``) for the usual pole display, a 2 x 20 DM-D:
what is happening and the keys that answer it, or the idle status line. The
display port shows the short form when the screen, less its blank lines, does
not fit (``hal.display.fit_screen``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from firmware.core.flows import flow_of  # a module-level import: these run on every screen of a sale
from firmware.money import format_amount
from hal.display import Lines

if TYPE_CHECKING:
    from firmware.core.machine import Terminal
    from firmware.core.model import SaleRecord
    from firmware.core.settings import CoreSettings

WIDTH = 20


def fit(lines: Iterable[str], short: Iterable[str] = ()) -> Lines:
    """The screen's lines cut to ``WIDTH``; ``short``: the same screen in 2 lines, for a 2-row display."""
    return Lines((str(line)[:WIDTH] for line in lines), (str(line)[:WIDTH] for line in short))


def _pair(first: str, second: str, width: int = WIDTH) -> str:
    """``first second`` on one line if it fits, else ``second`` alone (the part that carries the value): the
    2-row form of ``titled``."""
    both = f"{first} {second}"
    return both if len(both) <= width else second


def titled(title: str, value: str, width: int = WIDTH) -> tuple[str, ...]:
    """A title with its value (an amount): one line when both fit, else the title, then the value alone on
    its own line, right-aligned. The one rule for every screen that shows a title with an amount (audit
    AU20 M3): ``fit`` and the display cut a line at its width, and an amount cut ("COMPLETION CNY 12345"
    for 123,456.78) is read as another amount, so the value is never what gives way. On 2 rows the same
    rule keeps the value alone (``_pair``)."""
    both = f"{title} {value}"
    return (both,) if len(both) <= width else (title, value.rjust(width))


def money(amount: int, settings: CoreSettings) -> str:
    return f"{settings.currency_symbol} {format_amount(amount, settings.exponent)}"


def status(term: Terminal) -> str:
    if term.printer_fault is not None:  # no sale until it works (device_faults.py)
        return "PRINTER FAULT"
    if term.reversals:
        return f"{len(term.reversals)} REVERSAL PENDING"
    overdue = term.overdue_status()  # an old batch, old offline sales (overdue.py): before what merely waits
    if overdue:
        return overdue
    if term.advices:
        refunds = sum(1 for a in term.advices if a.kind.value == "refund")  # refunds waiting to be sent again
        sales = len(term.advices) - refunds
        return f"{sales} OFFLINE QUEUED" if sales else f"{refunds} REFUND QUEUED"
    if term.upload is not None:
        return "BATCH UPLOAD OWED"
    return ""


def idle(term: Terminal) -> tuple[str, ...]:
    now = status(term)
    if term.signed_out:  # operators.required and no cashier signed in (operators.py)
        return fit(("PLEASE SIGN IN", "KEY OPERATOR NO.", "THEN # AND PASSWORD", now),
                   ("PLEASE SIGN IN", now or "KEY OPERATOR NO."))
    return fit((term.settings.merchant_name, "READY", "KEY AMOUNT TO SELL", now),
               ("READY", now) if now else (term.settings.merchant_name, "READY"))


def amount(term: Terminal, note: str = "") -> tuple[str, ...]:
    title, shown, keys = _title(term.sale.kind), money(term.sale.amount, term.settings), note or "#=OK  X=CANCEL"
    return fit((title, "AMOUNT:", shown, keys), (_pair(title, shown), keys))


def _title(kind) -> str:
    return flow_of(kind).title


def _sale_head(term: Terminal) -> tuple[str, ...]:
    """The transaction and its amount, for 4 rows: one line, or two when they do not fit (``titled``)."""
    flow = flow_of(term.sale.kind)
    if not flow.moves_money:  # an inquiry: no amount to show
        return (flow.title,)
    return titled(flow.title, money(term.sale.amount, term.settings))


def _sale_line(term: Terminal) -> str:
    """The transaction and its amount in one line, for 2 rows: the amount alone when both do not fit."""
    flow = flow_of(term.sale.kind)
    if not flow.moves_money:
        return flow.title
    return _pair(flow.title, money(term.sale.amount, term.settings))


def trace(term: Terminal, note: str = "") -> tuple[str, ...]:
    title, trace, keys = _title(term.sale.kind), term.sale.trace or "_", note or "#=OK  X=CANCEL"
    return fit((title, "ORIGINAL TRACE NO:", trace, keys), (_pair(title, f"TRACE {trace}"), keys))


def searching(term: Terminal) -> tuple[str, ...]:
    label = term._original_label()
    return fit((_title(term.sale.kind), label, "SEARCHING..."), (label, "SEARCHING..."))


def confirm(term: Terminal) -> tuple[str, ...]:
    sale, o = term.sale, term.sale.original
    if sale.reference is not None:  # a refund: its original named by reference number (a pre-auth: auth code)
        if o is None:
            return fit((f"{_title(sale.kind)} {sale.orig_date}", term._original_label(), "NOT ON THIS TERMINAL",
                        "#=CONFIRM X=CANCEL"), ("NOT ON THIS TERMINAL", "#=CONFIRM X=CANCEL"))
        if sale.reference.auth_code:  # the pre-auth's whole amount
            held = f"HELD {money(o.amount, term.settings)}"
            return fit((f"{_title(sale.kind)} TRACE {o.stan:06d}", held, o.masked_pan, "#=CONFIRM X=CANCEL"),
                       (held, "#=CONFIRM X=CANCEL"))
        # a refund of it still to go (keyed before a power cut or while the link was down) is said, so a
        # cashier who saw no slip does not key it again: it is sent by itself, and its slip prints then
        third = f"UNSENT {money(o.refund_pending, term.settings)}" if o.refund_pending else o.masked_pan
        left = f"LEFT {money(o.refundable, term.settings)}"
        return fit((f"{_title(sale.kind)} TRACE {o.stan:06d}", left, third, "#=CONFIRM X=CANCEL"),
                   (third if o.refund_pending else left, "#=CONFIRM X=CANCEL"))  # 2 rows: what is unsent wins
    shown = money(o.amount, term.settings)
    return fit((f"{_title(sale.kind)} TRACE {o.stan:06d}", shown, o.masked_pan, "#=CONFIRM X=CANCEL"),
               (_pair(_title(sale.kind), shown), "#=CONFIRM X=CANCEL"))


def reference(term: Terminal, note: str = "") -> tuple[str, ...]:
    """A refund's first prompt: the original's reference number, from its receipt (REF NO)."""
    title, keys = _title(term.sale.kind), note or "#=OK  X=CANCEL"
    if flow_of(term.sale.kind).by_auth_code:  # a pre-auth's cancel or completion: the pre-auth's AUTH NO
        auth = term.sale.auth or "_"
        return fit((title, "ORIGINAL AUTH NO:", auth, keys), (_pair(title, f"AUTH {auth}"), keys))
    rrn = term.sale.rrn or "_"
    return fit((title, "ORIGINAL REF NO:", rrn, keys), (_pair(title, f"REF {rrn}"), keys))


def original_date(term: Terminal, note: str = "") -> tuple[str, ...]:
    date, keys = term.sale.orig_date or "_", note or "#=OK  X=CANCEL"
    return fit((_title(term.sale.kind), "ORIGINAL DATE MMDD:", date, keys), (f"ORIG DATE MMDD: {date}", keys))


def balance(term: Terminal, record: SaleRecord, value) -> tuple[str, ...]:
    """The balance of an approved inquiry (``firmware.host.balance.Balance``), for the display only."""
    last4 = record.masked_pan[-4:]
    if value is None:
        return fit(("BALANCE", "NOT GIVEN BY HOST", f"CARD **** {last4}"), ("BALANCE NOT GIVEN", f"CARD **** {last4}"))
    s = term.settings
    unit = s.currency_symbol if value.currency == s.currency else value.currency
    shown = f"{'-' if value.amount < 0 else ''}{unit} {format_amount(abs(value.amount), s.exponent)}"
    return fit(("BALANCE", shown, f"CARD **** {last4}"), (_pair("BALANCE", shown), f"CARD **** {last4}"))


def account(term: Terminal, digits: int, confirming: bool, note: str = "") -> tuple[str, ...]:
    """A transfer's destination account being keyed on the PIN pad: a count of digits, never the digits."""
    prompt = "KEY IT AGAIN:" if confirming else "TO ACCOUNT NO:"
    stars, keys = "*" * digits or "_", note or "#=OK  X=CANCEL"
    head = _sale_head(term)
    entry = (prompt, stars) if len(head) == 1 else (_pair(prompt, stars),)  # the amount took the prompt's row
    return fit((*head, *entry, keys), (_pair(prompt, stars), keys))


def swipe(term: Terminal) -> tuple[str, ...]:
    head = _sale_head(term)
    gap = ("",) if len(head) == 1 else ()
    return fit((*head, "SWIPE CARD", *gap, "X=CANCEL"), (_sale_line(term), "SWIPE CARD  X=CANCEL"))


def pin(term: Terminal, digits: int) -> tuple[str, ...]:
    last4 = term.sale.card.masked_pan[-4:] if term.sale.card else "????"
    head, stars = _sale_head(term), "*" * digits
    entry = ("ENTER PIN:", stars) if len(head) == 1 else (_pair("ENTER PIN:", stars),)
    return fit((*head, f"CARD **** {last4}", *entry), (_sale_line(term), _pair("ENTER PIN:", stars)))


def processing(term: Terminal) -> tuple[str, ...]:
    return fit((*_sale_head(term), "PROCESSING...", "PLEASE WAIT"), (_sale_line(term), "PROCESSING..."))


def approved(term: Terminal, record: SaleRecord) -> tuple[str, ...]:
    offline = record.state.value == "offline_approved"
    auth = f"AUTH {record.auth_code}" if record.auth_code else ""
    flow = flow_of(record.kind)
    amount = ("-" if flow.refund else "") + money(record.amount, term.settings)
    head = "APPROVED OFFLINE" if offline else ("APPROVED" if flow.kind.value == "sale" else f"{flow.title} APPROVED")
    return fit((head, amount, auth, "PRINTING..."), (head, amount))


def reversed_outcome(term: Terminal, record: SaleRecord, cause: str, queued: bool) -> Lines:
    """The last screen of a transaction reversed for want of a usable answer (no answer, a bad MAC, a partial
    approval; audit AU20 M5): not approved, its amount, and what became of the money, held like a decline's.
    ``queued``: the reversal is not delivered yet (it stays queued, the status line says so), so nothing is
    said to be undone: only that the transaction is not approved."""
    flow = flow_of(record.kind)
    head = _pair(flow.title, flow.undone)  # SALE NOT APPROVED; NOT AUTHORISED alone when both do not fit
    if queued:
        money_line = "REVERSAL QUEUED"
    else:
        money_line = "NOTHING REFUNDED" if flow.refund else "NOTHING CHARGED"
    shown = money(record.amount, term.settings)
    return fit((head, shown, money_line, cause), (head, shown))


def suspended(term: Terminal) -> tuple[str, ...]:
    problem = (term.problem or "STORAGE FAULT").upper()
    return fit(("SALES SUSPENDED", problem, "#=CHECK AGAIN", status(term)),
               (_pair("SUSPENDED:", problem), "#=CHECK AGAIN"))


def printer_problem(text: str) -> tuple[str, ...]:
    """The printer's error text without its subject ("the printer is out of paper": OUT OF PAPER), so the
    cause fits a line; on 2 rows, the cause and both keys."""
    cause = text.upper().removeprefix("THE PRINTER ").removeprefix("IS ")
    return fit(("PRINTER PROBLEM", cause, "#=RETRY", "X=SKIP THIS COPY"),
               (_pair("PRINTER", cause), "#=RETRY X=SKIP COPY"))


def menu(term: Terminal) -> tuple[str, ...]:
    """Two pages of four lines (0 turns the page). On page 2, 1-4 are the pre-auth family, 5 a transfer and
    6 the completion advice; 7-9 work from either page, and * signs the cashier out when operators sign in."""
    if term.menu_page:  # 1-6 here: the pre-auth family, a transfer, the advice (flows.MENU_MORE_FLOWS, MENU_ADVICE_KEY)
        signed_in = term.settings.operators.required and term.operator
        last = f"8 RCPT 9 RPT *OUT {term.operator}" if signed_in else "8 RCPT 9 RPT 0 BACK"
        return fit(("1 PREAUTH  2 CANCEL", "3 COMPLETE 4 CP VOID", "5 TRANSFER 6 ADVICE", last),
                   ("1PRE 2CNL 3CMP 4CPV", "5XFR 6ADV 8RCP 9RPT"))  # 2 rows: no room to show 0 BACK, *OUT
    return fit(("1 UPLOAD  2 SIGN ON", "3 SIGN OFF  4 VOID", "5 SETTLE  6 REFUND", "7 BALANCE  0 MORE"),
               ("1UPL 2ON 3OFF 4VOID", "5STL 6REF 7BAL 0MORE"))


def totals(term: Terminal) -> tuple[str, ...]:
    """The settlement confirmation: the batch's sales and voids as the journal counts them."""
    t, s = term.totals, term.settings
    credit = "CREDIT" if t.refund_count else "VOID"  # voids and refunds together
    sales = (f"SALE {t.debit_count}", money(t.debit_amount, s))
    credits = (f"{credit} {t.credit_count}", money(t.credit_amount, s))
    figures = (*titled(*sales), *titled(*credits))
    lines = (f"SETTLE {term.counters.batch:06d}", *figures, "#=SETTLE X=CANCEL")
    if len(figures) > 2:  # an amount on a line of its own (titled): the figures first, the keys if room is left
        lines = (*figures, "#=SETTLE X=CANCEL")[:4]
    # 2 rows: the figures being confirmed (# and X as on every screen); an amount alone when its line is full,
    # the credits' with a minus so the two cannot be mistaken for each other
    credit_line = " ".join(credits) if len(titled(*credits)) == 1 else "-" + credits[1]
    return fit(lines, (_pair(*sales), credit_line))


def signed_off(term: Terminal, note: str = "") -> tuple[str, ...]:
    now = status(term)
    return fit((note or "NOT SIGNED ON", "NO SALES", "F THEN 2: SIGN ON", now),
               (note or "NOT SIGNED ON", now or "F THEN 2: SIGN ON"))


def locked(term: Terminal) -> tuple[str, ...]:
    reason = (term.lock_reason or "keys missing").upper()
    return fit(("TERMINAL LOCKED", reason[:20], reason[20:40], "CALL SUPPORT: RE-KEY"),
               ("LOCKED: CALL SUPPORT", reason[:20]))
