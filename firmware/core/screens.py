"""What the display shows in each state. Pure functions of the core's data.

A screen is written for 20 characters a line (``WIDTH``), and chooses what
shares a line with the display's real width (``CoreSettings.display_cols``, the
port's ``cols``; at least ``hal.display.MIN_COLS``, 16): a title gives way to
its amount, a long word to its short form (``Flow.short``, a response code's
display form), a prompt to its keyed value, so the display, which cuts a line
at its width rather than wrapping it, never cuts an amount, an outcome word or
what is being keyed.

A screen is written for 4 rows, and says itself again in 2 (``fit(lines,
short)``: ``hal.display.Lines``) for the usual pole display, a 2 x 20 DM-D:
what is happening and the keys that answer it, or the idle status line. The
display port shows the short form when the screen, less its blank lines, does
not fit (``hal.display.fit_screen``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from firmware.core.flows import flow_of  # a module-level import: these run on every screen of a sale
from firmware.core.model import JournalState, Kind
from firmware.core.next_steps import next_step
from firmware.money import format_amount
from hal.cells import cell_width, cut_cells, is_wide
from hal.display import Lines

if TYPE_CHECKING:
    from firmware.core.machine import Terminal
    from firmware.core.model import PendingReversal, SaleRecord
    from firmware.core.settings import CoreSettings

WIDTH = 20  # what the screens are written for; a screen of a terminal chooses with its display's (``_width``)


def fit(lines: Iterable[str], short: Iterable[str] = ()) -> Lines:
    """The screen's lines; ``short``: the same screen in 2 lines, for a 2-row display. Nothing is cut here (it
    cut at 20 columns, silently, on a 16-column display too): each screen chooses its lines with the display's
    real width (``_width``), and a line that still does not fit is cut by the display, which records it
    (``hal.display.Display._cut``: the instrument the tests sweep every flow with)."""
    return Lines(map(str, lines), map(str, short))


def shown(term: Terminal, lines: Iterable[str], short: Iterable[str] = ()) -> Lines:
    """A message (a result, a refusal, what the terminal is doing) in the display's width: a line too wide
    is said over two, broken at a space (``_wrapped``; words, amounts and codes stay whole), and on 2 rows
    such a line takes both (CANNOT VOID / TRANSFER: the outcome, which it implies, and the code are in the
    alert or note). A line that cannot be broken so is left whole, for the display to cut and record."""
    w, lines, short = _width(term), tuple(map(str, lines)), tuple(map(str, short))
    if all(cell_width(line) <= w for line in (*lines, *short)):  # the usual case: nothing to break
        return fit(lines, short)
    broken = tuple(part for line in lines for part in (_wrapped(line, w) or (line,)))
    two = short or (lines if len(lines) <= 2 else ())
    wide = next((pair for line in two if cell_width(line) > w and (pair := _wrapped(line, w))), None)
    return fit(broken, wide or short)


def _width(term: Terminal) -> int:
    """The display's real width: every choice of what shares a line is made with it."""
    return term.settings.display_cols


def _pair(first: str, second: str, width: int, short: str = "") -> str:
    """``first second`` on one line if it fits, else ``short second`` (a flow's short title, ``Flow.short``),
    else ``second`` alone (the part that carries the value): the 2-row form of ``titled``."""
    for head in (first, short):
        both = f"{head} {second}"
        if head and cell_width(both) <= width:
            return both
    return second


def _first_fit(width: int, *forms: str) -> str:
    """The first of ``forms`` (the same words, shorter and shorter) that fits ``width``; else the last."""
    return next((form for form in forms if cell_width(form) <= width), forms[-1])


def _keyed(prompts: tuple[str, ...], value: str, width: int) -> str:
    """A prompt and the value being keyed on one line: the longest prompt that leaves the value whole, else
    the value alone (it is what the cardholder or cashier checks)."""
    return next((f"{p} {value}" for p in prompts if cell_width(f"{p} {value}") <= width), value)


def _stars(digits: int, width: int) -> str:
    """A count of keyed digits as stars, or as a number when the stars would not fit the line."""
    stars = "*" * digits or "_"
    return stars if len(stars) <= width else f"{digits} DIGITS"


