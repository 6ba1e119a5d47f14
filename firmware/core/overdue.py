"""Money left waiting too long: an open batch nobody settled, stored offline sales nobody could forward.

Neither stops a sale (a hard limit, refusing sales past some age, is a roadmap
item): the operator is told, in an alert with a stable code, so that the
merchant is paid before the host's cut-off and the issuer's patience run out.
Audit AU18 found both silent after long gaps.

* ``settle.overdue``: the open batch's first transaction (one its settlement
  counts, ``Flow.in_totals``) was made more than ``settle.max_age_hours`` ago
  (``CoreSettings.settle_max_age``; None: never). Told at boot, and at the
  first transaction of each day the batch is overdue (not at every idle tick,
  not at every sale: a busy shop would see nothing else). An empty batch is
  never overdue. Storage gives the first transaction's time at boot
  (``BootState.opened``); after that the core knows it, since it makes the
  records (``_batch_started``), and a settlement forgets it.
* ``offline.overdue``: the oldest stored advice (an offline sale or completion,
  ``flows.STORED_ADVICE``) is older than ``offline.max_age_hours``, the age past
  which no new sale is approved offline. Told at boot and at every forward that
  fails (beside its ``advice.pending``, as often as that is), except the boot's
  own forward, which the boot's alert already covers. Nothing to clear: once
  the advices are forwarded the queue is empty, the idle status line stops
  saying "OFFLINE QUEUED" and nothing raises it again.

Each alert's text starts with what a 2-row display would say ("batch 000001 open
40 days", "settle: F then 5"), then the detail.

The display says it too (audit AU19 M2: the log is read by nobody in the shop):
while the condition holds, the idle status line (``screens.status``) reads
"SETTLE DUE 40D" or "OFFLINE 30D OLD" (``status_age``: at most 16 characters,
so a 2 x 16 display shows it whole), with the age as last told. It is set
when the alert is raised, and goes with what it is about: the settlement (or
a batch left with nothing counted) ends the first; the second holds while the
advice it dated is still queued.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from firmware.core.actions import Action, Alert
from firmware.core.clock import elapsed, instant
from firmware.core.flows import STORED_ADVICE, flow_of
from firmware.core.model import BatchHeld, Kind, PendingAdvice
from firmware.core.settings import CoreSettings

__all__ = ["OverdueMixin", "age_text", "status_age"]

SETTLE_KEYS = "F then 5"  # the function menu's settle key (menu.MENU_SETTLE)


def age_text(age: timedelta) -> str:
    """An age as an operator reads it: whole days from two days on, else whole hours."""
    if age >= timedelta(days=2):
        return f"{age.days} days"
    hours = int(age.total_seconds() // 3600)
    return f"{hours} hour{'' if hours == 1 else 's'}"


def status_age(age: timedelta) -> str:
    """An age for the idle status line, in few characters: whole days (40D) from two days on, else hours (30H)."""
    if age >= timedelta(days=2):
        return f"{age.days}D"
    return f"{int(age.total_seconds() // 3600)}H"


class OverdueMixin:
    """Overdue reminders of ``Terminal`` (``machine.py``); state lives on the terminal."""

    settings: CoreSettings
    batch_held: BatchHeld
    advices: list[PendingAdvice]
    batch_opened: datetime | None  # the open batch's first counted transaction (None: the batch holds none)
    _opened_instant: tuple[datetime, datetime] | None  # batch_opened and its instant (``clock.instant``)
    _batch_told: date | None  # the day settle.overdue was last told for the open batch
    settle_due: str | None  # the status line's text for an overdue batch (None: not overdue, or not told yet)
    offline_old: tuple[datetime, str] | None  # the oldest stored advice's time when told overdue, and the text

    # -- the open batch --------------------------------------------------------------
    def _batch_started(self, now: datetime) -> None:
        """A record its settlement counts was made in the open batch at ``now`` (``SaleMixin._new_record``)."""
        if self.batch_opened is None:
            self.batch_opened = now

    def _batch_emptied(self) -> None:
        """The open batch holds nothing its settlement counts (settled, or its only record declined)."""
        if not self.batch_held.count:
            self.batch_opened = None
            self._batch_told = None
            self.settle_due = None

    def _batch_overdue(self, now: datetime) -> Alert | None:
        limit = self.settings.settle_max_age
        opened = self.batch_opened
        if limit is None or opened is None or not self.batch_held.count:
            return None
        # elapsed(opened, now), the opening's instant worked out once per batch (each sale's start asks, and
        # each instant is a conversion through libc)
        zone = self.settings.local_zone
        if self._opened_instant is None or self._opened_instant[0] is not opened:
            self._opened_instant = (opened, instant(opened, zone))
        age = instant(now, zone) - self._opened_instant[1]
        if age <= limit:
            return None
        self._batch_told = now.date()
        self.settle_due = f"SETTLE DUE {status_age(age)}"
        batch = f"{self.counters.batch:06d}"
        return Alert("settle.overdue", f"batch {batch} open {age_text(age)}; settle: {SETTLE_KEYS}. Its "
                     f"first transaction was made {opened:%Y-%m-%d %H:%M} (settle.max_age_hours "
                     f"{limit.total_seconds() / 3600:g}): the host pays for none of its "
                     f"{self.batch_held.count} transaction(s) until it is settled")

    def _start_reminder(self, kind: Kind, now: datetime) -> list[Action]:
        """At a transaction's start: ``settle.overdue`` once a day, for a transaction the batch takes."""
        if not flow_of(kind).in_totals or self._batch_told == now.date():
            return []
        alert = self._batch_overdue(now)
        return [alert] if alert is not None else []

    # -- stored offline sales ----------------------------------------------------------
    def _offline_overdue(self, now: datetime) -> Alert | None:
        stored = [a for a in self.advices if a.kind in STORED_ADVICE]  # not refunds waiting to be sent again
        if not stored:
            return None
        oldest = min(a.created_at for a in stored)
        limit = self.settings.offline.max_age
        age = elapsed(oldest, now, self.settings.local_zone)
        if age <= limit:
            return None
        self.offline_old = (oldest, f"OFFLINE {status_age(age)} OLD")
        return Alert("offline.overdue", f"{len(stored)} offline sale(s) unsent {age_text(age)}; the "
                     f"oldest was made {oldest:%Y-%m-%d %H:%M}, past offline.max_age_hours "
                     f"({limit.total_seconds() / 3600:g}): the issuer may refuse it; restore the host link, then "
                     "upload (F then 1)")

    def overdue_status(self) -> str:
        """The idle status line's word on money left waiting, while it waits ("" when nothing is overdue)."""
        if self.offline_old is not None:
            oldest, text = self.offline_old
            if any(a.kind in STORED_ADVICE and a.created_at == oldest for a in self.advices):
                return text
            self.offline_old = None  # forwarded (or resolved): the next alert dates the rest again
        if self.settle_due is not None and self.batch_opened is not None and self.batch_held.count:
            return self.settle_due
        return ""

    def _boot_reminders(self, now: datetime) -> list[Action]:
        """At boot: whatever is overdue, each once."""
        return [a for a in (self._batch_overdue(now), self._offline_overdue(now)) if a is not None]

    def _forward_failed_reminder(self, now: datetime | None) -> list[Action]:
        """A forward failed (the link still down): ``offline.overdue`` again, unless it is the boot's own."""
        if now is None or self.recovering:
            return []
        alert = self._offline_overdue(now)
        return [alert] if alert is not None else []
