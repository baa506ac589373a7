"""A bounded memo for work redone over a whole repository on every push.

Commit-back loads every spec file on every push, in the same order, while a push changes a few.
An LRU memo smaller than the repository then never hits: each file is evicted just before it
is needed again (a 5,000-file repository got 0 hits from 4,096 entries), and evicting anything
a pass has yet to use starts the same cascade. So this memo evicts nothing during a pass: it
takes new entries while there is room, and an entry no pass has used for a while (the old
version of a changed file) is dropped when a pass begins.
"""

from __future__ import annotations

from collections.abc import Hashable
from threading import Lock
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PassMemo(Generic[K, V]):
    """At most `capacity` entries; one unused by the last `keep_passes` passes is dropped."""

    def __init__(self, capacity: int, keep_passes: int = 8) -> None:
        # keep_passes > 1, so that a small request between two pushes (a CI call, another
        # repository) does not cost the large repository its entries.
        self.capacity = capacity
        self.keep_passes = keep_passes
        self._entries: dict[K, tuple[V, int]] = {}  # value, the last pass that used it
        self._pass = 0
        self._lock = Lock()  # requests for several repositories may share one instance

    def new_pass(self) -> None:
        """A pass over a repository begins."""
        with self._lock:
            self._pass += 1
            oldest = self._pass - self.keep_passes
            stale = [key for key, (_, used) in self._entries.items() if used < oldest]
            for key in stale:
                del self._entries[key]

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries[key] = (entry[0], self._pass)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        """Keep `value` while there is room; a repository larger than the memo keeps what fits."""
        with self._lock:
            if len(self._entries) < self.capacity:
                self._entries[key] = (value, self._pass)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
