"""Reading messages: the host's reply as non-sensitive facts, whether it answers the request, what a
request is and which original it names; and the host's answer (``build_response``).

What the core gets (``Reply``, ``Expectation``) holds nothing that identifies
the card. The host side lives beside the reading side, so the simulator and
the terminal agree on the layout by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from firmware.errors import ProtocolError
from firmware.host.balance import Balance, parse_balances, pick_balance
from firmware.host.codec import Message
from firmware.host.signon import SIGN_OFF_MTI
from firmware.host.spec import FieldKind, Mtis, OriginalPart, Profile, TxnKind
from firmware.host.txndata import Original

__all__ = ["Reply", "parse_reply", "Expectation", "expectation_for", "mismatch", "other_amount", "mac_problem", "response_text", "kind_of",
           "read_original", "build_response"]


# -- reading -----------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """What the core may know of a host answer: nothing that identifies the card."""

    mti: str
    stan: int | None
    terminal_id: str | None
    merchant_id: str | None
    amount: int | None
    response_code: str | None
    rrn: str | None
    auth_code: str | None
    settle_date: str | None
    host_date: str | None  # MMDD
    host_time: str | None  # hhmmss
    batch: int | None
    mac_ok: bool | None
    approved: bool
    settle_result: str | None = None  # a 0510's result digit: 1 balanced, 2 unbalanced, 3 error
    balance: Balance | None = field(default=None, repr=False)  # a balance inquiry's answer (field 54): display only
    # What the code means beyond approved (the profile's lists, ``spec.Profile``): it closes a
    # reversal; the host did not process the message (send it again); the host failed our MAC.
    reversal_done: bool = False
    try_again: bool = False
    key_error: bool = False
    # The host approved what the terminal cannot honour (a partial approval, ``Profile.reverse_codes``):
    # not ``approved``, yet money may have moved, so a reversible request is reversed at once.
    must_reverse: bool = False

    @property
    def advice_accepted(self) -> bool:
        """The host has the advice this answers (a stored sale or completion, a refund sent again): it
        approved it, or it is a repeat of one it had already (94)."""
        return self.approved or self.response_code == "94"


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _moves_money(profile: Profile, message: Message) -> bool:
    """Whether ``message`` answers a request that moves money (a sale, pre-auth, completion, void, refund,
    transfer, an offline sale's advice), as its echoed processing and condition codes name it; an answer
    that names none of the profile's requests but has a request's MTI counts as one (the strict reading).
    Reversals, sign-on, settlement and upload answers never do; nor does an inquiry's."""
    m = message.mti
    if len(m) != 4 or not m.isdigit() or m[2] not in "13":
        return False
    request = m[:2] + str(int(m[2]) - 1) + m[3]
    if request in (profile.mtis.reversal, profile.mtis.reversal_repeat, profile.mtis.network):
        return False
    if request not in profile.request_mtis:
        return False
    kind = profile.kind_of(request, message.fields.get(3), message.fields.get(25))
    return kind is None or profile.transactions[kind].amount


def parse_reply(profile: Profile, message: Message) -> Reply:
    """The non-sensitive facts of ``message``; missing fields are ``None``, except two an answer must carry.

    Field 39 is mandatory in every answer (ISO 8583, UnionPay "M"): without it the answer says nothing of what
    the host did, so it is no answer at all (``host.malformed``) and its request takes the unanswered path
    (reversed, sent again or left, as its flow says), never filed as a decline. An approval of a request that
    moves money must carry 37, the retrieval reference a void or refund of it names (UnionPay 消费撤销/退货
    37 M): without it the approval is as malformed. 38 stays optional (an issuer may omit it)."""
    f = message.fields
    code = f.get(39)
    if not code:
        raise ProtocolError(f"answer {message.mti} carries no response code (field 39)", code="host.malformed")
    if code in profile.approved_codes and not f.get(37) and _moves_money(profile, message):
        raise ProtocolError(f"approval {message.mti} carries no retrieval reference (field 37)",
                            code="host.malformed")
    batch = None
    f60 = profile.fields.get(60)
    if f60 is not None and f60.kind is FieldKind.N and len(f.get(60, "")) >= 8:
        batch = int(f[60][2:8])
    settle_result = None
    if message.mti == "0510":
        from firmware.host.settlement import read_result

        settle_result = read_result(profile, message)
    balance = None
    if 54 in f:  # additional amounts: a malformed field is as if it were absent (the answer still counts)
        try:
            balance = pick_balance(parse_balances(f[54]))
        except ProtocolError:
            balance = None
    return Reply(
        mti=message.mti, stan=_int(f.get(11)), terminal_id=f.get(41), merchant_id=f.get(42),
        amount=_int(f.get(4)), response_code=code, rrn=f.get(37), auth_code=f.get(38),
        settle_date=f.get(15), host_date=f.get(13), host_time=f.get(12), batch=batch,
        mac_ok=message.mac_ok, approved=code in profile.approved_codes, settle_result=settle_result,
        balance=balance, reversal_done=code in profile.reversal_done_codes,
        try_again=code in profile.try_again_codes, key_error=code in profile.key_error_codes,
        must_reverse=code in profile.reverse_codes,
    )


@dataclass(frozen=True)
class Expectation:
    """What the answer to a request must carry (``None``: nothing to compare), except ``amount``: ``None``
    there is a request that carried none (an inquiry, a sign-on, a settlement), whose answer must carry none
    either, unless ``amount_checked`` is off (a batch upload's answer may echo the one it uploads)."""

    mti: str
    stan: int | None
    terminal_id: str | None
    amount: int | None
    amount_checked: bool = True


def expectation_for(request: Message) -> Expectation:
    f = request.fields
    return Expectation(Mtis.response(request.mti), _int(f.get(11)), f.get(41), _int(f.get(4)))


def mismatch(expect: Expectation, reply: Reply) -> str | None:
    """``None`` when ``reply`` answers the request, else a short reason naming what differs."""
    if (reply.mti == expect.mti and reply.stan == expect.stan and reply.terminal_id == expect.terminal_id
            and reply.amount == expect.amount and (expect.amount is not None or reply.amount is None)):
        return None  # the usual answer: everything as expected (what follows says what differs)
    checks = (
        ("MTI", reply.mti, expect.mti, str),
        ("STAN", reply.stan, expect.stan, lambda v: f"{v:06d}"),
        ("terminal", reply.terminal_id, expect.terminal_id, str),
        ("amount", reply.amount, expect.amount, str),
    )
    if expect.amount is None and expect.amount_checked and reply.amount is not None:
        return f"amount {reply.amount}, expected none"
    for label, got, want, fmt in checks:
        if want is None:
            continue
        if got is None:
            return f"no {label}, expected {fmt(want)}"
        if got != want:
            return f"{label} {fmt(got)}, expected {fmt(want)}"
    return None


def other_amount(expect: Expectation, reply: Reply) -> bool:
    """``reply`` answers this very request (its MTI, STAN and terminal) but for another amount, or none, when the
    request had one: the host may have moved money nobody asked for. Told apart from a stray or late frame, which
    is ignored, so that it is named and acted on at once rather than waited out as silence."""
    return (expect.amount is not None and reply.amount != expect.amount
            and mismatch(replace(expect, amount=None, amount_checked=False), reply) is None)


def mac_problem(reply: Reply, required: bool) -> str | None:
    """Why an answer cannot be trusted, or ``None``: its MAC is wrong, or ``required`` (the profile
    MACs this answer) and it carries none that was checked. An answer stripped of its MAC is
    as untrustworthy as one with a wrong MAC: either could close a batch, disarm a reversal
    or drop a stored sale from the queue that the host never posted."""
    if reply.mac_ok is False:
        return "failed its MAC"
    if required and reply.mac_ok is not True:
        return "carries no MAC"
    return None


def response_text(profile: Profile, code: str | None) -> str:
    """Short operator text for a response code."""
    if not code:
        return "No response code"
    text = profile.response_texts.get(code)
    if text:
        return text
    return "Approved" if code in profile.approved_codes else f"Declined (code {code})"


def kind_of(profile: Profile, message: Message) -> TxnKind | None:
    """Which transaction a request (or the original of a reversal) is, from the profile's table."""
    f, m = message.fields, profile.mtis
    if message.mti == m.network:
        return TxnKind.SIGN_ON
    if message.mti in (m.reversal, m.reversal_repeat):
        f60 = profile.fields.get(60)
        if f60 is not None and f60.kind is FieldKind.N and len(f.get(60, "")) >= 2:
            return profile.kind_of_type_code(f[60][:2])
        for kind, spec in profile.transactions.items():
            if spec.reversible and (spec.processing_code, spec.condition_code) == (f.get(3), f.get(25)):
                return kind
        return None
    mti = m.advice if message.mti == m.advice_repeat else message.mti
    return profile.kind_of(mti, f.get(3), f.get(25))


def read_original(profile: Profile, message: Message) -> Original | None:
    """What a request (or its reversal) says about its original, per the profile; None if it says nothing.

    A part the message does not carry is None (the STAN and batch default to 0).
    """
    kind = kind_of(profile, message)
    spec = profile.transactions.get(kind) if kind is not None else None
    if spec is None or not spec.original:
        return None
    reversal = message.mti in (profile.mtis.reversal, profile.mtis.reversal_repeat)
    found: dict[str, str] = {}
    for of in spec.original:
        if not (reversal and not of.in_reversal):  # a reversal's own 90 names what it reverses
            found.update(of.split(message.fields.get(of.number, "")) or {})
    if not found:
        return None
    return Original(
        stan=_int(found.get(OriginalPart.STAN.attr)) or 0,
        batch=_int(found.get(OriginalPart.BATCH.attr)) or 0,
        # ISO 8583:1987 has no original-date subfield: 90's transmission date stands for it
        date=found.get(OriginalPart.DATE.attr) or (found.get(OriginalPart.TRANSMITTED.attr) or "")[:4],
        rrn=found.get(OriginalPart.RRN.attr),
        auth_code=found.get(OriginalPart.AUTH_CODE.attr),
        mti=found.get(OriginalPart.MTI.attr),
        transmitted=found.get(OriginalPart.TRANSMITTED.attr),
        acquirer=found.get(OriginalPart.ACQUIRER.attr, "0" * 11),
        forwarder=found.get(OriginalPart.FORWARDER.attr, "0" * 11),
    )


# -- host side ---------------------------------------------------------------
_ECHO = (2, 3, 4, 7, 11, 25, 32, 41, 42, 49, 60)
_ECHO_NETWORK = (7, 11, 32, 41, 42, 60)


def build_response(profile: Profile, request: Message, *, response_code: str, rrn: str | None = None,
                   auth_code: str | None = None, when: datetime) -> Message:
    """The host's answer: echoes what UnionPay echoes, host date/time, TPDU swapped."""
    network = request.mti in (profile.mtis.network, SIGN_OFF_MTI)
    fields = {n: request.fields[n] for n in (_ECHO_NETWORK if network else _ECHO)
              if n in request.fields and n in profile.fields}
    if 12 in profile.fields:
        fields[12] = when.strftime("%H%M%S")
    if 13 in profile.fields:
        fields[13] = when.strftime("%m%d")
    if not network and 15 in profile.fields:
        fields[15] = when.strftime("%m%d")
    if rrn is not None:
        fields[37] = rrn
    if auth_code is not None:
        fields[38] = auth_code
    fields[39] = response_code
    return Message(mti=Mtis.response(request.mti), fields=dict(sorted(fields.items())),
                   tpdu=request.tpdu.swapped() if request.tpdu else None, header=request.header,
                   sensitive=profile.sensitive_fields)
