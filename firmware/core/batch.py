"""A batch's close as data: its totals, the host's verdict, the settlement record and the batch upload.

Why a module of its own: these records belong to the end of a batch, not to a
transaction. They are counted from the journal once a batch is settled
(``Totals``), stored as the settlement row (``Settlement``), and drive the batch
upload (批上送) that follows when the host finds the totals unbalanced
(``UploadEntry``, ``UploadPlan``, ``UploadJob``, ``OwedUpload``); the flows that
use them are ``settle.py`` and ``report.py``, the storage ``storage.settlements``.
The transaction's own records (``SaleRecord``, the queues, ``BootState``) are in
``model.py``. Like those, nothing here holds card data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # an annotation only: model.py imports this module (BootState holds a Settlement)
    from firmware.core.model import Kind

__all__ = [
    "Totals",
    "SettleResult",
    "Settlement",
    "UploadEntry",
    "UploadPlan",
    "UploadJob",
    "OwedUpload",
]


@dataclass(frozen=True)
class Totals:
    """A batch's totals as the terminal counts them from its journal (integer minor units).

    Debit: approved sales, online or offline once forwarded (a voided sale stays
    in: its void counts as a credit, as UnionPay terminals count 消费 and 消费撤销
    separately). Credit: approved voids and refunds (退货); ``refund_*`` is the
    refunds' part of the credit, for the report's lines. ``unsent``: offline sales
    and refunds not yet forwarded, and reversals still due (settle only when it is 0).
    """

    debit_count: int = 0
    debit_amount: int = 0
    credit_count: int = 0
    credit_amount: int = 0
    unsent: int = 0
    refund_count: int = 0  # of the credit count and amount: the refunds
    refund_amount: int = 0
    # of the debit: the pre-auths' completions (online, and advices the host accepted); of the
    # credit: their voids. The 0500 carries them with the sales and voids (UnionPay counts
    # completions among the debits); the report gives them lines of their own.
    completion_count: int = 0
    completion_amount: int = 0
    completion_void_count: int = 0
    completion_void_amount: int = 0

    @property
    def net(self) -> int:
        return self.debit_amount - self.credit_amount

    @property
    def sale_count(self) -> int:
        """The debits that are sales (online, and offline ones the host accepted)."""
        return self.debit_count - self.completion_count

    @property
    def sale_amount(self) -> int:
        return self.debit_amount - self.completion_amount

    @property
    def void_count(self) -> int:
        """The credits that are voids of sales."""
        return self.credit_count - self.refund_count - self.completion_void_count

    @property
    def void_amount(self) -> int:
        return self.credit_amount - self.refund_amount - self.completion_void_amount


class SettleResult(str, enum.Enum):
    """The host's verdict on the totals (cup field 48 result digit)."""

    BALANCED = "1"
    UNBALANCED = "2"
    ERROR = "3"


@dataclass(frozen=True)
class Settlement:
    """One closed batch: what the terminal sent and what the host said. Stored; the report is printed from it."""

    batch: int
    totals: Totals
    result: SettleResult
    when: datetime
    stan: int
    operator: str = ""
    uploaded: bool = False  # the batch was uploaded (the host reported the totals unbalanced)
    no_upload: bool = False  # the profile takes no batch upload (iso87): an unbalanced batch is reconciled by hand

    @property
    def balanced(self) -> bool:
        return self.result is SettleResult.BALANCED

    @property
    def upload_owed(self) -> bool:
        """The host did not find the totals balanced and the batch upload has not completed."""
        return not self.balanced and not self.uploaded and not self.no_upload


@dataclass(frozen=True)
class UploadEntry:
    """One transaction of a closed batch as the batch upload (批上送) carries it. No card data.

    ``offline``: approved offline and forwarded since; such a sale travels in a
    0320 of its own, with its own fields (its own STAN), where online sales and
    voids are packed several to a message.
    """

    txn_no: int
    kind: Kind
    stan: int
    amount: int
    offline: bool = False


@dataclass(frozen=True)
class UploadPlan:
    """How a batch upload travels, as the runner planned it from the journal and the host profile.

    ``stans`` has one entry per 0320 that carries transactions, in the order they
    go: the STAN that message must carry (an offline sale's own), or None (a
    packed message takes the next STAN). The "batch upload end" message follows
    them, with ``count``, the number of transactions they carry.
    """

    stans: tuple[int | None, ...] = ()
    count: int = 0
    # which transactions each message carries (a digest of their traces, part by part): an upload noted as
    # part-way through goes on only under the very same plan (storage ``upload_resume``)
    digest: str = ""

    @property
    def messages(self) -> int:
        return len(self.stans)


@dataclass(frozen=True)
class UploadJob:
    """One 0320 of a batch upload on the uplink: parts ``0 .. plan.messages - 1`` carry
    transactions, part ``plan.messages`` is the "batch upload end"."""

    batch: int
    part: int
    stan: int
    plan: UploadPlan
    amount: None = None

    @property
    def end(self) -> bool:
        return self.part >= self.plan.messages


@dataclass(frozen=True)
class OwedUpload:
    """A closed batch whose upload must complete before its report prints (durable: the settlement row)."""

    settlement: Settlement
    plan: UploadPlan
    next_part: int = 0  # the first message the host has not acknowledged, as last noted (UploadProgress)
