"""What differs between the kinds of transaction the cashier can start, as data.

The states and handlers are shared: a sale, a void, a refund and a balance
inquiry all go CARD, PIN, AUTHORISING with the same durability order. What a
kind changes is written here, once: where it starts (a keyed amount, an
original looked up by its trace, or one named by its reference number and
date), whether it may be approved offline, whether the card must be the
original's, UnionPay's answer to what becomes of a request the host never
answered (reversed, re-sent as an advice, or nothing: the host profile has the
last word, ``CoreSettings.recovery``), and what the screens and receipts call it.

``judge`` decides, from what the journal says about a would-be original,
whether a transaction of this kind may refer to it. It is pure so the core's
tests and the runner share it; the runner calls it because only the runner
can read the journal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware.core.model import JournalState, Kind, OriginalFacts

__all__ = ["Flow", "Hold", "FLOWS", "PREAUTH_FLOWS", "MENU_FLOWS", "MENU_MORE_FLOWS", "MENU_ADVICE_KEY", "STORED_ADVICE",
           "Candidate", "Refusal", "Recovery", "judge", "flow_of", "stored_advice_refusal"]


class Recovery(enum.Enum):
    """What the terminal does about a request the host may have seen but never answered.

    UnionPay terminals reverse (冲正) a sale or a void; a refund (退货, 0220) is
    never reversed, it is sent again (0221) until the host answers it; a
    balance inquiry moves no money and is neither (public UnionPay POS code:
    reversal flags per transaction type). ISO 8583:1987 sends a refund as a
    0200 request (a credit), reversed when unanswered as a sale is: the profile
    decides per kind (``HostBridge.recoveries``: an advice MTI is sent again, a
    reversible request reversed, the rest left), and the core and the runner ask
    ``CoreSettings.recovery(kind)``, never ``Flow.recovery``, which is only
    UnionPay's default for a core without a profile.
    """

    REVERSAL = "reversal"  # its ready-made 0400 is committed with the request
    ADVICE = "advice"  # its ready-made repeat is committed with the request and queued until answered
    NONE = "none"  # nothing to undo: the inquiry simply went unanswered


class Hold(enum.Enum):
    """What a kind of the pre-auth family that moves no money does to the cardholder's funds, as its slip says
    it (beside "REFUNDED TO THE CARD" for money back): a slip with an amount and a signature line reads as a
    charge unless it says otherwise (audit AU20 L1)."""

    PLACED = "HOLD ONLY - NOT CHARGED"  # a pre-auth: the funds are held, nothing is taken
    RELEASED = "HOLD RELEASED - NOT CHARGED"  # a pre-auth's cancel: the hold goes, nothing was taken


@dataclass(frozen=True)
class Flow:
    kind: Kind
    title: str  # on the display: "SALE CNY 12.50", "VOID CNY 12.50"
    # the title where the whole one and the amount (or the outcome word) do not share a line on a narrow
    # display ("CMPL CNY 123456.78" on 20 columns; screens._named); empty: the title is short already
    short: str = ""
    original: bool = False  # starts from an earlier transaction, keyed by its trace
    of: frozenset[Kind] = frozenset()  # the kinds of original it may refer to
    offline: bool = True  # may be approved offline when the host cannot be reached
    same_card: bool = False  # the card swiped must be the original's (the runner checks its hash)
    refund: bool = False  # money goes back to the card: shown negative on screens and receipts
    undone: str = "NOT APPROVED"  # the last line when it is refused or declined
    # what becomes of a request left unanswered on UnionPay (cup): the default of CoreSettings.recoveries only;
    # the profile decides at run time (HostBridge.recoveries), read through CoreSettings.recovery(kind)
    recovery: Recovery = Recovery.REVERSAL
    by_reference: bool = False  # names its original by RRN and date, keyed; the journal may not hold it
    keyed_amount: bool = True  # the cashier keys the amount (a void takes its original's)
    moves_money: bool = True  # False: an inquiry (no amount on the wire, no receipt, not in the totals)
    by_auth_code: bool = False  # (with by_reference) names its original by authorisation code and date, not RRN
    tolerance: int = 0  # percent the keyed amount may exceed its original's (where the journal holds it)
    exact_amount: bool = False  # the keyed amount must be its original's (where the journal holds it)
    codes: str = ""  # the prefix of its refusal codes, when not its kind's value (the pre-auth family: preauth)
    # may be made without the host as a stored advice resting on its original's hold (a completion:
    # 预授权完成通知, firmware/core/completion.py); the offline sale's limits do not apply to it
    advice: bool = False
    destination: bool = False  # a destination account is keyed on the PIN pad after the card (a transfer)
    # counted in the settlement's totals when approved (storage.settlements' _DEBIT and _CREDIT name the
    # same kinds): a batch holds at most what its settlement can count (CoreSettings.batch_capacity)
    in_totals: bool = True
    hold: Hold | None = None  # a hold placed or released, no money moved: said on its slip (receipt.py)
    # what a credit's slip says under its amount (receipt.py), a line each, short enough for a narrow printer:
    # money paid back, or a charge cancelled (a void: nothing was refunded, the sale is undone; UX25)
    slip_note: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return self.codes or self.kind.value


FLOWS: dict[Kind, Flow] = {
    Kind.SALE: Flow(Kind.SALE, "SALE"),
    Kind.VOID: Flow(
        Kind.VOID,
        "VOID",
        original=True,
        of=frozenset({Kind.SALE}),
        offline=False,
        same_card=True,
        refund=True,
        undone="NOT VOIDED",
        keyed_amount=False,
        slip_note=("SALE CANCELLED", "NOTHING CHARGED"),
    ),
    # 退货: 0220, processing code 200000, 60.1 = 25; the original named by its RRN (37) and
    # date (61.3), a keyed amount up to what is left of it; never reversed (firmware/core/refund.py).
    # (iso87: a 0200 naming it in 37 and 90, reversed when unanswered: CoreSettings.recovery.)
    Kind.REFUND: Flow(
        Kind.REFUND,
        "REFUND",
        original=True,
        of=frozenset({Kind.SALE, Kind.PREAUTH_COMPLETE}),  # 退货: a sale or a completion already debited
        offline=False,
        same_card=True,  # when the journal holds the original (else the host checks it)
        refund=True,
        undone="NOT REFUNDED",
        recovery=Recovery.ADVICE,
        by_reference=True,
        slip_note=("REFUNDED TO THE CARD",),
    ),
    # 余额查询: 0200, processing code 310000, 60.1 = 01; the balance comes back in field 54.
    Kind.BALANCE: Flow(
        Kind.BALANCE,
        "BALANCE",
        offline=False,
        undone="NO BALANCE",
        recovery=Recovery.NONE,
        keyed_amount=False,
        moves_money=False,
        in_totals=False,
    ),
}

# 预授权类 (firmware/core/preauth.py), UnionPay's table: processing code, condition code 06, 60.1.
# Pre-auth (030000, 60.1 = 10), 0100: holds funds, reversed if unanswered, not in the totals.
PREAUTH_FLOWS: dict[Kind, Flow] = {
    Kind.PREAUTH: Flow(Kind.PREAUTH, "PREAUTH", short="PA", offline=False, undone="NOT AUTHORISED", codes="preauth",
                       in_totals=False, hold=Hold.PLACED),
    # 预授权撤销 (200000, 60.1 = 11), 0100: names the pre-auth by its auth code (38) and date (61.3);
    # the amount is keyed (the pre-auth may be elsewhere) and must be the pre-auth's where the journal has it.
    Kind.PREAUTH_VOID: Flow(
        Kind.PREAUTH_VOID,
        "PA CANCEL",
        short="PA CNCL",
        original=True,
        of=frozenset({Kind.PREAUTH}),
        offline=False,
        same_card=True,  # the hold is released, no money moves back: not shown negative
        undone="NOT CANCELLED",
        by_reference=True,
        by_auth_code=True,
        exact_amount=True,
        codes="preauth",
        in_totals=False,
        hold=Hold.RELEASED,
    ),
    # 预授权完成请求 (000000, 60.1 = 20), 0200: as the cancel, the amount keyed up to the pre-auth's
    # plus UnionPay's 15 % tolerance; a debit in the settlement totals and the batch upload.
    Kind.PREAUTH_COMPLETE: Flow(
        Kind.PREAUTH_COMPLETE,
        "COMPLETION",
        short="CMPL",
        original=True,
        of=frozenset({Kind.PREAUTH}),
        offline=False,
        same_card=True,
        undone="NOT COMPLETED",
        by_reference=True,
        by_auth_code=True,
        tolerance=15,
        codes="preauth",
        advice=True,  # 0220, 60.1 = 24 when made without the host (completion.py)
    ),
    # 预授权完成撤销 (200000, 60.1 = 21), 0200: a void of a completion, by its trace; a credit.
    Kind.PREAUTH_COMPLETE_VOID: Flow(
        Kind.PREAUTH_COMPLETE_VOID,
        "COMPL VOID",
        short="CP VOID",
        original=True,
        of=frozenset({Kind.PREAUTH_COMPLETE}),
        offline=False,
        same_card=True,
        refund=True,
        undone="NOT VOIDED",
        keyed_amount=False,
        codes="preauth",
        slip_note=("COMPLETION CANCELLED", "NOTHING CHARGED"),
    ),
}
FLOWS.update(PREAUTH_FLOWS)

# The journal kinds whose offline approval is a stored advice (0220, 0221 on a repeat), forwarded
# once and never reversed, and which its answer merely acknowledges: an offline sale, and a
# completion made without the host. (A refund's queued repeat is not one: its answer is its outcome.)
STORED_ADVICE = frozenset({Kind.SALE, Kind.PREAUTH_COMPLETE})

# 转账 (firmware/core/transfer.py): 0200, processing code 400000 (ISO 8583 "cardholder accounts
# transfer"); amount, card, the destination account keyed twice on the PIN pad, PIN; online only,
# reversed like a sale; not in the merchant's settlement totals (the money goes to another account).
FLOWS[Kind.TRANSFER] = Flow(Kind.TRANSFER, "TRANSFER", short="XFER", offline=False, undone="NOT TRANSFERRED",
                            destination=True,
                            in_totals=False)

# Function menu keys that start a transaction (1-3 are upload, sign on, sign off; 5 settles).
MENU_FLOWS: dict[str, Kind] = {"4": Kind.VOID, "6": Kind.REFUND, "7": Kind.BALANCE}
# On the menu's second page (0), keys 1-4 start the pre-auth family instead (8 and 9 reprint there
# too, and 5-7 keep their meaning on both pages).
MENU_MORE_FLOWS: dict[str, Kind] = {
    "1": Kind.PREAUTH,
    "2": Kind.PREAUTH_VOID,
    "3": Kind.PREAUTH_COMPLETE,
    "4": Kind.PREAUTH_COMPLETE_VOID,
    "5": Kind.TRANSFER,  # page 2 only: 5 settles from page 1
}
# Page 2's key 6: the completion made as an advice at once, without asking the host (completion.py).
MENU_ADVICE_KEY = "6"


def flow_of(kind: Kind) -> Flow:
    return FLOWS[kind]


@dataclass(frozen=True)
class Refusal:
    code: str  # stable, e.g. void.not_found
    text: str  # one display line


@dataclass(frozen=True)
class Candidate:
    """What the journal holds about the record a trace number names.

    ``claims`` are the states of the transactions that undo it (voids, a
    pre-auth's cancels, a completion's voids) and already refer to it, ``refunds`` those of the refunds that name it; ``forwarded`` says an
    offline approval has been accepted by the host, ``declined`` that the host answered its stored advice with
    a refusal (``storage.journal.ADVICE_REFUSED``): it never became a paid sale, and no upload will make it one.
    """

    facts: OriginalFacts
    state: JournalState
    claims: tuple[JournalState, ...] = ()
    forwarded: bool = False
    refunds: tuple[JournalState, ...] = ()
    completions: tuple[JournalState, ...] = ()  # a pre-auth's completions (those not voided since)
    declined: bool = False


# A claim in one of these states still counts: approved, or perhaps approved at the
# host (in flight, its reversal owed, or lost with its reversal). Declined and
# reversed claims left the original as it was.
_DONE = frozenset({JournalState.APPROVED, JournalState.OFFLINE_APPROVED})
_UNRESOLVED = frozenset({JournalState.REQUESTED, JournalState.REVERSING, JournalState.LOST})


def stored_advice_refusal(prefix: str, found: Candidate) -> Refusal | None:
    """Why an offline approval may not be undone yet or at all: its stored advice still queued, or declined
    by the host (the host never took the money: there is nothing to give back). One rule for a void, a
    completion's void and a refund; ``prefix`` is the refusal code's (``void``, ``preauth``, ``refund``)."""
    if found.state is not JournalState.OFFLINE_APPROVED or found.forwarded:
        return None
    if found.declined:
        return Refusal(f"{prefix}.advice_declined", "DECLINED BY HOST")
    return Refusal(f"{prefix}.not_uploaded", "NOT YET UPLOADED")


def judge(flow: Flow, found: Candidate | None) -> OriginalFacts | Refusal:
    """The original's facts if ``flow`` may refer to it, else why not (before anything is built or sent)."""
    k = flow.kind.value
    if found is None:
        return Refusal(f"{k}.not_found", "TRACE NOT FOUND")
    kind = found.facts.kind
    if kind is Kind.TRANSFER:  # UnionPay terminals neither void nor refund a transfer (transfer.py)
        return Refusal(f"{k}.transfer", f"CANNOT {flow.title} TRANSFER")
    if kind is flow.kind:
        return Refusal(f"{k}.is_{k}", f"CANNOT {flow.title} A {flow.title}")
    if kind not in flow.of:
        return Refusal(f"{k}.wrong_kind", f"NOT A {' OR '.join(sorted(x.value.upper() for x in flow.of))}")
    if (refusal := stored_advice_refusal(k, found)) is not None:
        return refusal
    if found.state not in _DONE:
        return Refusal(f"{k}.not_approved", f"ORIGINAL {found.state.value.upper().replace('_', ' ')}")
    if any(c in _DONE for c in found.claims):
        return Refusal(f"{k}.already_{k}ed", f"ALREADY {k.upper()}ED")
    if any(c in _UNRESOLVED for c in found.claims):
        return Refusal(f"{k}.unresolved", f"{flow.title} UNRESOLVED")
    if any(c in _DONE | _UNRESOLVED for c in found.refunds):  # voiding it too would pay back twice
        return Refusal(f"{k}.refunded", "SALE REFUNDED")
    return found.facts
