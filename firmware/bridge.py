"""Between the core's records and the host profile's messages.

The core decides *what* to send (a sale request, the reversal of journal
record 12, an advice); the host profile knows *how* (fields, encodings, MAC).
This module joins them: it builds messages from a ``SaleRecord`` plus the
card opened from its ``CardSession`` for the length of one call, seals the
ready-made reversal and advice for storage, rebuilds them from storage when
they are due, builds the batch upload's 0320s from the journal's entries and
their cards (opened by the runner from the journal's sealed copies, borrowed
for one call), and reads answers down to a non-sensitive ``Reply``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crypto.atrest import Sealer
from crypto.secrets import PinBlock
from firmware.core.batch import UploadEntry, UploadJob, UploadPlan
from firmware.core.flows import FLOWS, Recovery
from firmware.core.model import Kind, NetworkJob, NetworkKind, SaleRecord
from firmware.core.settings import Mtis as CoreMtis
from firmware.errors import ProtocolError
from firmware.host.codec import Message, Tpdu, decode, encode
from firmware.host.messages import (
    CardData,
    Original,
    Reply,
    TxnData,
    as_repeat,
    build_advice,
    build_request,
    build_resend,
    build_reversal,
    build_signoff,
    build_signon,
    parse_reply,
    read_signon_keys,
    transmission_time,
    with_reason,
)
from firmware.host.profiles import get_profile
from firmware.host.spec import MacAlgorithm, Profile, TxnKind
from firmware.host.txndata import institution_part
from firmware.sealed import ClearCard, pack_message, unpack_message

__all__ = ["HostBridge", "reversal_aad", "advice_aad"]


def reversal_aad(txn_no: int) -> bytes:
    return f"reversals:{txn_no}:message".encode()


def advice_aad(txn_no: int) -> bytes:
    return f"offline_queue:{txn_no}:message".encode()


def _original(record: SaleRecord, profile: Profile, acquirer: str) -> Original | None:
    """What the record's message says of its original. ``acquirer``: ISO 8583:1987 field 90's acquirer part,
    this terminal's own (``host.acquirer_id``: the journal keeps none, and an original is this terminal's)."""
    o, ref = record.original, record.reference
    if ref is not None:  # a refund: named by the RRN and date keyed; batch and trace only if the journal has it
        # (a pre-auth's cancel or completion: by the auth code and date keyed, the same way). ISO 8583:1987's
        # 90 names the original's MTI and field 7 where the journal holds it, else the keyed date and the MTI a
        # sale (refund) or a pre-auth (its cancel, completion) travels in.
        spec = profile.transactions.get(o.kind if o else Kind.SALE if record.kind is Kind.REFUND else Kind.PREAUTH)
        transmitted = transmission_time(o.when) if o else ref.date + "000000"
        return Original(stan=o.stan if o else 0, batch=o.batch if o else 0, date=ref.date, rrn=ref.rrn or None,
                        auth_code=ref.auth_code or None, mti=spec.mti if spec else None, transmitted=transmitted,
                        acquirer=acquirer)
    if o is None:
        return None
    spec = profile.transactions.get(o.kind)  # its MTI and field 7 are what ISO 8583:1987 field 90 names
    return Original(stan=o.stan, batch=o.batch, date=o.date, rrn=o.rrn, auth_code=o.auth_code,
                    mti=spec.mti if spec else None, transmitted=transmission_time(o.when), acquirer=acquirer)


@dataclass(frozen=True)
class HostBridge:
    profile: Profile
    tpdu: Tpdu | None
    header: str | None = None
    acquirer_id: str = ""  # host.acquirer_id: field 32 where the profile sends it
    # (the last record, its TxnData): a sale's reversal and request are built from one record, in two actions
    _last_txn: list = field(default_factory=lambda: [None, None], init=False, repr=False, compare=False)

    @classmethod
    def from_config(cls, config) -> HostBridge:
        profile = get_profile(config.host.profile)
        tpdu = Tpdu("60", config.host.tpdu_destination, config.host.tpdu_source) if profile.tpdu else None
        return cls(profile, tpdu, config.host.header or None, config.host.acquirer_id)

    # -- what the core needs to know of the profile --------------------------------
    @property
    def mtis(self) -> CoreMtis:
        m = self.profile.mtis
        sale = self.profile.transactions[TxnKind.SALE].mti
        return CoreMtis(
            request=sale,
            reversal=m.reversal,
            reversal_repeat=m.reversal_repeat,
            advice=self.profile.transactions[TxnKind.OFFLINE_SALE].mti,
            advice_repeat=m.advice_repeat,
            by_kind={k: t.mti for k, t in self.profile.transactions.items() if t.mti != sale},
        )

    @property
    def response_texts(self) -> dict[str, str]:
        return dict(self.profile.response_texts)

    def mac_context(self, key):
        """The ready-made MAC context this profile's algorithm needs (built once at start-up)."""
        from firmware.host.mac import mac_key_for

        return mac_key_for(self.profile, key)

    @property
    def batch_limits(self) -> tuple[int, int]:
        """What one batch may hold: (transactions its settlement can count, the amount its totals can
        carry). cup counts in n3 and totals in n12; a batch beyond either could never be settled (the 0500
        would not build) and would never close. The core refuses the next transaction its totals count
        before either is reached (``CoreSettings.batch_capacity``/``batch_max_total``)."""
        from firmware.host.settlement import settlement_layout

        layout = settlement_layout(self.profile)
        return layout.max_count, layout.max_total

    @property
    def recoveries(self) -> dict[Kind, Recovery]:
        """What becomes of each kind's request left unanswered, as this profile sends it; the one place it is
        decided (the core reads it through ``CoreSettings.recovery``). A kind the profile sends as an advice
        (cup's refund, a 0220) is sent again, its ready-made repeat committed with it, until the host answers;
        a reversible request (a sale, a void; iso87's refund, a 0200) is reversed, its ready-made 0400
        committed before it is sent; one that is neither (an inquiry) is left. A kind the profile lacks keeps
        UnionPay's (``Flow.recovery``): its request cannot be built anyway."""
        m, out = self.profile.mtis, {}
        for kind, flow in FLOWS.items():
            spec = self.profile.transactions.get(kind)
            if spec is None:
                out[kind] = flow.recovery
            elif spec.mti in (m.advice, m.advice_repeat):
                out[kind] = Recovery.ADVICE
            else:
                out[kind] = Recovery.REVERSAL if spec.reversible else Recovery.NONE
        return out

    @property
    def mac_required(self) -> bool:
        return self.profile.mac is not MacAlgorithm.NONE

    # -- building --------------------------------------------------------------------
    def txn_data(self, record: SaleRecord) -> TxnData:
        """What the messages of ``record`` say of it but the card. Made once per record (both are immutable,
        and nothing in them is secret): the ready-made reversal and the request share it."""
        last = self._last_txn
        if last[0] is record:
            return last[1]
        txn = TxnData(
            kind=record.kind,
            amount=record.amount,
            currency=record.currency,
            stan=record.stan,
            batch=record.batch,
            when=record.when,
            terminal_id=record.terminal_id,
            merchant_id=record.merchant_id,
            entry_mode=record.entry_mode,
            pin_entered=record.pin_entered,
            operator=record.operator,
            original=_original(record, self.profile, institution_part(self.acquirer_id)),
            acquirer_id=self.acquirer_id,
        )
        last[:] = record, txn
        return txn

    @staticmethod
    def _card(card: ClearCard, pin_block: PinBlock | None = None, *, tracks: bool = False) -> CardData:
        # The secrets stay owned by the ClearCard (wiped when its ``with`` ends) and the
        # CardSession (the PIN block, wiped once the host answers); CardData only borrows them.
        return CardData(
            pan=card.pan,
            expiry=card.expiry,
            track2=card.track2 if tracks else None,
            track3=card.track3 if tracks else None,
            pin_block=pin_block,
            sequence=card.sequence,
            account=card.account,  # a transfer's destination (None when the card was not opened with it)
        )

    def request(self, record: SaleRecord, card: ClearCard, pin_block: PinBlock | None, mac) -> bytes:
        message = build_request(
            self.profile, self.txn_data(record), self._card(card, pin_block, tracks=True), tpdu=self.tpdu, header=self.header
        )
        return encode(self.profile, message, mac_key=mac)

    def _seal(self, message: Message, sealer: Sealer, aad: bytes) -> bytes:
        tpdu = (message.tpdu.id, message.tpdu.destination, message.tpdu.source) if message.tpdu else None
        packed = pack_message(message.mti, message.fields, tpdu, message.header)
        try:
            return sealer.seal(packed, aad)
        finally:
            packed[:] = bytes(len(packed))

    def _unseal(self, blob: bytes, sealer: Sealer, aad: bytes) -> Message:
        """A sealed message as it goes now: addressed by today's configuration (``host.tpdu_*``,
        ``host.header``), not the one it was sealed under, so the host's answer comes back to the address
        ``_addressed_here`` listens on (the MAC covers neither). A reversal sealed before the terminal's
        address changed was otherwise never heard, and went first forever (AU8)."""
        mti, fields, _tpdu, _header = unpack_message(sealer.open(blob, aad))
        return Message(mti=mti, fields=fields, tpdu=self.tpdu, header=self.header,
                       sensitive=self.profile.sensitive_fields)

    def sealed_reversal(self, record: SaleRecord, card: ClearCard, sealer: Sealer) -> bytes:
        """The ready-made reversal, committed with the request (reason set when it is sent).

        Its fields are a subset of the request's (plus a fixed reason code), so if
        the request cannot be encoded neither could this, and the request's failure
        (before anything is sent) disarms it.
        """
        message = build_reversal(self.profile, self.txn_data(record), self._card(card), tpdu=self.tpdu, header=self.header)
        return self._seal(message, sealer, reversal_aad(record.txn_no))

    def stored_reversal(
        self, blob: bytes, txn_no: int, reason: str, repeat: bool, sealer: Sealer, mac
    ) -> bytes:
        message = with_reason(self._unseal(blob, sealer, reversal_aad(txn_no)), self.profile.reversal_code(reason))
        if repeat:
            message = as_repeat(self.profile, message)
        return encode(self.profile, message, mac_key=mac)

    def sealed_advice(self, record: SaleRecord, card: ClearCard, sealer: Sealer) -> bytes:
        message = build_advice(self.profile, self.txn_data(record), self._card(card), tpdu=self.tpdu, header=self.header)
        return self._seal(message, sealer, advice_aad(record.txn_no))

    def sealed_resend(self, record: SaleRecord, card: ClearCard, sealer: Sealer) -> bytes:
        """The ready-made repeat of a request that is re-sent, not reversed, while unanswered (a refund).

        Sealed under the advice's binding: it waits in the offline queue and goes out
        through ``stored_advice`` (as 0221) exactly like a stored offline sale.
        """
        message = build_resend(self.profile, self.txn_data(record), self._card(card), tpdu=self.tpdu, header=self.header)
        return self._seal(message, sealer, advice_aad(record.txn_no))

    def stored_advice(self, blob: bytes, txn_no: int, repeat: bool, sealer: Sealer, mac) -> bytes:
        message = self._unseal(blob, sealer, advice_aad(txn_no))
        if repeat:
            message = as_repeat(self.profile, message)
        return encode(self.profile, message, mac_key=mac)

    def network(self, job: NetworkJob, batch: int, terminal_id: str, merchant_id: str, when: datetime, mac,
                *, currency: str = "156", operator: str = "01") -> bytes:
        """A sign-on (0800), sign-off (0820) or settlement (0500). The profile says which are MACed."""
        common = dict(stan=job.stan, batch=batch, terminal_id=terminal_id, merchant_id=merchant_id, tpdu=self.tpdu,
                      acquirer_id=self.acquirer_id)
        if job.kind is NetworkKind.SETTLE:
            from firmware.host.settlement import TotalsBlock, build_settlement

            t = job.totals
            block = TotalsBlock(t.debit_amount, t.debit_count, t.credit_amount, t.credit_count)
            message = build_settlement(self.profile, when=when, header=self.header, currency=currency,
                                       operator=operator, domestic=block, **common)
            return encode(self.profile, message, mac_key=mac)
        if job.kind is NetworkKind.SIGN_ON:
            message = build_signon(self.profile, when=when, header=self.header, **common)
        else:
            message = build_signoff(self.profile, header=self.header, **common)
        return encode(self.profile, message, mac_key=mac)

    # -- batch upload -------------------------------------------------------------------
    def upload_plan(self, entries: Sequence[UploadEntry]) -> UploadPlan | None:
        """How the batch would be uploaded; None when the profile has no batch upload (iso87):
        the core then settles without one, and an unbalanced batch is reconciled by hand."""
        from firmware.host.settlement import has_upload, plan_upload

        return plan_upload(self.profile, entries) if has_upload(self.profile) else None

    def upload_part(self, entries: Sequence[UploadEntry], job: UploadJob) -> tuple[UploadEntry, ...]:
        """The transactions ``job`` carries (none for the end message), checked against its plan."""
        from firmware.host.settlement import upload_layout, upload_parts

        parts = upload_parts(upload_layout(self.profile), entries)
        if len(parts) != job.plan.messages or sum(map(len, parts)) != job.plan.count:
            raise ProtocolError(f"batch {job.batch:06d} in the journal no longer matches its upload plan",
                                code="host.bad_txn")
        return () if job.end else parts[job.part]

    def upload(self, job: UploadJob, part: Sequence[UploadEntry], cards: Mapping[int, ClearCard],
               records: Mapping[int, SaleRecord], terminal_id: str, merchant_id: str, mac) -> bytes:
        """One 0320 of a batch upload. ``cards`` (by journal number) are the opened journal cards,
        borrowed for this call; ``records`` the journal records of offline sales (sent with their own fields)."""
        from firmware.host.settlement import build_upload, build_upload_end, upload_layout

        common = dict(stan=job.stan, batch=job.batch, terminal_id=terminal_id, merchant_id=merchant_id,
                      tpdu=self.tpdu, header=self.header)
        if job.end:
            message = build_upload_end(self.profile, count=job.plan.count, **common)
        elif len(part) == 1 and part[0].offline:
            record = records[part[0].txn_no]
            if record.stan != job.stan:
                raise ProtocolError("an offline sale is uploaded under its own trace", code="host.bad_txn")
            advice = build_advice(self.profile, self.txn_data(record), self._card(cards[record.txn_no]),
                                  tpdu=self.tpdu, header=self.header)
            layout = upload_layout(self.profile)
            message = advice.copy(mti=layout.mti, sensitive=advice.sensitive | {layout.entries_field})
        else:
            message = build_upload(self.profile, [(e, cards[e.txn_no].pan) for e in part], **common)
        return encode(self.profile, message, mac_key=mac)

    # -- reading ---------------------------------------------------------------------
    def read(self, payload: bytes, mac) -> tuple[Reply, Message]:
        message = decode(self.profile, payload, mac_key=mac)
        self._addressed_here(message)
        return parse_reply(self.profile, message), message

    def _addressed_here(self, message: Message) -> None:
        """Refuse a frame not addressed to this terminal, before anything in it is believed (the MAC covers
        MTI to field 63, not the TPDU or the header). The host swaps the TPDU's addresses in its answer, so its
        destination is our source, under the id we send (60); the header's first byte, its application type,
        is ours. The rest of the header is the host's to set (UnionPay's terminal status and processing
        requirement nibbles), and so is the TPDU's source: the host's own address. A profile without a
        header (iso87) is judged on its TPDU alone, whatever ``host.header`` says; a sealed message goes under
        today's addresses (``_unseal``), so its answer is judged by them too."""
        if self.tpdu is not None and (message.tpdu is None or message.tpdu.id != self.tpdu.id
                                      or message.tpdu.destination != self.tpdu.source):
            raise ProtocolError(f"frame not addressed to this terminal: TPDU {message.tpdu}, expected "
                                f"{self.tpdu.id} to {self.tpdu.source}", code="host.bad_tpdu")
        ours = (self.header or self.profile.default_header) if self.profile.header_length else None
        if ours and (message.header is None or message.header[:2] != ours[:2]):
            raise ProtocolError(f"frame of another application: header {message.header}, expected it to begin "
                                f"{ours[:2]}", code="host.bad_header")

    def signon_keys(self, message: Message):
        """(encrypted working keys, check values) carried by a sign-on answer."""
        return read_signon_keys(self.profile, message)
