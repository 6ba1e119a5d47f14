"""Which host profile a data directory was used with, and what is still owed to that host.

Why: ``host.profile`` (cup, iso87, iso87-aes) decides the format of every message the
terminal builds, and some of them are built ahead and kept sealed in storage: armed
and due reversals, queued offline advices and refund repeats. An owed batch upload,
an unanswered 0500 and an open batch holding records are owed to the acquirer the
batch was opened with, and so is an open pre-auth: its hold sits at the old acquirer,
and its completion or cancel must go there (``open_preauths``). Change the profile while any of that is owed and the next
start replays it, in the old format, to a host that cannot read it: a reversal never
heard is a customer charged with no sale, and a new acquirer never saw the batch, so
it can never settle there.

So the profile is recorded in ``settings`` (``host.profile``) and checked at every
start (``firmware.app.build_runner``) and by ``posterm selftest``: a configured
profile other than the recorded one is refused (``config.profile_changed``, naming
both and what is owed) while anything is owed; with nothing owed the change is
accepted and recorded. A data directory from before the record takes the configured
profile as its recorded one (the caller says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from firmware.core.model import JournalState, Kind
from firmware.core.preauth import PREAUTH_HOLD_DAYS  # one rule for the core and storage
from firmware.errors import ConfigError
from storage.db import transaction
from storage.journal import ADVICE_REFUSED

__all__ = ["PREAUTH_HOLD_DAYS", "PROFILE_KEY", "HostDebt", "host_debt", "open_preauths", "recorded_profile", "profile_error", "adopt_profile"]

PROFILE_KEY = "host.profile"  # settings key: the profile this data directory's stored messages were built in


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class HostDebt:
    """What storage still owes the host it was used with (counts read at start-up; nothing decrypted)."""

    reversals: int = 0  # due, or armed in a journal row (due if the terminal starts now)
    advices: int = 0  # offline sales and completions queued for forwarding
    repeats: int = 0  # refunds waiting to be sent again
    upload: bool = False  # a settled batch's upload is owed
    settlement: bool = False  # a 0500 went unanswered
    batch_records: int = 0  # records the open batch's settlement would count
    preauths: int = 0  # approved pre-auths still open (``open_preauths``): their holds sit at the old acquirer

    def __bool__(self) -> bool:
        return bool(self.reversals or self.advices or self.repeats or self.upload or self.settlement
                     or self.batch_records or self.preauths)

    @property
    def verb(self) -> str:
        """``is`` or ``are``, to follow ``describe``."""
        counts = [n for n in (self.reversals, self.advices, self.repeats, self.preauths) if n]
        items = len(counts) + self.upload + self.settlement + bool(self.batch_records)
        return "is" if items == 1 and counts in ([], [1]) else "are"

    def describe(self) -> str:
        """``3 reversals, 1 advice and an unsettled batch``."""
        parts = [_plural(n, word) for n, word in ((self.reversals, "reversal"), (self.advices, "advice"),
                                                  (self.repeats, "refund repeat"),
                                                  (self.preauths, "open pre-authorisation")) if n]
        if self.upload:
            parts.append("a batch upload")
        if self.settlement:
            parts.append("an unanswered settlement")
        if self.batch_records:
            parts.append(f"an unsettled batch ({_plural(self.batch_records, 'record')})")
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def open_preauths(store, now: datetime | None = None) -> int:
    """Approved pre-auths still open, as ``firmware.core.preauth.judge_preauth`` decides it: no approved cancel
    or completion (an offline one included) names them, a completion's approved void or a refused completion
    advice opening the hold again; and made within ``PREAUTH_HOLD_DAYS`` of ``now`` (journal time, local as the
    journal writes it). A cancel or completion still unanswered or lost leaves the hold counted: its fate is
    the old host's to tell. Reads only."""
    cutoff = ((now or datetime.now()) - timedelta(days=PREAUTH_HOLD_DAYS)).isoformat(timespec="seconds")
    return store._query(
        "SELECT COUNT(*) FROM journal p WHERE p.kind = ? AND p.state = ? AND p.created_at >= ? AND NOT EXISTS "
        "(SELECT 1 FROM journal j LEFT JOIN offline_queue q USING (txn_no) WHERE j.original_txn_no = p.txn_no "
        f"AND j.kind IN (?, ?) AND j.state IN (?, ?) AND NOT COALESCE({ADVICE_REFUSED}, 0) AND NOT EXISTS "
        "(SELECT 1 FROM journal v WHERE v.original_txn_no = j.txn_no AND v.kind = ? AND v.state = ?))",
        (Kind.PREAUTH.value, JournalState.APPROVED.value, cutoff, Kind.PREAUTH_VOID.value,
         Kind.PREAUTH_COMPLETE.value, JournalState.APPROVED.value, JournalState.OFFLINE_APPROVED.value,
         Kind.PREAUTH_COMPLETE_VOID.value,
         JournalState.APPROVED.value),
        "counting the open pre-authorisations")[0][0]


