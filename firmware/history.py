"""What the runner keeps of what it did (alerts, notes, receipts printed): the newest, and a count of the rest.

Why: ``posterm run`` stays up for months, and a list that gets an entry per receipt copy grows without bound
(AU17 L1: about 200 bytes a sale, 10 MB a year). Nothing in production reads more than the newest entry (the
screen's last alert); scenarios and tests read what happened since a point (``alerts[n:]`` with ``n`` an
earlier ``len(alerts)``) and count (``len``). So a ``History`` keeps its newest ``keep`` entries, and indexes
and counts as if it held every one ever added: ``len`` is that count, ``dropped`` how many of them are gone,
and a slice returns the kept ones in its range. A scenario, which maps every printed copy to the paper and
reports every alert, keeps everything (``keep_all``; ``firmware.scenario.runner``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar, overload

__all__ = ["History", "HISTORY_KEPT"]

T = TypeVar("T")

HISTORY_KEPT = 100  # entries a long-running terminal keeps of each history: far more than anything reads


class History(Generic[T]):
    """Append-only, bounded to the newest ``keep`` entries (``None``: every one), indexed by position since the
    first entry ever added."""

    def __init__(self, keep: int | None = HISTORY_KEPT) -> None:
        self._items: deque[T] = deque(maxlen=keep)
        self.dropped = 0  # entries added and no longer kept

    def append(self, item: T) -> None:
        if self._items.maxlen is not None and len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)

    def keep_all(self) -> None:
        """From now on keep every entry (what is already dropped stays dropped)."""
        self._items = deque(self._items)

    def __len__(self) -> int:
        """Every entry ever added, the dropped ones too: ``h[len(h):]`` is what comes after now."""
        return self.dropped + len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            kept = list(self._items)
            return [kept[i - self.dropped] for i in range(*index.indices(len(self))) if i >= self.dropped]
        i = index + len(self) if index < 0 else index
        if not self.dropped <= i < len(self):
            raise IndexError(f"history entry {index} is not kept ({self.dropped} dropped, {len(self._items)} kept)")
        return self._items[i - self.dropped]

    def __repr__(self) -> str:
        return f"History({list(self._items)!r}, dropped={self.dropped})"