def titled(title: str, value: str, width: int = WIDTH) -> tuple[str, ...]:
    """A title with its value (an amount): one line when both fit, else the title, then the value alone on
    its own line, right-aligned. The one rule for every screen that shows a title with an amount (audit
    AU20 M3): ``fit`` and the display cut a line at its width, and an amount cut ("COMPLETION CNY 12345"
    for 123,456.78) is read as another amount, so the value is never what gives way. On 2 rows the same
    rule keeps the value alone (``_pair``)."""
    both = f"{title} {value}"
    return (both,) if cell_width(both) <= width else (title, value.rjust(width))


def money(amount: int, settings: CoreSettings) -> str:
    return _money(amount, settings.currency_symbol, settings.exponent)


def _money(amount: int, symbol: str, exponent: int) -> str:
    return f"{symbol} {format_amount(amount, exponent)}"


def status(term: Terminal) -> str:
    """The idle status line, in the display's width (its 16-column form where the 20-column one is longer)."""
    w = _width(term)
    if term.printer_fault is not None:  # no sale until it works (device_faults.py)
        return "PRINTER FAULT"
    if term.pin_key_gone is not None:  # no card sale until a new DUKPT key (device_faults.py)
        return _first_fit(w, "PIN KEY EXHAUSTED", "NO PIN KEY LEFT")
    if term.reversals:
        return _first_fit(w, f"{len(term.reversals)} REVERSAL PENDING", f"{len(term.reversals)} REVERSAL DUE")
    overdue = term.overdue_status()  # an old batch, old offline sales (overdue.py): before what merely waits
    if overdue:
        return overdue
    if term.pin_key_left is not None:  # the DUKPT key's counters run low (device_faults.py)
        return "PIN KEY LOW"
    if term.advices:
        refunds = sum(1 for a in term.advices if a.kind.value == "refund")  # refunds waiting to be sent again
        sales = len(term.advices) - refunds
        return _first_fit(w, f"{sales} OFFLINE QUEUED", f"{sales} OFFLINE") if sales else _first_fit(
            w, f"{refunds} REFUND QUEUED", f"{refunds} REFUNDS")
    if term.upload is not None:
        return _first_fit(w, "BATCH UPLOAD OWED", "UPLOAD OWED")
    return ""


def idle(term: Terminal) -> tuple[str, ...]:
    now, w = status(term), _width(term)
    if term.signed_out:  # operators.required and no cashier signed in (operators.py)
        return fit(("PLEASE SIGN IN", "KEY OPERATOR NO.", _first_fit(w, "THEN # AND PASSWORD", "THEN # PASSWORD"),
                    now), ("PLEASE SIGN IN", now or "KEY OPERATOR NO."))
    name = _merchant(term)
    return fit((name, "READY", _first_fit(w, "KEY AMOUNT TO SELL", "KEY AMOUNT"), now),
               ("READY", now) if now else (name, "READY"))


def _merchant(term: Terminal) -> str:
    """The merchant name as READY shows it: whole, else its first words that fit the display (a Chinese
    character counts two columns); a name in Chinese on a display that cannot show it (``display_cjk``; a
    DM-D shows "?") is the merchant ID instead, rather than a line of question marks."""
    s, w = term.settings, _width(term)
    name = s.merchant_name
    if not s.display_cjk and any(map(is_wide, name)):
        return s.merchant_id
    return _words(name, w)


def _words(text: str, width: int) -> str:
    """``text`` whole if it fits ``width``, else its first words that do (a Chinese character counts two);
    a first word wider than the line (a Chinese name has no spaces) is cut, never inside a character."""
    if cell_width(text) <= width:
        return text
    head = cut_cells(text, width + 1)
    return head[: head.rfind(" ")].rstrip() if head.rfind(" ") > 0 else cut_cells(text, width)


def amount(term: Terminal, note: str = "") -> tuple[str, ...]:
    flow, shown, keys = flow_of(term.sale.kind), money(term.sale.amount, term.settings), note or "#=OK  X=CANCEL"
    w = _width(term)
    return fit((flow.title, "AMOUNT:", shown, keys), (_pair(flow.title, shown, w, flow.short), keys))


def _title(kind) -> str:
    return flow_of(kind).title


def _sale_forms(term: Terminal) -> tuple[tuple[str, ...], str, int]:
    """The transaction and its amount, in both forms, with the display's width.

    For 4 rows: one line, or two when they do not fit (``titled``). For 2 rows, one line: the short title
    when the whole one and the amount do not share the line, the amount alone when neither does."""
    sale, s = term.sale, term.settings
    w = s.display_cols
    return (*_forms(sale.kind, sale.amount, s.currency_symbol, s.exponent, w), w)


