"""What every benchmark shares: generated repositories, interleaved timing, figures as ratios.

Machines are noisy (±30 %), so a figure is never an absolute time on its own: each is a ratio
against a baseline measured in the same run, the two sides interleaved (A B A B …), with the
median ratio and the ratio of the fastest runs both reported.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/run.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

API_VERSION = "vm.novasphere.dev/v1alpha1"


# --- results ------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the results table. `ratio` is ours/baseline unless `unit` says otherwise."""

    id: str
    measure: str
    baseline: str  # what the baseline is, with its own numbers
    ours: str  # what we measured, with its own numbers
    ratio_median: float | None
    ratio_fastest: float | None
    target: str
    passed: bool
    unit: str = "x"  # "x": a ratio; else the absolute unit of a check ("MB", "s", "requests")
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- timing -------------------------------------------------------------------------------------


@dataclass
class Paired:
    """Interleaved timings of two sides; seconds per run."""

    a: list[float]
    b: list[float]

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.a) / statistics.median(self.b)

    @property
    def fastest_ratio(self) -> float:
        return min(self.a) / min(self.b)

    def describe(self, side: str) -> str:
        runs = self.a if side == "a" else self.b
        return f"median {statistics.median(runs):.3f}s, fastest {min(runs):.3f}s, n={len(runs)}"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def interleave(
    ours: Callable[[], Any],
    baseline: Callable[[], Any],
    runs: int,
    warmup: bool = True,
    before: Callable[[int], Any] | None = None,
) -> Paired:
    """Time `ours` and `baseline` alternately, `runs` times each (after one untimed warm-up of
    each); `before(i)` runs untimed before each pair (e.g. to push a new change)."""
    if warmup:
        if before:
            before(-1)
        ours()
        baseline()
    a: list[float] = []
    b: list[float] = []
    for i in range(runs):
        if before:
            before(i)
        a.append(timed(ours)[0])
        b.append(timed(baseline)[0])
    return Paired(a, b)


@dataclass
class Rotation:
    """Timings of several sides run in turn (A B C A B C …); seconds per run, by side."""

    times: dict[str, list[float]]

    def pair(self, a: str, b: str) -> Paired:
        return Paired(self.times[a], self.times[b])


def rotate(sides: dict[str, Callable[[], Any]], runs: int, warmup: bool = True) -> Rotation:
    """Run every side in turn, `runs` rounds (after one untimed warm-up round)."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(runs + (1 if warmup else 0)):
        for name, fn in sides.items():
            seconds = timed(fn)[0]
            if round_ > 0 or not warmup:
                times[name].append(seconds)
    return Rotation(times)


def runs_for(quick: bool, full: int = 5) -> int:
    return 3 if quick else max(5, full)


# --- generated repositories ---------------------------------------------------------------------


def spec_yaml(i: int, namespaces: int, variant: int = 0) -> bytes:
    """Spec number `i`: three disks of the usual kinds (a registry or HTTP import that boots, an
    existing PVC attached read-only or read-write, a blank scratch disk), spread over namespaces.
    `variant` changes the CPU count, as a human edit would."""
    ns = f"team-{i % namespaces:02d}"
    image = (
        "docker://quay.io/containerdisks/fedora:41"
        if i % 3
        else "https://images.example.com/ubuntu-22.04.qcow2"
    )
    read_only = "true" if i % 4 == 0 else "false"
    return f"""\
# VM {i}: generated for the benchmarks
apiVersion: {API_VERSION}
kind: Wukong
metadata:
  name: vm-{i:05d}
  namespace: {ns}
  labels:
    team: {ns}
    tier: {("web", "db", "batch")[i % 3]}
spec:
  cpu: {1 + (i + variant) % 8}
  memory: {2 ** (i % 4)}Gi
  runStrategy: {("Always", "Halted", "RerunOnFailure")[i % 3]}
  disks:
  - name: system
    size: 20Gi
    image: {image}
    storageClass: fast
    accessMode: ReadWriteMany
  - name: data
    existingPVC:
      name: data-{i:05d}
      readOnly: {read_only}
  - name: scratch
    size: 50Gi
    bus: scsi
""".encode()


def spec_path(i: int, namespaces: int) -> str:
    return f"wukong/team-{i % namespaces:02d}/vm-{i:05d}.yaml"


def make_specs(
    count: int, namespaces: int, variants: dict[int, int] | None = None, per_file: int = 1
):
    """[(repo path, bytes)] of `count` generated specs, sorted by path: one file each, or
    `per_file` specs of one namespace per file (`spec_files` says which)."""
    variants = variants or {}
    if per_file == 1:
        sources = [
            (spec_path(i, namespaces), spec_yaml(i, namespaces, variants.get(i, 0)))
            for i in range(count)
        ]
        return sorted(sources)
    return sorted(
        (path, b"---\n".join(spec_yaml(i, namespaces, variants.get(i, 0)) for i in members))
        for path, members in spec_files(count, namespaces, per_file).items()
    )


def spec_files(count: int, namespaces: int, per_file: int) -> dict[str, list[int]]:
    """Repo path -> the numbers of the specs it holds: `per_file` specs of one namespace."""
    files: dict[str, list[int]] = {}
    for namespace in range(namespaces):
        members = list(range(namespace, count, namespaces))
        for start in range(0, len(members), per_file):
            group = members[start : start + per_file]
            files[f"wukong/team-{namespace:02d}/group-{group[0]:05d}.yaml"] = group
    return files


# --- subprocesses -------------------------------------------------------------------------------


def scratch() -> tempfile.TemporaryDirectory[str]:
    """A temporary directory in memory where the machine has one (/dev/shm).

    These VMs' disks throttle bursts of small writes: the git CLI baseline of P4, which checks
    out 4,000 files per run, slowed from 0.6 s to 3 s over consecutive runs on disk. The figures
    are about Git and Wukong, not the disk, so both sides work in memory.
    """
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK)
    return tempfile.TemporaryDirectory(dir=shm if in_memory else None)


def venv_python() -> str:
    return sys.executable


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WUKONG_")}
    return env | {"PYTHONPATH": str(ROOT)} | extra


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f}s"
