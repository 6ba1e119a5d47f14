"""The simulated acquirer host, sans-IO: a request payload in, an ``Answer`` out.

``HostProcessor.respond`` is the ``InProcessHost`` protocol of ``hal.base``: the
``sim://`` link calls it in-process, and ``server.HostSimServer`` puts it behind
a real socket. Per request it:

1. decodes (undecodable: recorded, no answer; only the error code is logged);
2. picks the first matching rule (no rule: approve);
3. checks the MAC under the terminal's keys (wrong or missing: answer
   ``A0``, post nothing);
4. routes by MTI: sign-on, sign-off, reversal, advice, or financial request, where it
   checks duplicates (terminal + STAN + date: ``94``), the PIN block (``99``,
   or ``55`` against a rule's ``pin``) and posts to the ledger;
   a void must name an approved sale of the same terminal (original STAN and
   batch from cup's field 61 or iso87's 90, RRN from 37; else ``25``), for its
   whole amount (else ``64``), not voided already (else ``94``) nor refunded
   in part or whole, from any terminal (else ``12``); its approval
   marks the sale voided, and a reversal of the void gives it back; refunds and
   balance inquiries are ``txnset.py``'s, a pre-auth's cancel, completion and
   completion void (holds, releases, completions) ``preauth.py``'s; a reversal
   finds what it reverses by terminal, STAN and amount, the STAN (and MTI) from
   iso87's field 90 when it carries one; a settlement (0500) is compared with
   the ledger's totals of that batch (a rule ``unbalanced`` answers "not
   balanced" whatever they are) and answered in the profile's layout (cup's
   field 48 result digit, iso87's field 66); iso87 requests carry no batch, so
   its 0500 first books the terminal's postings not yet in a batch into the
   batch it names (a repeated 0500 of that batch takes any made since, as the
   terminal's batch is still open until it has the answer); a batch upload
   (0320, cup only) is checked against the ledger transaction by transaction
   and recorded, a repeated upload being the same upload (both ``settlement.py``);
5. shapes the answer as the rule says (delay, drop, close, bad MAC, garbage,
   wrong STAN/amount/MTI).

Working keys: with a ``tmk`` (the lab TMK the terminal shares), each
approved sign-on issues fresh PIN, MAC (and data) keys for that terminal ID,
answers them encrypted under the TMK with their check values
(``firmware.host.messages.with_signon_keys``), and uses them for that
terminal from then on; a sign-off (0820) drops them. Without a ``tmk``, or
for a terminal that has not signed on, the constructor's keys are used.

DROP, CLOSE, BAD_MAC, GARBAGE and WRONG_* still post: the host did its work
and the answer was lost or spoiled on the way, which is exactly the case the
terminal's reversal exists for.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crypto.des import TdesEcb
from crypto.keys import KeyUsage
from crypto.secrets import SecretKey, mask_pan
from firmware.core.clock import host_time
from firmware.errors import ConfigError, CryptoError, ProtocolError
from firmware.host.codec import Message, decode, encode
from firmware.host.mac import compute_mac, mac_key_for
from firmware.host.messages import (
    SIGN_OFF_MTI,
    build_response,
    kind_of,
    read_original,
    signon_key_layout,
    signon_network_code,
    with_signon_keys,
)
from firmware.host.profiles import get_profile
from firmware.host.requests import read_field60
from firmware.host.settlement import SETTLE_MTI, has_upload
from firmware.host.spec import Encoding, FieldKind, MacAlgorithm, Mtis, Profile, TxnKind
from firmware.hostsim.dukpt import DukptHostMixin
from firmware.hostsim.ledger import Ledger, PostingStatus
from firmware.hostsim.preauth import PREAUTH_NAMING, PreauthMixin
from firmware.hostsim.reversals import ReversalMixin
from firmware.hostsim.rules import Behaviour, RequestFacts, Rule, RuleBook, declines
from firmware.hostsim.settlement import SettlementMixin
from firmware.hostsim.transfer import TransferMixin
from firmware.hostsim.txnset import TxnSetMixin

UPLOAD_MTI = "0320"  # batch upload (cup); answered 0330

__all__ = ["Answer", "HostProcessor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """What the host does about one request (``hal.base.HostAnswerLike``)."""

    payload: bytes | None  # None: stay silent
    delay: float = 0.0  # seconds before answering (or closing)
    close: bool = False  # close the connection instead of answering
    # frames sent right after ``payload`` in the same write (tests script a host that answers twice, or hands
    # over an answer it held back, in one arrival; ``server.HostSimServer`` only, the in-process link ignores it)
    also: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class _Keys:
    """One terminal's working keys as the host holds them (a MAC context, the PIN key)."""

    mac: Any
    pin: Any


