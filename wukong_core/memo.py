"""A bounded memo for work redone over a whole repository on every push.

Commit-back loads every spec file on every push, in the same order, while a push changes a few.
An LRU memo smaller than the repository then never hits: each file is evicted just before it
is needed again (a 5,000-file repository got 0 hits from 4,096 entries). This memo gives up
only entries the current pass has not used, oldest first: as many files as fit hit on every
push, and old versions of changed files are the first to make room.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from threading import Lock
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PassMemo(Generic[K, V]):
    """At most `capacity` entries: those used since the current pass began, then older ones."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used: dict[K, V] = {}
        self._older: OrderedDict[K, V] = OrderedDict()  # oldest first
        self._lock = Lock()  # requests for several repositories may share one instance

    def new_pass(self) -> None:
        """A pass over a repository begins: what the last pass used becomes the newest of the
        entries that may make room."""
        with self._lock:
            self._older.update(self._used)
            self._used = {}

    def get(self, key: K) -> V | None:
        with self._lock:
            if key in self._used:
                return self._used[key]
            value = self._older.pop(key, None)
            if value is not None:
                self._used[key] = value
            return value

    def put(self, key: K, value: V) -> None:
        """Keep `value` if there is room or an entry this pass has not used to give up."""
        with self._lock:
            if len(self._used) + len(self._older) >= self.capacity:
                if not self._older:
                    return  # all in use: a repository larger than the memo keeps what fits
                self._older.popitem(last=False)
            self._used[key] = value

    def clear(self) -> None:
        with self._lock:
            self._used.clear()
            self._older.clear()

    def __len__(self) -> int:
        return len(self._used) + len(self._older)