@functools.lru_cache(maxsize=16)
def _forms(kind: Kind, amount: int, symbol: str, exponent: int, width: int) -> tuple[tuple[str, ...], str]:
    """``_sale_forms``' two forms, from all they depend on: worked out once for the screens of one transaction
    (the PIN screen is shown again at each digit, with the same amount)."""
    flow = flow_of(kind)
    if not flow.moves_money:  # an inquiry: no amount to show
        return (flow.title,), flow.title
    shown = _money(amount, symbol, exponent)
    return titled(flow.title, shown, width), _pair(flow.title, shown, width, flow.short)


_CONFIRM_KEYS = ("#=CONFIRM X=CANCEL", "#=OK X=CANCEL")


def trace(term: Terminal, note: str = "") -> tuple[str, ...]:
    flow, trace, keys, w = flow_of(term.sale.kind), term.sale.trace or "_", note or "#=OK  X=CANCEL", _width(term)
    return fit((flow.title, _first_fit(w, "ORIGINAL TRACE NO:", "ORIG TRACE NO:"), trace, keys),
               (_pair(flow.title, f"TRACE {trace}", w, flow.short), keys))


def searching(term: Terminal) -> tuple[str, ...]:
    label = term._original_label()
    return fit((_title(term.sale.kind), label, "SEARCHING..."), (label, "SEARCHING..."))


def confirm(term: Terminal) -> tuple[str, ...]:
    sale, o, w = term.sale, term.sale.original, _width(term)
    flow, keys = flow_of(sale.kind), _first_fit(w, *_CONFIRM_KEYS)
    # a 19-digit masked PAN does not fit 16 columns: its last 4, as the PIN screen says the card
    card = _first_fit(w, o.masked_pan, f"CARD **** {o.masked_pan[-4:]}") if o is not None else ""
    if sale.reference is not None:  # a refund: its original named by reference number (a pre-auth: auth code)
        if o is None:
            nowhere = _first_fit(w, "NOT ON THIS TERMINAL", "NOT ON TERMINAL")
            return fit((_pair(flow.title, sale.orig_date or "", w, flow.short), term._original_label(), nowhere,
                        keys), (nowhere, keys))
        traced = _pair(flow.title, f"TRACE {o.stan:06d}", w, flow.short)
        if sale.reference.auth_code:  # the pre-auth's whole amount
            held = _pair("HELD", money(o.amount, term.settings), w)
            return fit((traced, held, card, keys), (held, keys))
        # a refund of it still to go (keyed before a power cut or while the link was down) is said, so a
        # cashier who saw no slip does not key it again: it is sent by itself, and its slip prints then
        third = _pair("UNSENT", money(o.refund_pending, term.settings), w) if o.refund_pending else card
        left = _pair("LEFT", money(o.refundable, term.settings), w)
        return fit((traced, left, third, keys),
                   (third if o.refund_pending else left, keys))  # 2 rows: what is unsent wins
    shown = money(o.amount, term.settings)
    return fit((_pair(flow.title, f"TRACE {o.stan:06d}", w, flow.short), shown, card, keys),
               (_pair(flow.title, shown, w, flow.short), keys))


def reference(term: Terminal, note: str = "") -> tuple[str, ...]:
    """A refund's first prompt: the original's reference number, from its receipt (REF NO)."""
    flow, keys, w = flow_of(term.sale.kind), note or "#=OK  X=CANCEL", _width(term)
    if flow.by_auth_code:  # a pre-auth's cancel or completion: the pre-auth's AUTH NO
        auth = term.sale.auth or "_"
        return fit((flow.title, _first_fit(w, "ORIGINAL AUTH NO:", "ORIG AUTH NO:"), auth, keys),
                   (_pair(flow.title, f"AUTH {auth}", w, flow.short), keys))
    rrn = term.sale.rrn or "_"
    return fit((flow.title, "ORIGINAL REF NO:", rrn, keys), (_pair(flow.title, f"REF {rrn}", w, flow.short), keys))


def original_date(term: Terminal, note: str = "") -> tuple[str, ...]:
    date, keys, w = term.sale.orig_date or "_", note or "#=OK  X=CANCEL", _width(term)
    entry = _keyed(("ORIG DATE MMDD:", "ORIG MMDD:", "MMDD:"), f"{date:<4}", w).rstrip()  # room for all 4 digits
    return fit((_title(term.sale.kind), _first_fit(w, "ORIGINAL DATE MMDD:", "ORIG DATE MMDD:"), date, keys),
               (entry, keys))


