"""The memos a long-lived instance keeps between requests, as one object handed to the pipeline.

Commit-back renders the whole repository on every push while a push changes a few specs, so a
warm instance remembers what it parsed and wrote, keyed by what it was made from (the bytes of
a spec file, a frozen plan, a string): a hit is exactly what the work would give again. A long-
lived server keeps one `Caches`; the CLI, a test or a benchmark makes its own, so nothing
global needs resetting.

Every memo over a repository has one policy, `PassMemo`, because every push scans all files in
the same order: an LRU memo smaller than the repository then never hits (each entry is evicted
just before it is needed again: a 5,000-file repository got 0 hits from 4,096 entries), and
evicting anything a pass has yet to use starts the same cascade. So a PassMemo evicts nothing
during a pass: it takes new entries while there is room, and drops an entry no pass has used
for a while (the old version of a changed file) when a pass begins. A repository larger than
the memo keeps what fits and computes the rest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Sizes: a spec file is ~1 KB and its parsed form ~6 KB; a rendered VM file ~2 KB; a plan line
# ~0.3 KB; a string or tag entry ~0.1 KB. A warm instance holds a 20,000-spec repository in
# ~200 MB at the worst. Strings: a repository has ~6 names of its own per VM (each written
# 2-3 times in a render) besides the few hundred keys and sizes every VM shares, so a memo
# that holds fewer than all of them recomputes the rest on every use.
SPEC_FILES = 20_000
VM_FILES = 20_000
PLAN_LINES = 50_000
STRINGS = 1 << 18
DELIVERIES = 512


class PassMemo(Generic[K, V]):
    """At most `capacity` entries; one unused by the last `keep_passes` passes is dropped.

    Lock-free: a read is one dict lookup (and a store when it is the pass's first), so it can
    sit in the hot loop of a render; threads that race on one key at worst compute it twice.
    """

    def __init__(self, capacity: int, keep_passes: int = 8) -> None:
        # keep_passes > 1, so that a small request between two pushes (a CI call, another
        # repository) does not cost the large repository its entries.
        self.capacity = capacity
        self.keep_passes = keep_passes
        self._values: dict[K, V] = {}
        self._used: dict[K, int] = {}  # the last pass that read each entry
        self._pass = 0

    def new_pass(self) -> None:
        """A pass over a repository begins."""
        self._pass += 1
        oldest = self._pass - self.keep_passes
        for key, used in list(self._used.items()):  # a copy: other threads may add meanwhile
            if used < oldest:
                self._values.pop(key, None)
                self._used.pop(key, None)

    def get(self, key: K) -> V | None:
        value = self._values.get(key)
        if value is not None and self._used.get(key) != self._pass:
            self._used[key] = self._pass
        return value

    def put(self, key: K, value: V) -> None:
        """Keep `value` while there is room; a repository larger than the memo keeps what fits."""
        if len(self._values) < self.capacity:
            self._values[key] = value
            self._used[key] = self._pass

    def clear(self) -> None:
        self._values.clear()
        self._used.clear()

    def __len__(self) -> int:
        return len(self._values)


class Recent(Generic[K, V]):
    """The last `size` entries put: for answers to repeated requests, where recency is the
    point (a redelivery comes soon after the delivery, or not at all)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()  # OrderedDict's reordering is not atomic

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(eq=False)
class Caches:
    """Everything an instance remembers between requests; values are immutable results."""

    # (blob id, path, settings) of a spec file -> what it made: plans, findings (pipeline)
    specs: PassMemo[Any, Any] = field(default_factory=lambda: PassMemo(SPEC_FILES))
    # plan -> the bytes of its VM file (render.manifests)
    vm_files: PassMemo[Any, bytes] = field(default_factory=lambda: PassMemo(VM_FILES))
    # plan -> the Git blob id of its VM file, which the output folder may hold already; and
    # back: what a VM file in the folder was made from, so its disks need no reading
    vm_blobs: PassMemo[Any, str] = field(default_factory=lambda: PassMemo(VM_FILES))
    vm_plans: PassMemo[str, Any] = field(default_factory=lambda: PassMemo(VM_FILES))
    # blob ids of plan cache files whose records this instance holds (it wrote or read them)
    plan_caches: PassMemo[str, bool] = field(default_factory=lambda: PassMemo(DELIVERIES))
    # blob id of a repository's .wukong.yaml -> its bytes (pipeline.render_repository)
    config_files: PassMemo[str, bytes] = field(default_factory=lambda: PassMemo(DELIVERIES))
    # plan -> its line of the PreSync validation plan (plan.plan_line)
    plan_lines: PassMemo[Any, str] = field(default_factory=lambda: PassMemo(PLAN_LINES))
    # string -> how the emitter writes it ("" when only PyYAML writes it right) (render.emit)
    strings: PassMemo[str, str] = field(default_factory=lambda: PassMemo(STRINGS))
    # plain scalar -> the YAML tag it reads as (spec.yaml_tags)
    tags: PassMemo[str, str] = field(default_factory=lambda: PassMemo(STRINGS))
    # (provider, delivery id, repository, branch) -> the answer given (endpoints.webhook)
    deliveries: Recent[tuple[str, ...], Any] = field(default_factory=lambda: Recent(DELIVERIES))

    @classmethod
    def for_one_run(cls) -> Caches:
        """For a process that renders once (a CLI command): only the memos a run reuses within
        itself; what a later run would reuse is not kept (no cost, no memory)."""
        one_run = {"specs", "vm_files", "vm_blobs", "vm_plans", "plan_caches", "config_files"}
        return cls(**{name: PassMemo(0) for name in one_run})  # type: ignore[arg-type]

    def new_pass(self) -> None:
        """A pipeline run begins: entries no recent run used make room."""
        for memo in self._memos():
            if isinstance(memo, PassMemo):
                memo.new_pass()

    def clear(self) -> None:
        """Forget everything: the state of a fresh instance."""
        for memo in self._memos():
            memo.clear()

    def _memos(self) -> list[PassMemo[Any, Any] | Recent[Any, Any]]:
        return [getattr(self, f.name) for f in fields(self)]