@dataclass
class _Outcome:
    response: Message | None
    code: str | None
    action: str


class HostProcessor(ReversalMixin, TxnSetMixin, PreauthMixin, TransferMixin, DukptHostMixin, SettlementMixin):
    """A deterministic acquirer host. Not thread-safe: callers serialise (the server holds a lock)."""

    def __init__(self, profile: Profile | str, *, mac_key: Any = None, pin_key: Any = None,
                 ledger: Ledger | None = None, rules: RuleBook | None = None,
                 clock: Callable[[], datetime] = datetime.now, tmk: SecretKey | None = None,
                 dukpt_bdks: Mapping[str, SecretKey] | None = None) -> None:
        self.profile = get_profile(profile)
        if self.profile.mac is MacAlgorithm.X919 and isinstance(mac_key, TdesEcb):
            raise ConfigError("the X9.19 MAC needs the MAC key or a RetailMacKey", code="config.bad_key")
        # A clear key becomes the profile's MAC context once, not per message.
        self.mac_key = mac_key_for(self.profile, mac_key) if isinstance(mac_key, (SecretKey, bytes)) else mac_key
        self.pin_key = pin_key
        self.ledger = ledger if ledger is not None else Ledger(":memory:")
        self.rules = rules if rules is not None else RuleBook()
        self.clock = clock
        self.tmk = tmk
        self._terminals: dict[str, _Keys] = {}  # working keys issued at sign-on, by terminal ID
        self.dukpt_bdks = dict(dukpt_bdks or {})  # "tdes" / "aes128" / "aes256" -> BDK (hostsim.dukpt)
        self.report_unbalanced = False  # an instrument: answer every settlement "unbalanced"

    def _keys(self, terminal_id: str | None) -> _Keys:
        keys = self._terminals.get(terminal_id) if terminal_id is not None else None
        return keys if keys is not None else _Keys(self.mac_key, self.pin_key)

    def _mac_ok(self, payload: bytes, request: Message) -> bool | None:
        """As ``decode`` would say with the terminal's MAC key (the key depends on field 41)."""
        key = self._keys(request.fields.get(41)).mac
        field = self.profile.mac_field(request.fields)  # 64, or iso87's 128 beside a secondary bitmap
        if key is None or field not in request.fields:
            return None
        width = self.profile.mac_wire_size
        expected = compute_mac(self.profile.mac, key, payload[self.profile.prefix_size : -width]).hex().upper()
        return hmac.compare_digest(expected, request.fields[field])

    # -- entry point -------------------------------------------------------------
    def respond(self, payload: bytes) -> Answer:
        now = self.clock()
        stamp = now.isoformat(timespec="seconds")
        failure = None
        try:
            request = decode(self.profile, payload)
        except ProtocolError as exc:
            failure = exc.code
        if failure is not None:
            log.warning("host-sim: undecodable request (%s)", failure)
            self.ledger.record_message(received_at=stamp, mti="????", stan=None, terminal_id=None,
                                       host_date=now.strftime("%m%d"), amount=None, pan_masked=None,
                                       response_code=None, action=f"undecodable ({failure})")
            return Answer(None)

        request.mac_ok = self._mac_ok(bytes(payload), request)
        f = request.fields
        facts = RequestFacts(request.mti, _int(f.get(4)), _int(f.get(11)), kind_of(self.profile, request))
        rule = self.rules.match(facts)
        behaviour = rule.behaviour if rule else Behaviour.APPROVE
        outcome = self._process(request, facts, rule, now)
        if request.mti not in (self.profile.mtis.reversal, self.profile.mtis.reversal_repeat):
            outcome = self._overtaken(request, facts, outcome, stamp)
        action = outcome.action
        if behaviour not in (Behaviour.APPROVE, Behaviour.DECLINE):
            action += f"; {behaviour.value}"
        self.ledger.record_message(received_at=stamp, mti=request.mti, stan=f.get(11), terminal_id=f.get(41),
                                   host_date=now.strftime("%m%d"), amount=facts.amount,
                                   pan_masked=_masked_pan(request), response_code=outcome.code, action=action,
                                   operator=_operator(f.get(63)))
        log.info("host-sim: %s STAN %s -> %s (%s)", request.mti, f.get(11), outcome.code, action)
        return self._shape(request, outcome.response, rule)

    # -- routing ---------------------------------------------------------------------
    def _process(self, request: Message, facts: RequestFacts, rule: Rule | None, now: datetime) -> _Outcome:
        p, m = self.profile, self.profile.mtis
        if self._mac_required(request) and request.mac_ok is not True:
            return self._answer(request, "A0", now, "bad MAC, not posted")
        try:  # cup 60 in either form: to 60.3 (11 digits, as sealed before 60.4/60.5 were sent) or to 60.5 (13)
            read_field60(p, request.fields.get(60))
        except ProtocolError:
            return self._answer(request, "30", now, "format error: field 60 is neither 60.1-60.3 nor 60.1-60.5")
        if request.mti == m.network:
            code = rule.code if declines(rule) else "00"
            outcome = self._answer(request, code, now, "sign-on")
            if rule is not None and rule.behaviour is Behaviour.RENUMBER:
                outcome = self._renumber(request, outcome, rule.batch)
            if code == "00" and self.tmk is not None:
                return self._issue_keys(request, outcome)
            return outcome
        if request.mti == SETTLE_MTI and self._carries_totals(request):
            return self._settle(request, rule, now)
        if request.mti == UPLOAD_MTI and has_upload(self.profile):
            if declines(rule):
                return self._upload_answer(request, rule.code, now, "batch upload declined by rule, not recorded")
            return self._upload(request, now)
        if request.mti == SIGN_OFF_MTI:
            self._terminals.pop(request.fields.get(41, ""), None)
            return self._answer(request, "00", now, "sign-off, working keys dropped")
        if request.mti in (m.reversal, m.reversal_repeat):
            return self._reversal(request, facts, rule, now)
        if facts.kind is TxnKind.REFUND:  # cup's 0220, or its repeat 0221; iso87's 0200
            return self._refund(request, facts, rule, now, repeat=request.mti == m.advice_repeat)
        if facts.kind is TxnKind.BALANCE:
            return self._balance(request, rule, now)
        if facts.kind is TxnKind.PREAUTH_COMPLETE_ADVICE:  # 0220, or its repeat 0221 (preauth.py)
            return self._completion_advice(request, facts, rule, now)
        if facts.kind is TxnKind.TRANSFER:
            return self._transfer(request, facts, rule, now)
        if facts.kind in PREAUTH_NAMING and request.mti not in (m.advice, m.advice_repeat):
            return self._preauth_named(request, facts, rule, now)  # a pre-auth itself is posted as a sale
        if request.mti in (m.advice, m.advice_repeat):
            return self._financial(request, facts, rule, now, advice=True)
        if request.mti in p.request_mtis:
            return self._financial(request, facts, rule, now, advice=False)
        return self._answer(request, "40", now, "message type not supported")

    def _renumber(self, request: Message, outcome: _Outcome, batch: int) -> _Outcome:
        """A host that renumbered the terminal's batches (another acquirer, a reset): its answer names
        ``batch`` (cup 60.2), and what it booked under that number before is set aside, as a fresh
        batch starts (``Ledger.set_aside``)."""
        f = outcome.response.fields
        if len(f.get(60, "")) >= 8:
            f[60] = f"{f[60][:2]}{batch:06d}{f[60][8:]}"
        self.ledger.set_aside(request.fields.get(41, ""), f"{batch:06d}")
        return _Outcome(outcome.response, outcome.code, f"sign-on, batch renumbered to {batch:06d}")

    def _issue_keys(self, request: Message, outcome: _Outcome) -> _Outcome:
        """Fresh working keys for this terminal, sent under the TMK with their check values."""
        from crypto.signon import issue_working_keys

        layout = signon_key_layout(self.profile, signon_network_code(self.profile, request))
        issued = issue_working_keys(self.tmk, layout.sizes())
        response = with_signon_keys(self.profile, outcome.response, dict(issued.encrypted),
                                    dict(issued.check_values))
        mac = issued.clear[KeyUsage.MAC]
        self._terminals[request.fields.get(41, "")] = _Keys(mac_key_for(self.profile, mac), issued.clear[KeyUsage.PIN])
        return _Outcome(response, outcome.code, "sign-on, working keys issued")

    def _mac_required(self, request: Message) -> bool:
        return (self._keys(request.fields.get(41)).mac is not None and self.profile.mac is not MacAlgorithm.NONE
                and request.mti not in self.profile.unmacced_mtis)

    def _answer(self, request: Message, code: str, now: datetime, action: str, *,
                rrn: str | None = None, auth_code: str | None = None) -> _Outcome:
        response = build_response(self.profile, request, response_code=code, rrn=rrn, auth_code=auth_code, when=now)
        return _Outcome(response, code, action)

    def _duplicate_of(self, request: Message, now: datetime) -> tuple[str, str, dict | None]:
        """(the time stamp, the request's date, the posting it duplicates): the duplicate key, one place for
        every financial request, is terminal + STAN + day (field 13, else the host's today, in the year
        nearest the host's clock: a STAN used again a year later is a new request). A duplicate found is
        counted on its posting."""
        f = request.fields
        stamp = now.isoformat(timespec="seconds")
        date = f.get(13) or now.strftime("%m%d")
        existing = self.ledger.posting(f[41], f[11], _day(date, now))
        if existing is not None:
            self.ledger.bump(existing["id"], "duplicates", stamp)
        return stamp, date, existing

    def _financial(self, request: Message, facts: RequestFacts, rule: Rule | None, now: datetime,
                   *, advice: bool) -> _Outcome:
        f = request.fields
        if any(n not in f for n in (3, 4, 11, 41)):
            return self._answer(request, "30", now, "format error: a mandatory field is missing")
        if facts.kind is None:
            return self._answer(request, "12", now, "unknown transaction")
        stamp, date, existing = self._duplicate_of(request, now)
        if existing is not None:
            if advice:
                return self._answer(request, "00", now, "advice repeat, already posted", rrn=existing["rrn"])
            return self._answer(request, "94", now, "duplicate, not posted again")
        if advice:
            if declines(rule):
                return self._answer(request, rule.code, now, "advice declined by rule, not posted")
            code = "00"
        else:
            code = self._pin_verdict(request, rule) or (rule.code if declines(rule) else "00")
        original, what = None, None
        if code in self.profile.approved_codes and not advice:
            original, refusal = self._original_of(request)
            if refusal is not None:
                code, what = refusal
        approved, rrn, auth = self._post(request, facts.kind.value, date, stamp, code, original, auth=not advice)
        if approved and original is not None:
            self.ledger.set_status(original["id"], PostingStatus.VOIDED, stamp)
        what = what or ("advice posted" if advice else ("approved" if approved else "declined"))
        if approved and original is not None:
            what = f"approved, voids STAN {original['stan']}"
        return self._answer(request, code, now, what, rrn=rrn, auth_code=auth)

    def _post(self, request: Message, kind: str, date: str, stamp: str, code: str, original: dict | None = None, *,
              auth: bool = True) -> tuple[bool, str, str | None]:
        """Book one financial request in the ledger, one place for every kind: (approved, its RRN, its
        authorisation code: a new one when approved and ``auth``, else None)."""
        f = request.fields
        approved = code in self.profile.approved_codes
        rrn = f"{self.ledger.next_value('rrn'):012d}"
        auth_code = f"{self.ledger.next_value('auth'):06d}" if approved and auth else None
        self.ledger.add_posting(
            kind=kind, terminal_id=f[41], stan=f[11], txn_date=date, txn_day=_day(date, datetime.fromisoformat(stamp)),
            amount=int(f[4]),
            currency=f.get(49), pan_masked=_masked_pan(request), rrn=rrn, auth_code=auth_code, response_code=code,
            status=PostingStatus.APPROVED if approved else PostingStatus.DECLINED, when=stamp,
            batch=self._batch(request), original_id=original["id"] if original else None,
        )
        return approved, rrn, auth_code

    def _batch(self, request: Message) -> str | None:
        f60 = self.profile.fields.get(60)
        value = request.fields.get(60, "")
        return value[2:8] if f60 is not None and f60.kind is FieldKind.N and len(value) >= 8 else None

    def _original_of(self, request: Message) -> tuple[dict | None, tuple[str, str] | None]:
        """For a request that names an original (a void): (its posting, None), or (None, (code, why))."""
        original = read_original(self.profile, request)
        if original is None:
            return None, None
        f = request.fields
        posting = self.ledger.original_posting(
            f[41], f"{original.stan:06d}", kinds=("sale", "offline_sale"),
            batch=f"{original.batch:06d}" if self._batch(request) is not None else None, rrn=original.rrn,
        )
        if posting is None or posting["status"] in (PostingStatus.DECLINED.value, PostingStatus.REVERSED.value):
            return None, ("25", f"original STAN {original.stan:06d} not found, not posted")
        if posting["status"] == PostingStatus.VOIDED.value:
            return None, ("94", f"original STAN {original.stan:06d} already voided, not posted")
        if self.ledger.refunded(posting["id"]):  # its whole amount back again on top of the refunds: never
            return None, ("12", f"original STAN {original.stan:06d} was refunded, not voided")
        if posting["amount"] != int(f[4]):
            return None, ("64", f"original STAN {original.stan:06d} has another amount, not posted")
        return posting, None

    # -- PIN ---------------------------------------------------------------------------
    def _pin_verdict(self, request: Message, rule: Rule | None) -> str | None:
        """``99`` for a PIN block that is not ISO 0 for this PAN, ``55`` for the wrong PIN, else None.

        A block with a KSN (the profile's ``ksn_field``) is a DUKPT block: ``hostsim.dukpt`` (and ``63``
        for a KSN the terminal sent before)."""
        f = request.fields
        expected = rule.pin if rule is not None else None
        if 52 not in f:
            return "55" if expected is not None else None
        pan = f.get(2) or f.get(35, "").partition("=")[0]
        ksn_field = self.profile.ksn_field
        if ksn_field is not None and ksn_field in f:
            return self._dukpt_pin(f.get(41), f[ksn_field], f[52], pan, expected) if pan else "99"
        pin_key = self._keys(f.get(41)).pin
        if not pan or pin_key is None:
            return "99"
        from crypto.pinblock import decrypt_iso0

        try:
            pin = decrypt_iso0(bytes.fromhex(f[52]), pan, pin_key)
        except (CryptoError, ValueError):
            return "99"
        if expected is not None and not hmac.compare_digest(pin, expected.encode("ascii")):
            return "55"
        return None

    # -- shaping the answer --------------------------------------------------------
    def _shape(self, request: Message, response: Message | None, rule: Rule | None) -> Answer:
        if response is None:
            return Answer(None)
        behaviour = rule.behaviour if rule else Behaviour.APPROVE
        f = response.fields
        if behaviour is Behaviour.WRONG_STAN and 11 in f:
            f[11] = f"{int(f[11]) % 999999 + 1:06d}"
        elif behaviour is Behaviour.WRONG_AMOUNT:
            f[4] = f"{(int(f.get(4, '0')) + 1) % 10**12:012d}"
        elif behaviour is Behaviour.WRONG_MTI:
            response.mti = Mtis.response(response.mti)  # e.g. 0210 -> 0220: not an answer to 0200
        elif behaviour is Behaviour.WRONG_TERMINAL and 41 in f:
            f[41] = _other_terminal(f[41])
        mac_key = self._keys(request.fields.get(41)).mac
        payload = encode(self.profile, response, mac_key=mac_key)
        if behaviour is Behaviour.BAD_MAC:
            payload = self._spoil_mac(payload, mac_key)
        elif behaviour is Behaviour.GARBAGE:
            payload = payload[: self.profile.prefix_size] + b"\xee" * 16  # TPDU/header kept, MTI not digits
        if behaviour is Behaviour.DROP:
            return Answer(None)
        if behaviour is Behaviour.CLOSE:
            return Answer(None, close=True)
        return Answer(payload, delay=float(rule.seconds) if behaviour is Behaviour.DELAY else 0.0)

    def _spoil_mac(self, payload: bytes, mac_key: Any) -> bytes:
        """The same answer with a MAC that does not verify (still well-formed)."""
        width = self.profile.mac_wire_size
        if not width or mac_key is None:
            return payload
        head, mac = payload[:-width], bytearray(payload[-width:])
        if self.profile.fields[64].encoding is Encoding.ASCII:
            mac[0] = ord("1") if mac[0] == ord("0") else ord("0")
        else:
            mac[0] ^= 0x01
        return head + bytes(mac)

    def __repr__(self) -> str:
        return f"<HostProcessor {self.profile.name}, {len(self.rules)} rules>"


def _other_terminal(terminal_id: str) -> str:
    """Another terminal ID of the same width (field 41 is fixed-length): its last character changed."""
    last = terminal_id[-1:] or "0"
    return terminal_id[:-1] + ("1" if last == "0" else "0")


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _day(mmdd: str, now: datetime) -> str:
    """A request's MMDD as ``YYYY-MM-DD``, in the year that puts it nearest ``now`` (``core.clock.host_time``,
    read from the other side); the MMDD itself when it is no date (a malformed field 13 is still keyed)."""
    when = host_time(mmdd, "120000", now)
    return when.date().isoformat() if when is not None else mmdd


def _masked_pan(request: Message) -> str | None:
    f = request.fields
    pan = f.get(2) or f.get(35, "").partition("=")[0]
    return mask_pan(pan) if pan and pan.isdigit() else None


def _operator(field63) -> str | None:
    """The operator number at the head of field 63 (cup: operator n3, then the card organisation)."""
    if not isinstance(field63, str) or not field63:
        return None
    return field63[:3].strip() or None