def balance(term: Terminal, record: SaleRecord, value) -> tuple[str, ...]:
    """The balance of an approved inquiry (``firmware.host.balance.Balance``), for the display only."""
    last4, w = record.masked_pan[-4:], _width(term)
    card = f"CARD **** {last4}"
    if value is None:
        return fit(("BALANCE", "NOT GIVEN BY HOST", card), ("BALANCE NOT GIVEN", card))
    s = term.settings
    unit = s.currency_symbol if value.currency == s.currency else value.currency
    shown = f"{'-' if value.amount < 0 else ''}{unit} {format_amount(abs(value.amount), s.exponent)}"
    both = f"BALANCE {shown}"  # 2 rows: the balance whole, under its title and card when they cannot share a line
    short = (both, card) if cell_width(both) <= w else (f"BALANCE ****{last4}", shown)
    return fit(("BALANCE", shown, card), short)


def account(term: Terminal, digits: int, confirming: bool, note: str = "") -> tuple[str, ...]:
    """A transfer's destination account being keyed on the PIN pad: a count of digits, never the digits."""
    w = _width(term)
    prompt = "KEY IT AGAIN:" if confirming else _first_fit(w, "TO ACCOUNT NO:", "TO ACCOUNT:")
    stars, keys = _stars(digits, w), note or "#=OK  X=CANCEL"
    head = _sale_forms(term)[0]
    entry = (prompt, stars) if len(head) == 1 else (_pair(prompt, stars, w),)  # the amount took the prompt's row
    return fit((*head, *entry, keys), (_pair(prompt, stars, w), keys))


def swipe(term: Terminal) -> tuple[str, ...]:
    head, line, w = _sale_forms(term)
    gap = ("",) if len(head) == 1 else ()
    return fit((*head, "SWIPE CARD", *gap, "X=CANCEL"),
               (line, _first_fit(w, "SWIPE CARD  X=CANCEL", "SWIPE  X=CANCEL")))


def swipe_again(term: Terminal, what: str, step: str = "SWIPE AGAIN") -> Lines:
    """A swipe refused: what was wrong, then what to do (``hal.magstripe.policy``: CARD NOT READ / SWIPE AGAIN
    after a bad read, USE ANOTHER CARD for a card that cannot be taken, which swiping again cannot help). On 2
    rows the step keeps its line, X=CANCEL beside it where it fits."""
    return shown(term, (what, step, "X=CANCEL"), (what, _first_fit(_width(term), f"{step} X=CANCEL", step)))


def pin(term: Terminal, digits: int) -> tuple[str, ...]:
    """The PIN prompt with its keys, as every input screen has (UX25): the card's last 4 give way to them when
    the amount took a line of its own. On 2 rows the amount and the entry fill both lines; # and X are the
    PIN pad's own keys there (a 16-column line holds no more beside a 12-digit PIN)."""
    card = term.sale.card
    last4 = card.masked_pan[-4:] if card else "????"
    (head, line, w), stars = _sale_forms(term), "*" * digits
    entry, keys = _pair("ENTER PIN:", stars, w, "PIN:").rstrip(), _first_fit(w, "#=OK  X=CANCEL", "#=OK X=CANCEL")
    cardline = (f"CARD **** {last4}",) if len(head) == 1 else ()
    return fit((*head, *cardline, entry, keys), (line, entry))


def processing(term: Terminal) -> tuple[str, ...]:
    head, line, w = _sale_forms(term)
    return fit((*head, "PROCESSING...", "PLEASE WAIT"), (line, "PROCESSING..."))


def approved(term: Terminal, record: SaleRecord) -> tuple[str, ...]:
    offline = record.state is JournalState.OFFLINE_APPROVED
    auth = f"AUTH {record.auth_code}" if record.auth_code else ""
    flow, w = flow_of(record.kind), _width(term)
    amount = ("-" if flow.refund else "") + money(record.amount, term.settings)
    head = "APPROVED OFFLINE" if offline else (
        "APPROVED" if flow.kind is Kind.SALE else _pair(flow.title, "APPROVED", w, flow.short))
    return fit((head, amount, auth, "PRINTING..."), (head, amount))