def host_debt(store, now: datetime | None = None) -> HostDebt:
    """What ``store`` (a ``storage.store.Store``) owes the host it was used with. Reads only."""
    reversals = store._query(  # an armed reversal is never below the journal's mark (storage.live)
        "SELECT (SELECT COUNT(*) FROM reversals WHERE state = 'due') "
        "+ (SELECT COUNT(*) FROM journal WHERE txn_no >= ? AND reversal IS NOT NULL)", (store._live_from(),),
        "counting the reversals owed")[0][0]
    queued = dict(store._query(
        "SELECT j.kind = 'refund', COUNT(*) FROM offline_queue q JOIN journal j USING (txn_no) "
        "WHERE q.state IN ('pending', 'sent') GROUP BY 1", (), "counting the queued messages"))
    batch = store.counters().batch
    return HostDebt(reversals=reversals, advices=queued.get(0, 0), repeats=queued.get(1, 0),
                    upload=store.upload_owed() is not None, settlement=store.settle_interrupted(batch),
                    batch_records=store.batch_held(batch).count, preauths=open_preauths(store, now))


def recorded_profile(store) -> str | None:
    """The profile recorded for this data directory, or None (a database from before the record, or new)."""
    rows = store._query("SELECT value FROM settings WHERE key = ?", (PROFILE_KEY,), "reading the host profile")
    return rows[0][0] if rows else None


def profile_error(store, configured: str) -> ConfigError | None:
    """``config.profile_changed`` when ``configured`` is not the recorded profile and something is owed to
    the recorded one's host; None when the configured profile may be used. Reads only (selftest too)."""
    recorded = recorded_profile(store)
    if recorded is None or recorded == configured:
        return None
    debt = host_debt(store)
    if not debt:
        return None
    owed = debt.describe()
    return ConfigError(
        f"host.profile is {configured} but this data directory was used with {recorded}: {owed} {debt.verb} owed to "
        f"the {recorded} host: set host.profile back to {recorded} and settle first",
        code="config.profile_changed",
    )


def adopt_profile(store, configured: str) -> str | None:
    """At start-up, once ``profile_error`` found nothing: record ``configured`` if it is not recorded yet (ONE
    commit then). Returns what an operator should be told, or None."""
    recorded = recorded_profile(store)
    if recorded == configured:
        return None
    used = bool(store._query("SELECT 1 FROM journal LIMIT 1", (), "reading the journal")) \
        or bool(store._query("SELECT 1 FROM settlements LIMIT 1", (), "reading the settlements"))
    with transaction(store.conn, "recording the host profile") as c:
        c.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                  "excluded.value", (PROFILE_KEY, configured))
    store.commits += 1
    if recorded is not None:
        return f"host profile changed from {recorded} to {configured}: nothing was owed to the {recorded} host"
    if used:
        return (f"this data directory has no record of its host profile (made by older firmware): taken to be "
                f"the configured {configured}")
    return None