def declined(term: Terminal, kind, code: str, text: str, brief: str, amount: int | None) -> Lines:
    """A decline: the outcome word, the code with its reason, and the amount (audit AU20 L4). The reason is
    the host's whole text where it fits the line, else its display form (``CoreSettings.display_text``,
    sized for the narrowest display); on 2 rows the amount shares the first line with DECLINED, or, when
    it cannot, the code does and the amount has the second line to itself. On 4 rows the next step, where
    one is right for the code and the kind (``next_steps``), has the last line where the rows leave room
    (the amount joins DECLINED to make it); 2 rows keep the outcome and the reason."""
    flow, w = flow_of(kind), _width(term)
    head = "DECLINED" if flow.kind is Kind.SALE else _pair(flow.title, "DECLINED", w, flow.short)
    text = text.upper()  # the profile's text in the display's capitals, as every screen and the display form are
    reason = _first_fit(w, f"{code} {text}", f"{code} {brief}")
    whole = _wrapped(f"{code} {text}", w) or (reason,)  # 4 rows: the host's own words, over two lines if need be
    step = next_step(code, kind)
    if amount is None:  # an inquiry: nothing keyed
        return fit((head, *whole, *((step,) if step else ())), (head, reason))
    shown = money(amount, term.settings)
    both = f"{head} {shown}"
    short = (both, reason) if cell_width(both) <= w else (_first_fit(w, f"{head} {code}", head), shown)
    lines = (head, *whole, shown)
    if step and len(lines) < 4:
        lines = (*lines, step)
    elif step and cell_width(both) <= w:  # the amount joins the outcome word to leave the step its line
        lines = (both, *whole, step)
    return fit(lines, short)  # else the whole reason and the amount, which the audit asked for, keep the rows


def _wrapped(text: str, width: int) -> tuple[str, ...] | None:
    """``text`` in one line of ``width``, or two broken at a space; None when two are not enough."""
    if cell_width(text) <= width:
        return (text,)
    cut = cut_cells(text, width + 1).rfind(" ")  # the last space within the line (a Chinese character: two)
    if cut <= 0 or cell_width(text[cut + 1:]) > width:
        return None
    return text[:cut], text[cut + 1:]


def reversed_outcome(term: Terminal, record: SaleRecord | PendingReversal, cause: str, queued: bool) -> Lines:
    """The last screen of a transaction reversed for want of a usable answer (no answer, a bad MAC, a partial
    approval; audit AU20 M5): not approved, its amount, and what became of the money, held like a decline's.
    ``queued``: the reversal is not delivered yet (it stays queued, the status line says so), so nothing is
    said to be undone: only that the transaction is not approved."""
    flow, w = flow_of(record.kind), _width(term)
    head = _pair(flow.title, flow.undone, w, flow.short)  # SALE NOT APPROVED; NOT AUTHORISED alone when both do not fit
    if queued:
        money_line = "REVERSAL QUEUED"
    else:
        money_line = "NOTHING REFUNDED" if flow.refund else "NOTHING CHARGED"
    shown = money(record.amount, term.settings)
    return fit((head, shown, money_line, cause), (head, shown))


def cause(code: str, width: int) -> str:
    """An error's cause read from its code, in ``width``: ``storage.full`` is STORAGE FULL,
    ``pinpad.not_responding`` NOT RESPONDING. The error's whole sentence is in the alert shown beside it;
    cut to a line it would read as another sentence (STORAGE IS FULL WHIL)."""
    area, _, what = code.partition(".")
    words = (what or area).replace("_", " ").replace(".", " ").upper()  # pinpad.dukpt.exhausted: DUKPT EXHAUSTED
    if area == "storage" and cell_width(f"STORAGE {words}") <= width:
        words = f"STORAGE {words}"
    return _words(words, width)


def suspended(term: Terminal) -> tuple[str, ...]:
    w = _width(term)
    problem = cause(term.problem, w) if term.problem else "STORAGE FAULT"
    return fit(("SALES SUSPENDED", problem, "#=CHECK AGAIN", status(term)),
               (_pair("SUSPENDED:", problem, w), "#=CHECK AGAIN"))


def printer_problem(text: str, width: int) -> tuple[str, ...]:
    """The printer's error text without its subject ("the printer is out of paper": OUT OF PAPER), so the
    cause fits a line; on 2 rows, the cause and both keys."""
    cause = _words(text.upper().removeprefix("THE PRINTER ").removeprefix("IS "), width)  # the whole in the alert
    return fit(("PRINTER PROBLEM", cause, "#=RETRY", "X=SKIP THIS COPY"),
               (_pair("PRINTER", cause, width), _first_fit(width, "#=RETRY X=SKIP COPY", "#=RETRY X=SKIP")))


def menu(term: Terminal) -> tuple[str, ...]:
    """Two pages of four lines (0 turns the page). On page 2, 1-4 are the pre-auth family, 5 a transfer and
    6 the completion advice; 7-9 work from either page, and * signs the cashier out when operators sign in."""
    if term.menu_page:  # 1-6 here: the pre-auth family, a transfer, the advice (flows.MENU_MORE_FLOWS, MENU_ADVICE_KEY)
        signed_in = term.settings.operators.required and term.operator
        last = (f"8 RCPT 9 RPT *OUT {term.operator}", "8RCPT 9RPT *OUT") if signed_in else (
            "8 RCPT 9 RPT 0 BACK", "8RCPT 9RPT 0BACK")
        page = _MENU_MORE
    else:
        page, last = _MENU, ()
    w = _width(term)  # each line's 20-column form, else its 16-column one (hal.display.MIN_COLS)
    lines, short = (_first_fit(w, *forms) for forms in page[0]), (_first_fit(w, *forms) for forms in page[1])
    return fit((*lines, *([_first_fit(w, *last)] if last else ())), short)  # 2 rows: no room for 0 BACK, *OUT


# The menu's pages: each line as (20-column form, 16-column form); 4 rows, then 2.
_MENU = ((("1 UPLOAD  2 SIGN ON", "1UPLOAD 2SIGN ON"), ("3 SIGN OFF  4 VOID", "3SIGN OFF 4VOID"),
          ("5 SETTLE  6 REFUND", "5SETTLE 6REFUND"), ("7 BALANCE  0 MORE", "7BALANCE 0MORE")),
         (("1UPL 2ON 3OFF 4VOID", "1UPL2ON3OFF4VOID"), ("5STL 6REF 7BAL 0MORE", "5STL6RF7BAL0MORE")))
_MENU_MORE = ((("1 PREAUTH  2 CANCEL", "1PREAUTH 2CANCEL"), ("3 COMPLETE 4 CP VOID", "3COMPLT 4CP VOID"),
               ("5 TRANSFER 6 ADVICE", "5XFER 6ADVICE")),
              (("1PRE 2CNL 3CMP 4CPV", "1PRE2CNL3CMP4CPV"), ("5XFR 6ADV 8RCP 9RPT", "5XFR6ADV8RCP9RPT")))


def totals(term: Terminal) -> tuple[str, ...]:
    """The settlement confirmation: the batch's sales and voids as the journal counts them."""
    t, s, w = term.totals, term.settings, _width(term)
    credit = "CREDIT" if t.refund_count else "VOID"  # voids and refunds together
    sales = (f"SALE {t.debit_count}", money(t.debit_amount, s))
    credits = (f"{credit} {t.credit_count}", money(t.credit_amount, s))
    figures = (*titled(*sales, w), *titled(*credits, w))
    keys = _first_fit(w, "#=SETTLE X=CANCEL", "#=OK X=CANCEL")
    lines = (f"SETTLE {term.counters.batch:06d}", *figures, keys)
    if len(figures) > 2:  # an amount on a line of its own (titled): the figures first, the keys if room is left
        lines = (*figures, keys)[:4]
    # 2 rows: the figures being confirmed (# and X as on every screen); the count gives way first (SALE CNY
    # 152.50), then the word (an amount alone), the credits' with a minus so the two cannot be mistaken
    sale_line = _first_fit(w, " ".join(sales), f"SALE {sales[1]}", sales[1])
    credit_line = _first_fit(w, " ".join(credits), f"{credit} {credits[1]}", "-" + credits[1])
    return fit(lines, (sale_line, credit_line))


def signed_off(term: Terminal, note: str = "") -> tuple[str, ...]:
    now = status(term)
    how = _first_fit(_width(term), "F THEN 2: SIGN ON", "F,2: SIGN ON")
    return fit((note or "NOT SIGNED ON", "NO SALES", how, now), (note or "NOT SIGNED ON", now or how))


def locked(term: Terminal) -> tuple[str, ...]:
    reason, w = (term.lock_reason or "keys missing").upper(), _width(term)
    said = _wrapped(reason, w) or (reason[:w], reason[w:2 * w])  # whole words; the whole reason is in the alert
    return fit(("TERMINAL LOCKED", *said, _first_fit(w, "CALL SUPPORT: RE-KEY", "CALL FOR RE-KEY")),
               (_first_fit(w, "LOCKED: CALL SUPPORT", "LOCKED: RE-KEY"), said[0]))
